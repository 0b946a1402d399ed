"""People API: households, persons and their dated financial records.

Searches that carry personal data (name, ID digits, address) are POSTed, so they never appear
in URLs or access logs; GET lists take only non-personal filters.
"""

import datetime as dt
import io
from decimal import Decimal

from django.conf import settings
from django.http import FileResponse
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema, Status, UploadedFile
from ninja.pagination import paginate
from pydantic import field_validator

from linli.core.api import ERRORS, Date, Id, Page, actor_of, changes_of
from linli.core.errors import PermissionDenied, ValidationFailed
from linli.core.roles import Perm
from linli.core.uploads import declared_size_over

from . import exports, imports, selectors, services, spreadsheets
from .idnumbers import normalise_id_digits
from .models import (
    DisabilityCategory,
    FinanceCategory,
    FinanceKind,
    ImportJob,
    ImportMode,
    ImportStatus,
    RecordStatus,
    Registration,
    Relation,
    Tag,
    TransferState,
)
from .spreadsheet_views import XLSX

router = Router(tags=["people"])


# --- schemas -----------------------------------------------------------------------------------


class HouseholdOut(Schema):
    id: int
    number: str
    address: str
    building_id: int
    registration: Registration
    status: RecordStatus


class HouseholdIn(Schema):
    number: str = Field(min_length=1, max_length=32)
    address: str = Field(min_length=1, max_length=200)
    building_id: Id
    registration: Registration = Registration.URBAN


class HouseholdPatch(Schema):
    address: str | None = Field(None, min_length=1, max_length=200)
    building_id: Id | None = None
    registration: Registration | None = None


class HouseholdQuery(Schema):
    place_id: Id | None = None
    registration: Registration | None = None
    status: RecordStatus | None = RecordStatus.ACTIVE


class HouseholdSearch(HouseholdQuery):
    number: str = Field("", max_length=32)
    address: str = Field("", max_length=100)


class PersonOut(Schema):
    """Masked by default: full values only through /reveal, which is logged."""

    id: int
    household_id: int | None
    relation: Relation | str
    name: str
    id_number_masked: str = Field(alias="id_masked")
    phone_masked: str
    sex: str
    age: int
    tags: list[Tag]
    disability_category: DisabilityCategory | str
    disability_grade: int | None
    status: RecordStatus

    @staticmethod
    def resolve_age(obj) -> int:
        return obj.age()


class PersonFields(Schema):
    relation: Relation | None = None
    name: str | None = Field(None, min_length=1, max_length=50)
    id_number: str | None = Field(None, min_length=1, max_length=32)
    phone: str | None = Field(None, max_length=20)
    living_alone: bool | None = None
    disability_category: DisabilityCategory | None = None
    disability_grade: int | None = Field(None, ge=1, le=4)
    party_member: bool | None = None
    veteran: bool | None = None
    left_behind_child: bool | None = None
    chronic_illness: bool | None = None


class PersonIn(Schema):
    household_id: Id | None = None
    relation: Relation
    name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(min_length=1, max_length=32)
    phone: str = Field("", max_length=20)
    living_alone: bool = False
    disability_category: DisabilityCategory | None = None
    disability_grade: int | None = Field(None, ge=1, le=4)
    party_member: bool = False
    veteran: bool = False
    left_behind_child: bool = False
    chronic_illness: bool = False


class PersonPatch(PersonFields):
    household_id: Id | None = None


class PersonQuery(Schema):
    place_id: Id | None = None
    tag: Tag | None = None
    household_id: Id | None = None
    status: RecordStatus | None = RecordStatus.ACTIVE


class PersonSearch(PersonQuery):
    name: str = Field("", max_length=50)
    id_ending: str = Field("", max_length=18, pattern=r"^[0-9X]*$")
    address: str = Field("", max_length=100)

    @field_validator("id_ending", mode="before")
    @classmethod
    def _plain_digits(cls, value: object) -> object:
        # Full-width digits (typed with a Chinese input method) and a lower-case x are read
        # as plain ones, the same on the search page.
        return normalise_id_digits(value) if isinstance(value, str) else value


class StatusIn(Schema):
    status: RecordStatus


class RevealOut(Schema):
    id_number: str
    phone: str


class FinancialRecordOut(Schema):
    id: int
    person_id: int
    category: FinanceCategory
    kind: FinanceKind
    amount: Decimal
    valid_from: dt.date
    valid_to: dt.date | None
    note: str
    voided_at: dt.datetime | None


class FinancialRecordIn(Schema):
    category: FinanceCategory
    kind: FinanceKind
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    valid_from: Date
    valid_to: Date | None = None
    note: str = Field("", max_length=200)


class VoidIn(Schema):
    reason: str = Field(min_length=1, max_length=200)


def _person_filter(f: PersonQuery) -> selectors.PersonFilter:
    return selectors.PersonFilter(
        place_id=f.place_id,
        tag=f.tag or "",
        household_id=f.household_id,
        status=f.status or "",
        name=getattr(f, "name", ""),
        id_ending=getattr(f, "id_ending", ""),
        address=getattr(f, "address", ""),
    )


def _household_filter(f: HouseholdQuery) -> selectors.HouseholdFilter:
    return selectors.HouseholdFilter(
        place_id=f.place_id,
        registration=f.registration or "",
        status=f.status or "",
        number=getattr(f, "number", ""),
        address=getattr(f, "address", ""),
    )


def _person_values(payload: Schema, *, partial: bool) -> dict:
    values = payload.dict(exclude_unset=partial)
    # The model keeps "no disability" as an empty category.
    if "disability_category" in values and values["disability_category"] is None:
        values["disability_category"] = ""
    return values


# --- households --------------------------------------------------------------------------------


@router.get("/households", response={200: list[HouseholdOut], **ERRORS})
@paginate(Page)
def household_list(request, filters: Query[HouseholdQuery]):
    return selectors.household_list(actor_of(request), _household_filter(filters))


@router.post("/households/search", response={200: list[HouseholdOut], **ERRORS})
@paginate(Page)
def household_search(request, payload: HouseholdSearch):
    return selectors.household_list(actor_of(request), _household_filter(payload))


@router.get("/households/{household_id}", response={200: HouseholdOut, **ERRORS})
def household_detail(request, household_id: Id):
    return selectors.household_get_for(actor_of(request), household_id)


@router.get("/households/{household_id}/members", response={200: list[PersonOut], **ERRORS})
def household_members(request, household_id: Id):
    actor = actor_of(request)
    return selectors.household_members(actor, selectors.household_get_for(actor, household_id))


@router.post("/households", response={201: HouseholdOut, **ERRORS})
def household_create(request, payload: HouseholdIn):
    return Status(201, services.household_create(actor=actor_of(request), **payload.dict()))


@router.patch("/households/{household_id}", response={200: HouseholdOut, **ERRORS})
def household_update(request, household_id: Id, payload: HouseholdPatch):
    return services.household_update(
        actor=actor_of(request), household_id=household_id, **changes_of(payload)
    )


@router.post("/households/{household_id}/archive", response={200: HouseholdOut, **ERRORS})
def household_archive(request, household_id: Id):
    return services.household_archive(actor=actor_of(request), household_id=household_id)


# --- persons -----------------------------------------------------------------------------------


@router.get("/persons", response={200: list[PersonOut], **ERRORS})
@paginate(Page)
def person_list(request, filters: Query[PersonQuery]):
    return selectors.person_list(actor_of(request), _person_filter(filters))


@router.post("/persons/search", response={200: list[PersonOut], **ERRORS})
@paginate(Page)
def person_search(request, payload: PersonSearch):
    return selectors.person_list(actor_of(request), _person_filter(payload))


@router.get("/persons/{person_id}", response={200: PersonOut, **ERRORS})
def person_detail(request, person_id: Id):
    return selectors.person_get_for(actor_of(request), person_id)


@router.post("/persons/{person_id}/reveal", response={200: RevealOut, **ERRORS})
def person_reveal(request, person_id: Id):
    """Full ID number and phone. Permitted by role; every call is written to the audit log."""
    return services.person_reveal(actor=actor_of(request), person_id=person_id)


@router.post("/persons", response={201: PersonOut, **ERRORS})
def person_create(request, payload: PersonIn):
    values = _person_values(payload, partial=False)
    household_id = values.pop("household_id")
    person = services.person_create(actor=actor_of(request), household_id=household_id, **values)
    return Status(201, person)


@router.patch("/persons/{person_id}", response={200: PersonOut, **ERRORS})
def person_update(request, person_id: Id, payload: PersonPatch):
    changes_of(payload)
    return services.person_update(
        actor=actor_of(request), person_id=person_id, **_person_values(payload, partial=True)
    )


@router.post("/persons/{person_id}/status", response={200: PersonOut, **ERRORS})
def person_set_status(request, person_id: Id, payload: StatusIn):
    return services.person_set_status(
        actor=actor_of(request), person_id=person_id, status=payload.status
    )


# --- financial records -------------------------------------------------------------------------


@router.get("/persons/{person_id}/finances", response={200: list[FinancialRecordOut], **ERRORS})
def financial_record_list(request, person_id: Id, include_void: bool = False):
    actor = actor_of(request)
    person = selectors.person_get_for(actor, person_id)
    return selectors.financial_records_for(actor, person, include_void=include_void)


@router.post("/persons/{person_id}/finances", response={201: FinancialRecordOut, **ERRORS})
def financial_record_create(request, person_id: Id, payload: FinancialRecordIn):
    record = services.financial_record_create(
        actor=actor_of(request), person_id=person_id, **payload.dict()
    )
    return Status(201, record)


@router.post("/finances/{record_id}/void", response={200: FinancialRecordOut, **ERRORS})
def financial_record_void(request, record_id: Id, payload: VoidIn):
    return services.financial_record_void(
        actor=actor_of(request), record_id=record_id, reason=payload.reason
    )


# --- transfer requests (迁入申请) ----------------------------------------------------------------


class TransferToAnswerOut(Schema):
    """A request for a person held here: who asked, for which household."""

    id: int
    state: TransferState
    person_id: int
    id_number_masked: str = Field(alias="id_masked")
    household_number: str = Field(alias="household.number")
    household_address: str = Field(alias="household.address")
    relation: Relation | str
    hits: int
    created_at: dt.datetime


class TransferSentOut(Schema):
    """A request filed from here and its answer; never where the person was registered."""

    id: int
    state: TransferState
    id_number_masked: str = Field(alias="id_masked")
    household_id: int
    created_at: dt.datetime
    decided_at: dt.datetime | None
    decline_reason: str


class DeclineIn(Schema):
    reason: str = Field(min_length=1, max_length=200)


@router.get("/transfers/to-answer", response={200: list[TransferToAnswerOut], **ERRORS})
@paginate(Page)
def transfer_to_answer_list(request):
    """Pending requests for persons held in the caller's jurisdiction."""
    return selectors.transfer_requests_to_answer(actor_of(request))


@router.get("/transfers/sent", response={200: list[TransferSentOut], **ERRORS})
@paginate(Page)
def transfer_sent_list(request):
    """Requests filed from the caller's jurisdiction, with their answers."""
    return selectors.transfer_requests_sent(actor_of(request))


@router.post("/transfers/{transfer_id}/accept", response={200: TransferToAnswerOut, **ERRORS})
def transfer_accept(request, transfer_id: Id):
    """Move the person into the requesting household (audited as a change of the person)."""
    return services.transfer_request_accept(actor=actor_of(request), request_id=transfer_id)


@router.post("/transfers/{transfer_id}/decline", response={200: TransferToAnswerOut, **ERRORS})
def transfer_decline(request, transfer_id: Id, payload: DeclineIn):
    return services.transfer_request_decline(
        actor=actor_of(request), request_id=transfer_id, reason=payload.reason
    )


# --- Excel import ------------------------------------------------------------------------------


class ImportErrorOut(Schema):
    sheet: str
    row: int
    column: str
    message: str


class ImportJobOut(Schema):
    id: int
    original_name: str
    mode: ImportMode
    status: ImportStatus
    total_rows: int
    processed_rows: int
    percent: int
    households_created: int
    persons_created: int
    error_count: int
    failure: str
    created_at: dt.datetime
    finished_at: dt.datetime | None


class ImportJobDetailOut(ImportJobOut):
    errors: list[ImportErrorOut] = Field(
        description="The first `errors_limit` problems from `errors_offset`."
    )


@router.post("/imports", response={202: ImportJobOut, **ERRORS})
def import_create(
    request,
    # Both optional here: an oversized body is not parsed at all, and the size is the message.
    mode: Form[ImportMode | None] = None,
    file: File[UploadedFile | None] = None,
):
    """Queue an Excel import (template: GET /people/import-template); poll its job."""
    length = declared_size_over(request, settings.LINLI_MAX_UPLOAD_BYTES)
    if length:
        # The body was not received (see core/uploads.py): say why, not "file missing".
        raise imports.upload_too_large_error(length)
    if file is None:
        raise ValidationFailed(_("Attach the Excel file."), details={"file": [_("Required.")]})
    job = imports.import_job_create(actor=actor_of(request), upload=file, mode=mode or "")
    return Status(202, job)


@router.get("/imports/{job_id}", response={200: ImportJobDetailOut, **ERRORS})
def import_detail(request, job_id: Id, errors_offset: int = 0, errors_limit: int = 100):
    job = ImportJob.objects.get_for(actor_of(request), job_id)
    start = max(0, errors_offset)
    job.errors = job.errors[start : start + min(max(errors_limit, 0), 1000)]
    return job


# --- Excel template and exports ----------------------------------------------------------------
# Paths outside /persons/ and /imports/: there an untyped `{*_id}` segment would take them.

_XLSX_RESPONSE = {
    "responses": {
        200: {
            "description": "An .xlsx workbook",
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


class PersonExportIn(PersonSearch):
    full: bool = Field(
        False, description="Unmasked ID numbers and phones: role people.export_full; logged."
    )


@router.get("/import-template", response=ERRORS, openapi_extra=_XLSX_RESPONSE)
def import_template(request):
    """The empty import workbook, headers in the `Accept-Language` language."""
    if not actor_of(request).has_perm_code(Perm.PEOPLE_IMPORT):
        raise PermissionDenied()
    return FileResponse(
        io.BytesIO(spreadsheets.template_workbook()),
        as_attachment=True,
        filename="linli-import-template.xlsx",
        content_type=XLSX,
    )


@router.post("/exports/persons", response=ERRORS, openapi_extra=_XLSX_RESPONSE)
def person_export(request, payload: PersonExportIn):
    """The persons the search selects, masked unless `full`; every export is audited."""
    name, content = exports.persons_export(
        actor=actor_of(request), filters=_person_filter(payload), full=payload.full
    )
    return FileResponse(content, as_attachment=True, filename=name, content_type=XLSX)


@router.post("/exports/households", response=ERRORS, openapi_extra=_XLSX_RESPONSE)
def household_export(request, payload: HouseholdSearch):
    """The households the search selects; every export is audited."""
    name, content = exports.households_export(
        actor=actor_of(request), filters=_household_filter(payload)
    )
    return FileResponse(content, as_attachment=True, filename=name, content_type=XLSX)
