"""Background work of screening rounds; thin: load the id, call the service."""

import datetime as dt

from django_tasks import task

from linli.core.context import acting_from
from linli.core.jobs import system_job

from .screening import round_run, rounds_fail_stale

__all__ = ["fail_stale_rounds", "round_run_task"]


@task()
def round_run_task(round_id: int) -> None:
    with acting_from(f"task:monitoring.round:{round_id}"):
        round_run(round_id=round_id)


@system_job(every=dt.timedelta(minutes=5))
@task()
def fail_stale_rounds() -> int:
    """Rounds whose worker died are marked failed, freeing the place for a new round."""
    with acting_from("task:monitoring.stale_rounds"):
        return rounds_fail_stale()
