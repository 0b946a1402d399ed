"""Key-household pages (重点户): the list with its filters, counts per grid and Excel export; a
record with its follow-ups and the forms to record one or to release the household; the form
that adds a household (from an alert's page: `?alert=<id>`, or a household's: `?household=<id>`).
Every action is an htmx form whose refusal appears where it was pressed."""

from __future__ import annotations

import uuid

from django import forms
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from linli.core.errors import NotFound, PermissionDenied, validation_failed_from_form
from linli.core.pages import DATE_INPUT, list_page, redirect_after_save, requires
from linli.core.roles import Perm
from linli.people.models import Household
from linli.places.models import Place, PlaceLevel
from linli.places.selectors import places_for_choice

from .. import keys
from ..models import Alert

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATE_CHOICES = (
    ("open", _("Being followed up")),
    ("due_soon", _("Follow-up due soon")),
    ("overdue", _("Follow-up overdue")),
    ("released", _("Released")),
    ("all", _("All")),
)


class PlaceField(forms.ModelChoiceField):
    def label_from_instance(self, place) -> str:
        return f"{'· ' * max(0, place.level - 2)}{place.name}"


class KeyFilterForm(forms.Form):
    state = forms.ChoiceField(label=_("Show"), choices=STATE_CHOICES, required=False)
    number = forms.CharField(label=_("Household number starts with"), required=False, max_length=32)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        levels = (PlaceLevel.DISTRICT, PlaceLevel.STREET, PlaceLevel.COMMUNITY, PlaceLevel.GRID)
        self.fields["place"] = PlaceField(
            label=_("Place"),
            required=False,
            queryset=places_for_choice(actor).filter(level__in=levels),
        )

    def to_filter(self) -> keys.KeyFilter:
        data = self.cleaned_data if self.is_valid() else {}
        place = data.get("place")
        return keys.KeyFilter(
            state=data.get("state") or "open",
            place_id=place.pk if place else None,
            number=data.get("number") or "",
        )


@requires(Perm.MONITORING_VIEW)
def key_list(request: HttpRequest) -> HttpResponse:
    """重点户: the list (GET filters: a household number is not personal data) and the counts
    per grid of the place chosen."""
    actor = request.user
    form = KeyFilterForm(request.GET or None, actor=actor)
    filters = form.to_filter()
    page = list_page(keys.key_household_list(actor=actor, filters=filters), request.GET.get("page"))
    today = keys.today()
    for key in page.items:
        key.warning = keys.warning(key, today)
    place_path = keys.place_path_of(filters.place_id) if filters.place_id else None
    grids = keys.grid_counts(actor=actor, place_path=place_path, on=today)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "monitoring/keys_list.html",
        {
            "form": form,
            "page": page,
            "grids": grids,
            "total": keys.totals(grids),
            "query": query.urlencode(),
            "may_add": keys.may_manage(actor),
        },
    )


@requires(Perm.MONITORING_VIEW)
@require_POST
def key_export(request: HttpRequest) -> HttpResponse:
    """The list the filter shows, as Excel (POSTed: an export is logged)."""
    form = KeyFilterForm(request.POST, actor=request.user)
    if not form.is_valid():
        raise validation_failed_from_form(form, str(_("Correct the filter first.")))
    name, content = keys.key_households_export(actor=request.user, filters=form.to_filter())
    return FileResponse(content, as_attachment=True, filename=name, content_type=XLSX)


# --- one record -------------------------------------------------------------------------------


class FollowUpForm(forms.Form):
    done_on = forms.DateField(label=_("done on"), widget=DATE_INPUT)
    note = forms.CharField(
        label=_("what the follow-up found"),
        max_length=keys.MAX_NOTE,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    # Made once when the form is shown: the same form sent twice is stored once.
    idempotency_key = forms.CharField(widget=forms.HiddenInput(), max_length=64)


class ReleaseForm(forms.Form):
    reason = forms.CharField(label=_("reason for release"), max_length=keys.MAX_REASON)


@requires(Perm.MONITORING_VIEW)
def key_detail(request: HttpRequest, key_household_id: int) -> HttpResponse:
    actor = request.user
    key = keys.key_household_get(actor=actor, key_household_id=key_household_id)
    actions = keys.available_actions(actor, key)
    grid = Place.objects.filter(path=key.grid_path).first() if key.grid_path else None
    context = {
        "key": key,
        "grid": grid,
        "warning": keys.warning(key),
        "follow_ups": list(keys.key_household_follow_ups(actor=actor, key_household=key)[:100]),
        "follow_up_form": FollowUpForm(
            initial={"done_on": keys.today(), "idempotency_key": uuid.uuid4().hex}
        )
        if "follow_up" in actions
        else None,
        "release_form": ReleaseForm() if "release" in actions else None,
        "history": list(keys.key_household_history(actor=actor, key_household=key)[:50]),
        "alert_url": keys.url_or_blank("monitoring:alert_detail", key.alert_id)
        if key.alert_id
        else "",
    }
    return render(request, "monitoring/keys_detail.html", context)


@requires(Perm.MONITORING_VIEW)
@require_POST
def key_follow_up(request: HttpRequest, key_household_id: int) -> HttpResponse:
    key = keys.key_household_get(actor=request.user, key_household_id=key_household_id)
    form = FollowUpForm(request.POST)
    if not form.is_valid():
        raise validation_failed_from_form(form, str(_("Check the fields of the follow-up.")))
    keys.follow_up_record(actor=request.user, key_household_id=key.pk, **form.cleaned_data)
    return redirect_after_save(request, reverse("monitoring:key_detail", args=[key.pk]))


@requires(Perm.MONITORING_VIEW)
@require_POST
def key_release(request: HttpRequest, key_household_id: int) -> HttpResponse:
    key = keys.key_household_get(actor=request.user, key_household_id=key_household_id)
    form = ReleaseForm(request.POST)
    if not form.is_valid():
        raise validation_failed_from_form(form, str(_("Give the reason for the release.")))
    keys.key_household_release(
        actor=request.user, key_household_id=key.pk, reason=form.cleaned_data["reason"]
    )
    return redirect_after_save(request, reverse("monitoring:key_detail", args=[key.pk]))


# --- adding a household ------------------------------------------------------------------------


class KeyNewForm(forms.Form):
    household = forms.CharField(label=_("household number"), max_length=32)
    reason = forms.CharField(
        label=_("reason"), max_length=keys.MAX_REASON, widget=forms.Textarea(attrs={"rows": 2})
    )
    follow_up_months = forms.TypedChoiceField(
        label=_("follow up every (months)"),
        coerce=int,
        choices=[(n, str(n)) for n in (1, 2, 3, 6, 12)],
        initial=1,
    )
    alert = forms.IntegerField(widget=forms.HiddenInput(), required=False, min_value=1)


def _reach_of(request: HttpRequest) -> tuple[Household | None, Alert | None]:
    """The household and alert the page was opened from (`?alert=` or `?household=`)."""
    actor = request.user
    alert_id, household_id = request.GET.get("alert"), request.GET.get("household")
    if alert_id:
        try:
            alert = Alert.objects.restrict(actor).select_related("household").get(pk=int(alert_id))
        except (Alert.DoesNotExist, ValueError, TypeError):
            raise NotFound() from None
        return alert.household, alert
    if household_id:
        try:
            return Household.objects.restrict(actor).get(pk=int(household_id)), None
        except (Household.DoesNotExist, ValueError, TypeError):
            raise NotFound() from None
    return None, None


@requires(Perm.MONITORING_KEY)
def key_new(request: HttpRequest) -> HttpResponse:
    actor = request.user
    if not keys.may_manage(actor):
        raise PermissionDenied()
    if request.method == "POST":
        form = KeyNewForm(request.POST)
        if not form.is_valid():
            raise validation_failed_from_form(form, str(_("Check the fields of the form.")))
        data = form.cleaned_data
        found = keys.household_by_number(actor=actor, number=data["household"])
        key = keys.key_household_add(
            actor=actor,
            household_id=found.pk,
            reason=data["reason"],
            follow_up_months=data["follow_up_months"],
            alert_id=data.get("alert"),
        )
        return redirect_after_save(request, reverse("monitoring:key_detail", args=[key.pk]))
    household, alert = _reach_of(request)
    existing = keys.open_key_for(actor=actor, household_id=household.pk) if household else None
    initial = {"follow_up_months": 1}
    if household is not None:
        initial["household"] = household.number
    if alert is not None:
        initial["alert"] = alert.pk
        initial["reason"] = alert.explanation[: keys.MAX_REASON]
    form = KeyNewForm(initial=initial)
    return render(
        request,
        "monitoring/keys_new.html",
        {"form": form, "household": household, "alert": alert, "existing": existing},
    )


urlpatterns = [
    path("keys/", key_list, name="keys"),
    path("keys/export.xlsx", key_export, name="keys_export"),
    path("keys/new", key_new, name="key_new"),
    path("keys/<int:key_household_id>/", key_detail, name="key_detail"),
    path("keys/<int:key_household_id>/follow-up", key_follow_up, name="key_follow_up"),
    path("keys/<int:key_household_id>/release", key_release, name="key_release"),
]
