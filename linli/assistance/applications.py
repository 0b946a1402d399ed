"""Applications for assistance (救助申请) from submission to decision.

`application_submit` files one (a resident online for their own household, a worker at the
window or for the resident with their consent); `application_refer` files one prefilled from
another module (the monitoring module's referral). `application_act` takes every later step
through the transitions table: it finds the application within the actor's reach (404
outside), locks the row, checks the table (403 for role or tier, 409 for state), runs the
eligibility engine on the household as it stands today, and writes the new state, its deadlines
and an audit entry in one transaction, so two people acting at once cannot both succeed.

Deadlines count working days on the calendar (core.workdays.due_date); the public notice
counts calendar days. Every number comes from the policy version in force for the household.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.core import audit
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.roles import Perm
from linli.core.text import control_character
from linli.core.workdays import due_date
from linli.people.models import Household, Person, RecordStatus, Relation, street_path_of
from linli.places.models import Place

from . import transitions
from .engine import add_months
from .models import (
    Application,
    ApplicationChannel,
    ApplicationState,
    ApprovalTier,
    Benefit,
    InvestigationVisit,
    Objection,
    PolicyVersion,
    Program,
    Review,
    ReviewKind,
    TemporaryKind,
)
from .policy import PolicyParameters
from .transitions import PATHS, TRANSITIONS, check, path_of

S = ApplicationState
MAX_NOTE = 2000
MAX_SHORT = 200
MAX_EVIDENCE_BYTES = 10_000
MAX_PHOTOS_PER_VISIT = 9
PHOTO_DIRECTORY = "assistance/visits"


# ---------------------------------------------------------------------------------------------
# Helpers


def _text(
    value: Any, field: str, *, required: bool, limit: int, message: str = "", lines: bool = False
) -> str:
    """Stripped text; control characters refused (line breaks allowed where `lines`); too long
    is an error, never a silent cut."""
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(_("Enter text."), details={field: [_("Enter text.")]})
    text = (value or "").strip()
    allowed = "\n\r\t" if lines else ""
    bad = control_character("".join(c for c in text if c not in allowed))
    if bad is not None:
        problem = _("The text contains an invisible control character (%(code)s); remove it.") % {
            "code": f"U+{ord(bad):04X}"
        }
        raise ValidationFailed(problem, details={field: [problem]})
    if required and not text:
        raise ValidationFailed(
            message or _("This field is required."), details={field: [_("This field is required.")]}
        )
    if len(text) > limit:
        raise ValidationFailed(
            _("The text has %(n)d characters; the limit is %(max)d.")
            % {"n": len(text), "max": limit},
            details={field: [_("At most %(max)d characters.") % {"max": limit}]},
        )
    return text


def _amount(value: Any, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite():
        message = _("Enter an amount in yuan such as 1234.50.")
        raise ValidationFailed(message, details={field: [message]})
    if amount < 0 or amount > Decimal("10000000") or amount != amount.quantize(Decimal("0.01")):
        message = _("An amount is between 0 and 10,000,000 yuan, to the fen.")
        raise ValidationFailed(message, details={field: [message]})
    return amount


def _date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        message = _("Enter a date as YYYY-MM-DD.")
        raise ValidationFailed(message, details={field: [message]}) from None


def _user(actor: User | None) -> User | None:
    return actor if actor is not None and actor.pk else None


def _today() -> dt.date:
    return timezone.localdate()


def first_of_next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _record(actor: User | None, application: Application, before: dict[str, Any] | None) -> None:
    after = application.audit_snapshot()
    changes = audit.diff(before or {}, after, application.audit_masks)
    if before is not None and not changes:
        return  # a step recorded on its own row (an objection)
    audit.record(
        actor=_user(actor),
        action=AuditAction.CREATE if before is None else AuditAction.UPDATE,
        instance=application,
        changes=changes,
        label=application.audit_label(),
    )


# ---------------------------------------------------------------------------------------------
# The engine


def _policy_for(household: Household, on: dt.date) -> PolicyVersion:
    from . import policies

    return policies.version_for(
        place_path=household.place_path, registration=household.registration, on=on
    )


def assess(application: Application, on: dt.date) -> Any:
    """Run the eligibility engine on the household as the registry has it on `on`, under the
    policy version then in force; store its answer and the version on the application (not
    saved here). Returns the program's result. A temporary application is assessed for its
    event (kind, the amount asked for) and its tier follows from the amount: the street up to
    its approval ceiling, the district above."""
    from . import engine, snapshot

    household = application.household
    version = _policy_for(household, on)
    options: dict[str, Any] = {}
    if application.program == Program.TEMPORARY:
        options = {
            "temporary_kind": application.temporary_kind,
            "hardship_amount": application.requested_amount,
        }
    assessment = engine.assess(
        snapshot.household_snapshot(household, on),
        version.params,
        on,
        programs=[application.program],
        **options,
    )
    result = assessment.results[application.program]
    application.assessment = assessment.as_json()
    application.policy_version = version
    application.classification = (result.classification or "")[:40]
    if application.program == Program.TEMPORARY and application.state not in (
        S.SAMPLED,
        S.APPROVED,
    ):
        ceiling = version.params.street_approval_ceiling
        amount = Decimal(result.amount or 0)
        application.approval_tier = (
            ApprovalTier.STREET if amount <= ceiling else ApprovalTier.DISTRICT
        )
    return result


def _covered_amount(application: Application, result: Any) -> tuple[Decimal, int]:
    """The monthly amount and persons covered: for a program covering persons one by one
    (特困, 单人保) the applicant's own line, otherwise the household's."""
    for person in result.covered:
        if person.key == str(application.applicant_id):
            return money(person.monthly_amount), 1
    return money(result.monthly_amount), max(int(result.persons_covered or 1), 1)


def money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _params(application: Application) -> PolicyParameters:
    return application.policy_version.params


# ---------------------------------------------------------------------------------------------
# Submission


def _household_for(actor: User, household_id: Any) -> Household:
    if actor.is_resident:
        households = Household.objects.for_resident(actor)
    else:
        households = Household.objects.restrict(actor)
    try:
        return households.filter(status=RecordStatus.ACTIVE).distinct().get(pk=household_id)
    except (Household.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("No such household within your reach.")) from None


def _applicant_for(actor: User, household: Household, applicant_id: Any) -> Person:
    members = Person.objects.filter(household=household, status=RecordStatus.ACTIVE)
    if applicant_id in (None, ""):
        if actor.is_resident:
            applicant = members.filter(account=actor).first()
        else:
            applicant = members.filter(relation=Relation.HEAD).first()
        if applicant is None:
            message = _("Choose the member who applies.")
            raise ValidationFailed(message, details={"applicant_id": [message]})
        return applicant
    try:
        return members.get(pk=applicant_id)
    except (Person.DoesNotExist, ValueError, TypeError):
        message = _("The applicant must be a current member of the household.")
        raise ValidationFailed(message, details={"applicant_id": [message]}) from None


def _evidence(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        message = _("Send the referral evidence as a JSON object.")
        raise ValidationFailed(message, details={"referral_evidence": [message]})
    try:
        size = len(json.dumps(value, ensure_ascii=False).encode())
    except (TypeError, ValueError):
        message = _("Send the referral evidence as a JSON object.")
        raise ValidationFailed(message, details={"referral_evidence": [message]}) from None
    if size > MAX_EVIDENCE_BYTES:
        message = _("The referral evidence is %(n)d bytes; at most %(max)d are kept.") % {
            "n": size,
            "max": MAX_EVIDENCE_BYTES,
        }
        raise ValidationFailed(message, details={"referral_evidence": [message]})
    return value


def _channel(actor: User, channel: str | None) -> str:
    if actor.is_resident:
        if channel not in (None, "", ApplicationChannel.ONLINE):
            raise PermissionDenied(_("A resident applies online, for their own household."))
        return ApplicationChannel.ONLINE
    channel = channel or ApplicationChannel.WINDOW
    if channel not in ApplicationChannel.values:
        message = _("Choose how the application came in.")
        raise ValidationFailed(message, details={"channel": [message]})
    if channel == ApplicationChannel.ONLINE:
        message = _("Online applications are made by residents themselves; choose the window.")
        raise ValidationFailed(message, details={"channel": [message]})
    return channel


@transaction.atomic
def application_submit(
    *,
    actor: User,
    household_id: Any,
    program: str,
    applicant_id: Any = None,
    channel: str | None = None,
    temporary_kind: str = "",
    covers_person_only: bool = False,
    consent_note: str = "",
    referral_source: str = "",
    referral_evidence: dict[str, Any] | None = None,
    reason: str = "",
    requested_amount: Any = None,
    credit_pledge: bool = False,
) -> Application:
    """File an application. A resident applies online for their own household; staff enter it
    at the window, for the resident (代办, `consent_note` required: how the resident agreed), or
    as a referral (`referral_source` required, with its evidence). With `credit_pledge` the
    applicant signed a credit pledge (信用承诺): no investigation or notice, verified after the
    decision; refused to a person in a credit penalty. The engine assesses the household at
    once. One open application per household and program (the database refuses a second)."""
    if actor is None or not actor.is_active or not actor.has_perm_code(Perm.ASSISTANCE_APPLY):
        raise PermissionDenied()
    if program not in Program.values:
        message = _("Choose a program.")
        raise ValidationFailed(message, details={"program": [message]})
    if program not in PATHS:
        message = _(
            "%(program)s is granted by its standard to recipients; nobody applies for it."
        ) % {"program": Program(program).label}
        raise ValidationFailed(message, details={"program": [message]})
    if program == Program.TEMPORARY:
        if temporary_kind not in TemporaryKind.values:
            message = _("Say whether the temporary assistance is emergency or expenditure.")
            raise ValidationFailed(message, details={"temporary_kind": [message]})
    else:
        temporary_kind = ""
    channel = _channel(actor, channel)
    consent_note = _text(consent_note, "consent_note", required=False, limit=MAX_SHORT)
    if channel == ApplicationChannel.GRID_WORKER and not consent_note:
        message = _("Record how the resident consented to your applying for them.")
        raise ValidationFailed(message, details={"consent_note": [message]})
    referral_source = _text(referral_source, "referral_source", required=False, limit=MAX_SHORT)
    if channel == ApplicationChannel.REFERRAL and not referral_source:
        message = _("Say where the referral comes from.")
        raise ValidationFailed(message, details={"referral_source": [message]})
    evidence = _evidence(referral_evidence)
    reason = _text(reason, "reason", required=False, limit=MAX_NOTE, lines=True)
    requested = _amount(requested_amount, "requested_amount")
    if program == Program.TEMPORARY and not requested:
        message = _("Say what the hardship costs: the amount asked for, in yuan.")
        raise ValidationFailed(message, details={"requested_amount": [message]})
    if credit_pledge and not PATHS[program].credit:
        message = _("%(program)s cannot be applied for on a credit pledge.") % {
            "program": Program(program).label
        }
        raise ValidationFailed(message, details={"credit_pledge": [message]})
    household = _household_for(actor, household_id)
    applicant = _applicant_for(actor, household, applicant_id)
    today = _today()
    if credit_pledge:
        transitions.credit_penalty_check(applicant.pk, today)

    application = Application(
        household=household,
        applicant=applicant,
        program=program,
        temporary_kind=temporary_kind,
        covers_person_only=bool(covers_person_only),
        channel=channel,
        proxy=actor if channel == ApplicationChannel.GRID_WORKER else None,
        consent_note=consent_note,
        referral_source=referral_source,
        referral_evidence=evidence,
        reason=reason,
        requested_amount=requested,
        credit_route=bool(credit_pledge),
        pledge_signed_at=timezone.now() if credit_pledge else None,
        approval_tier=PATHS[program].tier or "",
        created_by=actor,
    )
    assess(application, today)
    # The constraint, not a look first, answers a second application: two submitted at the
    # same moment cannot both pass a look.
    try:
        with transaction.atomic():
            application.save()
    except IntegrityError:
        raise Conflict(
            _("This household already has an open application for this program."),
            code="already_applied",
        ) from None
    _record(actor, application, None)
    return application


def application_refer(
    *,
    actor: User,
    household_id: Any,
    program: str,
    source: str,
    evidence: dict[str, Any] | None = None,
    applicant_id: Any = None,
    temporary_kind: str = "",
    reason: str = "",
) -> Application:
    """File an application referred by another module (the monitoring module's home visit,
    say), prefilled with where it came from and the evidence; the householder applies unless
    another member is named."""
    return application_submit(
        actor=actor,
        household_id=household_id,
        program=program,
        applicant_id=applicant_id,
        channel=ApplicationChannel.REFERRAL,
        temporary_kind=temporary_kind,
        referral_source=source,
        referral_evidence=evidence,
        reason=reason,
    )


# ---------------------------------------------------------------------------------------------
# Steps


def _locked(actor: User | None, application_id: Any) -> Application:
    """The application within the actor's reach, locked for the rest of the transaction."""
    rows = Application.objects.select_for_update(of=("self",)).select_related(
        "household", "applicant", "policy_version"
    )
    if actor is None:
        try:
            return rows.get(pk=application_id)
        except (Application.DoesNotExist, ValueError, TypeError):
            raise NotFound() from None
    return rows.get_for(actor, application_id)


def _accept(actor, application: Application, today: dt.date) -> dict:
    params = _params(application)
    application.accepted_on = today
    if application.program == Program.EXTREME_POVERTY:
        application.decision_due = due_date(today, params.extreme_poverty_street_days)
    else:
        application.decision_due = due_date(today, params.total_days)
    if not application.credit_route:
        application.investigation_due = due_date(today, params.investigation_days)
    return {}


def store_photos(uploads: list[UploadedFile], today: dt.date) -> list[dict[str, Any]]:
    """Keep only a copy of each photo re-encoded without EXIF (so without where it was taken),
    checked by its content as the cases' photos are; all are checked before any is stored."""
    from linli.cases.photos import FORMATS, check_photo, public_copy

    if len(uploads) > MAX_PHOTOS_PER_VISIT:
        message = _("A visit has at most %(n)d photos.") % {"n": MAX_PHOTOS_PER_VISIT}
        raise ValidationFailed(message, details={"photos": [message]})
    formats = []
    for upload in uploads:
        try:
            formats.append(check_photo(upload))
        except ValidationFailed as exc:
            message = f"{upload.name}: {exc.message}"
            raise ValidationFailed(message, details={"photos": [message]}) from None
    stored: list[dict[str, Any]] = []
    try:
        for upload, fmt in zip(uploads, formats, strict=True):
            content, width, height = public_copy(upload, fmt)
            content_type, ext = FORMATS[fmt]
            name = default_storage.save(
                f"{PHOTO_DIRECTORY}/{today:%Y/%m}/{uuid.uuid4().hex}.{ext}", ContentFile(content)
            )
            stored.append(
                {"name": name, "content_type": content_type, "width": width, "height": height}
            )
    except Exception:
        for photo in stored:
            default_storage.delete(photo["name"])
        raise
    return stored


def _investigate(
    actor,
    application: Application,
    today: dt.date,
    *,
    visited_on: Any = None,
    visitors: str = "",
    findings: str = "",
    uploads: list[UploadedFile] | None = None,
) -> dict:
    visited = today if visited_on in (None, "") else _date(visited_on, "visited_on")
    if visited > today:
        message = _("The visit cannot be in the future.")
        raise ValidationFailed(message, details={"visited_on": [message]})
    if application.accepted_on and visited < application.accepted_on:
        message = _("The visit cannot be before the application was accepted (%(day)s).") % {
            "day": application.accepted_on.isoformat()
        }
        raise ValidationFailed(message, details={"visited_on": [message]})
    visitors = _text(
        visitors, "visitors", required=True, limit=MAX_SHORT, message=_("Say who visited.")
    )
    findings = _text(
        findings,
        "findings",
        required=True,
        limit=MAX_NOTE,
        lines=True,
        message=_("Describe what the visit found."),
    )
    photos = store_photos(list(uploads or []), today)
    visit = InvestigationVisit(
        application=application,
        visited_on=visited,
        visitors=visitors,
        findings=findings,
        photos=photos,
        recorded_by=actor,
    )
    # Files are not transactional: remove them if the rows cannot be written.
    try:
        visit.save()
    except Exception:
        for photo in photos:
            default_storage.delete(photo["name"])
        raise
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        instance=visit,
        changes={
            "visited_on": [None, visited.isoformat()],
            "visitors": [None, visitors],
            "findings": [None, findings],
            "photos": [None, len(photos)],
        },
        place_path=application.place_path,
        label=application.audit_label(),
    )
    return {}


def _start_notice(actor, application: Application, today: dt.date) -> dict:
    days = max(_params(application).notice_days, 1)  # 公示 7 days: today and six more
    application.notice_from = today
    application.notice_to = today + dt.timedelta(days=days - 1)
    return {}


def _object(
    actor, application: Application, today: dt.date, *, content: str = "", received_on: Any = None
) -> dict:
    content = _text(
        content,
        "content",
        required=True,
        limit=MAX_NOTE,
        lines=True,
        message=_("Write down the objection."),
    )
    received = today if received_on in (None, "") else _date(received_on, "received_on")
    if application.notice_from and not application.notice_from <= received <= today:
        message = _("An objection is received during the notice, from %(day)s to today.") % {
            "day": application.notice_from.isoformat()
        }
        raise ValidationFailed(message, details={"received_on": [message]})
    objection = Objection.objects.create(
        application=application, received_on=received, content=content, recorded_by=actor
    )
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        instance=objection,
        changes={"received_on": [None, received.isoformat()], "content": [None, content]},
        place_path=application.place_path,
        label=application.audit_label(),
    )
    return {}


def _end_notice(actor, application: Application, today: dt.date) -> dict:
    return {}


def _draw_for_sample(application: Application, share: Decimal) -> bool:
    """Whether the district samples this 特困 approval of the street: drawn at random with the
    policy's share, and drawn whenever not drawing would leave the street's share of the year
    below it (so at least that share is sampled, however the dice fall). The street's row is
    locked while counting, so two approvals at once cannot both skip."""
    street = street_path_of(application.place_path)
    Place.objects.select_for_update().filter(path=street).first()
    decided = Application.objects.filter(
        program=Program.EXTREME_POVERTY,
        street_approved_on__year=_today().year,
        place_path__under=street,
    ).exclude(pk=application.pk)
    total = decided.count()
    sampled = decided.filter(district_sampled=True).count()
    if Decimal(sampled) < share * (total + 1):
        return True
    return Decimal(secrets.randbelow(10_000)) / 10_000 < share


def _start_benefit(actor, application: Application, result: Any, today: dt.date) -> Benefit | None:
    """The running entitlement of an approved monthly program (from the month after the
    decision); temporary assistance is paid once, from the application's amount."""
    if application.program == Program.TEMPORARY:
        return None
    params = _params(application)
    start = first_of_next_month(today)
    benefit = Benefit(
        household=application.household,
        recipient=application.applicant,
        program=application.program,
        classification=application.classification,
        covers_person_only=application.covers_person_only,
        persons_covered=_covered_amount(application, result)[1],
        monthly_amount=application.amount or Decimal("0"),
        start_month=start,
        application=application,
        policy_version=application.policy_version,
        review_months=params.review_months,
        next_review_on=add_months(start, params.review_months),
    )
    try:
        with transaction.atomic():
            benefit.save()
    except IntegrityError:
        raise Conflict(
            _("This person already receives this program."), code="already_receives"
        ) from None
    audit.record(
        actor=_user(actor),
        action=AuditAction.CREATE,
        instance=benefit,
        changes=audit.diff({}, benefit.audit_snapshot(), benefit.audit_masks),
        label=benefit.audit_label(),
    )
    if application.credit_route:
        # 先办后核: the pledge is verified after the decision (see the benefits area).
        Review.objects.create(
            benefit=benefit,
            kind=ReviewKind.VERIFICATION,
            due_on=due_date(today, params.investigation_days),
        )
    return benefit


def _decided_amount(application: Application, result: Any) -> Decimal:
    if application.program == Program.TEMPORARY:
        return money(result.amount)
    return _covered_amount(application, result)[0]


def _approve(
    actor, application: Application, today: dt.date, *, note: str = "", result: Any = None
) -> dict:
    note = _text(note, "note", required=False, limit=MAX_NOTE, lines=True)
    path = path_of(application)
    application.decision_note = note
    if path.sampled and application.state == S.AWAITING_DECISION:
        application.street_approved_on = today
        if _draw_for_sample(application, _params(application).extreme_poverty_sample_share):
            application.district_sampled = True
            application.approval_tier = ApprovalTier.DISTRICT
            application.decision_due = due_date(
                today, _params(application).extreme_poverty_district_days
            )
            return {"state": S.SAMPLED}
    application.amount = _decided_amount(application, result)
    application.decided_by, application.decided_at = _user(actor), timezone.now()
    _start_benefit(actor, application, result, today)
    return {}


def _reject(actor, application: Application, today: dt.date, *, note: str = "") -> dict:
    # The applicant is told the engine's trace; a decision against an eligible assessment
    # (an objection upheld, say) says why in words.
    note = _text(
        note,
        "note",
        required=transitions.stored_eligible(application),
        limit=MAX_NOTE,
        lines=True,
        message=_("The assessment finds the household eligible: say why it is rejected."),
    )
    application.decision_note = note
    application.decided_by, application.decided_at = _user(actor), timezone.now()
    return {}


def _extend(actor, application: Application, today: dt.date, *, reason: str = "") -> dict:
    reason = _text(
        reason,
        "reason",
        required=True,
        limit=MAX_SHORT,
        message=_("Give the reason for extending the time limit."),
    )
    start = application.accepted_on or today
    application.decision_due = due_date(start, _params(application).extended_total_days)
    application.extended, application.extension_reason = True, reason
    return {}


def _pay_first(
    actor, application: Application, today: dt.date, *, note: str = "", result: Any = None
) -> dict:
    note = _text(note, "note", required=False, limit=MAX_NOTE, lines=True)
    params = _params(application)
    application.accepted_on = application.accepted_on or today
    application.paid_first = True
    application.documents_due = due_date(today, params.emergency_documents_days)
    application.amount = _decided_amount(application, result)
    application.decision_note = note
    application.decided_by, application.decided_at = _user(actor), timezone.now()
    return {}


def _record_documents(
    actor, application: Application, today: dt.date, *, received_on: Any = None
) -> dict:
    received = today if received_on in (None, "") else _date(received_on, "received_on")
    if received > today or (application.decided_at and received < application.decided_at.date()):
        message = _("The documents were received between the payment and today.")
        raise ValidationFailed(message, details={"received_on": [message]})
    application.documents_received_on = received
    return {}


def _withdraw(actor, application: Application, today: dt.date, *, reason: str = "") -> dict:
    staff = actor is not None and not actor.is_resident
    reason = _text(
        reason,
        "reason",
        required=staff,
        limit=MAX_NOTE,
        lines=True,
        message=_("Record the applicant's reason for withdrawing (their written request)."),
    )
    application.decision_note = reason
    return {}


# Each action: its step, and whether the engine runs first (the decision uses its answer).
Step = Callable[..., dict]
STEPS: dict[str, tuple[Step, bool]] = {
    "accept": (_accept, True),
    "investigate": (_investigate, True),
    "start_notice": (_start_notice, True),
    "object": (_object, False),
    "end_notice": (_end_notice, True),
    "approve": (_approve, True),
    "reject": (_reject, True),
    "extend": (_extend, False),
    "pay_first": (_pay_first, True),
    "record_documents": (_record_documents, False),
    "withdraw": (_withdraw, False),
}
# The fields each action takes (the API and pages send these).
FIELDS: dict[str, frozenset[str]] = {
    "accept": frozenset(),
    "investigate": frozenset({"visited_on", "visitors", "findings", "uploads"}),
    "start_notice": frozenset(),
    "object": frozenset({"content", "received_on"}),
    "end_notice": frozenset(),
    "approve": frozenset({"note"}),
    "reject": frozenset({"note"}),
    "extend": frozenset({"reason"}),
    "pay_first": frozenset({"note"}),
    "record_documents": frozenset({"received_on"}),
    "withdraw": frozenset({"reason"}),
}


@transaction.atomic
def application_act(
    *, actor: User | None, application_id: Any, action: str, **fields: Any
) -> Application:
    """Take one step of the workflow (see transitions.TRANSITIONS) with its fields (FIELDS).
    `actor` None is the system (the periodic jobs end notices)."""
    if action not in TRANSITIONS:
        message = _("Unknown action “%(action)s”.") % {"action": str(action)[:40]}
        raise ValidationFailed(message, details={"action": [message]})
    unknown = sorted(set(fields) - FIELDS[action])
    if unknown:
        raise ValidationFailed(
            _("“%(action)s” does not take: %(fields)s.")
            % {"action": action, "fields": ", ".join(unknown)},
            details={name: [_("This field is not accepted.")] for name in unknown},
        )
    application = _locked(actor, application_id)
    check(application, actor, action)
    step, assesses = STEPS[action]
    today = _today()
    before = application.audit_snapshot()
    if assesses:
        result = assess(application, today)
        if action in ("approve", "pay_first"):
            fields["result"] = result
        # Checked again on today's assessment: a decision stands on it, and a temporary
        # application's amount may have moved it to the other tier.
        check(application, actor, action)
    changes = step(actor, application, today, **fields)
    application.state = (
        changes.get("state") or transitions.next_state(application, action) or (application.state)
    )
    application.overdue_since = None
    application.save()
    _record(actor, application, before)
    return application


def application_investigate(
    *,
    actor: User,
    application_id: Any,
    visited_on: Any = None,
    visitors: str,
    findings: str,
    uploads: list[UploadedFile] | None = None,
) -> Application:
    """Record the household investigation (入户调查) with its photos: the `investigate` step."""
    return application_act(
        actor=actor,
        application_id=application_id,
        action="investigate",
        visited_on=visited_on,
        visitors=visitors,
        findings=findings,
        uploads=uploads or [],
    )


# ---------------------------------------------------------------------------------------------
# Periodic work


def notices_end(*, today: dt.date | None = None) -> int:
    """Move every application whose public notice is over to awaiting the decision; the number
    moved. Each in its own transaction: one household's failing assessment (no policy) does not
    hold up the others, and a rerun finds only those left."""
    today = today or _today()
    due = list(
        Application.objects.filter(state=S.IN_NOTICE, notice_to__lt=today).values_list(
            "pk", flat=True
        )
    )
    moved = 0
    for pk in due:
        try:
            application_act(actor=None, application_id=pk, action="end_notice")
        except (Conflict, NotFound):
            continue  # moved meanwhile by hand
        moved += 1
    return moved


def overdue_q(today: dt.date) -> Q:
    """Applications past the time limit of the stage they are in (the investigation, the
    decision, the documents of a payment made first)."""
    return (
        Q(state=S.ACCEPTED, investigation_due__lt=today)
        | Q(
            state__in=[S.INVESTIGATED, S.IN_NOTICE, S.AWAITING_DECISION, S.SAMPLED],
            decision_due__lt=today,
        )
        | Q(
            state=S.APPROVED,
            paid_first=True,
            documents_received_on__isnull=True,
            documents_due__lt=today,
        )
    )


@transaction.atomic
def overdue_mark(*, today: dt.date | None = None) -> int:
    """Stamp `overdue_since` on applications newly past their stage's time limit (set-based: one
    update and one batch of audit entries); already stamped ones are left, so a rerun marks
    nothing twice. The number newly marked."""
    today = today or _today()
    newly = list(
        Application.objects.select_for_update(of=("self",))
        .filter(overdue_q(today), overdue_since__isnull=True)
        .only("pk", "program", "household", "place_path")
        .select_related("household")
    )
    if not newly:
        return 0
    Application.objects.filter(pk__in=[a.pk for a in newly]).update(overdue_since=today)
    now = timezone.now()
    audit.record_many(
        [
            audit.entry(
                actor=None,
                action=AuditAction.UPDATE,
                instance=a,
                changes={"overdue_since": [None, today.isoformat()]},
                label=a.audit_label(),
                at=now,
            )
            for a in newly
        ]
    )
    return len(newly)
