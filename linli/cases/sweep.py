"""The overdue sweep (超期预警): yellow, red and escalation by itself, as set-based SQL.

One pass, in one transaction:

1. Red: every open case whose stage deadline has passed and is not red yet turns red, and its
   tier moves one up (grid → community → street → district) — supervision passes up while the
   handler keeps the work. One UPDATE.
2. Yellow: every open case past its warning moment (80 % of the stage, see workdays) and not
   yet warned turns yellow. One UPDATE.
3. The rows changed by this run (marked with its id, their previous warning and tier kept
   beside them) get their timeline events, audit entries and outbox messages for the handler
   with INSERT … SELECT: no Python loop over cases.
4. Whistle summonses past their report-in deadline are marked overdue.

It is idempotent: a case is only picked while its warning is below the level it would get, so
running twice (or two workers at once: the second UPDATE waits on the first's row locks, then
re-checks the condition) changes nothing more. A transition that starts a new stage resets the
warning, so each stage can warn and escalate once.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, models, transaction
from django.db.models import F, Q, When
from django.utils import timezone

from linli.core.audit import record_many
from linli.core.context import current_source
from linli.core.models import AuditAction, AuditEntry, User

from .models import (
    TIMED_STATES,
    Case,
    CaseEvent,
    Outbox,
    SweepRun,
    Tier,
    WarningLevel,
    WhistleSummons,
)


def _json(sql: str) -> str:
    """A text expression stored into a JSON column (PostgreSQL wants jsonb)."""
    return f"CAST({sql} AS jsonb)" if connection.vendor == "postgresql" else sql


def _dt(value: dt.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def run_sweep(now: dt.datetime | None = None) -> SweepRun:
    now = now or timezone.now()
    with transaction.atomic():
        run = SweepRun.objects.create(now=now)
        open_rows = Case.objects.filter(state__in=TIMED_STATES)
        red = open_rows.filter(warning__lt=WarningLevel.RED, stage_deadline__lte=now).update(
            sweep_run=run.pk,
            sweep_prev_warning=F("warning"),
            sweep_prev_tier=F("tier"),
            warning=WarningLevel.RED,
            tier=models.Case(
                When(tier__gt=Tier.DISTRICT, then=F("tier") - 1),
                default=F("tier"),
                output_field=models.PositiveSmallIntegerField(),
            ),
            escalation_count=models.Case(
                When(tier__gt=Tier.DISTRICT, then=F("escalation_count") + 1),
                default=F("escalation_count"),
                output_field=models.PositiveSmallIntegerField(),
            ),
        )
        yellow = open_rows.filter(
            warning=WarningLevel.NONE, stage_warn_at__lte=now, stage_deadline__gt=now
        ).update(
            sweep_run=run.pk,
            sweep_prev_warning=F("warning"),
            sweep_prev_tier=F("tier"),
            warning=WarningLevel.YELLOW,
        )
        escalated = messages = 0
        if red or yellow:
            escalated = (
                Case.objects.filter(sweep_run=run.pk, warning=WarningLevel.RED)
                .exclude(tier=F("sweep_prev_tier"))
                .count()
            )
            _write_events(run, now)
            _write_audit(run, now)
            messages = _write_outbox(run, now)
        summons = _mark_summons(run, now)
        run.yellow, run.red, run.escalated, run.summons_overdue = yellow, red, escalated, summons
        run.finished_at = timezone.now()
        run.save(update_fields=["yellow", "red", "escalated", "summons_overdue", "finished_at"])
    if messages:
        transaction.on_commit(_enqueue_delivery)
    return run


def _enqueue_delivery() -> None:
    from .notifications import enqueue_delivery

    enqueue_delivery()


_KIND = "CASE WHEN c.warning = 2 THEN 'overdue' ELSE 'warning' END"


def _write_events(run: SweepRun, now: dt.datetime) -> None:
    data = _json(
        "'{\"warning\": ' || c.warning || ', \"tier\": [' || c.sweep_prev_tier || ', ' "
        "|| c.tier || ']}'"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {CaseEvent._meta.db_table}
                (case_id, at, actor_id, action, from_state, to_state, note, data)
            SELECT c.id, %s, NULL, {_KIND}, c.state, c.state, '', {data}
            FROM {Case._meta.db_table} c WHERE c.sweep_run = %s
            """,
            [_dt(now), run.pk],
        )


def _write_audit(run: SweepRun, now: dt.datetime) -> None:
    changes = _json(
        "'{\"warning\": [' || c.sweep_prev_warning || ', ' || c.warning || ']' || "
        "CASE WHEN c.tier <> c.sweep_prev_tier "
        "THEN ', \"tier\": [' || c.sweep_prev_tier || ', ' || c.tier || ']' ELSE '' END || '}'"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {AuditEntry._meta.db_table}
                (at, actor_id, actor_label, source, action, object_type, object_id,
                 object_label, place_path, changes)
            SELECT %s, NULL, 'system', %s, %s, %s, CAST(c.id AS TEXT), c.number, c.place_path,
                   {changes}
            FROM {Case._meta.db_table} c WHERE c.sweep_run = %s
            """,
            [
                _dt(now),
                current_source()[:64],
                AuditAction.UPDATE.value,
                Case._meta.label_lower,
                run.pk,
            ],
        )


def _write_outbox(run: SweepRun, now: dt.datetime) -> int:
    """The handler hears of the warning; before anyone took the case on, its department's
    handlers do. (The reporter is told of changes of state, not of internal deadlines.)"""
    params = _json("'{\"number\": \"' || c.number || '\"}'")
    columns = (
        "created_at, channel, recipient_id, phone, case_id, kind, params, dedupe_key, status, "
        "attempts, next_attempt_at, sent_at, last_error"
    )
    # USER is the recipient column; str.format would trip over the JSON braces.
    select = (
        f"SELECT %s, 'wechat', USER, '', c.id, {_KIND}, {params}, "
        "'sweep:' || %s || ':' || c.id || ':' || USER, 'pending', 0, %s, NULL, ''"
    )
    members = User.departments.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Outbox._meta.db_table} ({columns}) "
            + select.replace("USER", "c.handler_id")
            + f" FROM {Case._meta.db_table} c WHERE c.sweep_run = %s AND c.handler_id IS NOT NULL",
            [_dt(now), str(run.pk), _dt(now), run.pk],
        )
        written = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {Outbox._meta.db_table} ({columns}) "
            + select.replace("USER", "m.user_id")
            + f""" FROM {Case._meta.db_table} c
                JOIN {members} m ON m.department_id = c.department_id
                JOIN {User._meta.db_table} u ON u.id = m.user_id AND u.is_active = %s
                WHERE c.sweep_run = %s AND c.handler_id IS NULL""",
            [_dt(now), str(run.pk), _dt(now), True, run.pk],
        )
        return written + cursor.rowcount


def _mark_summons(run: SweepRun, now: dt.datetime) -> int:
    due = WhistleSummons.objects.filter(
        Q(reported_in_at__isnull=True), overdue=False, report_in_by__lte=now
    )
    rows = list(
        due.values_list("pk", "whistle__case_id", "department__name", "whistle__case__place_path")
    )
    if not rows:
        return 0
    WhistleSummons.objects.filter(pk__in=[r[0] for r in rows]).update(overdue=True)
    CaseEvent.objects.bulk_create(
        [
            CaseEvent(
                case_id=case_id,
                at=now,
                action="report_in_overdue",
                data={"department": name, "sweep": run.pk},
            )
            for _pk, case_id, name, _path in rows
        ]
    )
    source = current_source()[:64]
    record_many(
        [
            AuditEntry(
                at=now,
                actor_label="system",
                source=source,
                action=AuditAction.UPDATE,
                object_type=WhistleSummons._meta.label_lower,
                object_id=str(pk),
                object_label=name,
                place_path=path,
                changes={"overdue": [False, True]},
            )
            for pk, _case_id, name, path in rows
        ]
    )
    return len(rows)
