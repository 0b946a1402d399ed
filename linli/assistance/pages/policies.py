"""Policy pages (救助政策): the policy sets, a set's version history with what each version
changed and its current figures by group, and the form that adds a version prefilled from the
current one. Everyone with ASSISTANCE_VIEW reads; ASSISTANCE_POLICY edits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.core.errors import PermissionDenied, ValidationFailed
from linli.core.pages import DATE_INPUT, add_service_errors, redirect_after_save, requires
from linli.core.roles import Perm
from linli.people.models import FinanceKind, Registration
from linli.places.models import PlaceLevel
from linli.places.selectors import places_for_choice

from .. import policies
from ..policy import GROUPS, INCOME_KINDS, PolicyParameters

KIND_LISTS = {
    "counted": "counted_income_kinds",
    "exempt": "exempt_income_kinds",
    "deducted": "deducted_income_kinds",
}
TREATMENTS = (
    ("counted", _("Counted")),
    ("exempt", _("Exempt")),
    ("deducted", _("Deducted")),
)
KIND_PREFIX = "kind__"


def _kinds_in_order() -> list[str]:
    return [kind for kind in FinanceKind.values if kind in INCOME_KINDS]


def next_month(today: dt.date | None = None) -> dt.date:
    today = today or timezone.localdate()
    return (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


class ParametersForm(forms.Form):
    """Every figure of a policy, grouped as the policy page shows them; an income kind's
    treatment is one choice (counted, exempt or deducted) instead of three lists."""

    def __init__(self, *args, params: dict[str, Any], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        treatment = {
            kind: key for key, field in KIND_LISTS.items() for kind in params.get(field) or []
        }
        for name, info in PolicyParameters.model_fields.items():
            if name in KIND_LISTS.values():
                continue
            label = policies.field_label(name)
            help_text = policies.field_help(name)
            value = params.get(name)
            if info.annotation is bool:
                field = forms.BooleanField(label=label, help_text=help_text, required=False)
            elif info.annotation is int:
                field = forms.IntegerField(label=label, help_text=help_text)
            else:
                field = forms.DecimalField(
                    label=label,
                    help_text=help_text,
                    widget=forms.TextInput(attrs={"inputmode": "decimal"}),
                )
            field.initial = value
            self.fields[name] = field
        for kind in _kinds_in_order():
            self.fields[KIND_PREFIX + kind] = forms.ChoiceField(
                label=FinanceKind(kind).label, choices=TREATMENTS, initial=treatment.get(kind)
            )

    def parameters(self) -> dict[str, Any]:
        """The figures as PolicyParameters reads them (the service validates them)."""
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for name in PolicyParameters.model_fields:
            if name in KIND_LISTS.values():
                continue
            value = data.get(name)
            out[name] = str(value) if isinstance(value, Decimal) else value
        for key, field in KIND_LISTS.items():
            out[field] = [k for k in _kinds_in_order() if data.get(KIND_PREFIX + k) == key]
        return out

    def groups(self) -> list[dict[str, Any]]:
        """[{label, fields: [bound fields]}] in the order of policy.GROUPS; the income kinds'
        choices in the income group."""
        out = []
        for key, label, names in GROUPS:
            names = [n for n in names if n in self.fields]
            fields = [self[n] for n in names]
            if key == "income":
                fields = [self[KIND_PREFIX + k] for k in _kinds_in_order()] + fields
            out.append({"key": key, "label": label, "fields": fields})
        return out


class VersionForm(ParametersForm):
    def __init__(self, *args, params: dict[str, Any], **kwargs) -> None:
        super().__init__(*args, params=params, **kwargs)
        self.fields["valid_from"] = forms.DateField(
            label=_("Effective from"),
            widget=DATE_INPUT,
            initial=next_month(),
            help_text=_("After the latest version's start, and not in the past."),
        )
        self.fields["note"] = forms.CharField(
            label=_("What changed and why"), max_length=policies.MAX_NOTE, required=False
        )


class PolicySetForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=policies.MAX_NAME)
    registration = forms.ChoiceField(label=_("Registration"), choices=Registration.choices)

    def __init__(self, *args, actor, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["locality"] = forms.ModelChoiceField(
            label=_("City or district"),
            queryset=places_for_choice(actor).filter(
                level__in=(PlaceLevel.CITY, PlaceLevel.DISTRICT)
            ),
        )


@requires(Perm.ASSISTANCE_VIEW)
def policy_list(request: HttpRequest) -> HttpResponse:
    """救助政策: the sets the user may read, each with its version in force today."""
    actor = request.user
    can_edit = actor.has_perm_code(Perm.ASSISTANCE_POLICY)
    form = PolicySetForm(request.POST or None, actor=actor) if can_edit else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied()
        if form.is_valid():
            try:
                created = policies.policy_set_create(
                    actor=actor,
                    locality_id=form.cleaned_data["locality"].pk,
                    registration=form.cleaned_data["registration"],
                    name=form.cleaned_data["name"],
                )
            except ValidationFailed as exc:
                add_service_errors(form, exc)
            else:
                return redirect_after_save(
                    request, reverse("assistance:policy_detail", args=[created.pk])
                )
    today = timezone.localdate()
    rows = []
    for policy_set in policies.policy_sets(actor).prefetch_related("versions")[:500]:
        current = policies.current_version(policy_set, today)
        rows.append(
            {
                "set": policy_set,
                "current": current,
                "standard": current.parameters.get("standard") if current else None,
            }
        )
    return render(
        request, "assistance/policies_list.html", {"rows": rows, "form": form, "today": today}
    )


@requires(Perm.ASSISTANCE_VIEW)
def policy_detail(request: HttpRequest, policy_set_id: int) -> HttpResponse:
    """A set's versions, newest first, each with who entered it, why, and the figures it
    changed; the figures in force today by group."""
    actor = request.user
    policy_set = policies.policy_set_get(actor, policy_set_id)
    versions = list(policy_set.versions.select_related("created_by").order_by("valid_from"))
    history = []
    previous = None
    for version in versions:
        history.append(
            {
                "version": version,
                "changes": policies.changed_parameters(
                    previous.parameters if previous else None, version.parameters
                )
                if previous
                else [],
            }
        )
        previous = version
    history.reverse()
    current = policies.current_version(policy_set)
    context = {
        "policy_set": policy_set,
        "history": history,
        "current": current,
        "groups": policies.parameter_rows(current.parameters) if current else [],
        "problems": policies.policy_versions_check(policy_set),
        "may_edit": policies.may_edit(actor, policy_set),
        "today": timezone.localdate(),
    }
    return render(request, "assistance/policies_detail.html", context)


@requires(Perm.ASSISTANCE_POLICY)
def policy_version_new(request: HttpRequest, policy_set_id: int) -> HttpResponse:
    """A new version from a date, prefilled from the latest one; refusals beside the fields."""
    actor = request.user
    policy_set = policies.policy_set_get(actor, policy_set_id)
    if not policies.may_edit(actor, policy_set):
        raise PermissionDenied()
    latest = policy_set.versions.order_by("-valid_from").first()
    params = latest.parameters if latest else {}
    form = VersionForm(request.POST or None, params=params)
    if request.method == "POST" and form.is_valid():
        try:
            policies.policy_version_add(
                actor=actor,
                policy_set_id=policy_set.pk,
                valid_from=form.cleaned_data["valid_from"],
                parameters=form.parameters(),
                note=form.cleaned_data["note"],
            )
        except ValidationFailed as exc:
            # Beside the figure it names; the income-kind lists' refusals above the form.
            add_service_errors(form, exc)
        else:
            return redirect_after_save(
                request, reverse("assistance:policy_detail", args=[policy_set.pk])
            )
    context = {"policy_set": policy_set, "latest": latest, "form": form}
    return render(request, "assistance/policies_version_new.html", context)


urlpatterns = [
    path("policies/", policy_list, name="policies"),
    path("policies/<int:policy_set_id>/", policy_detail, name="policy_detail"),
    path(
        "policies/<int:policy_set_id>/versions/new/",
        policy_version_new,
        name="policy_version_new",
    ),
]
