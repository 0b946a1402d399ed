"""Periodic jobs of the applications: public notices that are over move on to the decision;
applications past their stage's time limit are marked overdue. Both are idempotent: a rerun
finds only what is left to do."""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from linli.core.context import acting_from
from linli.core.jobs import system_job

__all__ = ["end_public_notices", "mark_overdue_applications"]


@system_job(every=dt.timedelta(hours=1))
@task()
def end_public_notices() -> int:
    """In public notice past its last day → awaiting the decision (assessed again)."""
    from .applications import notices_end

    with acting_from("task:assistance.notices"):
        return notices_end()


@system_job(every=dt.timedelta(hours=1))
@task()
def mark_overdue_applications() -> int:
    """Stamp the applications newly past their stage's time limit."""
    from .applications import overdue_mark

    with acting_from("task:assistance.overdue"):
        return overdue_mark()
