"""Races only a database with real concurrent writers can show (PostgreSQL): two rounds of one
place started at once — one runs, the other is refused with a clear message; two screenings
at once never duplicate an alert."""

from __future__ import annotations

import pytest

from linli.core.errors import Conflict
from linli.core.testing.concurrency import race
from linli.monitoring.models import Alert, ScreeningRound
from linli.monitoring.screening import round_start, screen

from .fixtures_screening import *  # noqa: F403  (the fixtures)
from .fixtures_screening import AS_OF, household, person, record

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgresql_only"),
]


def test_two_rounds_of_one_place_at_once(town, screener, rules):
    outcomes = race(
        lambda: round_start(actor=screener, place_id=town.district.pk, as_of=AS_OF),
        lambda: round_start(actor=screener, place_id=town.district.pk, as_of=AS_OF),
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "ScreeningRound"]
    refused = next(o for o in outcomes if isinstance(o, Conflict))
    assert refused.code == "round_running" and refused.status == 409
    assert ScreeningRound.objects.count() == 1


def test_two_screenings_at_once_open_each_alert_once(town, policies, rules):
    for _ in range(5):
        h = household(town.building)
        record(person(h), "business", 300)
    race(
        lambda: screen(place_path=town.district.path, as_of=AS_OF),
        lambda: screen(place_path=town.district.path, as_of=AS_OF),
    )
    assert Alert.objects.filter(rule_code="marginal-income", state="open").count() == 5
