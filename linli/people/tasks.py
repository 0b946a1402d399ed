"""Background work of the registry; thin: load ids, call the service."""

from django_tasks import task

from .imports import import_job_run


@task()
def import_job_run_task(job_id: int) -> None:
    import_job_run(job_id=job_id)
