"""Case pages: the report form, queues with the command-centre counts, the case page with its
timeline and the actions the transitions table allows this user now."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from linli.core.errors import NotFound, ValidationFailed, validation_failed_from_form
from linli.core.models import Department
from linli.core.pages import add_service_errors, list_page, redirect_after_save, requires
from linli.core.roles import Perm
from linli.core.uploads import declared_size_over
from linli.places.models import Place, PlaceLevel

from . import photos, selectors, services, transitions
from .models import (
    TIMED_STATES,
    Case,
    CaseState,
    Category,
    CloseReason,
    WarningLevel,
    WhistleKind,
)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos in one input; each is checked by its content in the service."""

    def __init__(self, **kwargs) -> None:
        accept = ",".join(t for t, _ext in photos.FORMATS.values())
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": accept}))
        super().__init__(required=False, **kwargs)

    def clean(self, data, initial=None) -> list:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(PhotosField, self).clean(f, initial) for f in files]


class ReportForm(forms.Form):
    category = forms.ModelChoiceField(
        label=_("What is the problem?"),
        queryset=Category.objects.filter(is_active=True, parent__isnull=False).order_by("code"),
    )
    description = forms.CharField(
        label=_("description"), widget=forms.Textarea(attrs={"rows": 4}), max_length=2000
    )
    address = forms.CharField(label=_("address"), required=False, max_length=200)
    photos = PhotosField(
        label=_("Photos"),
        help_text=_("Up to 9 JPEG, PNG or WebP photos of 10 MB; their location is removed."),
    )
    lat = forms.FloatField(widget=forms.HiddenInput, required=False)
    lng = forms.FloatField(widget=forms.HiddenInput, required=False)
    # A resent form (bad connection, double tap) counts once.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)


def _map_data(user) -> dict:
    """Grid boundaries the reporter can place the pin in (the user's, or the whole city's)."""
    grids = Place.objects.filter(level=PlaceLevel.GRID, boundary__isnull=False)
    if user.is_staff_role and not user.sees_everything:
        grids = Place.objects.restrict(user).filter(level=PlaceLevel.GRID, boundary__isnull=False)
    return {
        "grids": [{"name": g.name, "boundary": g.boundary} for g in grids.order_by("code")[:500]]
    }


@requires(Perm.CASES_REPORT)
def report(request: HttpRequest) -> HttpResponse:
    """上报: a mobile form with a map to place the pin."""
    too_large = request.method == "POST" and declared_size_over(
        request, settings.LINLI_MAX_UPLOAD_BYTES
    )
    form = ReportForm(
        request.POST or None,
        request.FILES or None,
        initial={"idempotency_key": uuid.uuid4().hex},
    )
    if too_large:
        # The body was not read (see core.uploads); say why instead of losing the photos.
        form.is_valid()
        form.add_error(
            "photos",
            _("The photos together are %(size).1f MB; send at most %(limit)d MB with a report.")
            % {"size": too_large / 2**20, "limit": settings.LINLI_MAX_UPLOAD_BYTES // 2**20},
        )
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            case = photos.case_report_with_photos(
                actor=request.user,
                uploads=data["photos"],
                category_id=data["category"].pk,
                description=data["description"],
                lat=data["lat"],
                lng=data["lng"],
                address=data["address"],
                idempotency_key=data["idempotency_key"],
            )
        except ValidationFailed as exc:
            _report_errors(form, exc)
        else:
            return redirect_after_save(request, reverse("cases:detail", args=[case.pk]))
    return render(request, "cases/report.html", {"form": form, "map_data": _map_data(request.user)})


def _report_errors(form: ReportForm, exc: ValidationFailed) -> None:
    """The service names the point `location`; the page shows its whole message under the map."""
    details = dict(exc.details)
    if details.pop("location", None) is not None:
        form.add_error("lat", exc.message)
    if details:
        add_service_errors(form, ValidationFailed(exc.message, details=details))


class QueueForm(forms.Form):
    QUEUES = (
        ("open", _("Open")),
        ("mine", _("Waiting for me")),
        ("overdue", _("Overdue")),
        ("closed", _("Closed")),
    )
    queue = forms.ChoiceField(label=_("Queue"), choices=QUEUES, required=False)
    state = forms.ChoiceField(
        label=_("State"), choices=[("", "—"), *CaseState.choices], required=False
    )


@requires(Perm.CASES_VIEW)
def queue(request: HttpRequest) -> HttpResponse:
    """Queues of cases with the counts a command centre watches (指挥中心看板)."""
    user = request.user
    form = QueueForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    name = data.get("queue") or "open"
    if name == "mine":
        cases = selectors.waiting_for(actor=user)
    elif name == "overdue":
        cases = selectors.overdue_queue(actor=user)
    else:
        states = TIMED_STATES if name == "open" else tuple(set(CaseState) - set(TIMED_STATES))
        cases = selectors.case_list(actor=user, filters=selectors.CaseFilter(states=states))
    if data.get("state"):
        cases = cases.filter(state=data["state"])
    counts = Case.objects.restrict(user).aggregate(
        open=Count("id", filter=Q(state__in=TIMED_STATES)),
        reported=Count("id", filter=Q(state=CaseState.REPORTED)),
        yellow=Count("id", filter=Q(state__in=TIMED_STATES, warning=WarningLevel.YELLOW)),
        red=Count("id", filter=Q(state__in=TIMED_STATES, warning=WarningLevel.RED)),
    )
    page = list_page(cases, request.GET.get("page"))
    return render(
        request,
        "cases/queue.html",
        {"form": form, "page": page, "counts": counts, "queue": name},
    )


@login_required  # the case's queryset decides: outside reach, the same 404 as missing
def detail(request: HttpRequest, case_id: int) -> HttpResponse:
    user = request.user
    case = selectors.case_get(actor=user, case_id=case_id)
    actions = transitions.available_actions(user, case)
    context = {
        "case": case,
        "photos": list(case.photos.all()),
        "photo_form": PhotoForm() if photos.may_add(user, case) else None,
        "timeline": _labelled(selectors.case_timeline(actor=user, case_id=case.pk)),
        "actions": [(a, transitions.TRANSITIONS[a].label, _action_form(a)) for a in actions],
    }
    return render(request, "cases/detail.html", context)


# Timeline events that are not a transition of their own (or are several, like "close").
EVENT_LABELS = {
    "report": _("Report filed"),
    "close": _("Case closed"),
    "rework": _("Sent back for rework"),
    "photo": _("Photo added"),
    "merged_in": _("A duplicate was merged in"),
    "warning": _("Deadline near"),
    "overdue": _("Overdue"),
    "report_in_overdue": _("Report-in overdue"),
}


def _labelled(events) -> list:
    """Timeline rows with readable action and state names instead of their codes."""
    states = dict(CaseState.choices)
    out = list(events)
    for event in out:
        rule = transitions.TRANSITIONS.get(event.action)
        label = EVENT_LABELS.get(event.action) or (rule.label if rule else None)
        event.action_label = label or event.action
        event.state_label = states.get(event.to_state, event.to_state)
    return out


class _NoteForm(forms.Form):
    note = forms.CharField(
        label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class _ReasonForm(forms.Form):
    reason = forms.CharField(label=_("reason"), widget=forms.Textarea(attrs={"rows": 2}))


class _EvidenceForm(forms.Form):
    evidence = forms.CharField(label=_("What was done"), widget=forms.Textarea(attrs={"rows": 3}))


class _DispatchForm(forms.Form):
    department = forms.ModelChoiceField(
        label=_("department"),
        queryset=Department.objects.order_by("code"),
        required=False,
        help_text=_("Empty: the category's department."),
    )


class _MergeForm(forms.Form):
    into_number = forms.CharField(label=_("Case number to merge into"), max_length=20)


class _CloseOtherForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("reason"),
        choices=[(CloseReason.NOT_OUR_REMIT, CloseReason.NOT_OUR_REMIT.label),
                 (CloseReason.CANNOT_FIX, CloseReason.CANNOT_FIX.label)],
    )  # fmt: skip
    note = forms.CharField(label=_("note"), widget=forms.Textarea(attrs={"rows": 2}))


class _RateForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("rating"), coerce=int, choices=[(i, "★" * i) for i in range(5, 0, -1)]
    )
    comment = forms.CharField(label=_("comment"), required=False, max_length=500)


class _WhistleForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=WhistleKind.choices)
    lead_department = forms.ModelChoiceField(
        label=_("lead department"), queryset=Department.objects.order_by("code")
    )
    co_departments = forms.ModelMultipleChoiceField(
        label=_("co-handling departments"),
        queryset=Department.objects.order_by("code"),
        required=False,
    )
    note = forms.CharField(label=_("note"), required=False)


ACTION_FORMS: dict[str, type[forms.Form] | None] = {
    "register": None,
    "accept": None,
    "close_fixed": _NoteForm,
    "reject": _ReasonForm,
    "escalate": _ReasonForm,
    "merge": _MergeForm,
    "dispatch": _DispatchForm,
    "report_handled": _EvidenceForm,
    "verify": _NoteForm,
    "verify_fail": _NoteForm,
    "close_other": _CloseOtherForm,
    "rate": _RateForm,
    "whistle": _WhistleForm,
    "report_in": _NoteForm,
}


def _action_form(action: str, data=None) -> forms.Form | None:
    form_class = ACTION_FORMS.get(action)
    return form_class(data, prefix=action) if form_class else None


def _perform(user, case: Case, action: str, data: dict[str, Any]) -> None:
    """The one place a page action turns into its service call."""
    pk = case.pk
    if action == "merge":
        into = Case.objects.restrict(user).filter(number=data["into_number"].strip()).first()
        if into is None:
            raise ValidationFailed(
                _("No case with this number in your jurisdiction."),
                details={"into_number": [_("Not found.")]},
            )
        services.case_merge(actor=user, case_id=pk, into_case_id=into.pk)
        return
    calls = {
        "register": lambda: services.case_register(actor=user, case_id=pk),
        "accept": lambda: services.case_accept(actor=user, case_id=pk),
        "reject": lambda: services.case_reject(actor=user, case_id=pk, reason=data["reason"]),
        "escalate": lambda: services.case_escalate(actor=user, case_id=pk, reason=data["reason"]),
        "dispatch": lambda: services.case_dispatch(
            actor=user,
            case_id=pk,
            department_id=data["department"].pk if data.get("department") else None,
        ),
        "report_handled": lambda: services.case_report_handled(
            actor=user, case_id=pk, evidence=data["evidence"]
        ),
        "verify": lambda: services.case_verify(
            actor=user, case_id=pk, passed=True, note=data["note"]
        ),
        "verify_fail": lambda: services.case_verify(
            actor=user, case_id=pk, passed=False, note=data["note"]
        ),
        "close_fixed": lambda: services.case_close(
            actor=user, case_id=pk, reason=CloseReason.FIXED, note=data["note"]
        ),
        "close_other": lambda: services.case_close(
            actor=user, case_id=pk, reason=data["reason"], note=data["note"]
        ),
        "rate": lambda: services.case_rate(
            actor=user, case_id=pk, rating=data["rating"], comment=data["comment"]
        ),
        "whistle": lambda: services.case_whistle(
            actor=user,
            case_id=pk,
            kind=data["kind"],
            lead_department_id=data["lead_department"].pk,
            co_department_ids=[d.pk for d in data["co_departments"]],
            note=data["note"],
        ),
        "report_in": lambda: services.case_report_in(actor=user, case_id=pk, note=data["note"]),
    }
    calls[action]()


@login_required
@require_POST
def act(request: HttpRequest, case_id: int) -> HttpResponse:
    """Take one action on the case; the service re-checks role, tier and state."""
    user = request.user
    case = selectors.case_get(actor=user, case_id=case_id)
    action = request.POST.get("action", "")
    if action not in ACTION_FORMS:
        raise NotFound()
    form = _action_form(action, request.POST)
    if form is not None and not form.is_valid():
        raise validation_failed_from_form(form, str(_("Check the fields of this action.")))
    _perform(user, case, action, form.cleaned_data if form is not None else {})
    return redirect_after_save(request, reverse("cases:detail", args=[case.pk]))


class PhotoForm(forms.Form):
    photos = PhotosField(label=_("Add photos"))


@login_required
@require_POST
def photo_add(request: HttpRequest, case_id: int) -> HttpResponse:
    """Attach photos to the case (evidence of handling, say); each is checked by the service."""
    case = selectors.case_get(actor=request.user, case_id=case_id)
    length = declared_size_over(request, settings.LINLI_MAX_UPLOAD_BYTES)
    if length:
        raise photos.photo_too_large_error(length)
    form = PhotoForm(request.POST, request.FILES)
    if not form.is_valid() or not form.cleaned_data["photos"]:
        raise ValidationFailed(_("Choose a photo first."), details={"photos": [_("Required.")]})
    photos.case_photos_add(actor=request.user, case_id=case.pk, uploads=form.cleaned_data["photos"])
    return redirect_after_save(request, reverse("cases:detail", args=[case.pk]))
