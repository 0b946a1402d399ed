import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from linli.cases import services
from linli.cases.models import (
    Case,
    CaseEvent,
    Outbox,
    SweepRun,
    Tier,
    WarningLevel,
    WhistleSummons,
)
from linli.cases.sweep import run_sweep
from linli.core.context import acting_from
from linli.core.jobs import registered_jobs
from linli.core.models import AuditEntry, JobSchedule


def set_stage(case, *, warn_in: dt.timedelta, due_in: dt.timedelta, now: dt.datetime):
    Case.objects.filter(pk=case.pk).update(stage_warn_at=now + warn_in, stage_deadline=now + due_in)


def test_the_sweep_warns_escalates_and_writes_the_trail_once(actors, report, taxonomy):
    now = timezone.now()
    H = dt.timedelta(hours=1)
    quiet = report()  # far from its deadline
    set_stage(quiet, warn_in=5 * H, due_in=6 * H, now=now)
    near = report()  # past 80 %
    set_stage(near, warn_in=-H, due_in=H, now=now)
    late = report()  # overdue, at the grid: goes red and up to the community
    set_stage(late, warn_in=-2 * H, due_in=-H, now=now)
    dispatched = report()  # overdue in a department's hands
    services.case_register(actor=actors.grid, case_id=dispatched.pk)
    services.case_dispatch(actor=actors.grid, case_id=dispatched.pk)
    set_stage(dispatched, warn_in=-2 * H, due_in=-H, now=now)
    top = report()  # overdue at the district: red, nowhere higher to go
    Case.objects.filter(pk=top.pk).update(tier=Tier.DISTRICT)
    set_stage(top, warn_in=-2 * H, due_in=-H, now=now)
    closed = report()
    services.case_reject(actor=actors.grid, case_id=closed.pk, reason="重复")
    Case.objects.filter(pk=closed.pk).update(stage_deadline=now - H)
    events_before = CaseEvent.objects.count()

    with acting_from("task:test"):
        run = run_sweep(now)
    assert (run.yellow, run.red, run.escalated) == (1, 3, 2)
    state = {c.pk: (c.warning, c.tier) for c in Case.objects.all()}
    assert state[quiet.pk] == (WarningLevel.NONE, Tier.GRID)
    assert state[near.pk] == (WarningLevel.YELLOW, Tier.GRID)
    assert state[late.pk] == (WarningLevel.RED, Tier.COMMUNITY)
    assert state[dispatched.pk] == (WarningLevel.RED, Tier.COMMUNITY)
    assert state[top.pk] == (WarningLevel.RED, Tier.DISTRICT)
    assert state[closed.pk][0] == WarningLevel.NONE

    late_event = CaseEvent.objects.get(case=late, action="overdue")
    assert late_event.data == {"warning": 2, "tier": [5, 4]} and late_event.actor is None
    assert CaseEvent.objects.get(case=near, action="warning").data == {"warning": 1, "tier": [5, 5]}
    audit = AuditEntry.objects.get(object_id=str(late.pk), source="task:test")
    assert audit.changes == {"warning": [0, 2], "tier": [5, 4]} and audit.actor_label == "system"
    assert AuditEntry.objects.get(object_id=str(top.pk), source="task:test").changes == {
        "warning": [0, 2]
    }
    # The department that holds the dispatched case hears of it; nobody handles the others yet.
    sweep_messages = Outbox.objects.filter(dedupe_key__startswith=f"sweep:{run.pk}:")
    assert sorted(m.recipient.username for m in sweep_messages) == ["cgj1", "cgj2"]
    assert {m.kind for m in sweep_messages} == {"overdue"}
    assert sweep_messages[0].params == {"number": dispatched.number}

    # Idempotent: the same moment again changes and writes nothing.
    again = run_sweep(now)
    assert (again.yellow, again.red, again.escalated) == (0, 0, 0)
    assert CaseEvent.objects.count() == events_before + 4
    # Later, the yellow one goes red; a new stage (after a transition) can warn again.
    later = run_sweep(now + 2 * H)
    assert (later.yellow, later.red) == (0, 1)
    case = services.case_accept(actor=actors.cgj, case_id=dispatched.pk)
    assert case.warning == WarningLevel.RED  # taking it on does not restart the stage
    case = services.case_report_handled(actor=actors.cgj, case_id=dispatched.pk, evidence="好了")
    assert case.warning == WarningLevel.NONE and case.stage_deadline > now


def test_summonses_not_reported_in_are_marked_overdue_once(actors, taxonomy, report):
    case = report(code="SJ0304")
    services.case_register(actor=actors.grid, case_id=case.pk)
    Case.objects.filter(pk=case.pk).update(tier=Tier.DISTRICT)
    services.case_whistle(
        actor=actors.operator,
        case_id=case.pk,
        kind="emergency",
        lead_department_id=taxonomy.dept["CGJ"].pk,
        co_department_ids=[taxonomy.dept["SWJ"].pk],
    )
    services.case_report_in(actor=actors.swj, case_id=case.pk)
    later = timezone.now() + dt.timedelta(hours=1)
    assert run_sweep(later).summons_overdue == 1
    assert run_sweep(later).summons_overdue == 0
    (overdue,) = WhistleSummons.objects.filter(overdue=True)
    assert overdue.is_lead
    assert CaseEvent.objects.filter(case=case, action="report_in_overdue").count() == 1


def run_worker():
    call_command("db_worker", batch=True, no_startup_delay=True, reload=False, stdout=io.StringIO())


# The worker checks its connection between tasks; inside a test's transaction on PostgreSQL it
# would find autocommit off and close it, so this test commits for real.
@pytest.mark.django_db(transaction=True)
def test_periodic_jobs_are_enqueued_when_due_and_run_by_the_worker(
    actors, report, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    def periodic(*args):
        out = io.StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("run_periodic_jobs", *args, stdout=out)
        return out.getvalue()

    late = report()
    Case.objects.filter(pk=late.pk).update(stage_deadline=timezone.now() - dt.timedelta(minutes=1))
    tasks = DBTaskResult.objects.count()  # the report enqueued its notification
    listed = periodic("--list")
    assert "linli.cases.tasks.sweep_overdue_cases\tevery 0:05:00" in listed
    assert "linli.cases.tasks.deliver_notifications\tevery 0:01:00" in listed
    assert "linli.cases.tasks.delete_orphan_photo_files\tevery 1 day, 0:00:00" in listed
    # Other apps register periodic jobs too (people: stale imports): count what is registered.
    jobs = registered_jobs()
    assert "enqueued linli.cases.tasks.sweep_overdue_cases" in periodic()
    assert DBTaskResult.objects.count() == tasks + len(jobs)
    assert periodic() == ""  # nothing is due a moment later
    run_worker()
    assert Case.objects.get(pk=late.pk).warning == WarningLevel.RED
    assert SweepRun.objects.count() == 1
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}
    # Due again after its interval; --force and --inline do not wait for the worker.
    JobSchedule.objects.update(last_enqueued_at=timezone.now() - dt.timedelta(minutes=6))
    periodic()
    due_again = sum(job.every <= dt.timedelta(minutes=6) for job in jobs)
    assert DBTaskResult.objects.count() == tasks + len(jobs) + due_again
    assert "ran linli.cases.tasks.deliver_notifications" in periodic("--force", "--inline")
    assert SweepRun.objects.count() == 2
