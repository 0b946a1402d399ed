"""The case loop. Each transition is a service `case_<verb>(*, actor, case_id, …)`: it finds the
case within the actor's reach (404 outside), locks the row, checks the transitions table (403
for role or tier, 409 for state), and writes the new state, a timeline event, an audit entry and
the outbox messages in one transaction, so two handlers racing for one case cannot both win.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.core import audit
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.inserts import insert_new, next_id, pipelined
from linli.core.models import AuditAction, Department, User
from linli.core.roles import Perm
from linli.core.workdays import deadline_after, stage_window
from linli.people.idnumbers import normalise_phone, phone_problem
from linli.places.models import Place, PlaceLevel
from linli.places.selectors import grid_containing, place_in_jurisdiction

from . import notifications
from .models import (
    MAX_DESCRIPTION,
    MAX_NOTE,
    Case,
    CaseEvent,
    CaseState,
    Category,
    Channel,
    CloseReason,
    Outbox,
    Source,
    Tier,
    WarningLevel,
    Whistle,
    WhistleKind,
    WhistleSummons,
)
from .selectors import reportable_category
from .transitions import check

BAD_RATING = 2  # 1 or 2 stars within the window reopens the case
STAFF_SOURCES = (Source.GRID_PATROL, Source.HOTLINE, Source.MODULE)
# Report-in deadline of each kind of whistle: (hours, counted on the clock rather than the
# working calendar). An emergency does not wait for Monday.
REPORT_IN: dict[str, tuple[Decimal, bool]] = {
    WhistleKind.EMERGENCY: (Decimal("0.5"), True),
    WhistleKind.COORDINATION: (Decimal("2"), False),
    WhistleKind.ROUTINE: (Decimal("8"), False),
}
NEXT_TIER = {Tier.GRID: Tier.COMMUNITY, Tier.COMMUNITY: Tier.STREET, Tier.STREET: Tier.DISTRICT}
STAGE_FIELDS = ("stage_started_at", "stage_warn_at", "stage_deadline", "warning")


# ---------------------------------------------------------------------------------------------
# Helpers


def _text(value: str | None, field: str, *, required: bool, limit: int, message: str) -> str:
    """Stripped text; NUL characters dropped (PostgreSQL refuses them); too long is an error,
    never a silent cut."""
    text = (value or "").replace("\x00", "").strip()
    if required and not text:
        raise ValidationFailed(message, details={field: [_("This field is required.")]})
    if len(text) > limit:
        raise ValidationFailed(
            _("The text has %(n)d characters; the limit is %(max)d.")
            % {"n": len(text), "max": limit},
            details={field: [_("At most %(max)d characters.") % {"max": limit}]},
        )
    return text


def _user(actor: User | None) -> User | None:
    return actor if actor is not None and actor.pk else None


def _locked(actor: User, case_id: Any) -> Case:
    """The case within the actor's reach, locked for the rest of the transaction."""
    return (
        Case.objects.select_for_update(of=("self",))
        .select_related("category")
        .get_for(actor, case_id)
    )


def _start_stage(case: Case, hours: Decimal, now: dt.datetime) -> None:
    case.stage_started_at = now
    case.stage_warn_at, case.stage_deadline = stage_window(
        now, hours, round_the_clock=case.category.round_the_clock
    )
    case.warning = WarningLevel.NONE


def _end_timing(case: Case) -> None:
    case.stage_started_at = case.stage_warn_at = case.stage_deadline = None
    case.warning = WarningLevel.NONE


def _on_time(now: dt.datetime, deadline: dt.datetime | None) -> bool | None:
    return None if deadline is None else now <= deadline


def _commit(
    *,
    actor: User | None,
    case: Case,
    action: str,
    before: dict[str, Any] | None,
    from_state: str,
    fields: Iterable[str],
    note: str = "",
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    """Save the changed fields (none for a new case, inserted already), then the timeline
    event, the audit entry and the outbox rows."""
    if fields:
        case.save(update_fields=[*dict.fromkeys([*fields, "updated_at"])])
    event = CaseEvent(
        case=case,
        actor=_user(actor),
        action=action,
        from_state=from_state,
        to_state=case.state,
        note=note,
        data=data or {},
    )
    insert_new([event])
    after = case.audit_snapshot()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE if before is None else AuditAction.UPDATE,
        instance=case,
        changes=audit.diff(before or {}, after, case.audit_masks),
        label=case.number,
    )
    notifications.notify_case_event(case=case, event=event, actor=actor)
    return event


def _require(actor: User, perm: str) -> None:
    if not actor.is_active or not actor.has_perm_code(perm):
        raise PermissionDenied()


# ---------------------------------------------------------------------------------------------
# Intake


def _point(lat: Any, lng: Any) -> tuple[float, float] | None:
    if lat in (None, "") and lng in (None, ""):
        return None
    try:
        point = float(lat), float(lng)
    except (TypeError, ValueError):
        raise ValidationFailed(
            _("Give the location as two numbers, latitude and longitude."),
            details={"location": [_("Not a number.")]},
        ) from None
    if not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
        raise ValidationFailed(
            _("Latitude is between -90 and 90, longitude between -180 and 180."),
            details={"location": [_("Out of range.")]},
        )
    return point


def _locate(actor: User | None, point: tuple[float, float] | None, grid_id: Any) -> Place:
    if point is not None:
        grid = grid_containing(*point)
        if grid is None:
            raise ValidationFailed(
                _("This point lies outside every grid we serve; move the pin inside a boundary."),
                details={"location": [_("Outside every grid.")]},
            )
        return grid
    if grid_id not in (None, "") and actor is not None and actor.is_staff_role:
        return place_in_jurisdiction(actor, grid_id, level=PlaceLevel.GRID)
    raise ValidationFailed(
        _("Say where the problem is: place a pin on the map."),
        details={"location": [_("This field is required.")]},
    )


def _reporter_key(actor: User | None, phone: str) -> str:
    if actor is not None:
        return f"u{actor.pk}"
    return "p" + hashlib.sha256(phone.encode()).hexdigest()[:40]


def _replay(existing: Case, category_id: Any, description: str) -> Case:
    """A resend of the same report counts once; the same key on a different report is refused,
    so a client's bug cannot silently swallow a second report."""
    if str(existing.category_id) != str(category_id) or existing.description != description:
        raise Conflict(
            _("This idempotency key was already used for a different report."),
            code="idempotency_key_reused",
        )
    existing.is_replay = True
    return existing


def case_report(
    *,
    actor: User | None,
    category_id: Any = None,
    category_code: str = "",
    description: str,
    source: str | None = None,
    lat: Any = None,
    lng: Any = None,
    grid_id: Any = None,
    address: str = "",
    reporter_name: str = "",
    reporter_phone: str = "",
    idempotency_key: str = "",
) -> Case:
    """File a report (上报) in a category given by id or by code. `actor` None is an anonymous
    resident (a phone number is required and the category must allow it). Staff entering a
    12345 call use source "hotline" and give the caller's name and phone. The returned case has
    `is_replay` True when an earlier report with the same idempotency key was returned instead
    of a new one."""
    if actor is not None and not actor.is_authenticated:
        actor = None
    description = _text(
        description,
        "description",
        required=True,
        limit=MAX_DESCRIPTION,
        message=_("Describe the problem."),
    )
    phone = normalise_phone(reporter_phone or "")
    problem = phone_problem(phone)
    if problem:
        raise ValidationFailed(problem, details={"reporter_phone": [problem]})
    key = (idempotency_key or "").strip()
    if len(key) > 64:
        raise ValidationFailed(
            _("An idempotency key has at most 64 characters."),
            details={"idempotency_key": [_("Too long.")]},
        )
    # A resend is found by the unique constraint when its insert fails (below): looking first
    # would cost every new report a query to serve the rare resend.
    reporter_key = _reporter_key(actor, phone)
    if actor is not None:
        _require(actor, Perm.CASES_REPORT)
    source = source or (Source.GRID_PATROL if actor and actor.is_staff_role else Source.RESIDENT)
    if source not in Source.values:
        raise ValidationFailed(_("Unknown source."), details={"source": [_("Unknown source.")]})
    if source in STAFF_SOURCES and (actor is None or not actor.is_staff_role):
        raise PermissionDenied(_("Only staff can file reports from this source."))
    # "open311" is the mark of a third-party client's report (its account is a resident's);
    # staff entering a report are never one.
    if source == Source.OPEN311 and (actor is None or actor.is_staff_role):
        raise PermissionDenied(_("Only an Open311 client files reports from this source."))
    try:
        category = reportable_category(code=category_code, pk=category_id)
    except Category.DoesNotExist:
        field = "category" if category_code else "category_id"
        raise ValidationFailed(
            _("Choose a category from the list (a minor class)."),
            details={field: [_("Unknown category.")]},
        ) from None
    if actor is None:
        if not category.anonymous_allowed:
            raise PermissionDenied(
                _("Sign in to report this kind of problem; it cannot be reported anonymously.")
            )
        if not phone:
            raise ValidationFailed(
                _("Leave a phone number so we can tell you what was done."),
                details={"reporter_phone": [_("This field is required.")]},
            )
    if source == Source.HOTLINE and not phone:
        raise ValidationFailed(
            _("Give the caller's phone number."),
            details={"reporter_phone": [_("This field is required.")]},
        )
    address = _text(address, "address", required=False, limit=200, message="")
    reporter_name = _text(reporter_name, "reporter_name", required=False, limit=50, message="")
    point = _point(lat, lng)
    grid = _locate(actor, point, grid_id)

    now = timezone.now()
    on_behalf = source == Source.HOTLINE
    case = Case(
        category=category,
        description=description,
        address=address,
        lat=point[0] if point else None,
        lng=point[1] if point else None,
        grid=grid,
        place_path=grid.path,
        source=source,
        reporter=None if on_behalf else actor,
        entered_by=actor if on_behalf else None,
        reporter_name=reporter_name,
        reporter_phone=phone,
        reporter_key=reporter_key,
        idempotency_key=key,
        priority=category.priority,
        reported_at=now,
    )
    _start_stage(case, category.register_hours, now)
    case.due_at = deadline_after(
        now, category.total_hours, round_the_clock=category.round_the_clock
    )
    # Everything above only read; one transaction writes the case and its event, audit entry
    # and outbox rows (called inside another transaction, this is a savepoint), sent together
    # on PostgreSQL: their ids are taken first, so no insert waits for the one before.
    try:
        with transaction.atomic(), pipelined():
            case.pk = next_id(Case)
            # The number carries the day and the row id: unique without a counter to lock.
            case.number = f"{timezone.localtime(now):%Y%m%d}{case.pk:08d}"
            insert_new([case])
            _commit(
                actor=actor,
                case=case,
                action="report",
                before=None,
                from_state="",
                fields=[],
                data={"source": source},
            )
    except IntegrityError:
        # A resend: its key's unique constraint refused the row (two resends may race; the one
        # stored first is the report).
        existing = Case.objects.filter(reporter_key=reporter_key, idempotency_key=key).first()
        if key and existing is not None:
            return _replay(existing, category.pk, description)
        raise
    case.is_replay = False
    return case


# ---------------------------------------------------------------------------------------------
# Registration


@transaction.atomic
def case_register(*, actor: User, case_id: Any) -> Case:
    """Register (立案): the report is a case for this government to handle."""
    case = _locked(actor, case_id)
    check(actor, case, "register")
    before, was, now = case.audit_snapshot(), case.state, timezone.now()
    case.state, case.registered_at = CaseState.REGISTERED, now
    case.registered_on_time = _on_time(now, case.stage_deadline)
    _start_stage(case, case.category.dispatch_hours, now)
    _commit(
        actor=actor,
        case=case,
        action="register",
        before=before,
        from_state=was,
        fields=["state", "registered_at", "registered_on_time", *STAGE_FIELDS],
    )
    return case


@transaction.atomic
def case_reject(*, actor: User, case_id: Any, reason: str) -> Case:
    """Do not register (不予立案); the reporter is told the reason."""
    reason = _text(
        reason,
        "reason",
        required=True,
        limit=MAX_NOTE,
        message=_("Give the reason for not registering this report."),
    )
    case = _locked(actor, case_id)
    check(actor, case, "reject")
    before, was = case.audit_snapshot(), case.state
    case.state = CaseState.REJECTED
    _end_timing(case)
    _commit(
        actor=actor,
        case=case,
        action="reject",
        before=before,
        from_state=was,
        fields=["state", *STAGE_FIELDS],
        note=reason,
    )
    return case


@transaction.atomic
def case_merge(
    *, actor: User, case_id: Any, into_case_id: Any = None, into_number: str = ""
) -> Case:
    """Close a duplicate report into an open case of the same category (closed: duplicate),
    named by id or by its case number."""
    if into_number:
        into_case_id = (
            Case.objects.restrict(actor)
            .filter(number=into_number.strip())
            .values_list("pk", flat=True)
            .first()
        )
        if into_case_id is None:
            raise ValidationFailed(
                _("No case with this number in your jurisdiction."),
                details={"into_number": [_("Not found.")]},
            )
    if str(case_id) == str(into_case_id):
        raise ValidationFailed(
            _("A case cannot be merged into itself."),
            details={"into_case_id": [_("Choose another case.")]},
        )
    # Lock both rows in id order, so two merges of the same pair cannot deadlock.
    rows = (
        Case.objects.restrict(actor)
        .select_for_update(of=("self",))
        .select_related("category")
        .order_by("pk")
    )
    try:
        locked = {str(c.pk): c for c in rows.filter(pk__in=[case_id, into_case_id])}
    except (ValueError, TypeError):
        raise NotFound() from None
    case, target = locked.get(str(case_id)), locked.get(str(into_case_id))
    if case is None or target is None:
        raise NotFound()
    check(actor, case, "merge")
    if not target.is_open or target.category_id != case.category_id:
        raise ValidationFailed(
            _("Merge only into an open case of the same category."),
            details={"into_case_id": [_("Not an open case of this category.")]},
        )
    before, was, now = case.audit_snapshot(), case.state, timezone.now()
    case.state, case.close_reason, case.merged_into = (
        CaseState.CLOSED_OTHER,
        CloseReason.DUPLICATE,
        target,
    )
    case.closed_at = now
    _end_timing(case)
    _commit(
        actor=actor,
        case=case,
        action="merge",
        before=before,
        from_state=was,
        fields=["state", "close_reason", "merged_into", "closed_at", *STAGE_FIELDS],
        data={"into": target.number},
    )
    CaseEvent.objects.create(
        case=target,
        actor=_user(actor),
        action="merged_in",
        from_state=target.state,
        to_state=target.state,
        data={"from": case.number},
    )
    return case


# ---------------------------------------------------------------------------------------------
# Dispatch and handling


@transaction.atomic
def case_dispatch(
    *, actor: User, case_id: Any, department_id: Any = None, handler_id: Any = None
) -> Case:
    """Dispatch (派遣) to a department (default: the category's), to a named person in the
    jurisdiction (a grid worker handling a small matter himself), or to a person of a
    department."""
    case = _locked(actor, case_id)
    check(actor, case, "dispatch")
    department = handler = None
    if department_id not in (None, ""):
        department = Department.objects.filter(pk=department_id).first()
        if department is None:
            raise ValidationFailed(
                _("Unknown department."), details={"department_id": [_("Unknown department.")]}
            )
    elif handler_id in (None, ""):
        department = case.category.department
        if department is None:
            raise ValidationFailed(
                _("Choose the department that will handle this case."),
                details={"department_id": [_("This field is required.")]},
            )
    if handler_id not in (None, ""):
        handler = User.objects.filter(pk=handler_id, is_active=True).first()
        if department is not None:
            fits = handler is not None and handler.departments.filter(pk=department.pk).exists()
        else:
            fits = (
                handler is not None
                and handler.has_perm_code(Perm.CASES_HANDLE)
                and Case.objects.restrict(handler).filter(pk=case.pk).exists()
            )
        if not fits:
            raise ValidationFailed(
                _("This person cannot handle the case: choose someone of the department or "
                  "whose jurisdiction includes it."),
                details={"handler_id": [_("Cannot handle this case.")]},
            )  # fmt: skip
    before, was, now = case.audit_snapshot(), case.state, timezone.now()
    if case.dispatched_at is None:
        case.dispatched_at = now
        case.dispatched_on_time = _on_time(now, case.stage_deadline)
    case.state, case.department, case.handler = CaseState.DISPATCHED, department, handler
    _start_stage(case, case.category.handle_hours, now)
    _commit(
        actor=actor,
        case=case,
        action="dispatch",
        before=before,
        from_state=was,
        fields=[
            "state",
            "department",
            "handler",
            "dispatched_at",
            "dispatched_on_time",
            *STAGE_FIELDS,
        ],
        data={
            "department": department.name if department else "",
            "handler": str(handler) if handler else "",
        },
    )
    return case


@transaction.atomic
def case_accept(*, actor: User, case_id: Any) -> Case:
    """Take the case on (处置). The row lock makes exactly one of two racing handlers win; the
    other gets a Conflict."""
    case = _locked(actor, case_id)
    check(actor, case, "accept")
    before, was, now = case.audit_snapshot(), case.state, timezone.now()
    case.state, case.handler, case.accepted_at = CaseState.IN_HAND, actor, now
    fields = ["state", "handler", "accepted_at"]
    summons = _summons_of(actor, case, lead_only=True)
    if summons is not None and summons.reported_in_at is None:
        # Taking a whistled case on is reporting in.
        _report_in(actor, case, summons, now, note="")
    _commit(actor=actor, case=case, action="accept", before=before, from_state=was, fields=fields)
    return case


@transaction.atomic
def case_report_handled(*, actor: User, case_id: Any, evidence: str) -> Case:
    """Report back (反馈) what was done; the evidence text is required."""
    evidence = _text(
        evidence,
        "evidence",
        required=True,
        limit=MAX_NOTE,
        message=_("Say what was done (evidence of handling)."),
    )
    case = _locked(actor, case_id)
    check(actor, case, "report_handled")
    before, was, now = case.audit_snapshot(), case.state, timezone.now()
    case.state, case.handled_at = CaseState.HANDLED, now
    case.handled_on_time = _on_time(now, case.stage_deadline)
    _start_stage(case, case.category.verify_hours, now)
    WhistleSummons.objects.filter(whistle__case=case, is_lead=True).update(handled_at=now)
    _commit(
        actor=actor,
        case=case,
        action="report_handled",
        before=before,
        from_state=was,
        fields=["state", "handled_at", "handled_on_time", *STAGE_FIELDS],
        note=evidence,
    )
    return case


def _reopen(case: Case, now: dt.datetime) -> list[str]:
    """Back to the same handler as rework (返工), counted; the handling stage starts again."""
    case.state = CaseState.DISPATCHED
    case.rework_count += 1
    case.handled_at = case.handled_on_time = case.verified_at = None
    case.closed_at = case.closed_on_time = None
    case.close_reason = ""
    _start_stage(case, case.category.handle_hours, now)
    WhistleSummons.objects.filter(whistle__case=case, is_lead=True).update(handled_at=None)
    return [
        "state",
        "rework_count",
        "handled_at",
        "handled_on_time",
        "verified_at",
        "closed_at",
        "closed_on_time",
        "close_reason",
        *STAGE_FIELDS,
    ]


@transaction.atomic
def case_verify(*, actor: User, case_id: Any, passed: bool, note: str = "") -> Case:
    """Check on site (核查), by a grid worker or the reporter: passed → verified; failed → back
    to the handler as rework (the note says what is still wrong)."""
    note = _text(
        note,
        "note",
        required=not passed,
        limit=MAX_NOTE,
        message=_("Say what is still wrong."),
    )
    case = _locked(actor, case_id)
    action = "verify" if passed else "verify_fail"
    check(actor, case, action)
    before, was, now = case.audit_snapshot(), case.state, timezone.now()
    if passed:
        case.state, case.verified_at = CaseState.VERIFIED, now
        fields = ["state", "verified_at"]
    else:
        fields = _reopen(case, now)
    _commit(
        actor=actor,
        case=case,
        action=action,
        before=before,
        from_state=was,
        fields=fields,
        note=note,
    )
    return case


@transaction.atomic
def case_close(
    *, actor: User, case_id: Any, reason: str = CloseReason.FIXED, note: str = ""
) -> Case:
    """Close (结案): as fixed after verification, or for another reason (not our remit, cannot
    be fixed) with an explanation. Duplicates close through `case_merge`. A whistled case closes
    only after its lead department reported it handled."""
    if reason not in (CloseReason.FIXED, CloseReason.NOT_OUR_REMIT, CloseReason.CANNOT_FIX):
        raise ValidationFailed(
            _("Close as fixed, not our remit or cannot be fixed (merge duplicates)."),
            details={"reason": [_("Unknown reason.")]},
        )
    fixed = reason == CloseReason.FIXED
    note = _text(
        note,
        "note",
        required=not fixed,
        limit=MAX_NOTE,
        message=_("Explain why the case closes without a fix."),
    )
    case = _locked(actor, case_id)
    check(actor, case, "close_fixed" if fixed else "close_other")
    before, was, now = case.audit_snapshot(), case.state, timezone.now()
    case.state = CaseState.CLOSED_FIXED if fixed else CaseState.CLOSED_OTHER
    case.close_reason, case.closed_at = reason, now
    case.closed_on_time = _on_time(now, case.due_at)
    _end_timing(case)
    _commit(
        actor=actor,
        case=case,
        action="close",
        before=before,
        from_state=was,
        fields=["state", "close_reason", "closed_at", "closed_on_time", *STAGE_FIELDS],
        note=note,
        data={"reason": reason},
    )
    return case


@transaction.atomic
def case_rate(*, actor: User, case_id: Any, rating: Any, comment: str = "") -> Case:
    """The reporter rates the outcome (评价), 1–5, within the window after closing. A rating of
    1 or 2 on a case closed as fixed reopens it as rework; the rating stays on record."""
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationFailed(
            _("A rating is a whole number from 1 to 5."),
            details={"rating": [_("From 1 to 5.")]},
        )
    comment = _text(comment, "comment", required=False, limit=500, message="")
    case = _locked(actor, case_id)
    check(actor, case, "rate")
    before, was, now = case.audit_snapshot(), case.state, timezone.now()
    case.state, case.rating, case.rating_comment, case.rated_at = (
        CaseState.RATED,
        rating,
        comment,
        now,
    )
    _commit(
        actor=actor,
        case=case,
        action="rate",
        before=before,
        from_state=was,
        fields=["state", "rating", "rating_comment", "rated_at"],
        note=comment,
        data={"rating": rating},
    )
    if rating <= BAD_RATING and case.close_reason == CloseReason.FIXED:
        before = case.audit_snapshot()
        fields = _reopen(case, now)
        _commit(
            actor=actor,
            case=case,
            action="rework",
            before=before,
            from_state=CaseState.RATED,
            fields=fields,
            note=_("Reopened after a rating of %(n)d.") % {"n": rating},
        )
    return case


# ---------------------------------------------------------------------------------------------
# Tiers and the whistle


@transaction.atomic
def case_escalate(*, actor: User, case_id: Any, reason: str) -> Case:
    """Hand the case one tier up (grid → community → street → district) with a reason. A case
    already dispatched goes back to the higher tier's dispatch queue. (The overdue sweep
    escalates supervision by itself, without taking the case from its handler.)"""
    reason = _text(reason, "reason", required=True, limit=MAX_NOTE, message=_("Give the reason."))
    case = _locked(actor, case_id)
    check(actor, case, "escalate")
    before, was, now = case.audit_snapshot(), case.state, timezone.now()
    old_tier = case.tier
    case.tier = NEXT_TIER[Tier(case.tier)]
    case.escalation_count += 1
    fields = ["tier", "escalation_count", *STAGE_FIELDS]
    if case.state in (CaseState.DISPATCHED, CaseState.IN_HAND):
        case.state, case.department, case.handler = CaseState.REGISTERED, None, None
        fields += ["state", "department", "handler"]
    # The higher tier gets the whole of the stage the case is in.
    reporting = case.state == CaseState.REPORTED
    _start_stage(
        case, case.category.register_hours if reporting else case.category.dispatch_hours, now
    )
    _commit(
        actor=actor,
        case=case,
        action="escalate",
        before=before,
        from_state=was,
        fields=fields,
        note=reason,
        data={"tier": [old_tier, case.tier]},
    )
    return case


def _departments(ids: Iterable[Any], field: str) -> list[Department]:
    wanted = list(dict.fromkeys(str(i) for i in ids))
    try:
        found = {str(d.pk): d for d in Department.objects.filter(pk__in=wanted)}
    except (ValueError, TypeError):
        found = {}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ValidationFailed(
            _("Unknown department."), details={field: [_("Unknown department.")]}
        )
    return [found[i] for i in wanted]


@transaction.atomic
def case_whistle(
    *,
    actor: User,
    case_id: Any,
    kind: str,
    lead_department_id: Any,
    co_department_ids: Iterable[Any] = (),
    note: str = "",
    report_in_hours: Any = None,
) -> Whistle:
    """Blow the whistle (吹哨) on a case held at the district: summon a lead department and
    co-handling departments, each to report in (报到) by a deadline set by the kind (emergency
    half an hour on the clock, coordination 2 and routine 8 working hours) or given. The case
    is dispatched to the lead."""
    if kind not in WhistleKind.values:
        raise ValidationFailed(_("Unknown kind of whistle."), details={"kind": [_("Unknown.")]})
    note = _text(note, "note", required=False, limit=MAX_NOTE, message="")
    hours, on_clock = REPORT_IN[kind]
    if report_in_hours not in (None, ""):
        try:
            hours = Decimal(str(report_in_hours))
        except InvalidOperation:
            hours = Decimal(-1)
        if not Decimal(0) < hours <= Decimal(200):
            raise ValidationFailed(
                _("The report-in time is between 0 and 200 hours."),
                details={"report_in_hours": [_("Out of range.")]},
            )
    (lead,) = _departments([lead_department_id], "lead_department_id")
    co = [d for d in _departments(co_department_ids, "co_department_ids") if d.pk != lead.pk]
    case = _locked(actor, case_id)
    check(actor, case, "whistle")
    before, was, now = case.audit_snapshot(), case.state, timezone.now()
    report_in_by = deadline_after(now, hours, round_the_clock=on_clock)
    whistle = Whistle.objects.create(case=case, kind=kind, blown_by=actor, blown_at=now, note=note)
    WhistleSummons.objects.bulk_create(
        [
            WhistleSummons(whistle=whistle, department=d, is_lead=d.pk == lead.pk, report_in_by=by)
            for d, by in [(lead, report_in_by), *((d, report_in_by) for d in co)]
        ]
    )
    case.state, case.department, case.handler = CaseState.DISPATCHED, lead, None
    if case.dispatched_at is None:
        case.dispatched_at = now
        case.dispatched_on_time = _on_time(now, case.stage_deadline)
    _start_stage(case, case.category.handle_hours, now)
    event = _commit(
        actor=actor,
        case=case,
        action="whistle",
        before=before,
        from_state=was,
        fields=[
            "state",
            "department",
            "handler",
            "dispatched_at",
            "dispatched_on_time",
            *STAGE_FIELDS,
        ],
        note=note,
        data={
            "kind": kind,
            "lead": lead.name,
            "co": [d.name for d in co],
            "report_in_by": report_in_by.isoformat(),
        },
    )
    # Co-handlers are told too: they must report in although the case is not theirs to close.
    _notify_departments(case, event, co, actor)
    return whistle


def _notify_departments(case: Case, event: CaseEvent, departments, actor: User) -> None:
    users = (
        User.objects.filter(departments__in=departments, is_active=True)
        .exclude(pk=actor.pk)
        .values_list("pk", flat=True)
        .distinct()
    )
    rows = [
        Outbox(
            channel=Channel.WECHAT,
            recipient_id=pk,
            case=case,
            kind="summons",
            params={"number": case.number, "state": case.state},
            dedupe_key=f"event:{event.pk}:summons:u{pk}",
        )
        for pk in users
    ]
    if rows:
        Outbox.objects.bulk_create(rows, ignore_conflicts=True)
        transaction.on_commit(notifications.enqueue_delivery)


def _summons_of(
    actor: User, case: Case, *, lead_only: bool = False, department_id: Any = None
) -> WhistleSummons | None:
    qs = WhistleSummons.objects.select_for_update().filter(
        whistle__case=case, department__in=actor.departments.all()
    )
    if lead_only:
        qs = qs.filter(is_lead=True)
    if department_id not in (None, ""):
        qs = qs.filter(department_id=department_id)
    # Not yet reported in first: someone in two summoned departments reports for the next.
    return qs.order_by("reported_in_at", "-is_lead", "pk").first()


def _report_in(
    actor: User, case: Case, summons: WhistleSummons, now: dt.datetime, note: str
) -> None:
    summons.reported_in_at, summons.reported_in_by = now, actor
    summons.save(update_fields=["reported_in_at", "reported_in_by"])
    on_time = now <= summons.report_in_by
    CaseEvent.objects.create(
        case=case,
        actor=actor,
        action="report_in",
        from_state=case.state,
        to_state=case.state,
        note=note,
        data={
            "department": summons.department.name,
            "lead": summons.is_lead,
            "on_time": on_time,
        },
    )
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        instance=summons,
        changes={"reported_in_at": [None, now.isoformat()], "on_time": [None, on_time]},
        place_path=case.place_path,
        label=f"{case.number} {summons.department.name}",
    )


@transaction.atomic
def case_report_in(
    *, actor: User, case_id: Any, department_id: Any = None, note: str = ""
) -> WhistleSummons:
    """A summoned department reports in (报到) to a whistled case."""
    note = _text(note, "note", required=False, limit=MAX_NOTE, message="")
    case = _locked(actor, case_id)
    check(actor, case, "report_in")
    # check() found a summons of the actor's departments still to report in; a department
    # named in the request must be one of them.
    summons = _summons_of(actor, case, department_id=department_id)
    if summons is None:
        raise PermissionDenied(_("Your department was not summoned to this case."))
    if summons.reported_in_at is not None:
        raise Conflict(_("Your department has already reported in."), code="already_reported_in")
    _report_in(actor, case, summons, timezone.now(), note)
    return summons


# ---------------------------------------------------------------------------------------------
# Publication


def may_publish(actor: User) -> bool:
    """Who may mark a case public: whoever registers cases, in any state (the page offers the
    button on this answer; `case_publish` asks the same)."""
    return actor.is_active and actor.has_perm_code(Perm.CASES_REGISTER)


@transaction.atomic
def case_publish(*, actor: User, case_id: Any, public: bool) -> Case:
    """Mark the case public (公开) or withdraw that: Open311 readers, who need no key, see its
    description and photos only while it is public; its status, dates and position always.
    Whoever registers cases decides, in any state; the reporter's identity is never shown."""
    case = _locked(actor, case_id)
    if not may_publish(actor):
        raise PermissionDenied()
    if case.is_public == public:
        return case
    before = case.audit_snapshot()
    case.is_public = public
    case.save(update_fields=["is_public", "updated_at"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        instance=case,
        changes=audit.diff(before, case.audit_snapshot(), case.audit_masks),
        label=case.number,
    )
    return case
