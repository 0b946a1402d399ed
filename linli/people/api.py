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
from linli.core.errors import NotFound, PermissionDenied, ValidationFailed
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
    SelfCareLevel,
    SupporterRelation,
    Tag,
    TransferState,
    WorkCapacity,
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
    work_capacity: WorkCapacity | str
    status: RecordStatus
    died_on: dt.date | None

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
    new_employment: bool
    voided_at: dt.datetime | None


class FinancialRecordIn(Schema):
    category: FinanceCategory
    kind: FinanceKind
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    valid_from: Date
    valid_to: Date | None = None
    note: str = Field("", max_length=200)
    new_employment: bool = Field(
        False,
        description="Wages from a job taken up while on assistance (kind `wage` only): "
        "policies exempt them for some months.",
    )


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


# --- facts assistance decisions cite ------------------------------------------------------------
# Voided, never deleted; a void goes to /<facts>/{id}/void, outside /persons/ like /finances/.


class FactOut(Schema):
    id: int
    person_id: int
    created_at: dt.datetime
    voided_at: dt.datetime | None
    void_reason: str


class WorkCapacityOut(Schema):
    person_id: int = Field(alias="id")
    work_capacity: WorkCapacity | str = Field(description="Empty: not assessed.")


class WorkCapacityIn(Schema):
    work_capacity: WorkCapacity | None = Field(description="null: not assessed.")


class DeathOut(Schema):
    person_id: int = Field(alias="id")
    status: RecordStatus
    died_on: dt.date | None


class DeathIn(Schema):
    died_on: Date = Field(description="Not in the future, not before the birth date.")


class IllnessOut(FactOut):
    illness: str
    diagnosed_on: dt.date
    ended_on: dt.date | None
    hospital: str


class IllnessIn(Schema):
    illness: str = Field(min_length=1, max_length=100, examples=["尿毒症"])
    diagnosed_on: Date
    ended_on: Date | None = None
    hospital: str = Field("", max_length=100)


class SelfCareItems(Schema):
    """Each item True if the person manages it unaided."""

    eating: bool
    dressing: bool
    bed_transfer: bool
    toileting: bool
    indoor_walking: bool
    bathing: bool


class SelfCareOut(FactOut, SelfCareItems):
    assessed_on: dt.date
    assessor: str
    items_not_managed: int
    level: SelfCareLevel


class SelfCareIn(SelfCareItems):
    assessed_on: Date
    assessor: str = Field(min_length=1, max_length=100)


class SupporterOut(Schema):
    """A supporter registered outside the caller's jurisdiction is shown by masked name only,
    without their id."""

    id: int = Field(alias="fact.id")
    person_id: int = Field(alias="fact.person_id")
    in_registry: bool
    supporter_person_id: int | None = Field(alias="visible_person_id")
    supporter_name: str = Field(alias="name")
    relation: SupporterRelation = Field(alias="fact.relation")
    able_to_support: bool = Field(alias="fact.able_to_support")
    assessment: str = Field(alias="fact.assessment")
    created_at: dt.datetime = Field(alias="fact.created_at")
    voided_at: dt.datetime | None = Field(alias="fact.voided_at")
    void_reason: str = Field(alias="fact.void_reason")


class SupporterIn(Schema):
    relation: SupporterRelation
    able_to_support: bool
    assessment: str = Field("", max_length=200)
    supporter_id_number: str = Field(
        "",
        max_length=32,
        description="A registered supporter's full ID number (any household, any jurisdiction); "
        "only their masked name comes back.",
    )
    supporter_name: str = Field(
        "", max_length=50, description="A supporter outside the registry; instead of the number."
    )


class BankAccountOut(FactOut):
    """The number is always masked here; /bank-accounts/{id}/reveal shows it and is logged."""

    bank: str
    account_number_masked: str = Field(alias="account_masked")
    holder_name: str


class BankAccountIn(Schema):
    bank: str = Field(min_length=1, max_length=60)
    account_number: str = Field(min_length=1, max_length=64, description="6 to 32 digits.")
    holder_name: str = Field(min_length=1, max_length=50)


class BankAccountRevealOut(Schema):
    bank: str
    account_number: str
    holder_name: str


@router.get("/persons/{person_id}/work-capacity", response={200: WorkCapacityOut, **ERRORS})
def work_capacity_get(request, person_id: Id):
    return selectors.person_get_for(actor_of(request), person_id)


@router.post("/persons/{person_id}/work-capacity", response={200: WorkCapacityOut, **ERRORS})
def work_capacity_set(request, person_id: Id, payload: WorkCapacityIn):
    """Capacity to work (劳动能力) as assessed; audited."""
    return services.person_set_work_capacity(
        actor=actor_of(request), person_id=person_id, work_capacity=payload.work_capacity or ""
    )


@router.get("/persons/{person_id}/death", response={200: DeathOut, **ERRORS})
def death_get(request, person_id: Id):
    return selectors.person_get_for(actor_of(request), person_id)


@router.post("/persons/{person_id}/death", response={200: DeathOut, **ERRORS})
def death_record(request, person_id: Id, payload: DeathIn):
    """Status deceased with the date of death; posting again corrects the date."""
    return services.person_record_death(
        actor=actor_of(request), person_id=person_id, died_on=payload.died_on
    )


@router.get("/persons/{person_id}/illnesses", response={200: list[IllnessOut], **ERRORS})
def illness_list(request, person_id: Id, include_void: bool = False):
    actor = actor_of(request)
    person = selectors.person_get_for(actor, person_id)
    return selectors.illnesses_for(actor, person, include_void=include_void)


@router.post("/persons/{person_id}/illnesses", response={201: IllnessOut, **ERRORS})
def illness_record(request, person_id: Id, payload: IllnessIn):
    """A serious illness (重特大疾病)."""
    fact = services.serious_illness_record(
        actor=actor_of(request), person_id=person_id, **payload.dict()
    )
    return Status(201, fact)


@router.post("/illnesses/{illness_id}/void", response={200: IllnessOut, **ERRORS})
def illness_void(request, illness_id: Id, payload: VoidIn):
    return services.serious_illness_void(
        actor=actor_of(request), illness_id=illness_id, reason=payload.reason
    )


@router.get("/persons/{person_id}/self-care", response={200: list[SelfCareOut], **ERRORS})
def self_care_list(request, person_id: Id, include_void: bool = False):
    """Newest first: the first is the assessment in force."""
    actor = actor_of(request)
    person = selectors.person_get_for(actor, person_id)
    return selectors.self_care_for(actor, person, include_void=include_void)


@router.post("/persons/{person_id}/self-care", response={201: SelfCareOut, **ERRORS})
def self_care_record(request, person_id: Id, payload: SelfCareIn):
    """The six-item self-care assessment (生活自理能力评估); the level follows from the items
    not managed: none → fully self-caring, 1–3 → partly, 4–6 → wholly unable."""
    fact = services.self_care_assessment_record(
        actor=actor_of(request), person_id=person_id, **payload.dict()
    )
    return Status(201, fact)


@router.post("/self-care/{assessment_id}/void", response={200: SelfCareOut, **ERRORS})
def self_care_void(request, assessment_id: Id, payload: VoidIn):
    return services.self_care_assessment_void(
        actor=actor_of(request), assessment_id=assessment_id, reason=payload.reason
    )


@router.get("/persons/{person_id}/supporters", response={200: list[SupporterOut], **ERRORS})
def supporter_list(request, person_id: Id, include_void: bool = False):
    actor = actor_of(request)
    person = selectors.person_get_for(actor, person_id)
    return selectors.supporters_for(actor, person, include_void=include_void)


@router.post("/persons/{person_id}/supporters", response={201: SupporterOut, **ERRORS})
def supporter_add(request, person_id: Id, payload: SupporterIn):
    """A legal supporter (法定赡养/抚养/扶养义务人): registered (by full ID number) or by name."""
    actor = actor_of(request)
    fact = services.legal_supporter_add(actor=actor, person_id=person_id, **payload.dict())
    return Status(201, selectors.supporter_rows(actor, [fact])[0])


@router.post("/supporters/{supporter_id}/void", response={200: SupporterOut, **ERRORS})
def supporter_void(request, supporter_id: Id, payload: VoidIn):
    actor = actor_of(request)
    fact = services.legal_supporter_void(
        actor=actor, supporter_id=supporter_id, reason=payload.reason
    )
    return selectors.supporter_rows(actor, [fact])[0]


@router.get("/persons/{person_id}/bank-account", response={200: BankAccountOut, **ERRORS})
def bank_account_get(request, person_id: Id):
    """The account payments go to, masked; 404 if none is recorded."""
    actor = actor_of(request)
    person = selectors.person_get_for(actor, person_id)
    account = selectors.bank_accounts_for(actor, person).first()
    if account is None:
        raise NotFound(_("No bank account is recorded for this person."))
    return account


@router.post("/persons/{person_id}/bank-account", response={201: BankAccountOut, **ERRORS})
def bank_account_set(request, person_id: Id, payload: BankAccountIn):
    """Set or replace the account for payments (收款账户); the previous one is voided."""
    account = services.bank_account_set(
        actor=actor_of(request), person_id=person_id, **payload.dict()
    )
    return Status(201, account)


@router.get("/persons/{person_id}/bank-accounts", response={200: list[BankAccountOut], **ERRORS})
def bank_account_list(request, person_id: Id):
    """Every account recorded for the person, the current one first, masked."""
    actor = actor_of(request)
    person = selectors.person_get_for(actor, person_id)
    accounts = selectors.bank_accounts_for(actor, person, include_void=True)
    return accounts.order_by(selectors.CURRENT_FIRST, "-created_at")


@router.post("/bank-accounts/{account_id}/void", response={200: BankAccountOut, **ERRORS})
def bank_account_void(request, account_id: Id, payload: VoidIn):
    return services.bank_account_void(
        actor=actor_of(request), account_id=account_id, reason=payload.reason
    )


@router.post("/bank-accounts/{account_id}/reveal", response={200: BankAccountRevealOut, **ERRORS})
def bank_account_reveal(request, account_id: Id):
    """The full account number. Permitted by role; every call is written to the audit log."""
    return services.bank_account_reveal(actor=actor_of(request), account_id=account_id)


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
