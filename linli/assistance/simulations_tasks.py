"""Background work of policy simulation; thin: load the id, call the service."""

import datetime as dt

from django_tasks import task

from linli.core.context import acting_from
from linli.core.jobs import system_job

from .simulations import simulation_run, simulations_fail_stale

__all__ = ["fail_stale_simulations", "simulation_run_task"]


@task()
def simulation_run_task(simulation_id: int) -> None:
    with acting_from(f"task:assistance.simulation:{simulation_id}"):
        simulation_run(simulation_id=simulation_id)


@system_job(every=dt.timedelta(minutes=5))
@task()
def fail_stale_simulations() -> int:
    """Simulations whose worker died are marked failed instead of showing progress for ever."""
    with acting_from("task:assistance.stale_simulations"):
        return simulations_fail_stale()
