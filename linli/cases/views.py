"""Case pages: the report form, the reporter's own list, queues with the command-centre counts,
the case page with its whistle, photos before and after handling, timeline and the actions the
transitions table allows this user now."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
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
    PhotoStage,
    Tier,
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
        form.add_error("photos", photos.photos_too_large_error(too_large).message)
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
            messages.success(
                request,
                _("Thank you: your report was received as case %(number)s. Follow it under "
                  "“My reports”.") % {"number": case.number},
            )  # fmt: skip
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


@requires(Perm.CASES_REPORT)
def mine(request: HttpRequest) -> HttpResponse:
    """我的上报: the problems this person reported, each with its state and next step."""
    user = request.user
    page = list_page(selectors.reported_by(actor=user), request.GET.get("page"))
    for case in page.items:
        case.next_step = transitions.next_step(user, case)
    return render(request, "cases/mine.html", {"page": page})


def _crumb(user) -> tuple[str, str]:
    """Where "back" leads: the queues, or the reporter's own list for those without them."""
    if user.has_perm_code(Perm.CASES_VIEW):
        return reverse("cases:queue"), str(_("Cases"))
    return reverse("cases:mine"), str(_("My reports"))


@login_required  # the case's queryset decides: outside reach, the same 404 as missing
def detail(request: HttpRequest, case_id: int) -> HttpResponse:
    user = request.user
    case = selectors.case_get(actor=user, case_id=case_id)
    actions = transitions.available_actions(user, case)
    photos_of = list(case.photos.all())
    whistle = selectors.case_whistle(actor=user, case_id=case.pk)
    summonses = list(whistle.summons.all()) if whistle else []
    now = timezone.now()
    for summons in summonses:
        summons.late = summons.is_late(now)
    context = {
        "case": case,
        "crumb": _crumb(user),
        "next_step": transitions.next_step(user, case) if case.reporter_id == user.pk else "",
        "photo_groups": [
            (label, [p for p in photos_of if p.stage == stage])
            for stage, label in PhotoStage.choices
            if any(p.stage == stage for p in photos_of)
        ],
        "photo_form": PhotoForm() if photos.may_add(user, case) else None,
        "may_publish": services.may_publish(user),
        "whistle": whistle,
        "summonses": summonses,
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


def _tier_path(tiers: Any) -> str:
    """The "Grid → Community" of the [before, after] tiers an escalation stored."""
    try:
        before, after = (Tier(int(t)) for t in tiers)
    except (TypeError, ValueError):
        return ""
    return "" if before == after else f"{before.label} → {after.label}"


def _event_detail(event) -> str:
    """What the step's data says in words: departments summoned or reporting in, where an
    escalation went, where the case was dispatched or merged."""
    data = event.data or {}
    action = event.action
    if action == "whistle":
        text = gettext("Lead department: %(lead)s") % {"lead": data.get("lead", "")}
        if data.get("co"):
            text += gettext("; co-handling departments: %(co)s") % {"co": "、".join(data["co"])}
        return text
    if action == "report_in":
        text = gettext("%(department)s reported in") % {"department": data.get("department", "")}
        return text if data.get("on_time", True) else text + gettext(" (late)")
    if action == "report_in_overdue":
        return gettext("%(department)s did not report in by the deadline") % {
            "department": data.get("department", "")
        }
    if action in ("escalate", "warning", "overdue") and "tier" in data:
        path = _tier_path(data["tier"])
        return gettext("Escalated: %(path)s") % {"path": path} if path else ""
    if action == "dispatch" and (data.get("department") or data.get("handler")):
        return gettext("To %(whom)s") % {"whom": data.get("department") or data.get("handler")}
    if action == "merge" and data.get("into"):
        return gettext("Into case %(number)s") % {"number": data["into"]}
    if action == "merged_in" and data.get("from"):
        return gettext("From case %(number)s") % {"number": data["from"]}
    if action == "photo" and data.get("stage") in PhotoStage.values:
        return str(PhotoStage(data["stage"]).label)
    return ""


def _labelled(events) -> list:
    """Timeline rows with readable action, state and actor names instead of their codes; steps
    the system took (the overdue sweep, seeded history) have no actor."""
    states = dict(CaseState.choices)
    out = list(events)
    for event in out:
        rule = transitions.TRANSITIONS.get(event.action)
        label = EVENT_LABELS.get(event.action) or (rule.label if rule else None)
        event.action_label = label or event.action
        event.state_label = states.get(event.to_state, event.to_state)
        event.actor_label = str(event.actor) if event.actor_id else gettext("System")
        event.detail = _event_detail(event)
    return out


class _ActionForm(forms.Form):
    def service_arguments(self) -> dict[str, Any]:
        """The service's keyword arguments; fields are named after them unless said here."""
        return dict(self.cleaned_data)


class _NoteForm(_ActionForm):
    note = forms.CharField(
        label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class _ReasonForm(_ActionForm):
    reason = forms.CharField(label=_("reason"), widget=forms.Textarea(attrs={"rows": 2}))


class _EvidenceForm(_ActionForm):
    evidence = forms.CharField(label=_("What was done"), widget=forms.Textarea(attrs={"rows": 3}))
    photos = PhotosField(label=_("Photos after handling"))

    def service_arguments(self) -> dict[str, Any]:
        return {"evidence": self.cleaned_data["evidence"], "uploads": self.cleaned_data["photos"]}


class _DispatchForm(_ActionForm):
    department = forms.ModelChoiceField(
        label=_("department"),
        queryset=Department.objects.order_by("code"),
        required=False,
        help_text=_("Empty: the category's department."),
    )

    def service_arguments(self) -> dict[str, Any]:
        department = self.cleaned_data["department"]
        return {"department_id": department.pk if department else None}


class _MergeForm(_ActionForm):
    into_number = forms.CharField(label=_("Case number to merge into"), max_length=20)


class _CloseOtherForm(_ActionForm):
    reason = forms.ChoiceField(
        label=_("reason"),
        choices=[(CloseReason.NOT_OUR_REMIT, CloseReason.NOT_OUR_REMIT.label),
                 (CloseReason.CANNOT_FIX, CloseReason.CANNOT_FIX.label)],
    )  # fmt: skip
    note = forms.CharField(label=_("note"), widget=forms.Textarea(attrs={"rows": 2}))


class _RateForm(_ActionForm):
    rating = forms.TypedChoiceField(
        label=_("rating"), coerce=int, choices=[(i, "★" * i) for i in range(5, 0, -1)]
    )
    comment = forms.CharField(label=_("comment"), required=False, max_length=500)


class _WhistleForm(_ActionForm):
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

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "lead_department_id": data["lead_department"].pk,
            "co_department_ids": [d.pk for d in data["co_departments"]],
            "note": data["note"],
        }


# Each page action: its form (None: a bare button), its service and the arguments it fixes.
ACTIONS: dict[str, tuple[type[_ActionForm] | None, Callable[..., Case], dict[str, Any]]] = {
    "register": (None, services.case_register, {}),
    "reject": (_ReasonForm, services.case_reject, {}),
    "merge": (_MergeForm, services.case_merge, {}),
    "dispatch": (_DispatchForm, services.case_dispatch, {}),
    "accept": (None, services.case_accept, {}),
    "report_handled": (_EvidenceForm, photos.case_report_handled_with_photos, {}),
    "verify": (_NoteForm, services.case_verify, {"passed": True}),
    "verify_fail": (_NoteForm, services.case_verify, {"passed": False}),
    "close_fixed": (_NoteForm, services.case_close, {"reason": CloseReason.FIXED}),
    "close_other": (_CloseOtherForm, services.case_close, {}),
    "rate": (_RateForm, services.case_rate, {}),
    "escalate": (_ReasonForm, services.case_escalate, {}),
    "whistle": (_WhistleForm, services.case_whistle, {}),
    "report_in": (_NoteForm, services.case_report_in, {}),
}


def _action_form(action: str, data=None, files=None) -> _ActionForm | None:
    form_class = ACTIONS[action][0]
    return form_class(data, files, prefix=action) if form_class else None


@login_required
@require_POST
def act(request: HttpRequest, case_id: int) -> HttpResponse:
    """Take one action on the case; the service re-checks role, tier and state."""
    user = request.user
    case = selectors.case_get(actor=user, case_id=case_id)
    length = declared_size_over(request, settings.LINLI_MAX_UPLOAD_BYTES)
    if length:  # neither the action nor its photos were read
        raise photos.photos_too_large_error(length)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        raise NotFound()
    form = _action_form(action, request.POST, request.FILES)
    if form is not None and not form.is_valid():
        raise validation_failed_from_form(form, str(_("Check the fields of this action.")))
    _form_class, service, fixed = ACTIONS[action]
    arguments = form.service_arguments() if form is not None else {}
    service(actor=user, case_id=case.pk, **fixed, **arguments)
    return redirect_after_save(request, reverse("cases:detail", args=[case.pk]))


@login_required
@require_POST
def publish(request: HttpRequest, case_id: int) -> HttpResponse:
    """Show the case's description and photos to Open311 readers, or withdraw them (公开)."""
    case = selectors.case_get(actor=request.user, case_id=case_id)
    services.case_publish(
        actor=request.user, case_id=case.pk, public=request.POST.get("public") == "1"
    )
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
        raise photos.photos_too_large_error(length)
    form = PhotoForm(request.POST, request.FILES)
    if not form.is_valid():
        raise validation_failed_from_form(form, str(_("Choose a photo first.")))
    photos.case_photos_add(actor=request.user, case_id=case.pk, uploads=form.cleaned_data["photos"])
    return redirect_after_save(request, reverse("cases:detail", args=[case.pk]))
