"""Writes to the population registry. Atomic; jurisdiction re-checked; audited in-transaction."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.core import audit
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.masking import mask_id_number
from linli.core.models import AuditAction, User
from linli.core.roles import Perm
from linli.core.text import control_character_errors, strip_invisible
from linli.places.models import PlaceLevel
from linli.places.selectors import place_in_jurisdiction

from .idnumbers import InvalidIdNumber, normalise_id_digits, parse_id_number
from .models import (
    BankAccount,
    FinanceCategory,
    FinanceKind,
    FinancialRecord,
    Household,
    LegalSupporter,
    Person,
    PersonFact,
    RecordStatus,
    SelfCareAssessment,
    SeriousIllness,
    SupporterRelation,
    TransferRequest,
    TransferState,
    WorkCapacity,
    street_path_of,
)

# The dated facts assistance cites; each keeps its person's place_path.
FACT_MODELS: tuple[type[PersonFact], ...] = (
    SeriousIllness,
    SelfCareAssessment,
    LegalSupporter,
    BankAccount,
)

HOUSEHOLD_FIELDS = ("address", "building_id", "registration")
PERSON_FIELDS = (
    "household_id",
    "relation",
    "name",
    "id_number",
    "phone",
    "living_alone",
    "disability_category",
    "disability_grade",
    "party_member",
    "veteran",
    "left_behind_child",
    "chronic_illness",
)


def _require(actor: User, perm: str) -> None:
    if not actor.has_perm_code(perm):
        raise PermissionDenied()


def _reject_unknown(changes: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ValidationFailed(
            _("Unknown or read-only fields: %(fields)s.") % {"fields": ", ".join(unknown)},
            details={f: [_("This field cannot be set.")] for f in unknown},
        )


class AlreadyRegistered(ValidationFailed):
    """The ID number belongs to another person. The same words wherever that person is
    registered; `person_id` is set only when the actor may open the record."""

    code = "already_registered"

    def __init__(self, person_id: int | None = None) -> None:
        super().__init__(
            _("A person with this ID number is already registered."),
            details={"id_number": [_("Already registered.")]},
        )
        self.person_id = person_id


def _holder_of(id_number: Any, *, other_than: int | None = None) -> Person | None:
    """The person an ID number is registered to (anywhere), if it is a valid number."""
    try:
        number, _birth, _sex = parse_id_number(str(id_number or ""))
    except InvalidIdNumber:
        return None  # the model's validation says what is wrong with it
    return Person.objects.exclude(pk=other_than).filter(id_number=number).first()


def _refuse_registered(
    actor: User, holder: Person, household: Household | None, relation: str
) -> AlreadyRegistered:
    """The answer to an ID number that is taken. Outside the jurisdiction nothing says where:
    the hit files (or counts again on) a transfer request to the holding office, audited there.
    The caller commits this before raising, so the record of the attempt stays."""
    if household is None or Person.objects.restrict(actor).filter(pk=holder.pk).exists():
        return AlreadyRegistered(person_id=holder.pk)
    pending = (
        TransferRequest.objects.select_for_update()
        .filter(person=holder, household=household, state=TransferState.PENDING)
        .first()
    )
    if pending is None:
        request = TransferRequest(
            person=holder,
            household=household,
            relation=relation or "",
            requested_by=actor,
            place_path=holder.place_path,
            requester_path=household.place_path,
        )
        audit.save_audited(actor=actor, instance=request, before=None)
    else:
        before = pending.audit_snapshot()
        pending.hits += 1
        audit.save_audited(actor=actor, instance=pending, before=before)
    return AlreadyRegistered()


def _unique_violation(exc: IntegrityError) -> ValidationFailed:
    text = str(exc).lower()
    if "id_number" in text:
        return AlreadyRegistered()
    if "number" in text and "household" in text:
        return ValidationFailed(
            _("A household with this number already exists."),
            details={"number": [_("Already exists.")]},
        )
    if "one_active_head" in text:
        return ValidationFailed(
            _("This household already has a householder."),
            details={"relation": [_("Already has a householder.")]},
        )
    raise exc


@transaction.atomic
def household_create(
    *, actor: User, number: str, address: str, building_id: int, registration: str = "urban"
) -> Household:
    _require(actor, Perm.PEOPLE_CHANGE)
    building = place_in_jurisdiction(actor, building_id, level=PlaceLevel.BUILDING)
    household = Household(
        number=(number or "").strip(),
        address=(address or "").strip(),
        building=building,
        registration=registration,
    )
    try:
        with transaction.atomic():
            audit.save_audited(actor=actor, instance=household, before=None)
    except IntegrityError as exc:
        raise _unique_violation(exc) from None
    return household


@transaction.atomic
def household_update(*, actor: User, household_id: int, **changes: Any) -> Household:
    _reject_unknown(changes, HOUSEHOLD_FIELDS)
    household = Household.objects.select_for_update().get_for(actor, household_id, "change")
    before = household.audit_snapshot()
    if "building_id" in changes and changes["building_id"] != household.building_id:
        household.building = place_in_jurisdiction(
            actor, changes.pop("building_id"), level=PlaceLevel.BUILDING
        )
    changes.pop("building_id", None)
    for name, value in changes.items():
        setattr(household, name, value.strip() if isinstance(value, str) else value)
    audit.save_audited(actor=actor, instance=household, before=before)
    # Members and their records follow the household into its new place.
    Person.objects.filter(household=household).update(
        place_path=household.place_path, street_path=street_path_of(household.place_path)
    )
    FinancialRecord.objects.filter(household=household).update(place_path=household.place_path)
    for model in FACT_MODELS:
        model.objects.filter(person__household=household).update(place_path=household.place_path)
    return household


@transaction.atomic
def household_archive(*, actor: User, household_id: int) -> Household:
    """Households are archived, never deleted: decisions and payments refer to them."""
    household = Household.objects.select_for_update().get_for(actor, household_id, "change")
    if household.members.filter(status=RecordStatus.ACTIVE).exists():
        raise ValidationFailed(_("Move out or archive every active member first."))
    before = household.audit_snapshot()
    household.status = RecordStatus.ARCHIVED
    audit.save_audited(actor=actor, instance=household, before=before)
    return household


def _household_required(actor: User, household_id: int | None) -> None:
    """A person without a household has no place: only administrators would see them again."""
    if household_id is None and not actor.sees_everything:
        raise ValidationFailed(
            _("Choose the household this person belongs to."),
            details={"household_id": [_("Required.")]},
        )


def _save_person(actor: User, person: Person, before: dict[str, Any] | None) -> None:
    """Validate, save and audit; the person's records follow them to their place."""
    try:
        with transaction.atomic():
            audit.save_audited(actor=actor, instance=person, before=before)
    except IntegrityError as exc:
        raise _unique_violation(exc) from None
    if before is not None:
        FinancialRecord.objects.filter(person=person).update(
            household=person.household, place_path=person.place_path
        )
        for model in FACT_MODELS:
            model.objects.filter(person=person).update(place_path=person.place_path)


def person_create(*, actor: User, household_id: int | None, **fields: Any) -> Person:
    _require(actor, Perm.PEOPLE_CHANGE)
    _reject_unknown(fields, PERSON_FIELDS)
    _household_required(actor, household_id)
    # Atomic by block, not by decorator: a refused ID number commits its transfer request and
    # audit entry before the refusal is raised.
    with transaction.atomic():
        household = None
        if household_id is not None:
            household = Household.objects.get_for(actor, household_id, "change")
        holder = _holder_of(fields.get("id_number"))
        if holder is None:
            person = Person(household=household, **fields)
            _save_person(actor, person, None)
            return person
        refusal = _refuse_registered(actor, holder, household, fields.get("relation", ""))
    raise refusal


def person_update(*, actor: User, person_id: int, **changes: Any) -> Person:
    _reject_unknown(changes, PERSON_FIELDS)
    if "household_id" in changes:
        _household_required(actor, changes["household_id"])
    # Atomic by block: see person_create.
    with transaction.atomic():
        person = Person.objects.select_for_update().get_for(actor, person_id, "change")
        before = person.audit_snapshot()
        new_household_id = changes.get("household_id", person.household_id)
        if new_household_id != person.household_id:
            person.household = (
                Household.objects.get_for(actor, new_household_id, "change")
                if new_household_id is not None
                else None
            )
        changes.pop("household_id", None)
        holder = None
        if "id_number" in changes:
            holder = _holder_of(changes["id_number"], other_than=person.pk)
        if holder is None:
            for name, value in changes.items():
                setattr(person, name, value)
            _save_person(actor, person, before)
            return person
        refusal = _refuse_registered(actor, holder, person.household, person.relation)
    raise refusal


@transaction.atomic
def person_set_status(*, actor: User, person_id: int, status: str) -> Person:
    """Moved out, deceased or archived: the record stays, the status says why it is inactive."""
    if status not in RecordStatus.values:
        raise ValidationFailed(_("Unknown status."), details={"status": [_("Unknown status.")]})
    person = Person.objects.select_for_update().get_for(actor, person_id, "change")
    before = person.audit_snapshot()
    person.status = status
    if status != RecordStatus.DECEASED:
        # A death recorded by mistake is undone with its date (see person_record_death).
        person.died_on = None
    audit.save_audited(actor=actor, instance=person, before=before)
    return person


@transaction.atomic
def person_reveal(*, actor: User, person_id: int) -> dict[str, str]:
    """A deliberate full view of the ID number and phone, permitted by role and logged."""
    person = Person.objects.get_for(actor, person_id)
    _require(actor, Perm.PEOPLE_REVEAL)
    audit.record(
        actor=actor,
        action=AuditAction.REVEAL,
        instance=person,
        changes={"fields": ["id_number", "phone"]},
        label=person.audit_label(),
    )
    return {"id_number": person.id_number, "phone": person.phone}


@transaction.atomic
def financial_record_create(
    *,
    actor: User,
    person_id: int,
    category: str,
    kind: str,
    amount: Decimal,
    valid_from: dt.date,
    valid_to: dt.date | None = None,
    note: str = "",
    new_employment: bool = False,
) -> FinancialRecord:
    person = Person.objects.get_for(actor, person_id, "change")
    if category not in FinanceCategory.values:
        raise ValidationFailed(_("Unknown category."), details={"category": [_("Unknown.")]})
    if new_employment and kind != FinanceKind.WAGE:
        # Policies exempt new wages only (新增就业收入); on another kind the flag would be ignored.
        raise ValidationFailed(
            _("Only wages can be marked as new employment."),
            details={"new_employment": [_("Untick it, or choose the kind Wages.")]},
        )
    record = FinancialRecord(
        person=person,
        category=category,
        kind=kind,
        amount=amount,
        valid_from=valid_from,
        valid_to=valid_to,
        note=(note or "").strip(),
        new_employment=bool(new_employment),
    )
    audit.save_audited(actor=actor, instance=record, before=None)
    return record


@transaction.atomic
def financial_record_void(*, actor: User, record_id: int, reason: str) -> FinancialRecord:
    if not (reason or "").strip():
        raise ValidationFailed(
            _("Say why this record is voided."), details={"reason": [_("Required.")]}
        )
    record = FinancialRecord.objects.select_for_update().get_for(actor, record_id, "change")
    if record.voided_at is not None:
        raise NotFound()
    before = record.audit_snapshot()
    record.voided_at = timezone.now()
    record.void_reason = reason.strip()
    audit.save_audited(actor=actor, instance=record, before=before)
    return record


@transaction.atomic
def transfer_request_accept(*, actor: User, request_id: int) -> TransferRequest:
    """The holding office agrees: the person moves into the requesting household."""
    request = TransferRequest.objects.select_for_update().get_for(actor, request_id, "change")
    if request.state != TransferState.PENDING:
        raise Conflict(_("This request has already been answered."))
    person = Person.objects.select_for_update().get_for(actor, request.person_id, "change")
    if request.household.status != RecordStatus.ACTIVE:
        raise ValidationFailed(_("The requesting household is no longer active; decline instead."))
    before = person.audit_snapshot()
    person.household = request.household
    person.relation = request.relation or person.relation
    _save_person(actor, person, before)
    _answer(actor, request, TransferState.ACCEPTED, "")
    # Other offices asking for the same person get their answer too.
    others = TransferRequest.objects.select_for_update().filter(
        person=person, state=TransferState.PENDING
    )
    for other in others:
        _answer(actor, other, TransferState.DECLINED, _("The person moved to another household."))
    return request


@transaction.atomic
def transfer_request_decline(*, actor: User, request_id: int, reason: str) -> TransferRequest:
    """The holding office refuses, saying why; the asking office reads the reason."""
    if not (reason or "").strip():
        raise ValidationFailed(
            _("Say why the request is declined."), details={"reason": [_("Required.")]}
        )
    request = TransferRequest.objects.select_for_update().get_for(actor, request_id, "change")
    if request.state != TransferState.PENDING:
        raise Conflict(_("This request has already been answered."))
    _answer(actor, request, TransferState.DECLINED, reason.strip())
    return request


def _answer(actor: User, request: TransferRequest, state: str, reason: str) -> None:
    before = request.audit_snapshot()
    request.state = state
    request.decline_reason = reason
    request.decided_by = actor
    request.decided_at = timezone.now()
    try:
        audit.save_audited(actor=actor, instance=request, before=before)
    except ValidationFailed as exc:
        # The model names its field "decline_reason"; the caller's field is "reason".
        if "decline_reason" in exc.details:
            exc.details["reason"] = exc.details.pop("decline_reason")
        raise


# --- facts assistance decisions cite: capacity to work, death, illness, self-care, supporters,
# bank accounts. Each is voided, never deleted (a decision may cite it).


def _not_future(day: dt.date, field: str) -> None:
    if day > timezone.localdate():
        raise ValidationFailed(
            _("This date is in the future: give the day it happened."),
            details={field: [_("Cannot be in the future.")]},
        )


def _not_before_birth(person: Person, day: dt.date, field: str) -> None:
    if person.birth_date and day < person.birth_date:
        raise ValidationFailed(
            _("This date is before the person's birth date (%(birth)s).")
            % {"birth": person.birth_date.isoformat()},
            details={field: [_("Cannot be before the birth date.")]},
        )


def _clean_text(instance: PersonFact, fields: tuple[str, ...], *, required: tuple[str, ...] = ()):
    """Trim invisible characters; refuse control characters and empty required fields, naming
    each field (the model's own rules run again when it is saved)."""
    for name in fields:
        setattr(instance, name, strip_invisible(getattr(instance, name) or ""))
    errors = control_character_errors(instance, fields)
    for name in required:
        if name not in errors and not getattr(instance, name):
            errors[name] = [_("Required.")]
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(first, details=errors)


def _void_fact(actor: User, model: type[PersonFact], fact_id: int, reason: str) -> PersonFact:
    _require(actor, Perm.PEOPLE_CHANGE)
    reason = strip_invisible(reason or "")
    if not reason:
        raise ValidationFailed(
            _("Say why this record is voided."), details={"reason": [_("Required.")]}
        )
    fact = (
        model.objects.select_for_update(of=("self",))
        .select_related("person")
        .get_for(actor, fact_id, "change")
    )
    if fact.voided_at is not None:
        raise Conflict(_("This record has already been voided."))
    before = fact.audit_snapshot()
    fact.voided_at = timezone.now()
    fact.void_reason = reason
    _clean_text(fact, ("void_reason",))
    audit.save_audited(actor=actor, instance=fact, before=before)
    return fact


@transaction.atomic
def person_set_work_capacity(*, actor: User, person_id: int, work_capacity: str) -> Person:
    """Capacity to work (劳动能力) as assessed; empty when not assessed."""
    _require(actor, Perm.PEOPLE_CHANGE)
    if work_capacity not in ("", *WorkCapacity.values):
        raise ValidationFailed(
            _("Choose able, partly able or unable to work."),
            details={"work_capacity": [_("Unknown value.")]},
        )
    person = Person.objects.select_for_update().get_for(actor, person_id, "change")
    before = person.audit_snapshot()
    person.work_capacity = work_capacity
    audit.save_audited(actor=actor, instance=person, before=before)
    return person


@transaction.atomic
def person_record_death(*, actor: User, person_id: int, died_on: dt.date) -> Person:
    """Status deceased with the date of death; a second call corrects the date."""
    _require(actor, Perm.PEOPLE_CHANGE)
    person = Person.objects.select_for_update().get_for(actor, person_id, "change")
    _not_future(died_on, "died_on")
    _not_before_birth(person, died_on, "died_on")
    before = person.audit_snapshot()
    person.status = RecordStatus.DECEASED
    person.died_on = died_on
    audit.save_audited(actor=actor, instance=person, before=before)
    return person


@transaction.atomic
def serious_illness_record(
    *,
    actor: User,
    person_id: int,
    illness: str,
    diagnosed_on: dt.date,
    ended_on: dt.date | None = None,
    hospital: str = "",
) -> SeriousIllness:
    _require(actor, Perm.PEOPLE_CHANGE)
    person = Person.objects.get_for(actor, person_id, "change")
    _not_future(diagnosed_on, "diagnosed_on")
    _not_before_birth(person, diagnosed_on, "diagnosed_on")
    if ended_on is not None:
        _not_future(ended_on, "ended_on")
        if ended_on < diagnosed_on:
            raise ValidationFailed(
                _("The end date cannot be before the diagnosis."),
                details={"ended_on": [_("Give a date on or after the diagnosis.")]},
            )
    fact = SeriousIllness(
        person=person,
        recorded_by=actor,
        illness=illness,
        diagnosed_on=diagnosed_on,
        ended_on=ended_on,
        hospital=hospital,
    )
    _clean_text(fact, ("illness", "hospital"), required=("illness",))
    audit.save_audited(actor=actor, instance=fact, before=None)
    return fact


@transaction.atomic
def serious_illness_void(*, actor: User, illness_id: int, reason: str) -> SeriousIllness:
    return _void_fact(actor, SeriousIllness, illness_id, reason)


@transaction.atomic
def self_care_assessment_record(
    *,
    actor: User,
    person_id: int,
    assessed_on: dt.date,
    assessor: str,
    eating: bool,
    dressing: bool,
    bed_transfer: bool,
    toileting: bool,
    indoor_walking: bool,
    bathing: bool,
) -> SelfCareAssessment:
    """The six items (True: managed unaided); the latest assessment gives the level."""
    _require(actor, Perm.PEOPLE_CHANGE)
    person = Person.objects.get_for(actor, person_id, "change")
    _not_future(assessed_on, "assessed_on")
    _not_before_birth(person, assessed_on, "assessed_on")
    fact = SelfCareAssessment(
        person=person,
        recorded_by=actor,
        assessed_on=assessed_on,
        assessor=assessor,
        eating=bool(eating),
        dressing=bool(dressing),
        bed_transfer=bool(bed_transfer),
        toileting=bool(toileting),
        indoor_walking=bool(indoor_walking),
        bathing=bool(bathing),
    )
    _clean_text(fact, ("assessor",), required=("assessor",))
    audit.save_audited(actor=actor, instance=fact, before=None)
    return fact


@transaction.atomic
def self_care_assessment_void(*, actor: User, assessment_id: int, reason: str):
    return _void_fact(actor, SelfCareAssessment, assessment_id, reason)


def _supporter_in_registry(person: Person, id_number: str) -> Person:
    """The registered person a full ID number belongs to, wherever they live.

    Nothing of them goes back but their masked name (on the saved supporter): not where they
    are registered, not their record. Linking someone outside the actor's jurisdiction is
    recorded there too, as a transfer request is, so the holding office sees who did it."""
    try:
        number, _birth, _sex = parse_id_number(normalise_id_digits(id_number))
    except InvalidIdNumber as exc:
        raise ValidationFailed(str(exc), details={"supporter_id_number": [str(exc)]}) from None
    holder = Person.objects.filter(id_number=number).first()
    if holder is None:
        message = _(
            "No one with this ID number is registered. Check the number, or give the "
            "supporter's name instead."
        )
        raise ValidationFailed(message, details={"supporter_id_number": [message]})
    if holder.pk == person.pk:
        message = _("A person cannot be their own supporter.")
        raise ValidationFailed(message, details={"supporter_id_number": [message]})
    return holder


@transaction.atomic
def legal_supporter_add(
    *,
    actor: User,
    person_id: int,
    relation: str,
    able_to_support: bool,
    assessment: str = "",
    supporter_id_number: str = "",
    supporter_name: str = "",
) -> LegalSupporter:
    """A legal supporter (法定赡养/抚养/扶养义务人): a registered person found by their full ID
    number (in any household, any jurisdiction), or someone outside the registry by name."""
    _require(actor, Perm.PEOPLE_CHANGE)
    person = Person.objects.select_for_update().get_for(actor, person_id, "change")
    if relation not in SupporterRelation.values:
        raise ValidationFailed(
            _("Choose how the supporter is related to the person."),
            details={"relation": [_("Unknown value.")]},
        )
    id_number = (supporter_id_number or "").strip()
    name = strip_invisible(supporter_name or "")
    if bool(id_number) == bool(name):
        message = (
            _(
                "Give either the supporter's ID number (someone registered) or their name "
                "(someone outside the registry), not both."
            )
            if id_number
            else _("Give the supporter's ID number (someone registered) or their name.")
        )
        raise ValidationFailed(
            message,
            details={"supporter_id_number": [message], "supporter_name": [message]},
        )
    fact = LegalSupporter(
        person=person,
        recorded_by=actor,
        supporter_name=name,
        relation=relation,
        able_to_support=bool(able_to_support),
        assessment=assessment,
    )
    # Before any query: PostgreSQL refuses a NUL even in a lookup.
    _clean_text(fact, ("supporter_name", "assessment"))
    supporter = _supporter_in_registry(person, id_number) if id_number else None
    fact.supporter = supporter
    current = LegalSupporter.objects.filter(person=person, voided_at__isnull=True)
    duplicate = (
        current.filter(supporter=supporter)
        if supporter is not None
        else current.filter(supporter__isnull=True, supporter_name=fact.supporter_name)
    )
    if duplicate.exists():
        field = "supporter_id_number" if supporter is not None else "supporter_name"
        message = _("This supporter is already recorded for the person.")
        raise ValidationFailed(message, details={field: [message]})
    audit.save_audited(actor=actor, instance=fact, before=None)
    outside = supporter is not None and not (
        Person.objects.restrict(actor).filter(pk=supporter.pk).exists()
    )
    if outside:
        audit.record(
            actor=actor,
            action=AuditAction.CREATE,
            instance=fact,
            place_path=supporter.place_path,
            label=fact.audit_label(),
            changes={
                "supporter": [None, supporter.pk],
                "relation": [None, relation],
                # Marks the holding office's copy (selectors.person_history shows one).
                "registered_elsewhere": mask_id_number(supporter.id_number),
            },
        )
    return fact


@transaction.atomic
def legal_supporter_void(*, actor: User, supporter_id: int, reason: str) -> LegalSupporter:
    return _void_fact(actor, LegalSupporter, supporter_id, reason)


def normalise_account_number(value: str) -> str:
    """An account number as typed: full-width digits made plain, spaces between groups of
    digits dropped (6222 0212 3456 7890)."""
    return "".join(unicodedata.normalize("NFKC", value or "").split())


ACCOUNT_DIGITS = (6, 32)


@transaction.atomic
def bank_account_set(
    *, actor: User, person_id: int, bank: str, account_number: str, holder_name: str
) -> BankAccount:
    """The account assistance is paid into (收款账户); the previous one is voided."""
    _require(actor, Perm.PEOPLE_CHANGE)
    person = Person.objects.select_for_update().get_for(actor, person_id, "change")
    number = normalise_account_number(account_number)
    shortest, longest = ACCOUNT_DIGITS
    if not (number.isascii() and number.isdigit() and shortest <= len(number) <= longest):
        message = _("An account number is %(min)d to %(max)d digits, nothing else.") % {
            "min": shortest,
            "max": longest,
        }
        raise ValidationFailed(message, details={"account_number": [message]})
    current = BankAccount.objects.select_for_update().filter(person=person, voided_at__isnull=True)
    previous = current.first()
    if previous is not None and (previous.account_number, previous.bank) == (number, bank.strip()):
        message = _("This account is already the one payments go to.")
        raise ValidationFailed(message, details={"account_number": [message]})
    account = BankAccount(
        person=person,
        recorded_by=actor,
        bank=bank,
        account_number=number,
        holder_name=holder_name,
    )
    _clean_text(account, ("bank", "holder_name"), required=("bank", "holder_name"))
    if previous is not None:
        before = previous.audit_snapshot()
        previous.voided_at = timezone.now()
        previous.void_reason = _("Replaced by a new account.")
        audit.save_audited(actor=actor, instance=previous, before=before)
    try:
        with transaction.atomic():
            audit.save_audited(actor=actor, instance=account, before=None)
    except (IntegrityError, ValidationFailed) as exc:
        if isinstance(exc, ValidationFailed) and "__all__" not in exc.details:
            raise
        # Another account was saved for the person at the same moment.
        raise Conflict(
            _(
                "This person already has an account for payments: someone saved one just now. "
                "Reload the page and check it."
            )
        ) from None
    return account


@transaction.atomic
def bank_account_void(*, actor: User, account_id: int, reason: str) -> BankAccount:
    return _void_fact(actor, BankAccount, account_id, reason)


@transaction.atomic
def bank_account_reveal(*, actor: User, account_id: int) -> dict[str, str]:
    """The full account number, permitted by role and logged each time (like person_reveal)."""
    account = BankAccount.objects.select_related("person").get_for(actor, account_id)
    _require(actor, Perm.PEOPLE_REVEAL)
    audit.record(
        actor=actor,
        action=AuditAction.REVEAL,
        instance=account,
        changes={"fields": ["account_number"]},
        label=account.audit_label(),
    )
    return {
        "bank": account.bank,
        "account_number": account.account_number,
        "holder_name": account.holder_name,
    }
