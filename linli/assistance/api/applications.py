"""Applications API (救助申请): lists by queue and filter, submission (online, window, for the
resident, referral), the application with its assessment and the actions the caller may take,
one POST taking any action, household investigations with photos. Services do every check; this
layer only translates JSON to their arguments."""

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.core.files.storage import default_storage
from django.http import FileResponse
from ninja import Field, File, Form, Query, Router, Schema, Status, UploadedFile
from ninja.pagination import paginate

from linli.core.api import ERRORS, Date, Id, Page, actor_of
from linli.core.errors import NotFound
from linli.core.masking import mask_name
from linli.core.uploads import declared_size_over
from linli.places.models import Place

from .. import applications as services
from .. import selectors, transitions
from ..models import (
    Application,
    ApplicationChannel,
    ApplicationState,
    ApprovalTier,
    Program,
    TemporaryKind,
)

router = Router(tags=["assistance applications"])

ApplicableProgram = Literal[tuple(transitions.APPLICABLE_PROGRAMS)]
Action = Literal[tuple(transitions.TRANSITIONS)]
Queue = Literal[tuple(selectors.QUEUES)]


# --- schemas -----------------------------------------------------------------------------------


class ApplicationOut(Schema):
    id: int
    household_id: int
    household_number: str
    applicant_id: int
    applicant_masked: str = Field(description="The applicant's name, masked (张*三).")
    program: Program
    temporary_kind: TemporaryKind | Literal[""]
    channel: ApplicationChannel
    state: ApplicationState
    approval_tier: ApprovalTier | Literal[""] = Field(description="Who decides: street/district.")
    credit_route: bool = Field(description="Decided on a signed credit pledge (信用承诺).")
    paid_first: bool = Field(description="Emergency paid before the documents (先行救助).")
    classification: str
    requested_amount: Decimal | None
    amount: Decimal | None = Field(description="Decided: monthly for 低保/特困, once otherwise.")
    accepted_on: dt.date | None
    investigation_due: dt.date | None
    notice_from: dt.date | None
    notice_to: dt.date | None
    decision_due: dt.date | None
    extended: bool
    documents_due: dt.date | None
    documents_received_on: dt.date | None
    due: dt.date | None = Field(description="The time limit of the stage it is in.")
    warning: int = Field(description="0 on time, 1 due within two working days, 2 overdue.")
    created_at: dt.datetime
    decided_at: dt.datetime | None
    policy_version_id: int | None

    @staticmethod
    def resolve_household_number(obj: Application) -> str:
        return obj.household.number

    @staticmethod
    def resolve_applicant_masked(obj: Application) -> str:
        return mask_name(obj.applicant.name)

    @staticmethod
    def resolve_due(obj: Application) -> dt.date | None:
        return selectors.stage_due(obj)

    @staticmethod
    def resolve_warning(obj: Application) -> int:
        return selectors.warning_of(obj)


class VisitPhotoOut(Schema):
    id: int = Field(description="The photo's number in the visit, from 1.")
    content_type: str
    width: int
    height: int


class VisitOut(Schema):
    id: int
    visited_on: dt.date
    visitors: str
    findings: str
    photos: list[VisitPhotoOut]

    @staticmethod
    def resolve_photos(obj) -> list[dict[str, Any]]:
        return [
            {"id": i, **{k: p[k] for k in ("content_type", "width", "height")}}
            for i, p in enumerate(obj.photos, start=1)
        ]


class ObjectionOut(Schema):
    received_on: dt.date
    content: str


class ApplicationDetailOut(ApplicationOut):
    reason: str
    consent_note: str
    referral_source: str
    referral_evidence: dict
    decision_note: str = Field(description="The decider's note (a rejection's reason).")
    extension_reason: str
    assessment: dict = Field(description="The engine's answer the decision rests on (JSON).")
    explanation: list[str] = Field(description="The assessment's trace in sentences.")
    visits: list[VisitOut]
    objections: list[ObjectionOut]
    actions: list[str] = Field(description="Actions the caller could take now.")

    @staticmethod
    def resolve_visits(obj) -> list:
        return obj.visits_out

    @staticmethod
    def resolve_objections(obj) -> list:
        return obj.objections_out


class ApplicationQuery(Schema):
    queue: Queue | None = Field(None, description="A role's queue; empty: all.")
    program: ApplicableProgram | None = None
    state: ApplicationState | None = None
    place_id: Id | None = Field(None, description="Only applications under this place.")
    overdue: bool = Field(False, description="Only those past their stage's time limit.")
    q: str = Field("", max_length=50, description="Household number or the name's start.")


class SubmitIn(Schema):
    household_id: Id
    program: ApplicableProgram
    applicant_id: Id | None = Field(None, description="Default: the householder (staff) or you.")
    channel: ApplicationChannel | None = Field(
        None, description="Staff: window (default), grid_worker or referral; residents: online."
    )
    temporary_kind: TemporaryKind | Literal[""] = ""
    covers_person_only: bool = Field(False, description="The applicant alone (单人保).")
    consent_note: str = Field("", description="Channel grid_worker: how the resident agreed.")
    referral_source: str = Field("", description="Channel referral: where it comes from.")
    referral_evidence: dict | None = None
    reason: str = ""
    requested_amount: Decimal | None = Field(
        None, description="Temporary assistance: what the hardship costs (yuan)."
    )
    credit_pledge: bool = Field(False, description="The applicant signed a credit pledge.")


class ActIn(Schema):
    action: Action
    note: str | None = Field(None, description="approve, reject, pay_first")
    reason: str | None = Field(None, description="extend, withdraw")
    content: str | None = Field(None, description="object: the objection")
    received_on: Date | None = Field(None, description="object, record_documents")
    visited_on: Date | None = Field(None, description="investigate")
    visitors: str | None = Field(None, description="investigate")
    findings: str | None = Field(None, description="investigate")


# --- reads -------------------------------------------------------------------------------------


def _detail(request, application_id: int) -> Application:
    actor = actor_of(request)
    application = selectors.application_get(actor=actor, application_id=application_id)
    from ..engine import explain

    application.explanation = (
        explain(application.assessment, application.program) if application.assessment else []
    )
    application.visits_out = list(
        selectors.application_visits(actor=actor, application_id=application.pk)
    )
    application.objections_out = list(
        selectors.application_objections(actor=actor, application_id=application.pk)
    )
    application.actions = transitions.available_actions(application, actor)
    return application


@router.get("/applications", response={200: list[ApplicationOut], **ERRORS})
@paginate(Page)
def application_list(request, filters: Query[ApplicationQuery]):
    """Applications within reach, by queue (what waits for me, to accept, to investigate, in
    notice, to decide, sampled, documents due, overdue) and filters."""
    actor = actor_of(request)
    f = selectors.ApplicationFilter(
        queue=filters.queue or "",
        program=filters.program or "",
        state=filters.state or "",
        overdue=filters.overdue,
        search=filters.q,
    )
    if filters.place_id is not None:
        path = Place.objects.filter(pk=filters.place_id).values_list("path", flat=True).first()
        if path is None:
            return Application.objects.none()
        f.place_path = path
    return selectors.application_list(actor=actor, filters=f)


@router.post("/applications", response={201: ApplicationDetailOut, **ERRORS})
def application_submit(request, payload: SubmitIn):
    """File an application: a resident online for their own household; staff at the window,
    for the resident (consent recorded) or as a referral. One open application per household
    and program: a second is 409."""
    application = services.application_submit(actor=actor_of(request), **payload.dict())
    return Status(201, _detail(request, application.pk))


@router.get("/applications/{application_id}", response={200: ApplicationDetailOut, **ERRORS})
def application_detail(request, application_id: Id):
    """The application with its assessment (and its trace in sentences), visits, objections
    and the actions the caller may take now."""
    return _detail(request, application_id)


@router.get("/applications/{application_id}/actions", response={200: list[str], **ERRORS})
def application_actions(request, application_id: Id):
    """The actions the caller may take now: exactly those `act` accepts."""
    actor = actor_of(request)
    application = selectors.application_get(actor=actor, application_id=application_id)
    return transitions.available_actions(application, actor)


@router.post("/applications/{application_id}/act", response={200: ApplicationDetailOut, **ERRORS})
def application_act(request, application_id: Id, payload: ActIn):
    """Take one action. Fields by action: investigate (visited_on, visitors, findings),
    object (content, received_on), approve/reject/pay_first (note), extend/withdraw (reason),
    record_documents (received_on). Of two callers acting at once exactly one succeeds; the
    other gets 409."""
    actor = actor_of(request)
    selectors.application_get(actor=actor, application_id=application_id)  # 404 first
    fields = payload.dict(exclude_none=True)
    action = fields.pop("action")
    services.application_act(actor=actor, application_id=application_id, action=action, **fields)
    return _detail(request, application_id)


# --- visits ------------------------------------------------------------------------------------

_IMAGE_RESPONSE = {
    "responses": {
        200: {
            "description": "The visit's photo, re-encoded without EXIF.",
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in ("image/jpeg", "image/png", "image/webp")
            },
        }
    }
}


@router.get("/applications/{application_id}/visits", response={200: list[VisitOut], **ERRORS})
def application_visits(request, application_id: Id):
    return selectors.application_visits(actor=actor_of(request), application_id=application_id)


@router.post(
    "/applications/{application_id}/visits", response={201: ApplicationDetailOut, **ERRORS}
)
def application_visit_add(
    request,
    application_id: Id,
    visitors: Form[str] = "",
    findings: Form[str] = "",
    visited_on: Form[Date | None] = None,
    files: File[list[UploadedFile]] = None,
):
    """Record the household investigation (入户调查), multipart: the visit and up to 9 photos
    (field `files`, JPEG, PNG or WebP, 10 MB each). The `investigate` action."""
    from django.conf import settings

    actor = actor_of(request)
    selectors.application_get(actor=actor, application_id=application_id)
    length = declared_size_over(request, settings.LINLI_MAX_UPLOAD_BYTES)
    if length:
        from linli.cases.photos import photos_too_large_error

        raise photos_too_large_error(length)
    services.application_investigate(
        actor=actor,
        application_id=application_id,
        visited_on=visited_on,
        visitors=visitors,
        findings=findings,
        uploads=list(files or []),
    )
    return Status(201, _detail(request, application_id))


@router.get(
    "/applications/{application_id}/visits/{visit_id}/photos/{photo_id}",
    response=ERRORS,
    openapi_extra=_IMAGE_RESPONSE,
)
def application_visit_photo(request, application_id: Id, visit_id: Id, photo_id: Id):
    """A visit's photo (the copy without EXIF; `photo_id` is its number in the visit, from 1),
    to whoever may see the application."""
    visit = (
        selectors.application_visits(actor=actor_of(request), application_id=application_id)
        .filter(pk=visit_id)
        .first()
    )
    if visit is None or photo_id > len(visit.photos):
        raise NotFound()
    photo = visit.photos[photo_id - 1]
    return FileResponse(
        default_storage.open(photo["name"], "rb"), content_type=photo["content_type"]
    )
