"""The periodic jobs of benefits: reviews falling due, death re-checks, pledges to verify,
gradual exits ending, overdue reviews. Each is idempotent: a second run changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from linli.assistance import benefits
from linli.assistance.benefits_tasks import (
    end_benefit_gradual_exits,
    mark_overdue_benefit_reviews,
    schedule_benefit_reviews,
)
from linli.assistance.models import Benefit, BenefitStatus, Review, ReviewKind, ReviewState
from linli.core.models import AuditEntry
from linli.people.models import Person, RecordStatus

from .fixtures_benefits import *  # noqa: F403  (the fixtures)
from .fixtures_benefits import TODAY, make_benefit, make_household

pytestmark = pytest.mark.django_db


def reload(benefit):
    return Benefit.objects.get(pk=benefit.pk)


def die(person: Person, on: dt.date) -> None:
    Person.objects.filter(pk=person.pk).update(status=RecordStatus.DECEASED, died_on=on)


# --- periodic reviews --------------------------------------------------------------------------


def test_periodic_reviews_appear_a_month_ahead_once(home, policy, town):
    Benefit.objects.filter(pk=home.benefit.pk).update(next_review_on=dt.date(2026, 4, 5))
    Benefit.objects.filter(pk=home.other_benefit.pk).update(next_review_on=dt.date(2026, 5, 1))
    household, (person, _c) = make_household(town.building)
    undated = make_benefit(household, person, policy, next_review_on=None,
                           start_month=dt.date(2025, 3, 1))  # fmt: skip
    first = benefits.schedule_periodic_reviews()
    assert first.details["dated"] == 1
    assert reload(undated).next_review_on == dt.date(2026, 3, 1)
    assert first.created == 2
    assert set(Review.objects.values_list("benefit_id", "kind", "due_on")) == {
        (home.benefit.pk, ReviewKind.PERIODIC, dt.date(2026, 4, 5)),
        (undated.pk, ReviewKind.PERIODIC, dt.date(2026, 3, 1)),
    }
    second = benefits.schedule_periodic_reviews()
    assert (second.created, second.details["dated"]) == (0, 0)
    assert Review.objects.count() == 2


def test_stopped_and_phasing_out_benefits_get_no_periodic_review(home):
    Benefit.objects.filter(pk=home.benefit.pk).update(
        status=BenefitStatus.STOPPED, next_review_on=dt.date(2026, 3, 1)
    )
    Benefit.objects.filter(pk=home.other_benefit.pk).update(
        status=BenefitStatus.PHASING_OUT, next_review_on=dt.date(2026, 3, 1)
    )
    assert benefits.schedule_periodic_reviews().created == 0


def test_completing_the_review_moves_the_schedule_on(home, staff):
    Benefit.objects.filter(pk=home.benefit.pk).update(next_review_on=dt.date(2026, 3, 20))
    benefits.schedule_periodic_reviews()
    review = Review.objects.get(benefit=home.benefit)
    benefits.review_complete(actor=staff.street, review_id=review.pk, outcome="unchanged")
    assert benefits.schedule_periodic_reviews().created == 0  # next one is a year away
    assert reload(home.benefit).next_review_on == dt.date(2027, 3, 10)


# --- deaths ------------------------------------------------------------------------------------


def test_a_members_death_opens_a_recheck_within_three_months_once(home):
    die(home.child, dt.date(2026, 2, 14))
    first = benefits.schedule_death_rechecks()
    assert (first.created, first.stopped) == (1, 0)
    review = Review.objects.get(benefit=home.benefit)
    assert (review.kind, review.due_on) == (ReviewKind.DEATH, dt.date(2026, 5, 14))
    assert review.place_path == home.benefit.place_path
    again = benefits.schedule_death_rechecks()
    assert (again.created, again.stopped) == (0, 0)
    assert Review.objects.count() == 1
    assert reload(home.benefit).status == BenefitStatus.ACTIVE


def test_deaths_before_the_decision_or_in_the_future_are_ignored(home):
    die(home.child, dt.date(2025, 1, 2))  # before the benefit was decided (NOW)
    assert benefits.schedule_death_rechecks().created == 0
    die(home.child, TODAY + dt.timedelta(days=3))  # a date typed wrong, not yet
    assert benefits.schedule_death_rechecks().created == 0


def test_a_sole_recipients_death_stops_the_benefit_after_that_month(policy, town, clock):
    household, (alone,) = make_household(town.building, members=1)
    benefit = make_benefit(household, alone, policy, amount="800.00")
    open_review = Review.objects.create(
        benefit=benefit, kind=ReviewKind.PERIODIC, due_on=dt.date(2026, 4, 1)
    )
    die(alone, dt.date(2026, 3, 2))
    result = benefits.schedule_death_rechecks()
    assert (result.created, result.stopped) == (0, 1)
    benefit = reload(benefit)
    assert benefit.status == BenefitStatus.STOPPED
    assert benefit.end_month == dt.date(2026, 3, 1)  # paid for March, not from April
    assert "2026-03-02" in benefit.status_reason
    open_review.refresh_from_db()
    assert open_review.state == ReviewState.DONE
    (entry,) = AuditEntry.objects.for_object(benefit)
    assert entry.actor is None and entry.changes["status"] == ["active", "stopped"]
    assert benefits.schedule_death_rechecks().stopped == 0


def test_a_recipient_covered_alone_stops_though_others_live_on(policy, town, clock):
    household, (head, _child) = make_household(town.building)
    benefit = make_benefit(
        household, head, policy, program="extreme_poverty", covers_person_only=True,
        persons_covered=1,
    )  # fmt: skip
    die(head, dt.date(2026, 3, 1))
    assert benefits.schedule_death_rechecks().stopped == 1
    assert reload(benefit).status == BenefitStatus.STOPPED


def test_the_payee_of_a_household_benefit_dying_is_rechecked(home):
    die(home.head, dt.date(2026, 3, 1))
    result = benefits.schedule_death_rechecks()
    assert (result.created, result.stopped) == (1, 0)


# --- pledges, gradual exits, overdue -----------------------------------------------------------


def test_unverified_pledges_get_a_verification_review_once(policy, town, clock):
    household, (person, _c) = make_household(town.building)
    benefit = make_benefit(
        household, person, policy, credit_route=True, start_month=dt.date(2026, 3, 1)
    )
    assert benefits.schedule_credit_verifications().created == 1
    review = Review.objects.get(benefit=benefit)
    # Decided 2026-02-19: verified within thirty days.
    assert (review.kind, review.due_on) == (ReviewKind.VERIFICATION, dt.date(2026, 3, 21))
    assert benefits.schedule_credit_verifications().created == 0


def test_gradual_exits_end_after_their_last_month(home, clock):
    Benefit.objects.filter(pk=home.benefit.pk).update(
        status=BenefitStatus.PHASING_OUT, phase_out_until=dt.date(2026, 2, 1)
    )
    Benefit.objects.filter(pk=home.other_benefit.pk).update(
        status=BenefitStatus.PHASING_OUT, phase_out_until=dt.date(2026, 3, 1)
    )
    assert benefits.end_gradual_exits().stopped == 1
    ended = reload(home.benefit)
    assert (ended.status, ended.end_month) == (BenefitStatus.STOPPED, dt.date(2026, 2, 1))
    assert reload(home.other_benefit).status == BenefitStatus.PHASING_OUT
    assert benefits.end_gradual_exits().stopped == 0
    clock.move_to(dt.datetime(2026, 4, 1, 8, 0, tzinfo=dt.UTC))
    assert benefits.end_gradual_exits().stopped == 1
    assert reload(home.other_benefit).end_month == dt.date(2026, 3, 1)


def test_overdue_reviews_turn_red_once(home):
    late = Review.objects.create(
        benefit=home.benefit, kind=ReviewKind.PERIODIC, due_on=dt.date(2026, 3, 9)
    )
    today = Review.objects.create(benefit=home.benefit, kind=ReviewKind.DEATH, due_on=TODAY)
    assert benefits.mark_overdue_reviews().marked == 1
    assert benefits.mark_overdue_reviews().marked == 0
    late.refresh_from_db()
    today.refresh_from_db()
    assert (late.state, today.state) == (ReviewState.OVERDUE, ReviewState.DUE)
    assert benefits.review_warning(late) == 2


def test_the_tasks_run_the_jobs_and_are_idempotent(home, clock):
    die(home.child, dt.date(2026, 1, 5))
    Benefit.objects.filter(pk=home.other_benefit.pk).update(next_review_on=dt.date(2026, 3, 1))
    first = schedule_benefit_reviews.call()
    assert first == {"periodic": 1, "dated": 0, "death": 1, "stopped_for_death": 0,
                     "verification": 0}  # fmt: skip
    assert schedule_benefit_reviews.call()["periodic"] == 0
    assert mark_overdue_benefit_reviews.call()["marked"] == 1  # the periodic one, due 03-01
    assert mark_overdue_benefit_reviews.call()["marked"] == 0
    assert end_benefit_gradual_exits.call()["stopped"] == 0
    assert Review.objects.count() == 2
