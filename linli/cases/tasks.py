"""Background work of the case loop (django-tasks), registered as periodic system jobs."""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from linli.core.context import acting_from
from linli.core.jobs import system_job


@system_job(every=dt.timedelta(minutes=5))
@task()
def sweep_overdue_cases() -> dict[str, int]:
    """Yellow and red warnings and automatic escalation (see sweep.py)."""
    from .sweep import run_sweep

    with acting_from("task:cases.sweep"):
        run = run_sweep()
    return {
        "run": run.pk,
        "yellow": run.yellow,
        "red": run.red,
        "escalated": run.escalated,
        "summons_overdue": run.summons_overdue,
    }


@system_job(every=dt.timedelta(minutes=1))
@task()
def deliver_notifications() -> int:
    """Send due outbox messages; also enqueued right after each change that wrote some."""
    from .notifications import deliver_outbox

    with acting_from("task:cases.notify"):
        return deliver_outbox()


@system_job(every=dt.timedelta(days=1))
@task()
def delete_orphan_photo_files() -> int:
    """Photo files left by uploads whose transaction rolled back (see photos.py)."""
    from .photos import photo_orphans_delete

    return photo_orphans_delete()
