"""Background work of fund supervision (阳光监管): a run started from the findings page, and the
daily run over the whole registry. Thin: the service does the work and records progress on the
run's row."""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from linli.core.context import acting_from
from linli.core.jobs import system_job

__all__ = ["daily_supervision", "run_supervision"]


@task()
def run_supervision(run_id: int) -> None:
    from .supervision import supervision_run_execute

    with acting_from("task:assistance.supervision"):
        supervision_run_execute(run_id=run_id)


@system_job(every=dt.timedelta(days=1))
@task()
def daily_supervision() -> dict | None:
    """Every check over the whole registry, once a day (skipped while another run is going)."""
    from .supervision import supervision_run_daily

    with acting_from("task:assistance.supervision_daily"):
        run = supervision_run_daily()
    return run.counts if run else None
