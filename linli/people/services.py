"""Writes to the population registry. Atomic; jurisdiction re-checked; audited in-transaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.core import audit
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.roles import Perm
from linli.places.models import PlaceLevel
from linli.places.selectors import place_in_jurisdiction

from .idnumbers import InvalidIdNumber, parse_id_number
from .models import (
    FinanceCategory,
    FinancialRecord,
    Household,
    Person,
    RecordStatus,
    TransferRequest,
    TransferState,
    street_path_of,
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
) -> FinancialRecord:
    person = Person.objects.get_for(actor, person_id, "change")
    if category not in FinanceCategory.values:
        raise ValidationFailed(_("Unknown category."), details={"category": [_("Unknown.")]})
    record = FinancialRecord(
        person=person,
        category=category,
        kind=kind,
        amount=amount,
        valid_from=valid_from,
        valid_to=valid_to,
        note=(note or "").strip(),
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
