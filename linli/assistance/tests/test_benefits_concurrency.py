"""Races on benefits that only a database with real concurrent writers can show (PostgreSQL):
two repayments at once never recover more than the amount; two stops at once stop once; two
runs of the death re-check create one review."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from linli.assistance import benefits
from linli.assistance.models import Benefit, Recovery, Review
from linli.core.errors import ApplicationError
from linli.core.testing.concurrency import race
from linli.people.models import Person

from .fixtures_benefits import *  # noqa: F403  (the fixtures)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgresql_only"),
]


def test_two_repayments_at_once_never_pass_the_amount(home, staff):
    recovery = Recovery.objects.create(benefit=home.benefit, amount=Decimal("500"), reason="多发")
    outcomes = race(*[
        lambda: benefits.recovery_record_repayment(
            actor=staff.street, recovery_id=recovery.pk, amount="300"
        )
    ] * 2)  # fmt: skip
    refused = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert len(refused) == 1 and refused[0].status == 422
    recovery.refresh_from_db()
    assert recovery.recovered == Decimal("300.00")


def test_two_stops_at_once_stop_once(home, staff):
    outcomes = race(
        lambda: benefits.benefit_stop(actor=staff.street, benefit_id=home.benefit.pk, reason="a"),
        lambda: benefits.benefit_stop(actor=staff.bureau, benefit_id=home.benefit.pk, reason="b"),
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Benefit", "Conflict"]
    assert Benefit.objects.get(pk=home.benefit.pk).status == "stopped"


def test_death_rechecks_run_twice_at_once_create_one_review(home):
    Person.objects.filter(pk=home.child.pk).update(died_on=dt.date(2026, 2, 1))
    race(benefits.schedule_death_rechecks, benefits.schedule_death_rechecks)
    assert Review.objects.filter(benefit=home.benefit).count() == 1
