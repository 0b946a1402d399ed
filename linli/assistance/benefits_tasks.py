"""Periodic jobs of benefits' dynamic management (动态管理): reviews falling due, deaths to
re-check, pledges to verify, gradual exits ending, overdue reviews turning red. Each is thin,
set-based and idempotent (see assistance.benefits); run twice, the second run changes nothing."""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from linli.core.context import acting_from
from linli.core.jobs import system_job

__all__ = [
    "end_benefit_gradual_exits",
    "mark_overdue_benefit_reviews",
    "schedule_benefit_reviews",
]


@system_job(every=dt.timedelta(hours=6))
@task()
def schedule_benefit_reviews() -> dict[str, int]:
    """Periodic reviews (年审), death re-checks and credit-pledge verifications falling due."""
    from linli.assistance import benefits

    with acting_from("task:assistance.reviews"):
        periodic = benefits.schedule_periodic_reviews()
        deaths = benefits.schedule_death_rechecks()
        pledges = benefits.schedule_credit_verifications()
    return {
        "periodic": periodic.created,
        "dated": periodic.details.get("dated", 0),
        "death": deaths.created,
        "stopped_for_death": deaths.stopped,
        "verification": pledges.created,
    }


@system_job(every=dt.timedelta(hours=6))
@task()
def end_benefit_gradual_exits() -> dict[str, int]:
    """Stop the benefits whose gradual exit (渐退) has run out."""
    from linli.assistance import benefits

    with acting_from("task:assistance.gradual_exit"):
        return benefits.end_gradual_exits().as_dict()


@system_job(every=dt.timedelta(hours=1))
@task()
def mark_overdue_benefit_reviews() -> dict[str, int]:
    """Open reviews past their date turn red."""
    from linli.assistance import benefits

    with acting_from("task:assistance.overdue_reviews"):
        return benefits.mark_overdue_reviews().as_dict()
