"""Races that only a database with real concurrent writers can show (PostgreSQL)."""

import datetime as dt

import pytest
from django.utils import timezone

from linli.cases import services
from linli.cases.models import Case, CaseEvent, CaseState, SweepRun, WarningLevel
from linli.cases.sweep import run_sweep
from linli.core.errors import ApplicationError
from linli.core.testing.concurrency import race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgresql_only"),
]


def test_two_handlers_accepting_at_once_exactly_one_wins(actors, report):
    case = report()
    services.case_register(actor=actors.grid, case_id=case.pk)
    services.case_dispatch(actor=actors.grid, case_id=case.pk)
    outcomes = race(
        lambda: services.case_accept(actor=actors.cgj, case_id=case.pk),
        lambda: services.case_accept(actor=actors.cgj2, case_id=case.pk),
    )
    winners = [o for o in outcomes if isinstance(o, Case)]
    losers = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].status == 409
    case.refresh_from_db()
    assert (case.state, case.handler) == (CaseState.IN_HAND, winners[0].handler)
    assert CaseEvent.objects.filter(case=case, action="accept").count() == 1


def test_resends_racing_with_one_idempotency_key_store_one_report(actors, report):
    outcomes = race(*[lambda: report(idempotency_key="offline-7")] * 4)
    assert all(isinstance(o, Case) for o in outcomes)
    assert len({o.pk for o in outcomes}) == 1
    assert sum(not o.is_replay for o in outcomes) == 1
    assert Case.objects.count() == 1


def test_two_sweeps_at_once_warn_each_case_once(actors, report):
    cases = [report() for _ in range(20)]
    now = timezone.now()
    Case.objects.update(stage_deadline=now - dt.timedelta(minutes=1))
    outcomes = race(lambda: run_sweep(now), lambda: run_sweep(now))
    assert sorted(run.red for run in outcomes) == [0, 20]
    assert Case.objects.filter(warning=WarningLevel.RED, tier=4).count() == len(cases)
    assert CaseEvent.objects.filter(action="overdue").count() == len(cases)
    assert SweepRun.objects.count() == 2
