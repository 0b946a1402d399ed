"""Background work of the registry; thin: load ids, call the service."""

import datetime as dt

from django_tasks import task

from linli.core.context import acting_from
from linli.core.jobs import system_job

from .imports import import_job_run, import_jobs_fail_stale


@task()
def import_job_run_task(job_id: int) -> None:
    import_job_run(job_id=job_id)


@system_job(every=dt.timedelta(minutes=5))
@task()
def fail_stale_imports() -> int:
    """Imports whose worker died are marked failed instead of showing progress for ever."""
    with acting_from("task:people.stale_imports"):
        return import_jobs_fail_stale()
