"""Races on home visits that only a database with real concurrent writers can show
(PostgreSQL): a record resent while the first is being stored lands once; two different
records at once for one visit: one closes it, the other is refused; two tries that find nobody
count twice, never lost; two creation runs at once make one visit per alert."""

from __future__ import annotations

import datetime as dt

import pytest

from linli.core.testing.concurrency import race
from linli.monitoring import visits
from linli.monitoring.models import Alert, HomeVisit, Severity, VisitRecord

from .fixtures_visits import *  # noqa: F403  (the fixtures)
from .fixtures_visits import NOW, make_alert, make_household, make_visit

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgresql_only", "clock"),
]


def _send(actor, visit, key, outcome="no_risk"):
    return lambda: visits.visit_record(
        actor=actor,
        visit_id=visit.pk,
        idempotency_key=key,
        visited_at=NOW - dt.timedelta(hours=1),
        met="户主" if outcome != "unreachable" else "",
        findings="走访",
        outcome=outcome,
    )


@pytest.fixture
def visit(town, homes, rules, staff):
    return make_visit(make_alert(homes.mine, rules[Severity.HIGH]), town.grid, staff.grid)


def test_a_record_resent_at_once_lands_once(visit, staff):
    send = _send(staff.grid, visit, "race-visit-1")
    outcomes = race(send, send, send)
    assert len({o.pk for o in outcomes}) == 1
    assert VisitRecord.objects.count() == 1
    visit.refresh_from_db()
    assert visit.attempts == 1


def test_two_records_at_once_one_closes_the_other_is_refused(visit, staff):
    outcomes = race(
        _send(staff.grid, visit, "race-visit-a"), _send(staff.community, visit, "race-visit-b")
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "VisitRecord"]
    assert VisitRecord.objects.count() == 1
    assert Alert.objects.get().state == "resolved"


def test_two_tries_at_once_both_count(visit, staff):
    outcomes = race(
        _send(staff.grid, visit, "race-try-a", "unreachable"),
        _send(staff.grid, visit, "race-try-b", "unreachable"),
    )
    assert not any(isinstance(o, Exception) for o in outcomes)
    visit.refresh_from_db()
    assert visit.attempts == 2 and visit.state == "pending"


def test_two_creation_runs_at_once_make_one_visit_per_alert(town, rules, staff):
    for _ in range(20):
        make_alert(make_household(town.building), rules[Severity.MEDIUM])
    outcomes = race(
        lambda: visits.visits_create_for_open_alerts(),
        lambda: visits.visits_create_for_open_alerts(),
    )
    assert not any(isinstance(o, Exception) for o in outcomes), outcomes
    assert HomeVisit.objects.count() == 20
    assert sum(o["created"] for o in outcomes) == 20
