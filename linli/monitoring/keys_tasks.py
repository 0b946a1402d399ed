"""Periodic job of key households (重点户): follow-ups past their date are marked overdue (and
unmarked once recorded). Thin, set-based and idempotent (see monitoring.keys): run twice, the
second run changes nothing."""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from linli.core.context import acting_from
from linli.core.jobs import system_job

__all__ = ["mark_overdue_key_follow_ups"]


@system_job(every=dt.timedelta(hours=1))
@task()
def mark_overdue_key_follow_ups() -> dict[str, int]:
    """Key-household follow-ups past their date turn red; returns what it marked and counted."""
    from linli.monitoring import keys

    with acting_from("task:monitoring.key_follow_ups"):
        return keys.mark_overdue_follow_ups()
