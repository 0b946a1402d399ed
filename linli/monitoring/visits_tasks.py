"""Background work of home visits (入户走访); thin and idempotent (see monitoring.visits): open
alerts without a visit get one (after a screening round, and every quarter of an hour for
alerts raised otherwise), and pending visits past their deadline are marked overdue."""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from linli.core.context import acting_from
from linli.core.jobs import system_job

__all__ = ["create_visits_for_open_alerts", "mark_overdue_visits", "visits_create_task"]


@task()
def visits_create_task() -> dict[str, int]:
    """Enqueued (transaction.on_commit) when a screening round has finished."""
    from linli.monitoring import visits

    with acting_from("task:monitoring.visits_create"):
        return visits.visits_create_for_open_alerts()


@system_job(every=dt.timedelta(minutes=15))
@task()
def create_visits_for_open_alerts() -> dict[str, int]:
    """Home visits for open alerts that have none; unassigned ones get the grid worker now
    there."""
    from linli.monitoring import visits

    with acting_from("task:monitoring.visits_create"):
        return visits.visits_create_for_open_alerts()


@system_job(every=dt.timedelta(hours=1))
@task()
def mark_overdue_visits() -> dict[str, int]:
    """Pending home visits past their deadline are marked overdue (and unmarked when
    rescheduled)."""
    from linli.monitoring import visits

    with acting_from("task:monitoring.visits_overdue"):
        return visits.mark_overdue()
