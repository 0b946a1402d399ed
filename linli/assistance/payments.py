"""Payment cycles (资金发放): services and selectors.

A cycle pays one program in one street for one month:

    start (maker) → generating → review → approve (checker ≠ maker) → approved
      → bank file issued (exported) → bank return imported (reconciled)
    generating → failed (an error; `cycle_resume` starts generating again)

Generation is set-based: per community of the street one INSERT … SELECT creates a Payment for
every running benefit that has no payment for that recipient, program and month yet (NOT
EXISTS, and ON CONFLICT DO NOTHING as the last word of the partial unique constraint
`one_payment_per_recipient_program_and_month`). So a generation stopped midway — an error, a
killed worker — is simply run again: what was written stays, the rest is added, nothing twice.
Each community's insert runs in its own transaction holding the cycle row's lock, with the
cycle's progress, so two workers on one cycle take turns and the page shows real progress.

Arrears: a failed payment of an earlier month with no successor is paid again in the street's
next cycle of the program (a new Payment for the old month, to the recipient's current
account). Recoveries (追回): what is still open on a benefit (amount − recovered, less what
pending payments already withhold) is withheld from its payments, up to each entitlement.
`Recovery.recovered` advances when a payment is reported paid by the bank, not at approval: a
payment that fails withheld nothing, and its retry withholds afresh.

Payments without an account are shown in review; they are not in the bank file and are marked
failed ("no account") when the bank's return is imported, so the next cycle retries them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Min, Q, QuerySet, Sum
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.core import audit
from linli.core.context import acting_from
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.roles import Perm
from linli.people.models import (
    BankAccount,
    Household,
    Registration,
    jurisdiction_path,
    mask_account_number,
)
from linli.places.models import Place, PlaceLevel
from linli.places.selectors import place_in_jurisdiction

from . import bankfiles
from .models import (
    MONTHLY_PROGRAMS,
    BankReturn,
    Benefit,
    CycleState,
    Payment,
    PaymentCycle,
    PaymentStatus,
    Program,
    Recovery,
)

logger = logging.getLogger(__name__)

# Programs paid through cycles: the monthly ones, and the grants paid to their recipients.
GRANT_PROGRAMS = (Program.HEATING, Program.ONE_OFF, Program.PRICE_SUBSIDY)
CYCLE_PROGRAMS = (*MONTHLY_PROGRAMS, *GRANT_PROGRAMS)
# A generation that wrote no progress for this long has lost its worker.
STALE_AFTER = dt.timedelta(minutes=15)
IN_LIST_CHUNK = 500
# Benefits per generation chunk (a transaction, and a step of the progress bar): small chunks
# repeat each statement's fixed cost (the scan of the bank accounts it joins) too often.
CHUNK_BENEFITS = 10_000


# ---------------------------------------------------------------------------------------------
# The cycle's actions: who may take which, in which state (pages and API offer exactly these)


@dataclass(frozen=True)
class CycleAction:
    label: Any
    from_states: tuple[str, ...]
    perm: str


ACTIONS: dict[str, CycleAction] = {
    "resume": CycleAction(
        gettext_lazy("Resume generation"), (CycleState.FAILED,), Perm.ASSISTANCE_PAY
    ),
    "approve": CycleAction(
        gettext_lazy("Approve the cycle"), (CycleState.REVIEW,), Perm.ASSISTANCE_APPROVE_PAYMENT
    ),
    "export": CycleAction(
        gettext_lazy("Download the bank file"),
        (CycleState.APPROVED, CycleState.EXPORTED),
        Perm.ASSISTANCE_PAY,
    ),
    "import_return": CycleAction(
        gettext_lazy("Import the bank's return file"), (CycleState.EXPORTED,), Perm.ASSISTANCE_PAY
    ),
}


def check(actor: User, cycle: PaymentCycle, action: str) -> None:
    """Raise the refusal the actor would meet: role (403), maker-checker (403), state (409)."""
    rule = ACTIONS[action]
    if not actor.is_active or not actor.has_perm_code(rule.perm):
        raise PermissionDenied()
    if action == "approve" and cycle.prepared_by_id == actor.pk:
        raise PermissionDenied(
            _("You prepared this cycle; another officer must approve it (maker-checker)."),
            code="approver_is_preparer",
        )
    if cycle.state not in rule.from_states:
        raise Conflict(
            _("This cycle is “%(state)s”; that action is not possible now.")
            % {"state": cycle.get_state_display()},
            code="wrong_state",
        )


def available_actions(actor: User, cycle: PaymentCycle) -> list[str]:
    out = []
    for action in ACTIONS:
        try:
            check(actor, cycle, action)
        except (PermissionDenied, Conflict):
            continue
        out.append(action)
    return out


# ---------------------------------------------------------------------------------------------
# Helpers


def _require(actor: User, perm: str) -> None:
    if actor is None or not actor.is_active or not actor.has_perm_code(perm):
        raise PermissionDenied()


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_after(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def month_before(month: dt.date) -> dt.date:
    return (month.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def _locked(actor: User, cycle_id: Any) -> PaymentCycle:
    return (
        PaymentCycle.objects.select_for_update(of=("self",))
        .select_related("street")
        .get_for(actor, cycle_id)
    )


def _audit(actor: User | None, cycle: PaymentCycle, action: str, changes: dict) -> None:
    audit.record(actor=actor, action=action, instance=cycle, changes=changes, label=str(cycle))


def _enqueue_generation(cycle_id: int) -> None:
    from .payments_tasks import cycle_generate_task

    transaction.on_commit(lambda: cycle_generate_task.enqueue(cycle_id))


# ---------------------------------------------------------------------------------------------
# Start, resume


@transaction.atomic
def cycle_start(*, actor: User, program: str, street_id: Any, month: dt.date) -> PaymentCycle:
    """Open the cycle of a program, street and month and queue its generation (the maker)."""
    _require(actor, Perm.ASSISTANCE_PAY)
    if program not in CYCLE_PROGRAMS:
        message = _(
            "Payment cycles pay the minimum living guarantee, extreme-poverty support and the "
            "grants to their recipients; choose one of those programs."
        )
        raise ValidationFailed(message, details={"program": [message]})
    if not isinstance(month, dt.date) or month.day != 1:
        message = _("Give the month as its first day (e.g. 2026-03-01).")
        raise ValidationFailed(message, details={"month": [message]})
    latest = month_after(first_of_month(timezone.localdate()))
    if month > latest:
        message = _("A cycle can be prepared at most for next month (%(month)s).") % {
            "month": f"{latest:%Y-%m}"
        }
        raise ValidationFailed(message, details={"month": [message]})
    street = place_in_jurisdiction(actor, street_id, level=PlaceLevel.STREET)
    if PaymentCycle.objects.filter(program=program, street=street, month=month).exists():
        raise _duplicate_cycle()
    cycle = PaymentCycle(program=program, street=street, month=month, prepared_by=actor)
    try:
        with transaction.atomic():
            cycle.save()
    except IntegrityError:  # a second officer started the same cycle a moment earlier
        raise _duplicate_cycle() from None
    _audit(
        actor,
        cycle,
        AuditAction.CREATE,
        {
            "program": [None, program],
            "month": [None, month.isoformat()],
            "street": [None, street.pk],
        },
    )
    _enqueue_generation(cycle.pk)
    return cycle


def _duplicate_cycle() -> Conflict:
    constraint = next(
        c
        for c in PaymentCycle._meta.constraints
        if c.name == "one_cycle_per_program_street_and_month"
    )
    return Conflict(str(constraint.violation_error_message), code="duplicate_cycle")


@transaction.atomic
def cycle_resume(*, actor: User, cycle_id: Any) -> PaymentCycle:
    """Start a failed generation again; what it wrote before stays and is not written twice."""
    cycle = _locked(actor, cycle_id)
    check(actor, cycle, "resume")
    cycle.state = CycleState.GENERATING
    failure, cycle.failure = cycle.failure, ""
    cycle.heartbeat_at = timezone.now()
    cycle.save(update_fields=["state", "failure", "heartbeat_at"])
    _audit(actor, cycle, AuditAction.UPDATE, {"state": [CycleState.FAILED, cycle.state]})
    logger.info("cycle %s resumed after: %s", cycle.pk, failure)
    _enqueue_generation(cycle.pk)
    return cycle


# ---------------------------------------------------------------------------------------------
# Generation (set-based)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


RUNNING = """
    (b.status = 'active' OR (b.status = 'phasing_out' AND b.phase_out_until >= %(month)s))
    AND b.start_month <= %(month)s AND (b.end_month IS NULL OR b.end_month >= %(month)s)
"""

PAYMENT_COLUMNS = (
    "cycle_id, benefit_id, recipient_id, program, month, amount, entitlement, "
    "recovery_deducted, bank, account_number, holder_name, status, failure_reason, place_path"
)


def _not_paid(recipient: str, month: str) -> str:
    """No payment yet for the recipient, program and month. On PostgreSQL `OFFSET 0` keeps the
    check a per-row probe of the unique index: as an anti-join it would be planned from the
    statistics of a payment table that was nearly empty when last analysed, and a nested loop
    over every payment written meanwhile made each community's insert quadratic."""
    offset = " OFFSET 0" if connection.vendor == "postgresql" else ""
    return f"""NOT EXISTS (
        SELECT 1 FROM {_table(Payment)} p WHERE p.recipient_id = {recipient}
        AND p.program = %(program)s AND p.month = {month} AND NOT (p.status = 'failed'){offset})"""


def _monthly_sql() -> str:
    """Each running benefit of the program in the chunk, its amount for the month."""
    return f"""
    INSERT INTO {_table(Payment)} ({PAYMENT_COLUMNS})
    SELECT %(cycle)s, b.id, b.recipient_id, %(program_value)s, %(month_value)s, b.monthly_amount,
        b.monthly_amount, 0, COALESCE(a.bank, ''), COALESCE(a.account_number, ''),
        COALESCE(a.holder_name, ''), 'pending', '', b.place_path
    FROM {_table(Benefit)} b
    LEFT JOIN {_table(BankAccount)} a ON a.person_id = b.recipient_id AND a.voided_at IS NULL
    WHERE b.street_path = %(street)s AND b.program = %(program)s
        AND b.place_path >= %(low)s AND b.place_path < %(high)s AND {RUNNING}
        AND {_not_paid("b.recipient_id", "%(month)s")}
    ON CONFLICT DO NOTHING
    """


def _grant_sql(program: str) -> str:
    """The grant to each 低保/特困 recipient of the chunk: per household (heating, one row per
    household), or per person covered (one-off, price subsidy), at their registration's
    amount."""
    per_person = program != Program.HEATING
    # Cast: SQLite receives Decimals as text, which compares above any number.
    amount = (
        "(CASE h.registration WHEN 'rural' THEN CAST(%(rural)s AS DECIMAL(12, 2)) "
        "ELSE CAST(%(urban)s AS DECIMAL(12, 2)) END)"
    ) + (" * b.persons_covered" if per_person else "")
    sources = "(%(minimum_living)s, %(extreme_poverty)s)"
    one_per_household = (
        ""
        if per_person
        else f"""AND b.id = (SELECT MIN(b2.id) FROM {_table(Benefit)} b2
            WHERE b2.household_id = b.household_id AND b2.program IN {sources}
            AND {RUNNING.replace("b.", "b2.")})
        AND NOT EXISTS (SELECT 1 FROM {_table(Payment)} p JOIN {_table(Benefit)} pb
            ON pb.id = p.benefit_id WHERE pb.household_id = b.household_id
            AND p.program = %(program)s AND p.month = %(month)s AND NOT (p.status = 'failed'))"""
    )
    return f"""
    INSERT INTO {_table(Payment)} ({PAYMENT_COLUMNS})
    SELECT %(cycle)s, b.id, b.recipient_id, %(program_value)s, %(month_value)s,
        {amount}, {amount}, 0, COALESCE(a.bank, ''), COALESCE(a.account_number, ''),
        COALESCE(a.holder_name, ''), 'pending', '', b.place_path
    FROM {_table(Benefit)} b
    JOIN {_table(Household)} h ON h.id = b.household_id
    LEFT JOIN {_table(BankAccount)} a ON a.person_id = b.recipient_id AND a.voided_at IS NULL
    WHERE b.street_path = %(street)s AND b.program IN {sources}
        AND b.place_path >= %(low)s AND b.place_path < %(high)s AND {RUNNING}
        AND {amount} > 0
        AND {_not_paid("b.recipient_id", "%(month)s")} {one_per_household}
    ON CONFLICT DO NOTHING
    """


def _arrears_sql() -> str:
    """Failed payments of earlier months with no successor, paid again to the recipient's
    account now; the latest failure of each recipient and month once."""
    return f"""
    INSERT INTO {_table(Payment)} ({PAYMENT_COLUMNS})
    SELECT %(cycle)s, f.benefit_id, f.recipient_id, f.program, f.month, f.entitlement,
        f.entitlement, 0, COALESCE(a.bank, ''), COALESCE(a.account_number, ''),
        COALESCE(a.holder_name, ''), 'pending', '', b.place_path
    FROM {_table(Payment)} f
    JOIN {_table(Benefit)} b ON b.id = f.benefit_id
    LEFT JOIN {_table(BankAccount)} a ON a.person_id = f.recipient_id AND a.voided_at IS NULL
    WHERE f.status = 'failed' AND f.program = %(program)s AND f.month < %(month)s
        AND b.street_path = %(street)s AND b.status <> 'suspended'
        AND NOT EXISTS (SELECT 1 FROM {_table(Payment)} f2 WHERE f2.recipient_id = f.recipient_id
            AND f2.program = f.program AND f2.month = f.month AND f2.id > f.id)
        AND {_not_paid("f.recipient_id", "f.month")}
    ON CONFLICT DO NOTHING
    """


@dataclass(frozen=True)
class Chunk:
    low: str
    high: str
    benefits: int


def _chunks(cycle: PaymentCycle, sources: tuple[str, ...], month: dt.date) -> list[Chunk]:
    """Place-path ranges of whole communities, each joined with the next until it holds
    CHUNK_BENEFITS benefits, with their benefit counts: one grouped query."""
    street_path = cycle.street.path
    prefix_length = len(street_path) + len(cycle.street.code) + 1  # street/community-code/
    running = Benefit.objects.filter(
        Q(status="active") | Q(status="phasing_out", phase_out_until__gte=month),
        street_path=street_path,
        program__in=sources,
        start_month__lte=month,
    ).filter(Q(end_month__isnull=True) | Q(end_month__gte=month))
    groups = (
        running.order_by()
        .annotate(community=Substr("place_path", 1, prefix_length))
        .values("community")
        .annotate(n=Count("id"))
        .order_by("community")
    )
    chunks: list[Chunk] = []
    for group in groups:
        low, high, count = group["community"], group["community"] + "~", group["n"]
        last = chunks[-1] if chunks else None
        if last is not None and last.benefits < CHUNK_BENEFITS:
            chunks[-1] = Chunk(last.low, high, last.benefits + count)
        else:
            chunks.append(Chunk(low, high, count))
    return chunks


def _grant_amounts(cycle: PaymentCycle) -> dict[str, Decimal]:
    """{"urban": amount, "rural": amount} of the cycle's grant by the policy in force, for each
    registration that has recipients in the street; a missing policy stops the generation with
    the policy lookup's own message."""
    from . import policies

    registrations = set(
        Benefit.objects.filter(street_path=cycle.street.path, program__in=MONTHLY_PROGRAMS)
        .exclude(status="stopped")
        .values_list("household__registration", flat=True)
        .distinct()
    )
    amounts = {Registration.URBAN: Decimal("0"), Registration.RURAL: Decimal("0")}
    for registration in registrations:
        params = policies.version_for(
            place_path=cycle.street.path, registration=registration, on=cycle.month
        ).params
        if cycle.program == Program.HEATING:
            amount = params.heating_per_household
        elif cycle.program == Program.ONE_OFF:
            amount = params.one_off_per_person
        elif params.price_cpi_rise >= params.price_cpi_trigger:
            amount = (params.standard * params.price_cpi_rise / 100).quantize(bankfiles.CENT)
        else:
            amount = Decimal("0")
        amounts[registration] = amount
    return amounts


def _progress(cycle_id: int, **fields) -> None:
    PaymentCycle.objects.filter(pk=cycle_id).update(heartbeat_at=timezone.now(), **fields)


def _claim(cycle_id: int) -> PaymentCycle | None:
    """The cycle, locked, if it is still generating (another worker may have finished it)."""
    return (
        PaymentCycle.objects.select_for_update()
        .select_related("street")
        .filter(pk=cycle_id, state=CycleState.GENERATING)
        .first()
    )


def _insert_chunk(sql: str, params: dict[str, Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def cycle_generate(*, cycle_id: int) -> PaymentCycle:
    """Generate a cycle's payments (the worker's task). Idempotent and resumable: a cycle no
    longer generating is left alone; one stopped midway continues without duplicates."""
    cycle = PaymentCycle.objects.select_related("street").get(pk=cycle_id)
    if cycle.state != CycleState.GENERATING:
        return cycle
    with acting_from(f"task:assistance.cycle:{cycle.pk}"):
        try:
            _generate(cycle)
        except Exception as exc:  # recorded on the cycle for the officer, who may resume it
            logger.exception("payment cycle %s failed", cycle.pk)
            message = getattr(exc, "message", "") or _(
                "Generation stopped on an unexpected error; resume it to continue."
            )
            PaymentCycle.objects.filter(pk=cycle.pk, state=CycleState.GENERATING).update(
                state=CycleState.FAILED, failure=message, heartbeat_at=timezone.now()
            )
    cycle.refresh_from_db()
    return cycle


def _generate(cycle: PaymentCycle) -> None:
    month = cycle.month
    monthly = cycle.program in MONTHLY_PROGRAMS
    sources = (cycle.program,) if monthly else tuple(MONTHLY_PROGRAMS)
    # Values written and values compared are separate parameters: PostgreSQL deduces one type
    # per parameter (text in a select list, varchar in a comparison) and refuses a mix.
    params: dict[str, Any] = {
        "cycle": cycle.pk,
        "program": cycle.program,
        "program_value": cycle.program,
        "month": month,
        "month_value": month,
        "street": cycle.street.path,
    }
    if monthly:
        sql = _monthly_sql()
    else:
        amounts = _grant_amounts(cycle)
        params.update(urban=amounts[Registration.URBAN], rural=amounts[Registration.RURAL])
        params.update(
            minimum_living=Program.MINIMUM_LIVING, extreme_poverty=Program.EXTREME_POVERTY
        )
        sql = _grant_sql(cycle.program)
    chunks = _chunks(cycle, sources, month)
    _progress(cycle.pk, total=sum(c.benefits for c in chunks), processed=0)

    with transaction.atomic():
        if _claim(cycle.pk) is None:
            return
        _insert_chunk(_arrears_sql(), params)
    processed = 0
    for chunk in chunks:
        with transaction.atomic():
            if _claim(cycle.pk) is None:
                return
            _insert_chunk(sql, {**params, "low": chunk.low, "high": chunk.high})
            processed += chunk.benefits
            _progress(cycle.pk, processed=processed)
    with transaction.atomic():
        locked = _claim(cycle.pk)
        if locked is None:
            return
        if monthly:
            _withhold_recoveries(locked)
        totals = locked.payments.aggregate(n=Count("id"), total=Sum("amount"))
        locked.payment_count = totals["n"] or 0
        locked.total_amount = totals["total"] or Decimal("0")
        locked.state = CycleState.REVIEW
        locked.processed = locked.total
        locked.heartbeat_at = timezone.now()
        locked.save(
            update_fields=["payment_count", "total_amount", "state", "processed", "heartbeat_at"]
        )
        audit.record(
            actor=None,
            action=AuditAction.UPDATE,
            instance=locked,
            label=str(locked),
            changes={
                "state": [CycleState.GENERATING, CycleState.REVIEW],
                "payment_count": [0, locked.payment_count],
                "total_amount": ["0", str(locked.total_amount)],
            },
        )


def _withhold_recoveries(cycle: PaymentCycle) -> None:
    """Withhold open recoveries from this cycle's payments, oldest month first. Recomputed
    from the entitlements each time, so a resumed generation withholds the same."""
    benefit_ids = list(
        Recovery.objects.filter(
            recovered__lt=F("amount"),
            benefit__in=Payment.objects.filter(cycle=cycle).values("benefit_id"),
        )
        .values_list("benefit_id", flat=True)
        .distinct()
    )
    if not benefit_ids:
        return
    open_amounts: dict[int, Decimal] = defaultdict(Decimal)
    for row in (
        Recovery.objects.filter(benefit_id__in=benefit_ids, recovered__lt=F("amount"))
        .values("benefit_id")
        .annotate(open=Sum(F("amount") - F("recovered")))
    ):
        open_amounts[row["benefit_id"]] += row["open"]
    for row in (
        Payment.objects.filter(benefit_id__in=benefit_ids, status=PaymentStatus.PENDING)
        .exclude(cycle=cycle)
        .values("benefit_id")
        .annotate(withheld=Sum("recovery_deducted"))
    ):
        open_amounts[row["benefit_id"]] -= row["withheld"] or 0
    changed = []
    for payment in Payment.objects.filter(cycle=cycle, benefit_id__in=benefit_ids).order_by(
        "benefit_id", "month", "id"
    ):
        left = max(open_amounts[payment.benefit_id], Decimal("0"))
        withheld = min(left, payment.entitlement)
        open_amounts[payment.benefit_id] = left - withheld
        payment.recovery_deducted = withheld
        payment.amount = payment.entitlement - withheld
        changed.append(payment)
    Payment.objects.bulk_update(changed, ["recovery_deducted", "amount"], batch_size=1000)


def cycles_fail_stale(now: dt.datetime | None = None) -> int:
    """Generations whose worker died (no progress for a quarter of an hour) are marked failed,
    so the officer sees it and may resume them."""
    now = now or timezone.now()
    return PaymentCycle.objects.filter(
        state=CycleState.GENERATING, heartbeat_at__lt=now - STALE_AFTER
    ).update(
        state=CycleState.FAILED,
        failure=_("The generation stopped (its worker is gone); resume it to continue."),
    )


# ---------------------------------------------------------------------------------------------
# Approve, export, return


@transaction.atomic
def cycle_approve(*, actor: User, cycle_id: Any) -> PaymentCycle:
    """The checker approves the reviewed cycle; never the officer who prepared it."""
    cycle = _locked(actor, cycle_id)
    check(actor, cycle, "approve")
    cycle.state = CycleState.APPROVED
    cycle.approved_by = actor
    cycle.approved_at = timezone.now()
    try:
        with transaction.atomic():
            cycle.save(update_fields=["state", "approved_by", "approved_at"])
    except IntegrityError:  # the database's own maker-checker constraint
        raise PermissionDenied(
            _("You prepared this cycle; another officer must approve it (maker-checker).")
        ) from None
    _audit(
        actor,
        cycle,
        AuditAction.UPDATE,
        {"state": [CycleState.REVIEW, cycle.state], "approved_by": [None, actor.pk]},
    )
    return cycle


def bank_rows(cycle: PaymentCycle) -> list[bankfiles.BankRow]:
    """The bank file's rows: per account, the sum of the cycle's pending payments into it."""
    groups = (
        Payment.objects.filter(cycle=cycle, status=PaymentStatus.PENDING)
        .exclude(account_number="")
        .order_by()
        .values("account_number")
        .annotate(total=Sum("amount"), name=Min("holder_name"))
        .filter(total__gt=0)
        .order_by("account_number")
    )
    return [
        bankfiles.BankRow(g["account_number"], g["name"], g["total"].quantize(bankfiles.CENT))
        for g in groups
    ]


@transaction.atomic
def cycle_export(*, actor: User, cycle_id: Any, file_format: str) -> bankfiles.BankFile:
    """The bank file of an approved cycle (full account numbers leave the system here: only
    those who pay may take it, and each download is audited)."""
    cycle = _locked(actor, cycle_id)
    check(actor, cycle, "export")
    if file_format not in bankfiles.FORMATS:
        message = _("Choose Excel (xlsx) or CSV.")
        raise ValidationFailed(message, details={"file_format": [message]})
    rows = bank_rows(cycle)
    stem = f"bank-{cycle.street.code}-{cycle.program}-{cycle.month:%Y-%m}"
    bank_file = bankfiles.write(rows, file_format=file_format, stem=stem)
    before = cycle.state
    if cycle.state == CycleState.APPROVED:
        cycle.state = CycleState.EXPORTED
        cycle.save(update_fields=["state"])
    audit.record(
        actor=actor,
        action=AuditAction.EXPORT,
        instance=cycle,
        label=str(cycle),
        place_path=jurisdiction_path(actor),
        changes={
            "state": [before, cycle.state],
            "rows": bank_file.rows,
            "total_amount": str(bank_file.total),
            "file": bank_file.name,
            "sha256": bank_file.sha256,
        },
    )
    return bank_file


class BankReturnRefused(ValidationFailed):
    """A return file with problems: refused whole, each problem kept on the BankReturn."""

    code = "bank_return_refused"

    def __init__(self, bank_return: BankReturn) -> None:
        self.bank_return = bank_return
        self.problems = bank_return.errors
        super().__init__(
            _("The return file was refused, nothing was marked: %(n)d problems. Correct them "
              "and import the file again.") % {"n": len(self.problems)},
            details={"file": [_row_message(p) for p in self.problems[:50]]},
        )  # fmt: skip


def _row_message(problem: dict) -> str:
    if problem.get("row"):
        return _("Row %(row)s, column %(column)s: %(message)s") % problem
    return problem["message"]


def bank_return_import(*, actor: User, cycle_id: Any, uploaded_file: UploadedFile) -> BankReturn:
    """Import the bank's return file of an exported cycle: every row is checked first; with any
    problem the file is refused (kept with its problems, nothing marked, BankReturnRefused
    raised); otherwise payments are marked paid or failed and the cycle is reconciled."""
    with transaction.atomic():
        cycle = _locked(actor, cycle_id)
        check(actor, cycle, "import_return")
        name = (uploaded_file.name or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200]
        if uploaded_file.size is not None and uploaded_file.size > settings.LINLI_MAX_UPLOAD_BYTES:
            message = _("The file is %(size).1f MB; the largest accepted is %(limit).0f MB.") % {
                "size": uploaded_file.size / (1024 * 1024),
                "limit": settings.LINLI_MAX_UPLOAD_BYTES / (1024 * 1024),
            }
            raise ValidationFailed(message, details={"file": [message]})
        if not name.lower().endswith((".csv", ".xlsx")):
            message = _("Upload the bank's return file as .xlsx or .csv.")
            raise ValidationFailed(message, details={"file": [message]})
        bank_return = BankReturn(cycle=cycle, original_name=name, imported_by=actor)
        bank_return.file.save(name, uploaded_file, save=False)
        try:
            rows = bankfiles.read_return(bank_return.file.path, name)
        except ValidationFailed:
            bank_return.file.delete(save=False)
            raise
        expected = {r.account: r for r in bank_rows(cycle)}
        result = bankfiles.check_return(rows, expected)
        bank_return.errors = [p.as_dict() for p in result.problems]
        if result.problems:
            bank_return.save()
            audit.record(
                actor=actor,
                action=AuditAction.IMPORT,
                instance=cycle,
                label=str(cycle),
                place_path=jurisdiction_path(actor),
                changes={"file": name, "accepted": False, "bad_rows": len(result.problems)},
            )
        else:
            _reconcile(actor, cycle, bank_return, result)
    if not bank_return.accepted:
        raise BankReturnRefused(bank_return)
    return bank_return


def _reconcile(
    actor: User, cycle: PaymentCycle, bank_return: BankReturn, result: bankfiles.ReturnCheck
) -> None:
    pending = Payment.objects.filter(cycle=cycle, status=PaymentStatus.PENDING)
    by_reason: dict[str, list[str]] = defaultdict(list)
    for account, reason in result.failed.items():
        by_reason[reason[:200]].append(account)
    for reason, accounts in by_reason.items():
        for start in range(0, len(accounts), IN_LIST_CHUNK):
            pending.filter(account_number__in=accounts[start : start + IN_LIST_CHUNK]).update(
                status=PaymentStatus.FAILED, failure_reason=reason
            )
    pending.filter(account_number="", amount__gt=0).update(
        status=PaymentStatus.FAILED, failure_reason=_("No bank account on record")
    )
    newly_paid = list(
        pending.filter(recovery_deducted__gt=0).values_list("benefit_id", "recovery_deducted")
    )
    # Every other pending payment was in the file and paid, or had nothing to transfer.
    paid = pending.update(status=PaymentStatus.PAID)
    _book_recoveries(newly_paid)
    failed = cycle.payments.filter(status=PaymentStatus.FAILED).count()
    bank_return.paid = paid
    bank_return.failed = failed
    bank_return.accepted = True
    bank_return.save()
    cycle.state = CycleState.RECONCILED
    cycle.save(update_fields=["state"])
    audit.record(
        actor=actor,
        action=AuditAction.IMPORT,
        instance=cycle,
        label=str(cycle),
        place_path=jurisdiction_path(actor),
        changes={
            "state": [CycleState.EXPORTED, CycleState.RECONCILED],
            "file": bank_return.original_name,
            "accepted": True,
            "rows": len(result.paid) + len(result.failed),
            "paid": paid,
            "failed": failed,
        },
    )


def _book_recoveries(withheld: list[tuple[int, Decimal]]) -> None:
    """What paid payments withheld advances their benefits' recoveries, oldest first."""
    by_benefit: dict[int, Decimal] = defaultdict(Decimal)
    for benefit_id, amount in withheld:
        by_benefit[benefit_id] += amount
    if not by_benefit:
        return
    changed = []
    for recovery in (
        Recovery.objects.select_for_update()
        .filter(benefit_id__in=list(by_benefit), recovered__lt=F("amount"))
        .order_by("benefit_id", "created_at", "id")
    ):
        left = by_benefit[recovery.benefit_id]
        take = min(left, recovery.amount - recovery.recovered)
        if take > 0:
            recovery.recovered += take
            by_benefit[recovery.benefit_id] = left - take
            changed.append(recovery)
    Recovery.objects.bulk_update(changed, ["recovered"], batch_size=1000)


# ---------------------------------------------------------------------------------------------
# Selectors


@dataclass(frozen=True)
class CycleFilter:
    program: str = ""
    state: str = ""
    street_id: int | None = None
    month: dt.date | None = None


def cycle_list(*, actor: User, filters: CycleFilter | None = None) -> QuerySet[PaymentCycle]:
    filters = filters or CycleFilter()
    qs = PaymentCycle.objects.restrict(actor).select_related("street", "prepared_by", "approved_by")
    if filters.program:
        qs = qs.filter(program=filters.program)
    if filters.state:
        qs = qs.filter(state=filters.state)
    if filters.street_id:
        qs = qs.filter(street_id=filters.street_id)
    if filters.month:
        qs = qs.filter(month=filters.month)
    return qs.order_by("-month", "street__code", "program", "-id")


def cycles_to_approve(*, actor: User) -> QuerySet[PaymentCycle]:
    """Cycles in review that this person may approve: the checker is never the preparer."""
    if not actor.has_perm_code(Perm.ASSISTANCE_APPROVE_PAYMENT):
        return PaymentCycle.objects.none()
    return cycle_list(actor=actor, filters=CycleFilter(state=CycleState.REVIEW)).exclude(
        prepared_by=actor
    )


def cycle_get(*, actor: User, cycle_id: Any) -> PaymentCycle:
    return PaymentCycle.objects.select_related("street", "prepared_by", "approved_by").get_for(
        actor, cycle_id
    )


@dataclass(frozen=True)
class PaymentFilter:
    status: str = ""
    community_id: int | None = None
    without_account: bool = False
    name: str = ""


def cycle_payments(
    *, actor: User, cycle: PaymentCycle, filters: PaymentFilter | None = None
) -> QuerySet[Payment]:
    """The cycle's payments the actor may see (all of them for the street's officers)."""
    filters = filters or PaymentFilter()
    qs = Payment.objects.restrict(actor).filter(cycle=cycle).select_related("recipient")
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.without_account:
        qs = qs.filter(account_number="")
    if filters.community_id:
        community = Place.objects.filter(
            pk=filters.community_id, path__startswith=cycle.street.path
        ).first()
        if community is None:
            raise NotFound()
        qs = qs.filter(place_path__under=community.path)
    if filters.name:
        qs = qs.filter(recipient__name__startswith=filters.name)
    return qs.order_by("place_path", "id")


@dataclass
class CommunityTotals:
    path: str
    name: str
    count: int = 0
    amount: Decimal = Decimal("0")
    without_account: int = 0
    arrears: int = 0
    withheld: Decimal = Decimal("0")
    last_count: int = 0
    last_amount: Decimal = Decimal("0")

    @property
    def count_change(self) -> int:
        return self.count - self.last_count

    @property
    def amount_change(self) -> Decimal:
        return self.amount - self.last_amount


def previous_cycle(cycle: PaymentCycle) -> PaymentCycle | None:
    return PaymentCycle.objects.filter(
        program=cycle.program, street_id=cycle.street_id, month=month_before(cycle.month)
    ).first()


def cycle_totals_by_community(*, actor: User, cycle: PaymentCycle) -> list[CommunityTotals]:
    """Counts and sums per community, payments without an account, arrears paid again, what
    recoveries withheld, and last month's count and sum beside them: one grouped query."""
    last = previous_cycle(cycle)
    length = len(cycle.street.path) + len(cycle.street.code) + 1
    ids = [cycle.pk] + ([last.pk] if last else [])
    rows = (
        Payment.objects.restrict(actor)
        .filter(cycle_id__in=ids)
        .order_by()
        .annotate(community=Substr("place_path", 1, length))
        .values("community", "cycle_id")
        .annotate(
            n=Count("id"),
            amount=Sum("amount"),
            without_account=Count("id", filter=Q(account_number="")),
            arrears=Count("id", filter=Q(month__lt=cycle.month)),
            withheld=Sum("recovery_deducted"),
        )
    )
    names = dict(
        Place.objects.filter(
            path__startswith=cycle.street.path, level=PlaceLevel.COMMUNITY
        ).values_list("path", "name")
    )
    totals: dict[str, CommunityTotals] = {}
    for row in rows:
        path = row["community"]
        entry = totals.setdefault(path, CommunityTotals(path, names.get(path, path)))
        if row["cycle_id"] == cycle.pk:
            entry.count = row["n"]
            entry.amount = row["amount"] or Decimal("0")
            entry.without_account = row["without_account"]
            entry.arrears = row["arrears"]
            entry.withheld = row["withheld"] or Decimal("0")
        else:
            entry.last_count = row["n"]
            entry.last_amount = row["amount"] or Decimal("0")
    return sorted(totals.values(), key=lambda t: t.path)


def account_masked(payment: Payment) -> str:
    return mask_account_number(payment.account_number)


def bank_returns(*, actor: User, cycle: PaymentCycle) -> QuerySet[BankReturn]:
    return BankReturn.objects.filter(cycle=cycle).select_related("imported_by")
