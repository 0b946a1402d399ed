"""Races of payment cycles that only real concurrent writers show (PostgreSQL)."""

from __future__ import annotations

import pytest

from linli.assistance import payments
from linli.assistance.models import CycleState, Payment, PaymentCycle
from linli.core.errors import ApplicationError
from linli.core.testing.concurrency import race

from .fixtures_payments import *  # noqa: F403  (the fixtures)
from .fixtures_payments import (
    MONTH,
    make_benefit,
    make_recipient,
    start_and_generate,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgresql_only"),
]


def test_two_workers_generating_one_cycle_pay_each_recipient_once(town, people):
    for building in people.buildings:
        for _ in range(20):
            make_benefit(make_recipient(building))
    cycle = payments.cycle_start(
        actor=people.maker, program="minimum_living", street_id=town.street.pk, month=MONTH
    )
    outcomes = race(
        lambda: payments.cycle_generate(cycle_id=cycle.pk),
        lambda: payments.cycle_generate(cycle_id=cycle.pk),
    )
    assert all(isinstance(o, PaymentCycle) for o in outcomes)
    cycle.refresh_from_db()
    assert cycle.state == CycleState.REVIEW
    assert Payment.objects.count() == 40 == cycle.payment_count
    assert Payment.objects.values("recipient_id").distinct().count() == 40


def test_approving_twice_at_once_approves_once(town, people):
    make_benefit(make_recipient(town.building))
    cycle = start_and_generate(people.maker, town.street)
    outcomes = race(
        lambda: payments.cycle_approve(actor=people.checker, cycle_id=cycle.pk),
        lambda: payments.cycle_approve(actor=people.checker2, cycle_id=cycle.pk),
    )
    winners = [o for o in outcomes if isinstance(o, PaymentCycle)]
    losers = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert len(winners) == 1 and len(losers) == 1 and losers[0].status == 409
    cycle.refresh_from_db()
    assert cycle.state == CycleState.APPROVED
    assert cycle.approved_by == winners[0].approved_by


def test_two_officers_starting_one_cycle_at_once_open_one(town, people):
    def start(actor):
        return lambda: payments.cycle_start(
            actor=actor, program="minimum_living", street_id=town.street.pk, month=MONTH
        )

    outcomes = race(start(people.maker), start(people.checker))
    assert sum(isinstance(o, PaymentCycle) for o in outcomes) == 1
    assert PaymentCycle.objects.count() == 1
