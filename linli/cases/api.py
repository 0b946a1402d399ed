"""Cases API: intake (anonymous where the category allows it), lists, the case with its timeline,
one POST per transition, duplicate candidates and photos. Services do every check; this layer
only translates JSON to their arguments."""

import datetime as dt
from decimal import Decimal
from typing import Literal

from django.db.models import Q
from django.http import FileResponse, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema, Status, UploadedFile
from ninja.pagination import paginate
from ninja.security import django_auth

from linli.core.api import ERRORS, Date, Id, Page, TokenAuth, actor_of
from linli.core.errors import NotFound, PermissionDenied, ValidationFailed
from linli.core.masking import mask_phone
from linli.core.roles import Perm
from linli.core.uploads import declared_size_over
from linli.places.models import Place

from . import photos, selectors, services, statistics
from .models import (
    TIMED_STATES,
    Case,
    CaseState,
    Category,
    CategoryKind,
    CloseReason,
    PhotoStage,
    Source,
    WarningLevel,
    WhistleKind,
)
from .transitions import available_actions

router = Router(tags=["cases"])


def _session_or_anonymous(request: HttpRequest):
    """Signed-in users through the session (with its CSRF check), everyone else as an anonymous
    resident: some categories take reports with only a phone number. A request that sent a
    token which did not authenticate is refused rather than treated as anonymous."""
    if "Authorization" in request.headers:
        return None
    if request.user.is_authenticated:
        return django_auth(request)
    return request.user


REPORT_AUTH = [TokenAuth(), _session_or_anonymous]
# The OpenAPI document of such a route: ninja lists the token, this adds the session and the
# empty requirement, which says that no credentials at all are accepted too.
REPORT_SECURITY = {"security": [{"SessionAuth": []}, {}]}


# --- schemas -----------------------------------------------------------------------------------


# Every source but "open311", which marks the reports of Open311 clients (open311.py) alone.
ReportSource = Literal[tuple(s.value for s in Source if s != Source.OPEN311)]


class CaseReportIn(Schema):
    category: str = Field(description="Code of a minor class, e.g. SJ0101.", max_length=16)
    description: str
    lat: float | None = None
    lng: float | None = None
    grid_id: Id | None = Field(None, description="Staff only: the grid, when there is no point.")
    address: str = ""
    source: ReportSource | None = Field(
        None, description="Staff entering a report: how it came in; residents leave it out."
    )
    reporter_name: str = ""
    reporter_phone: str = Field("", description="Required for anonymous and hotline reports.")
    idempotency_key: str = Field(
        "", description="Or the Idempotency-Key header: a resend with the same key counts once."
    )


class CaseOut(Schema):
    id: int
    number: str
    category: str
    category_name: str
    description: str
    address: str
    lat: float | None
    lng: float | None
    grid_id: int
    source: Source
    state: CaseState
    tier: int
    priority: int
    department_id: int | None
    handler_id: int | None
    warning: WarningLevel
    stage_deadline: dt.datetime | None
    due_at: dt.datetime | None
    reported_at: dt.datetime
    closed_at: dt.datetime | None
    close_reason: str
    merged_into_id: int | None
    rating: int | None
    rating_comment: str
    rework_count: int
    reporter_phone_masked: str
    is_public: bool = Field(description="Description and photos shown to Open311 readers.")

    @staticmethod
    def resolve_category(obj: Case) -> str:
        return obj.category.code

    @staticmethod
    def resolve_category_name(obj: Case) -> str:
        return obj.category.name

    @staticmethod
    def resolve_reporter_phone_masked(obj: Case) -> str:
        return mask_phone(obj.reporter_phone) if obj.reporter_phone else ""


class CaseReportOut(CaseOut):
    is_replay: bool = Field(description="True when an earlier report with the key was returned.")


class EventOut(Schema):
    at: dt.datetime
    action: str
    from_state: str
    to_state: str
    note: str
    actor: str
    data: dict

    @staticmethod
    def resolve_actor(obj) -> str:
        return str(obj.actor) if obj.actor_id else ""


class PhotoOut(Schema):
    id: int
    content_type: str
    width: int
    height: int
    uploaded_at: dt.datetime
    stage: PhotoStage = Field(description="Before handling (the problem) or after (the result).")


class SummonsOut(Schema):
    department_id: int
    department: str
    is_lead: bool = Field(description="The lead department (牵头); otherwise a co-handler (协办).")
    report_in_by: dt.datetime
    reported_in_at: dt.datetime | None
    reported_in_by: str = Field(description="Who reported in for the department.")
    late: bool = Field(description="Reported in after the deadline, or not yet and past it.")

    @staticmethod
    def resolve_department(obj) -> str:
        return obj.department.name

    @staticmethod
    def resolve_reported_in_by(obj) -> str:
        return str(obj.reported_in_by) if obj.reported_in_by_id else ""

    @staticmethod
    def resolve_late(obj) -> bool:
        return obj.is_late(timezone.now())


class WhistleOut(Schema):
    kind: WhistleKind
    blown_at: dt.datetime
    note: str
    summons: list[SummonsOut] = Field(description="Every summoned department, the lead first.")

    @staticmethod
    def resolve_summons(obj) -> list:
        return list(obj.summons.all())


class CaseDetailOut(CaseOut):
    timeline: list[EventOut]
    photos: list[PhotoOut]
    whistle: WhistleOut | None = Field(description="The whistle (吹哨) and its report-ins.")
    actions: list[str] = Field(description="Transitions the caller could take now.")

    @staticmethod
    def resolve_photos(obj: Case) -> list:
        return list(obj.photos.all())

    @staticmethod
    def resolve_whistle(obj: Case):
        return obj.whistle_out


class DuplicateOut(CaseOut):
    distance_m: float


class CaseQuery(Schema):
    state: CaseState | None = None
    category: str = Field("", max_length=16, description="Code of a major or minor class.")
    place_id: Id | None = None
    overdue: bool = Field(False, description="Only open cases past their stage deadline.")


class RejectIn(Schema):
    reason: str


class MergeIn(Schema):
    into_case_id: Id


class DispatchIn(Schema):
    department_id: Id | None = None
    handler_id: Id | None = None


class HandledIn(Schema):
    evidence: str


class VerifyIn(Schema):
    passed: bool
    note: str = ""


class CloseIn(Schema):
    reason: CloseReason = CloseReason.FIXED
    note: str = ""


class RateIn(Schema):
    rating: int
    comment: str = ""


class EscalateIn(Schema):
    reason: str


class WhistleIn(Schema):
    kind: WhistleKind
    lead_department_id: Id
    co_department_ids: list[Id] = []
    note: str = ""
    report_in_hours: Decimal | None = None


class ReportInIn(Schema):
    department_id: Id | None = None
    note: str = ""


def _category_id(code: str, *, minor_only: bool) -> int:
    qs = Category.objects.filter(code=code, is_active=True)
    if minor_only:
        qs = qs.filter(parent__isnull=False)
    pk = qs.values_list("pk", flat=True).first()
    if pk is None:
        raise ValidationFailed(
            _("Choose a category from the list (a minor class)."),
            details={"category": [_("Unknown category.")]},
        )
    return pk


def _detail(request, case_id: Id) -> Case:
    actor = actor_of(request)
    case = selectors.case_get(actor=actor, case_id=case_id)
    case.timeline = list(selectors.case_timeline(actor=actor, case_id=case_id))
    # Beside `case.whistle`, the reverse one-to-one, which raises when there is none.
    case.whistle_out = selectors.case_whistle(actor=actor, case_id=case_id)
    case.actions = available_actions(actor, case)
    return case


# --- intake and reads --------------------------------------------------------------------------


@router.post(
    "",
    response={200: CaseReportOut, 201: CaseReportOut, **ERRORS},
    auth=REPORT_AUTH,
    openapi_extra=REPORT_SECURITY,
)
def case_report(request, payload: CaseReportIn):
    """File a report. Without a token or session it is anonymous: the category must allow
    that and a phone number is required. A resend with the same idempotency key answers 200
    with the first report instead of filing a second."""
    case = services.case_report(
        actor=actor_of(request),
        category_code=payload.category,
        description=payload.description,
        source=payload.source,
        lat=payload.lat,
        lng=payload.lng,
        grid_id=payload.grid_id,
        address=payload.address,
        reporter_name=payload.reporter_name,
        reporter_phone=payload.reporter_phone,
        idempotency_key=payload.idempotency_key or request.headers.get("Idempotency-Key", ""),
    )
    return Status(200 if case.is_replay else 201, case)


class CategoryOut(Schema):
    code: str
    name: str
    name_en: str
    kind: CategoryKind
    major: str | None = Field(description="Code of the major class; null for a major class.")
    anonymous_allowed: bool = Field(description="Reports without a token or session accepted.")
    priority: int

    @staticmethod
    def resolve_major(obj: Category) -> str | None:
        return obj.parent.code if obj.parent_id else None


@router.get(
    "/categories",
    response={200: list[CategoryOut], **ERRORS},
    auth=REPORT_AUTH,
    openapi_extra=REPORT_SECURITY,
)
def category_list(request):
    """The active case categories (案件分类), major classes and their minor classes: a report
    names a minor class's code. Open to anyone who may report, anonymous residents too."""
    return (
        Category.objects.filter(is_active=True)
        .filter(Q(parent__isnull=True) | Q(parent__is_active=True))
        .select_related("parent")
        .order_by("code")
    )


@router.get("", response={200: list[CaseOut], **ERRORS})
@paginate(Page)
def case_list(request, filters: Query[CaseQuery]):
    f = selectors.CaseFilter()
    if filters.state:
        f.states = (filters.state,)
    if filters.category:
        f.category_id = _category_id(filters.category, minor_only=False)
    if filters.overdue:
        f.states = f.states or TIMED_STATES
        f.warning = WarningLevel.RED
    if filters.place_id is not None:
        path = Place.objects.filter(pk=filters.place_id).values_list("path", flat=True).first()
        if path is None:
            return Case.objects.none()
        f.place_path = path
    return selectors.case_list(actor=actor_of(request), filters=f)


class StatisticsQuery(Schema):
    start: Date = Field(description="First day of the period (reported on or after).")
    end: Date = Field(description="Last day of the period, included.")
    grouping: Literal["department", "street", "community", "grid"] = "street"
    place_id: Id | None = Field(None, description="Only cases under this place.")


class CategoryCountOut(Schema):
    code: str
    name: str
    cases: int


class StatRowOut(Schema):
    code: str
    name: str
    reported: int
    registered: int
    registration_rate: Decimal | None
    rejected: int
    open: int
    overdue_open: int
    dispatch_on_time: int
    dispatch_late: int
    dispatch_on_time_rate: Decimal | None
    handle_on_time: int
    handle_late: int
    handle_on_time_rate: Decimal | None
    close_on_time: int
    close_late: int
    close_on_time_rate: Decimal | None
    reworked: int
    rework_rate: Decimal | None
    average_handling_hours: Decimal | None
    average_closure_hours: Decimal | None
    rated: int
    average_rating: Decimal | None
    satisfaction_rate: Decimal | None
    top_categories: list[CategoryCountOut]


class StatisticsOut(Schema):
    start: dt.date
    end: dt.date
    grouping: str
    as_of: dt.datetime
    rows: list[StatRowOut]
    total: StatRowOut


@router.get("/statistics", response={200: StatisticsOut, **ERRORS})
def case_statistics(request, query: Query[StatisticsQuery]):
    """Figures of the cases reported in the period, per department, street, community or grid
    (rates in per cent, times in hours; open cases past their deadline count as late)."""
    actor = actor_of(request)
    if not actor.has_perm_code(Perm.CASES_VIEW):
        raise PermissionDenied()
    place = None if query.place_id is None else Place.objects.get_for(actor, query.place_id)
    stats = statistics.case_statistics(
        actor=actor, start=query.start, end=query.end, grouping=query.grouping, place=place
    )

    def out(row):
        row.top_categories = [
            {"code": c.code, "name": c.name, "cases": n} for c, n in stats.top_of(row, 10)
        ]
        return row

    return {
        "start": stats.start,
        "end": stats.end,
        "grouping": stats.grouping,
        "as_of": stats.now,
        "rows": [out(r) for r in stats.rows],
        "total": out(stats.total),
    }


@router.get("/{case_id}", response={200: CaseDetailOut, **ERRORS})
def case_detail(request, case_id: Id):
    """The case with its timeline, its photos and what the caller may do next."""
    return _detail(request, case_id)


@router.get("/{case_id}/duplicates", response={200: list[DuplicateOut], **ERRORS})
def case_duplicates(request, case_id: Id):
    """Open cases of the same category close by in place and time, nearest first: offered for
    merging before the report is registered."""
    return selectors.case_duplicate_candidates(actor=actor_of(request), case_id=case_id)


# --- transitions -------------------------------------------------------------------------------


def _case(request, case_id: Id) -> Case:
    return selectors.case_get(actor=actor_of(request), case_id=case_id)


def _actor_seeing(request, case_id: Id):
    """The actor, once the case is known to be within reach: outside it the answer is 404
    whatever the body, before any check of the body against the database."""
    actor = actor_of(request)
    Case.objects.get_for(actor, case_id)
    return actor


@router.post("/{case_id}/register", response={200: CaseOut, **ERRORS})
def case_register(request, case_id: Id):
    services.case_register(actor=_actor_seeing(request, case_id), case_id=case_id)
    return _case(request, case_id)


@router.post("/{case_id}/reject", response={200: CaseOut, **ERRORS})
def case_reject(request, case_id: Id, payload: RejectIn):
    services.case_reject(
        actor=_actor_seeing(request, case_id), case_id=case_id, reason=payload.reason
    )
    return _case(request, case_id)


@router.post("/{case_id}/merge", response={200: CaseOut, **ERRORS})
def case_merge(request, case_id: Id, payload: MergeIn):
    services.case_merge(
        actor=_actor_seeing(request, case_id), case_id=case_id, into_case_id=payload.into_case_id
    )
    return _case(request, case_id)


@router.post("/{case_id}/dispatch", response={200: CaseOut, **ERRORS})
def case_dispatch(request, case_id: Id, payload: DispatchIn):
    """To a department (default: the category's) or a person."""
    services.case_dispatch(
        actor=_actor_seeing(request, case_id),
        case_id=case_id,
        department_id=payload.department_id,
        handler_id=payload.handler_id,
    )
    return _case(request, case_id)


@router.post("/{case_id}/accept", response={200: CaseOut, **ERRORS})
def case_accept(request, case_id: Id):
    """Take the case on; of two handlers at once exactly one wins, the other gets 409."""
    services.case_accept(actor=_actor_seeing(request, case_id), case_id=case_id)
    return _case(request, case_id)


@router.post("/{case_id}/handled", response={200: CaseOut, **ERRORS})
def case_handled(request, case_id: Id, payload: HandledIn):
    services.case_report_handled(
        actor=_actor_seeing(request, case_id), case_id=case_id, evidence=payload.evidence
    )
    return _case(request, case_id)


@router.post("/{case_id}/verify", response={200: CaseOut, **ERRORS})
def case_verify(request, case_id: Id, payload: VerifyIn):
    """Passed → verified; failed (a note saying what is wrong) → back to the handler."""
    services.case_verify(
        actor=_actor_seeing(request, case_id),
        case_id=case_id,
        passed=payload.passed,
        note=payload.note,
    )
    return _case(request, case_id)


@router.post("/{case_id}/close", response={200: CaseOut, **ERRORS})
def case_close(request, case_id: Id, payload: CloseIn):
    services.case_close(
        actor=_actor_seeing(request, case_id),
        case_id=case_id,
        reason=payload.reason,
        note=payload.note,
    )
    return _case(request, case_id)


@router.post("/{case_id}/rate", response={200: CaseOut, **ERRORS})
def case_rate(request, case_id: Id, payload: RateIn):
    """The reporter only, 1–5, within the window after closing."""
    services.case_rate(
        actor=_actor_seeing(request, case_id),
        case_id=case_id,
        rating=payload.rating,
        comment=payload.comment,
    )
    return _case(request, case_id)


@router.post("/{case_id}/escalate", response={200: CaseOut, **ERRORS})
def case_escalate(request, case_id: Id, payload: EscalateIn):
    services.case_escalate(
        actor=_actor_seeing(request, case_id), case_id=case_id, reason=payload.reason
    )
    return _case(request, case_id)


@router.post("/{case_id}/whistle", response={200: CaseOut, **ERRORS})
def case_whistle(request, case_id: Id, payload: WhistleIn):
    services.case_whistle(
        actor=_actor_seeing(request, case_id),
        case_id=case_id,
        kind=payload.kind,
        lead_department_id=payload.lead_department_id,
        co_department_ids=payload.co_department_ids,
        note=payload.note,
        report_in_hours=payload.report_in_hours,
    )
    return _case(request, case_id)


@router.post("/{case_id}/report-in", response={200: CaseOut, **ERRORS})
def case_report_in(request, case_id: Id, payload: ReportInIn):
    services.case_report_in(
        actor=_actor_seeing(request, case_id),
        case_id=case_id,
        department_id=payload.department_id,
        note=payload.note,
    )
    return _case(request, case_id)


class PublishIn(Schema):
    public: bool = Field(description="True: Open311 readers see the description and photos.")


@router.post("/{case_id}/publish", response={200: CaseOut, **ERRORS})
def case_publish(request, case_id: Id, payload: PublishIn):
    """Mark the case public (公开), or withdraw that; the reporter is never shown."""
    services.case_publish(
        actor=_actor_seeing(request, case_id), case_id=case_id, public=payload.public
    )
    return _case(request, case_id)


# --- photos ------------------------------------------------------------------------------------

_IMAGE_RESPONSE = {
    "responses": {
        200: {
            "description": "The public copy of the photo, without EXIF.",
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t, _ext in photos.FORMATS.values()
            },
        }
    }
}


@router.post("/{case_id}/photos", response={201: PhotoOut, **ERRORS})
def case_photo_add(
    request,
    case_id: Id,
    # Optional here: an oversized body is not parsed at all, and the size is the message.
    file: File[UploadedFile | None] = None,
    stage: Form[PhotoStage | None] = None,
):
    """Attach a JPEG, PNG or WebP photo (multipart field `file`, at most 10 MB, 9 per case) to
    an open case; `stage` "before" (the problem) or "after" (the result of the handling),
    by default "after" once the case was reported handled."""
    _case(request, case_id)  # outside the jurisdiction is 404 whatever the body
    length = declared_size_over(request, photos.MAX_PHOTO_BYTES)
    if length:
        # Bodies this large are not received (see core/uploads.py): say why, not "missing".
        raise photos.photo_too_large_error(length)
    if file is None:
        message = _("Attach the photo.")
        raise ValidationFailed(message, details={"file": [message]})
    photo = photos.case_photo_add(
        actor=actor_of(request), case_id=case_id, upload=file, stage=stage
    )
    return Status(201, photo)


@router.get("/{case_id}/photos/{photo_id}", response=ERRORS, openapi_extra=_IMAGE_RESPONSE)
def case_photo(request, case_id: Id, photo_id: Id):
    """The public copy of a photo (never the original), to whoever may see the case."""
    case = _case(request, case_id)
    photo = case.photos.filter(pk=photo_id).first()
    if photo is None:
        raise NotFound()
    return FileResponse(photo.public.open("rb"), content_type=photo.content_type)
