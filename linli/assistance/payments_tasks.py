"""Background work of payment cycles; thin: call the service."""

import datetime as dt

from django_tasks import task

from linli.core.context import acting_from
from linli.core.jobs import system_job

__all__ = ["cycle_generate_task", "fail_stale_payment_cycles"]


@task()
def cycle_generate_task(cycle_id: int) -> None:
    from .payments import cycle_generate

    cycle_generate(cycle_id=cycle_id)


@system_job(every=dt.timedelta(minutes=5))
@task()
def fail_stale_payment_cycles() -> int:
    """Generations whose worker died are marked failed (and resumable) instead of showing
    progress for ever."""
    from .payments import cycles_fail_stale

    with acting_from("task:assistance.stale_cycles"):
        return cycles_fail_stale()
