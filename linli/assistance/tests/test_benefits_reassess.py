"""Amounts re-assessed by the engine on today's registry and policy, and the gradual exit
(渐退) when a review finds income above the standard, through to its end."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from linli.assistance import benefits
from linli.assistance.models import (
    Benefit,
    BenefitStatus,
    PolicySet,
    PolicyVersion,
    Review,
    ReviewKind,
    ReviewOutcome,
)
from linli.assistance.policy import demo_parameters
from linli.core.errors import ApplicationError, Conflict
from linli.core.models import AuditEntry

from .fixtures_benefits import *  # noqa: F403  (the fixtures)
from .fixtures_benefits import add_income, make_benefit, make_household

pytestmark = pytest.mark.django_db


def reload(benefit):
    return Benefit.objects.get(pk=benefit.pk)


def income_rise(benefit) -> Review:
    return Review.objects.create(
        benefit=benefit, kind=ReviewKind.INCOME_RISE, due_on=dt.date(2026, 4, 1)
    )


def test_the_amount_is_reassessed_by_the_engine(home, staff, policy):
    add_income(home.child, "wage", "600")
    newer = PolicyVersion.objects.create(
        policy_set=policy.policy_set,
        valid_from=dt.date(2026, 3, 1),
        parameters=demo_parameters(rural=False).as_json(),
    )
    benefit = benefits.benefit_change_amount(
        actor=staff.street, benefit_id=home.benefit.pk, reason="儿子就业"
    )
    # 800 × 2 members − (600 wage − 120 employment cost).
    assert benefit.monthly_amount == Decimal("1120.00")
    assert benefit.classification == "household"
    assert benefit.policy_version == newer
    (entry,) = AuditEntry.objects.for_object(benefit)
    assert entry.changes["monthly_amount"] == ["1600.00", "1120.00"]


def test_no_longer_eligible_is_refused_with_the_way_out(home, staff):
    add_income(home.head, "wage", "2000")
    with pytest.raises(Conflict) as refused:
        benefits.benefit_change_amount(actor=staff.street, benefit_id=home.benefit.pk, reason="x")
    assert refused.value.code == "not_eligible"
    assert "gradual exit" in refused.value.message
    assert reload(home.benefit).monthly_amount == Decimal("1600.00")


def test_a_reassessed_review_keeps_the_engines_answer(home, staff):
    add_income(home.child, "wage", "600")
    review = income_rise(home.benefit)
    benefits.review_complete(actor=staff.street, review_id=review.pk, outcome="reassessed")
    review.refresh_from_db()
    assert review.assessment["results"]["minimum_living"]["monthly_amount"] == "1120.00"
    assert reload(home.benefit).monthly_amount == Decimal("1120.00")


def test_income_above_the_standard_phases_out_then_stops(home, staff, clock):
    add_income(home.head, "wage", "2000")
    review = income_rise(home.benefit)
    benefits.review_complete(
        actor=staff.street, review_id=review.pk, outcome=ReviewOutcome.PHASE_OUT,
        note="户主再就业, 收入超过标准",
    )  # fmt: skip
    benefit = reload(home.benefit)
    assert benefit.status == BenefitStatus.PHASING_OUT
    assert benefit.phase_out_until == dt.date(2026, 9, 1)  # six months after March
    assert benefit.monthly_amount == Decimal("1600.00")  # paid on unchanged meanwhile
    review.refresh_from_db()
    assert review.assessment["per_capita"] == "850.00"  # (2000 − 300) ÷ 2
    clock.move_to(dt.datetime(2026, 9, 30, 12, 0, tzinfo=dt.UTC))
    assert benefits.end_gradual_exits().stopped == 0
    clock.move_to(dt.datetime(2026, 10, 1, 2, 0, tzinfo=dt.UTC))
    assert benefits.end_gradual_exits().stopped == 1
    benefit = reload(benefit)
    assert (benefit.status, benefit.end_month) == (BenefitStatus.STOPPED, dt.date(2026, 9, 1))


def test_eligible_again_during_the_gradual_exit_is_active_again(home, staff):
    Benefit.objects.filter(pk=home.benefit.pk).update(
        status=BenefitStatus.PHASING_OUT, phase_out_until=dt.date(2026, 8, 1)
    )
    review = income_rise(home.benefit)
    benefits.review_complete(actor=staff.street, review_id=review.pk, outcome="reassessed")
    benefit = reload(home.benefit)
    assert (benefit.status, benefit.phase_out_until) == (BenefitStatus.ACTIVE, None)
    assert benefit.monthly_amount == Decimal("1600.00")


def test_a_gradual_exit_needs_income_above_the_standard(home, staff, town, policy):
    review = income_rise(home.benefit)
    with pytest.raises(Conflict) as refused:
        benefits.review_complete(actor=staff.street, review_id=review.pk, outcome="phase_out")
    assert refused.value.code == "still_eligible"
    # Not eligible for its savings, not its income: a stop, not a gradual exit.
    household, (rich, _c) = make_household(town.building)
    from linli.people.models import FinancialRecord

    FinancialRecord.objects.create(
        person=rich, category="asset", kind="savings", amount=Decimal("90000"),
        valid_from=dt.date(2025, 1, 1),
    )  # fmt: skip
    saver = make_benefit(household, rich, policy)
    with pytest.raises(Conflict) as refused:
        benefits.review_complete(
            actor=staff.street, review_id=income_rise(saver).pk, outcome="phase_out"
        )
    assert refused.value.code == "income_below_standard"
    assert reload(saver).status == BenefitStatus.ACTIVE


def test_extreme_poverty_has_no_gradual_exit(policy, staff, town, clock):
    household, (person, _c) = make_household(town.building)
    benefit = make_benefit(household, person, policy, program="extreme_poverty")
    with pytest.raises(Conflict) as refused:
        benefits.review_complete(
            actor=staff.street, review_id=income_rise(benefit).pk, outcome="phase_out"
        )
    assert refused.value.code == "no_gradual_exit"


def test_no_policy_for_the_household_is_a_clear_error(staff, town, policy, clock):
    household, (person, _c) = make_household(town.building)
    household.registration = "rural"
    household.save()
    benefit = make_benefit(household, person, policy)
    assert not PolicySet.objects.filter(registration="rural").exists()
    with pytest.raises(ApplicationError) as refused:
        benefits.benefit_change_amount(actor=staff.street, benefit_id=benefit.pk, reason="x")
    assert refused.value.status == 422
