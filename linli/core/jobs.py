"""A small registry of periodic system jobs (定时任务), until linli/core grows one.

A job is a django-tasks Task registered with `@system_job(every=…)` in any app's tasks.py.
`run_due_jobs()` — called by `linli run_periodic_jobs` from cron or in its own loop — enqueues
each job whose interval has passed. The schedule row is locked while deciding, so several
runners (one per server, say) still enqueue a job once per interval.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules
from django_tasks.base import Task

from .models import JobSchedule


@dataclass(frozen=True)
class SystemJob:
    name: str
    task: Task
    every: dt.timedelta


_registry: dict[str, SystemJob] = {}


def system_job(*, every: dt.timedelta, name: str | None = None):
    """Decorator for a Task: run it every `every` (at the next `run_periodic_jobs` after)."""

    def register(task_obj: Task) -> Task:
        job_name = name or task_obj.module_path
        _registry[job_name] = SystemJob(job_name, task_obj, every)
        return task_obj

    return register


def registered_jobs() -> list[SystemJob]:
    autodiscover_modules("tasks")
    return sorted(_registry.values(), key=lambda job: job.name)


def run_due_jobs(
    *, now: dt.datetime | None = None, inline: bool = False, force: bool = False
) -> list[str]:
    """Enqueue (or, inline, run here) every job that is due; returns their names."""
    now = now or timezone.now()
    done: list[str] = []
    for job in registered_jobs():
        with transaction.atomic():
            JobSchedule.objects.get_or_create(name=job.name)
            schedule = JobSchedule.objects.select_for_update().get(name=job.name)
            if not (force or schedule.is_due(now, job.every)):
                continue
            schedule.last_enqueued_at = now
            schedule.save(update_fields=["last_enqueued_at"])
            if not inline:
                transaction.on_commit(job.task.enqueue)
        if inline:
            job.task.call()
        done.append(job.name)
    return done
