"""Home visits API (入户走访): my visits (a grid worker's, or the community's queue with the
escalated ones), one visit with its alert, figures and records, and recording a visit.

A record is sent as JSON to `POST /visits/{id}/records`, or — with photos — as multipart form
data to `POST /visits/{id}/records/multipart` (the same fields as form fields, the photos as
`photos`, up to 9 JPEG, PNG or WebP files of 10 MB; their EXIF, location included, is removed).
Both carry an `idempotency_key` the client makes once per record (a UUID) and sends again
unchanged when it resends: 201 when stored, 200 with the first record when the key was already
stored, nothing doubled. Services do every check."""

import datetime as dt
from typing import Any, Literal

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from linli.core.api import ERRORS, Id, Page, actor_of
from linli.core.uploads import declared_size_over

from .. import selectors, visits
from ..models import HomeVisit, VisitRecord

router = Router(tags=["monitoring: home visits"])


class HomeVisitOut(Schema):
    id: int
    alert_id: int
    household_id: int
    household_number: str
    address: str
    grid_id: int
    grid_name: str
    assignee: str | None
    severity: int
    severity_label: str
    explanation: str
    state: str
    state_label: str
    due_at: dt.datetime
    overdue: bool = Field(description="Pending and past its deadline (shown red).")
    due_soon: bool = Field(description="Pending and due within 24 hours (shown yellow).")
    attempts: int
    outcome: str

    @staticmethod
    def resolve_household_number(obj: HomeVisit) -> str:
        return obj.household.number

    @staticmethod
    def resolve_address(obj: HomeVisit) -> str:
        return obj.household.address

    @staticmethod
    def resolve_grid_name(obj: HomeVisit) -> str:
        return obj.grid.name

    @staticmethod
    def resolve_assignee(obj: HomeVisit) -> str | None:
        return str(obj.assignee) if obj.assignee_id else None

    @staticmethod
    def resolve_severity(obj: HomeVisit) -> int:
        return obj.alert.severity

    @staticmethod
    def resolve_severity_label(obj: HomeVisit) -> str:
        return str(obj.alert.get_severity_display())

    @staticmethod
    def resolve_explanation(obj: HomeVisit) -> str:
        return selectors.explanation_of(obj.alert)

    @staticmethod
    def resolve_state_label(obj: HomeVisit) -> str:
        return str(obj.get_state_display())

    @staticmethod
    def resolve_overdue(obj: HomeVisit) -> bool:
        return visits.warning(obj) == 2

    @staticmethod
    def resolve_due_soon(obj: HomeVisit) -> bool:
        return visits.warning(obj) == 1


class VisitRecordPhotoOut(Schema):
    id: int = Field(description="The photo's number in the record, from 1.")
    content_type: str
    width: int
    height: int


class RecordOut(Schema):
    id: int
    visit_id: int
    idempotency_key: str
    visited_at: dt.datetime
    visitor: str
    met: str
    findings: str
    lat: float | None
    lng: float | None
    outcome: str
    referral: dict[str, Any] = Field(
        description='What the outcome opened: {"application": id}, {"case": id, '
        '"case_number": …} or {"service": "…"}.'
    )
    photos: list[VisitRecordPhotoOut]

    @staticmethod
    def resolve_visitor(obj: VisitRecord) -> str:
        return str(obj.visitor)

    @staticmethod
    def resolve_photos(obj: VisitRecord) -> list[dict[str, Any]]:
        return [
            {"id": i, **{k: p[k] for k in ("content_type", "width", "height")}}
            for i, p in enumerate(obj.photos, start=1)
        ]


class FigureOut(Schema):
    name: str
    label: str
    value: str


class VisitHouseholdOut(Schema):
    number: str
    address: str
    head_name: str = Field(description="Masked.")
    head_id_number: str = Field(description="Masked.")
    members: int


class VisitDetailOut(HomeVisitOut):
    household: VisitHouseholdOut
    figures: list[FigureOut]
    may_record: bool = Field(description="Whether the caller may record a visit now.")
    records: list[RecordOut]

    @staticmethod
    def resolve_household(obj) -> VisitHouseholdOut:
        return obj.household_out

    @staticmethod
    def resolve_figures(obj) -> list:
        return obj.figures_out

    @staticmethod
    def resolve_records(obj) -> list:
        return obj.records_out


class VisitQuery(Schema):
    show: Literal["todo", "overdue", "escalated", "done", "all"] = "todo"


Outcome = Literal["no_risk", "refer_assistance", "refer_service", "unreachable"]


class RecordIn(Schema):
    idempotency_key: str = Field(
        min_length=8,
        max_length=64,
        description="Made by the client once per record (a UUID) and sent again unchanged when "
        "resending.",
    )
    visited_at: dt.datetime
    met: str = Field("", max_length=visits.MAX_MET, description="Who was met (blank if nobody).")
    findings: str = Field(max_length=visits.MAX_FINDINGS)
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)
    outcome: Outcome
    program: str = Field(
        "",
        max_length=20,
        description="refer_assistance: the program (default: the rule's, else minimum_living).",
    )
    category_id: Id | None = Field(None, description="refer_service: the case category.")
    category_code: str = Field("", max_length=16, description="refer_service: or its code.")
    service: str = Field(
        "", max_length=visits.MAX_SERVICE, description="refer_service: another service named."
    )


def _detail(request, home_visit_id: int) -> HomeVisit:
    actor = actor_of(request)
    visit = visits.visit_get(actor=actor, visit_id=home_visit_id)
    visit.household_out = visits.household_shown(visit)
    visit.figures_out = selectors.figures_of(visit.alert.snapshot)
    visit.may_record = visits.available(actor, visit)
    visit.records_out = visits.visit_records(visit)
    return visit


def _record(request, home_visit_id: int, fields: dict[str, Any], photos: list) -> Status:
    actor = actor_of(request)
    visits.visit_get(actor=actor, visit_id=home_visit_id)  # 404 first
    record = visits.visit_record(actor=actor, visit_id=home_visit_id, photos=photos, **fields)
    return Status(200 if getattr(record, "resent", False) else 201, record)


@router.get("/visits", response={200: list[HomeVisitOut], **ERRORS})
@paginate(Page)
def visit_list(request, filters: Query[VisitQuery]):
    """My home visits by deadline: a grid worker's own; community and street staff see their
    places' queue, visits escalated to the community included (`show=todo`)."""
    return visits.visit_list(actor=actor_of(request), show=filters.show)


@router.get("/visits/{home_visit_id}", response={200: VisitDetailOut, **ERRORS})
def visit_detail(request, home_visit_id: Id):
    """A visit with the household (masked), the alert's explanation and figures, and its
    records."""
    return _detail(request, home_visit_id)


@router.post("/visits/{home_visit_id}/records", response={200: RecordOut, 201: RecordOut, **ERRORS})
def visit_record(request, home_visit_id: Id, payload: RecordIn):
    """Record a visit (JSON, no photos): 201 stored, 200 the same idempotency key already
    stored; 409 for a visit or alert already closed."""
    return _record(request, home_visit_id, payload.dict(), [])


@router.post(
    "/visits/{home_visit_id}/records/multipart",
    response={200: RecordOut, 201: RecordOut, **ERRORS},
)
def visit_record_multipart(
    request,
    home_visit_id: Id,
    idempotency_key: Form[str],
    visited_at: Form[dt.datetime],
    outcome: Form[Outcome],
    findings: Form[str] = "",
    met: Form[str] = "",
    lat: Form[float | None] = None,
    lng: Form[float | None] = None,
    program: Form[str] = "",
    category_id: Form[Id | None] = None,
    category_code: Form[str] = "",
    service: Form[str] = "",
    photos: File[list[UploadedFile]] = None,
):
    """Record a visit with photos (multipart form data; `photos` up to 9 files)."""
    length = declared_size_over(request, settings.LINLI_MAX_UPLOAD_BYTES)
    if length:
        from linli.cases.photos import photos_too_large_error

        raise photos_too_large_error(length)
    fields = {
        "idempotency_key": idempotency_key,
        "visited_at": visited_at,
        "outcome": outcome,
        "findings": findings,
        "met": met,
        "lat": lat,
        "lng": lng,
        "program": program,
        "category_id": category_id,
        "category_code": category_code,
        "service": service,
    }
    return _record(request, home_visit_id, fields, list(photos or []))


@router.get(
    "/visits/{home_visit_id}/records/{visit_record_id}/photos/{photo_id}",
    response=ERRORS,
    openapi_extra={
        "responses": {
            200: {
                "description": "The record's photo, re-encoded without EXIF.",
                "content": {
                    t: {"schema": {"type": "string", "format": "binary"}}
                    for t in ("image/jpeg", "image/png", "image/webp")
                },
            }
        }
    },
)
def visit_photo(request, home_visit_id: Id, visit_record_id: Id, photo_id: Id):
    """A record's photo (`photo_id` its number in the record, from 1)."""
    actor = actor_of(request)
    visits.visit_get(actor=actor, visit_id=home_visit_id)
    photo = visits.visit_photo(
        actor=actor, record_id=visit_record_id, number=photo_id, visit_id=home_visit_id
    )
    return FileResponse(
        default_storage.open(photo["name"], "rb"), content_type=photo["content_type"]
    )
