"""Background work of hardship signals; thin: load ids, call the service."""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from linli.core.context import acting_from
from linli.core.jobs import system_job

from .signals import signal_import_run, signal_imports_fail_stale, signals_collect

__all__ = ["collect_signals", "fail_stale_signal_imports", "signal_import_run_task"]


@task()
def signal_import_run_task(import_id: int) -> None:
    signal_import_run(import_id=import_id)


@system_job(every=dt.timedelta(hours=1))
@task()
def collect_signals() -> dict[str, int]:
    """Every provider's new hardship signals (the cases loop's, eldercare's) into Signal rows."""
    with acting_from("task:monitoring.collect_signals"):
        return signals_collect()


@system_job(every=dt.timedelta(minutes=5))
@task()
def fail_stale_signal_imports() -> int:
    """Imports whose worker died are marked failed instead of showing progress for ever."""
    with acting_from("task:monitoring.stale_signal_imports"):
        return signal_imports_fail_stale()
