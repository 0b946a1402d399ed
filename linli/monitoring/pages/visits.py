"""Home-visit pages (入户走访), for a phone: my visits sorted by deadline (overdue red, due soon
yellow; community staff see their places' queue, escalated visits included), and one visit with
the household (masked), the alert's explanation and figures, the earlier attempts and the
record form. The form's outcome-specific fields come by htmx when the outcome changes; the
geolocation button (static/linli/visitlocate.js, no inline script) fills the position; the
form carries an idempotency key made when the page was shown, so sending it again on a bad
connection stores it once."""

from __future__ import annotations

import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from linli.core.errors import validation_failed_from_form
from linli.core.pages import list_page, redirect_after_save, requires
from linli.core.roles import Perm
from linli.core.uploads import declared_size_over

from .. import selectors, visits
from ..models import HomeVisit, VisitOutcome

SHOW_CHOICES = (
    ("todo", gettext_lazy("To visit")),
    ("overdue", gettext_lazy("Overdue")),
    ("escalated", gettext_lazy("Escalated to the community")),
    ("done", gettext_lazy("Visited")),
)
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


@requires(Perm.MONITORING_VIEW)
def visit_list(request: HttpRequest) -> HttpResponse:
    """My visits (a grid worker's own; the community's queue for community and street staff)."""
    actor = request.user
    show = request.GET.get("show", "todo")
    show = show if show in dict(SHOW_CHOICES) else "todo"
    now = timezone.now()
    page = list_page(visits.visit_list(actor=actor, show=show, now=now), request.GET.get("page"))
    for visit in page.items:
        visit.warning = visits.warning(visit, now)
    community = visits.sees_community_queue(actor)
    tabs = [(key, label) for key, label in SHOW_CHOICES if community or key != "escalated"]
    return render(
        request,
        "monitoring/visits_list.html",
        {"page": page, "show": show, "tabs": tabs, "community": community},
    )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos in one input; each is checked by its content in the service."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault(
            "widget",
            MultipleFileInput(
                attrs={"accept": "image/jpeg,image/png,image/webp", "capture": "environment"}
            ),
        )
        super().__init__(required=False, **kwargs)

    def clean(self, data, initial=None) -> list:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(PhotosField, self).clean(f, initial) for f in files]


def _programs() -> list[tuple[str, str]]:
    from linli.assistance.models import Program
    from linli.assistance.transitions import APPLICABLE_PROGRAMS

    return [(p, Program(p).label) for p in APPLICABLE_PROGRAMS]


class RecordForm(forms.Form):
    # Made once when the page is shown: the same form sent twice is stored once.
    idempotency_key = forms.CharField(widget=forms.HiddenInput(), max_length=64)
    visited_at = forms.DateTimeField(label=gettext_lazy("visited at"), widget=DATETIME_INPUT)
    outcome = forms.ChoiceField(label=gettext_lazy("outcome"), choices=VisitOutcome.choices)
    met = forms.CharField(
        label=gettext_lazy("who was met"),
        required=False,
        max_length=visits.MAX_MET,
        help_text=gettext_lazy("Leave blank if nobody was found."),
    )
    findings = forms.CharField(
        label=gettext_lazy("findings"),
        max_length=visits.MAX_FINDINGS,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    lat = forms.FloatField(
        label=gettext_lazy("latitude"),
        required=False,
        widget=forms.NumberInput(
            attrs={"step": "any", "inputmode": "decimal", "min": "-90", "max": "90"}
        ),
    )
    lng = forms.FloatField(
        label=gettext_lazy("longitude"),
        required=False,
        widget=forms.NumberInput(
            attrs={"step": "any", "inputmode": "decimal", "min": "-180", "max": "180"}
        ),
    )
    photos = PhotosField(
        label=gettext_lazy("Photos"),
        help_text=gettext_lazy(
            "Up to 9 JPEG, PNG or WebP photos of 10 MB; their location is removed."
        ),
    )


class AssistanceFields(forms.Form):
    program = forms.ChoiceField(label=gettext_lazy("assistance program"), choices=())

    def __init__(self, *args, default: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["program"].choices = _programs()
        self.fields["program"].initial = default or "minimum_living"


class ServiceFields(forms.Form):
    category_id = forms.TypedChoiceField(
        label=gettext_lazy("open a case in the category"), coerce=int, required=False, choices=()
    )
    service = forms.CharField(
        label=gettext_lazy("or the other service referred to"),
        required=False,
        max_length=visits.MAX_SERVICE,
        help_text=gettext_lazy("For example the disabled persons' federation or elderly care."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category_id"].choices = [("", "—"), *visits.service_categories()]


def _outcome_form(outcome: str, visit: HomeVisit, data=None) -> forms.Form | None:
    if outcome == VisitOutcome.REFER_ASSISTANCE:
        return AssistanceFields(data, default=visit.alert.rule.program)
    if outcome == VisitOutcome.REFER_SERVICE:
        return ServiceFields(data)
    return None


@requires(Perm.MONITORING_VIEW)
def visit_detail(request: HttpRequest, home_visit_id: int) -> HttpResponse:
    actor = request.user
    visit = visits.visit_get(actor=actor, visit_id=home_visit_id)
    may_record = visits.available(actor, visit)
    form = None
    if may_record:
        form = RecordForm(
            initial={
                "idempotency_key": uuid.uuid4().hex,
                "visited_at": timezone.localtime().replace(second=0, microsecond=0),
                "outcome": VisitOutcome.NO_RISK,
            }
        )
        form.fields["outcome"].widget.attrs.update(
            {
                "hx-get": reverse("monitoring:visit_outcome_fields", args=[visit.pk]),
                "hx-target": "#outcome-fields",
                "hx-trigger": "change",
            }
        )
    records = visits.visit_records(visit)
    for record in records:
        record.referrals = selectors.referrals_of(record)
    return render(
        request,
        "monitoring/visits_detail.html",
        {
            "visit": visit,
            "warning": visits.warning(visit),
            "household": visits.household_shown(visit),
            "explanation": selectors.explanation_of(visit.alert),
            "figures": selectors.figures_of(visit.alert.snapshot),
            "records": records,
            "form": form,
            "outcome_form": None,
            "tries": visits.tries(),
        },
    )


@requires(Perm.MONITORING_VISIT)
@require_GET
def visit_outcome_fields(request: HttpRequest, home_visit_id: int) -> HttpResponse:
    """The outcome-specific fields (htmx, when the outcome changes)."""
    visit = visits.visit_get(actor=request.user, visit_id=home_visit_id)
    outcome = request.GET.get("outcome", "")
    return render(
        request,
        "monitoring/visits_outcome_fields.html",
        {
            "outcome_form": _outcome_form(outcome, visit),
            "outcome": outcome,
            "tries": visits.tries(),
        },
    )


@requires(Perm.MONITORING_VISIT)
@require_POST
def visit_record(request: HttpRequest, home_visit_id: int) -> HttpResponse:
    actor = request.user
    visit = visits.visit_get(actor=actor, visit_id=home_visit_id)
    length = declared_size_over(request, settings.LINLI_MAX_UPLOAD_BYTES)
    if length:
        from linli.cases.photos import photos_too_large_error

        raise photos_too_large_error(length)
    form = RecordForm(request.POST, request.FILES)
    if not form.is_valid():
        raise validation_failed_from_form(form, str(_("Check the fields of the visit record.")))
    data = form.cleaned_data
    extra: dict = {}
    outcome_form = _outcome_form(data["outcome"], visit, request.POST)
    if outcome_form is not None:
        if not outcome_form.is_valid():
            raise validation_failed_from_form(outcome_form, str(_("Check the outcome's fields.")))
        extra = {k: v for k, v in outcome_form.cleaned_data.items() if v not in (None, "")}
    record = visits.visit_record(
        actor=actor,
        visit_id=visit.pk,
        idempotency_key=data["idempotency_key"],
        visited_at=data["visited_at"],
        met=data["met"],
        findings=data["findings"],
        photos=data["photos"],
        lat=data["lat"],
        lng=data["lng"],
        outcome=data["outcome"],
        **extra,
    )
    if getattr(record, "resent", False):
        messages.info(request, _("This visit record was already stored; it was not stored twice."))
    else:
        messages.success(request, _("The visit record is stored."))
    return redirect_after_save(request, reverse("monitoring:visit_detail", args=[visit.pk]))


@requires(Perm.MONITORING_VIEW)
def visit_photo(request: HttpRequest, home_visit_id: int, visit_record_id: int, photo_id: int):
    """A record's photo (the copy without EXIF; `photo_id` its number in the record, from 1)."""
    photo = visits.visit_photo(
        actor=request.user, visit_id=home_visit_id, record_id=visit_record_id, number=photo_id
    )
    return FileResponse(
        default_storage.open(photo["name"], "rb"), content_type=photo["content_type"]
    )


urlpatterns = [
    path("visits/", visit_list, name="visits"),
    path("visits/<int:home_visit_id>/", visit_detail, name="visit_detail"),
    path(
        "visits/<int:home_visit_id>/outcome-fields",
        visit_outcome_fields,
        name="visit_outcome_fields",
    ),
    path("visits/<int:home_visit_id>/record", visit_record, name="visit_record"),
    path(
        "visits/<int:home_visit_id>/records/<int:visit_record_id>/photos/<int:photo_id>/",
        visit_photo,
        name="visit_photo",
    ),
]
