"""Application pages: the queues of each role with filters and overdue warnings, the
application with its assessment read aloud, visits and photos, history and the actions the
transitions table allows this user now; the staff's entry form, the resident's own application,
and the public notice of a community (公示), which needs no login and masks every name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from linli.core.errors import NotFound, ValidationFailed, validation_failed_from_form
from linli.core.pages import (
    DATE_INPUT,
    add_service_errors,
    list_page,
    redirect_after_save,
    requires,
)
from linli.core.roles import Perm
from linli.core.uploads import declared_size_over
from linli.people.models import Household, Person, RecordStatus
from linli.places.models import Place, PlaceLevel

from .. import applications as services
from .. import selectors, transitions
from ..models import Application, ApplicationChannel, ApplicationState, Program, TemporaryKind

APPLICABLE = [(p, Program(p).label) for p in transitions.APPLICABLE_PROGRAMS]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos in one input; each is checked by its content in the service."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"})
        )
        super().__init__(required=False, **kwargs)

    def clean(self, data, initial=None) -> list:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(PhotosField, self).clean(f, initial) for f in files]


# --- the queue ---------------------------------------------------------------------------------


class QueueForm(forms.Form):
    QUEUES = (
        ("mine", _("Waiting for me")),
        ("", _("All")),
        ("to_accept", _("To accept")),
        ("to_investigate", _("To investigate")),
        ("to_notify", _("Public notice to start or end")),
        ("in_notice", _("In public notice")),
        ("to_decide", _("To decide")),
        ("sampled", _("Sampled by the district")),
        ("documents", _("Documents due")),
        ("overdue", _("Overdue")),
    )
    queue = forms.ChoiceField(label=_("Queue"), choices=QUEUES, required=False)
    program = forms.ChoiceField(
        label=_("program"), choices=[("", "—"), *APPLICABLE], required=False
    )
    state = forms.ChoiceField(
        label=_("state"), choices=[("", "—"), *ApplicationState.choices], required=False
    )
    place = forms.TypedChoiceField(label=_("Place"), coerce=int, required=False, empty_value=None)
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=50,
        help_text=_("Household number, or the start of the applicant's name."),
    )

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        places = (
            Place.objects.restrict(user)
            .filter(level__in=(PlaceLevel.STREET, PlaceLevel.COMMUNITY))
            .order_by("path")[:300]
        )
        self.fields["place"].choices = [("", "—"), *((p.pk, str(p)) for p in places)]


@requires(Perm.ASSISTANCE_VIEW)
def queue(request: HttpRequest) -> HttpResponse:
    """救助申请: the queues of each role, filtered, with overdue warnings."""
    user = request.user
    data = request.GET.copy()
    data.setdefault("queue", "mine")
    form = QueueForm(data, user=user)
    clean = form.cleaned_data if form.is_valid() else {"queue": "mine"}
    place_path = ""
    if clean.get("place"):
        place_path = (
            Place.objects.restrict(user)
            .filter(pk=clean["place"])
            .values_list("path", flat=True)
            .first()
            or ""
        )
    filters = selectors.ApplicationFilter(
        queue=clean.get("queue") or "",
        program=clean.get("program") or "",
        state=clean.get("state") or "",
        place_path=place_path,
        overdue=bool(clean.get("overdue")),
        search=clean.get("q") or "",
    )
    page = list_page(selectors.application_list(actor=user, filters=filters), data.get("page"))
    today = timezone.localdate()
    for application in page.items:
        application.due = selectors.stage_due(application)
        application.warning = selectors.warning_of(application, today)
    counts = selectors.application_counts(actor=user)
    return render(
        request,
        "assistance/applications_queue.html",
        {
            "form": form,
            "page": page,
            "counts": counts,
            "may_enter": user.is_staff_role and user.has_perm_code(Perm.ASSISTANCE_APPLY),
        },
    )


# --- the application ---------------------------------------------------------------------------


class _ActionForm(forms.Form):
    def service_arguments(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


class _NoteForm(_ActionForm):
    note = forms.CharField(
        label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class _RejectForm(_ActionForm):
    note = forms.CharField(
        label=_("reason"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "The applicant receives the assessment as the reason; add why if the assessment "
            "found the household eligible."
        ),
    )


class _ReasonForm(_ActionForm):
    reason = forms.CharField(label=_("reason"), widget=forms.Textarea(attrs={"rows": 2}))


class _WithdrawForm(_ActionForm):
    reason = forms.CharField(
        label=_("reason"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class _InvestigateForm(_ActionForm):
    visited_on = forms.DateField(label=_("visited on"), widget=DATE_INPUT)
    visitors = forms.CharField(label=_("visited by"), max_length=200)
    findings = forms.CharField(label=_("findings"), widget=forms.Textarea(attrs={"rows": 4}))
    photos = PhotosField(
        label=_("Photos"),
        help_text=_("Up to 9 JPEG, PNG or WebP photos of 10 MB; their location is removed."),
    )

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "visited_on": data["visited_on"],
            "visitors": data["visitors"],
            "findings": data["findings"],
            "uploads": data["photos"],
        }


class _ObjectionForm(_ActionForm):
    content = forms.CharField(label=_("objection"), widget=forms.Textarea(attrs={"rows": 3}))
    received_on = forms.DateField(label=_("received on"), widget=DATE_INPUT, required=False)


class _DocumentsForm(_ActionForm):
    received_on = forms.DateField(label=_("received on"), widget=DATE_INPUT, required=False)


# Each page action's form (None: a bare button) and whether it asks for confirmation.
ACTIONS: dict[str, tuple[type[_ActionForm] | None, Any]] = {
    "accept": (None, None),
    "investigate": (_InvestigateForm, None),
    "start_notice": (None, _("Publish this application in the community's public notice?")),
    "object": (_ObjectionForm, None),
    "end_notice": (None, None),
    "approve": (_NoteForm, _("Approve this application?")),
    "reject": (_RejectForm, _("Reject this application? The applicant is told the reason.")),
    "extend": (_ReasonForm, None),
    "pay_first": (_NoteForm, _("Pay this emergency first, before the documents?")),
    "record_documents": (_DocumentsForm, None),
    "withdraw": (_WithdrawForm, _("Withdraw this application?")),
}


def _action_form(action: str, data=None, files=None) -> _ActionForm | None:
    form_class = ACTIONS[action][0]
    return form_class(data, files, prefix=action) if form_class else None


def _crumb(user) -> tuple[str, str]:
    if user.has_perm_code(Perm.ASSISTANCE_VIEW):
        return reverse("assistance:applications"), str(_("Assistance applications"))
    return reverse("home"), str(_("Home"))


def assessment_view(application: Application) -> dict[str, Any]:
    """The stored assessment as the page shows it: the result, and the trace in sentences."""
    from ..engine import classification_label, explain

    stored = application.assessment or {}
    result = transitions.stored_result(application) or {}
    return {
        "on": stored.get("on", ""),
        "eligible": bool(result.get("eligible")),
        "classification": classification_label(
            application.program, result.get("classification", "")
        ),
        "monthly_amount": result.get("monthly_amount", ""),
        "amount": result.get("amount", ""),
        "persons_covered": result.get("persons_covered", ""),
        "per_capita": stored.get("per_capita", ""),
        "sentences": explain(stored, application.program) if stored else [],
    }


@login_required  # the application's queryset decides: outside reach, the same 404 as missing
def detail(request: HttpRequest, application_id: int) -> HttpResponse:
    user = request.user
    application = selectors.application_get(actor=user, application_id=application_id)
    actions = transitions.available_actions(application, user)
    staff = not user.is_resident
    visits = list(selectors.application_visits(actor=user, application_id=application.pk))
    context = {
        "application": application,
        "crumb": _crumb(user),
        "staff": staff,
        "due": selectors.stage_due(application),
        "warning": selectors.warning_of(application),
        "assessment": assessment_view(application),
        "visits": visits,
        "objections": list(
            selectors.application_objections(actor=user, application_id=application.pk)
        ),
        "history": selectors.application_history(actor=user, application_id=application.pk)
        if staff
        else [],
        "actions": [
            (a, transitions.TRANSITIONS[a].label, _action_form(a), ACTIONS[a][1]) for a in actions
        ],
    }
    return render(request, "assistance/applications_detail.html", context)


@login_required
@require_POST
def act(request: HttpRequest, application_id: int) -> HttpResponse:
    """Take one action on the application; the service re-checks role, tier and state."""
    user = request.user
    application = selectors.application_get(actor=user, application_id=application_id)
    length = declared_size_over(request, settings.LINLI_MAX_UPLOAD_BYTES)
    if length:
        from linli.cases.photos import photos_too_large_error

        raise photos_too_large_error(length)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        raise NotFound()
    form = _action_form(action, request.POST, request.FILES)
    if form is not None and not form.is_valid():
        raise validation_failed_from_form(form, str(_("Check the fields of this action.")))
    arguments = form.service_arguments() if form is not None else {}
    services.application_act(actor=user, application_id=application.pk, action=action, **arguments)
    return redirect_after_save(
        request, reverse("assistance:application_detail", args=[application.pk])
    )


@login_required
def visit_photo(request: HttpRequest, application_id: int, visit_id: int, photo_id: int):
    """A visit's photo (the copy without EXIF; `photo_id` is its number in the visit, from 1),
    to whoever may see the application."""
    visit = (
        selectors.application_visits(actor=request.user, application_id=application_id)
        .filter(pk=visit_id)
        .first()
    )
    if visit is None or not 1 <= photo_id <= len(visit.photos):
        raise NotFound()
    photo = visit.photos[photo_id - 1]
    return FileResponse(
        default_storage.open(photo["name"], "rb"), content_type=photo["content_type"]
    )


# --- entering an application -------------------------------------------------------------------


class _ApplicationFields(forms.Form):
    program = forms.ChoiceField(label=_("program"), choices=APPLICABLE)
    temporary_kind = forms.ChoiceField(
        label=_("kind of temporary assistance"),
        choices=[("", "—"), *TemporaryKind.choices],
        required=False,
    )
    requested_amount = forms.DecimalField(
        label=_("amount requested (yuan)"),
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        help_text=_("Temporary assistance: what the hardship costs."),
    )
    reason = forms.CharField(
        label=_("reason for applying"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    credit_pledge = forms.BooleanField(
        label=_("The applicant signed a credit pledge (信用承诺): decide first, verify later"),
        required=False,
    )


class StaffApplicationForm(_ApplicationFields):
    household_number = forms.CharField(label=_("household number"), max_length=32)
    applicant = forms.TypedChoiceField(
        label=_("applicant"), coerce=int, required=False, empty_value=None
    )
    channel = forms.ChoiceField(
        label=_("channel"),
        choices=[
            (c, label) for c, label in ApplicationChannel.choices if c != ApplicationChannel.ONLINE
        ],
    )
    consent_note = forms.CharField(
        label=_("resident's consent"),
        required=False,
        max_length=200,
        help_text=_("When a worker applies for the resident: how the resident agreed."),
    )
    referral_source = forms.CharField(label=_("referred from"), required=False, max_length=200)

    field_order = ["household_number", "applicant", "program", "temporary_kind", "channel"]

    def __init__(self, *args, members=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["applicant"].choices = [
            ("", _("The householder")),
            *((p.pk, p.name) for p in members),
        ]


def _household_by_number(user, number: str) -> Household | None:
    number = (number or "").strip()
    if not number:
        return None
    return (
        Household.objects.restrict(user).filter(number=number, status=RecordStatus.ACTIVE).first()
    )


@requires(Perm.ASSISTANCE_APPLY)
def new(request: HttpRequest) -> HttpResponse:
    """Enter an application at the window, for a resident, or as a referral (staff)."""
    user = request.user
    if user.is_resident:
        raise NotFound()
    source = request.POST if request.method == "POST" else request.GET
    household = _household_by_number(user, source.get("household_number", ""))
    members = (
        list(Person.objects.filter(household=household, status=RecordStatus.ACTIVE))
        if household
        else []
    )
    form = StaffApplicationForm(
        request.POST or None,
        members=members,
        initial={"household_number": source.get("household_number", "")},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if household is None:
            form.add_error("household_number", _("No such household within your reach."))
        else:
            try:
                application = services.application_submit(
                    actor=user,
                    household_id=household.pk,
                    program=data["program"],
                    applicant_id=data["applicant"],
                    channel=data["channel"],
                    temporary_kind=data["temporary_kind"],
                    consent_note=data["consent_note"],
                    referral_source=data["referral_source"],
                    reason=data["reason"],
                    requested_amount=data["requested_amount"],
                    credit_pledge=data["credit_pledge"],
                )
            except ValidationFailed as exc:
                add_service_errors(form, exc)
            else:
                return redirect_after_save(
                    request, reverse("assistance:application_detail", args=[application.pk])
                )
    return render(
        request,
        "assistance/applications_new.html",
        {"form": form, "household": household, "members": members},
    )


class ResidentApplicationForm(_ApplicationFields):
    pass


@requires(Perm.ASSISTANCE_APPLY)
def apply(request: HttpRequest) -> HttpResponse:
    """A resident applies online for their own household; their applications are listed."""
    user = request.user
    if not user.is_resident:
        raise NotFound()
    household = Household.objects.for_resident(user).filter(status=RecordStatus.ACTIVE).first()
    form = ResidentApplicationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if household is None:
            form.add_error(None, _("Your account is not linked to a household of the registry."))
        else:
            try:
                application = services.application_submit(
                    actor=user,
                    household_id=household.pk,
                    program=data["program"],
                    temporary_kind=data["temporary_kind"],
                    reason=data["reason"],
                    requested_amount=data["requested_amount"],
                    credit_pledge=data["credit_pledge"],
                )
            except ValidationFailed as exc:
                add_service_errors(form, exc)
            else:
                return redirect_after_save(
                    request, reverse("assistance:application_detail", args=[application.pk])
                )
    mine = selectors.entered_by(actor=user)[:50]
    return render(
        request,
        "assistance/applications_apply.html",
        {"form": form, "household": household, "mine": mine},
    )


# --- the public notice -------------------------------------------------------------------------


def notice(request: HttpRequest, community_id: int) -> HttpResponse:
    """公示: the community's applications in public notice, for anyone (no login): names masked,
    no ID numbers, nothing else about the household."""
    community = selectors.public_community(community_id)
    rows = selectors.public_notice(community=community)
    return render(
        request, "assistance/notice_community.html", {"community": community, "rows": rows}
    )


urlpatterns = [
    path("applications/", queue, name="applications"),
    path("applications/new/", new, name="application_new"),
    path("applications/<int:application_id>/", detail, name="application_detail"),
    path("applications/<int:application_id>/act/", act, name="application_act"),
    path(
        "applications/<int:application_id>/visits/<int:visit_id>/photos/<int:photo_id>/",
        visit_photo,
        name="visit_photo",
    ),
    path("apply/", apply, name="apply"),
    path("notice/<int:community_id>/", notice, name="notice"),
]
