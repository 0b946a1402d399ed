"""Benefits after approval: suspend, resume, stop; reviews and their outcomes; the credit
pledge's verification with its recovery and penalty; repayments; the work of every role."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from linli.assistance import benefits
from linli.assistance.models import (
    Benefit,
    BenefitStatus,
    CreditPenalty,
    Payment,
    PaymentCycle,
    PaymentStatus,
    Recovery,
    Review,
    ReviewKind,
    ReviewOutcome,
    ReviewState,
)
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry

from .fixtures_benefits import *  # noqa: F403  (the fixtures)
from .fixtures_benefits import TODAY, make_benefit, make_household

pytestmark = pytest.mark.django_db


def reload(benefit: Benefit) -> Benefit:
    return Benefit.objects.get(pk=benefit.pk)


# --- suspend, resume, stop -----------------------------------------------------------------


def test_suspend_and_resume_are_audited(home, staff):
    benefit = benefits.benefit_suspend(
        actor=staff.street, benefit_id=home.benefit.pk, reason="外出务工, 暂停核查"
    )
    assert benefit.status == BenefitStatus.SUSPENDED
    assert benefits.available_actions(staff.street, benefit) == ["resume", "stop", "change_amount"]
    benefit = benefits.benefit_resume(actor=staff.street, benefit_id=benefit.pk, reason="已返回")
    assert benefit.status == BenefitStatus.ACTIVE
    entries = AuditEntry.objects.for_object(benefit).order_by("id")
    assert [e.changes["status"] for e in entries] == [
        ["active", "suspended"],
        ["suspended", "active"],
    ]
    assert entries[0].actor == staff.street


def test_resume_returns_a_gradual_exit_to_it(home, staff):
    Benefit.objects.filter(pk=home.benefit.pk).update(
        status=BenefitStatus.PHASING_OUT, phase_out_until=dt.date(2026, 8, 1)
    )
    benefits.benefit_suspend(actor=staff.street, benefit_id=home.benefit.pk, reason="核查")
    benefit = benefits.benefit_resume(actor=staff.street, benefit_id=home.benefit.pk, reason="好")
    assert benefit.status == BenefitStatus.PHASING_OUT


def test_stop_pays_through_this_month_and_ends_open_reviews(home, staff):
    review = Review.objects.create(
        benefit=home.benefit, kind=ReviewKind.PERIODIC, due_on=dt.date(2026, 4, 1)
    )
    benefit = benefits.benefit_stop(actor=staff.bureau, benefit_id=home.benefit.pk, reason="迁出")
    assert benefit.status == BenefitStatus.STOPPED
    assert benefit.end_month == dt.date(2026, 3, 1)
    assert benefit.next_review_on is None
    review.refresh_from_db()
    assert (review.state, review.outcome) == (ReviewState.DONE, ReviewOutcome.STOPPED)
    assert benefits.available_actions(staff.bureau, benefit) == []
    with pytest.raises(Conflict) as refused:
        benefits.benefit_stop(actor=staff.bureau, benefit_id=benefit.pk, reason="again")
    assert refused.value.code == "wrong_status"


def test_a_benefit_stopped_before_it_started_pays_nothing(home, staff, policy, town):
    household, (person, _child) = make_household(town.building)
    benefit = make_benefit(household, person, policy, start_month=dt.date(2026, 4, 1))
    benefit = benefits.benefit_stop(actor=staff.street, benefit_id=benefit.pk, reason="撤回")
    assert benefit.end_month is None


@pytest.mark.parametrize("who", ["grid", "community", "auditor"])
def test_only_deciders_act(home, staff, who):
    actor = getattr(staff, who)
    assert benefits.available_actions(actor, home.benefit) == []
    with pytest.raises(PermissionDenied):
        benefits.benefit_suspend(actor=actor, benefit_id=home.benefit.pk, reason="x")
    assert reload(home.benefit).status == BenefitStatus.ACTIVE


def test_outside_the_jurisdiction_is_not_found(home, staff):
    for service in (benefits.benefit_suspend, benefits.benefit_stop):
        with pytest.raises(NotFound):
            service(actor=staff.neighbour, benefit_id=home.benefit.pk, reason="x")
    with pytest.raises(NotFound):
        benefits.benefit_stop(actor=staff.resident, benefit_id=home.benefit.pk, reason="x")
    with pytest.raises(NotFound):
        benefits.benefit_stop(actor=staff.street, benefit_id=10**12, reason="x")
    # The neighbour decides in their own street.
    benefits.benefit_suspend(actor=staff.neighbour, benefit_id=home.other_benefit.pk, reason="x")


@pytest.mark.parametrize(
    ("reason", "field_message"),
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("x" * 201, "At most 200 characters."),
        ("停发\x07", None),
    ],
)
def test_bad_reasons_are_refused(home, staff, reason, field_message):
    with pytest.raises(ValidationFailed) as refused:
        benefits.benefit_stop(actor=staff.street, benefit_id=home.benefit.pk, reason=reason)
    assert "reason" in refused.value.details
    if field_message:
        assert refused.value.details["reason"] == [field_message]
    assert reload(home.benefit).status == BenefitStatus.ACTIVE


def test_html_in_a_reason_is_kept_as_text(home, staff):
    benefit = benefits.benefit_suspend(
        actor=staff.street, benefit_id=home.benefit.pk, reason="<script>alert(1)</script>"
    )
    assert benefit.status_reason == "<script>alert(1)</script>"


# --- reviews -----------------------------------------------------------------------------------


def periodic(benefit, due_on=dt.date(2026, 3, 20)):
    return Review.objects.create(benefit=benefit, kind=ReviewKind.PERIODIC, due_on=due_on)


def test_unchanged_periodic_review_schedules_the_next_a_year_on(home, staff):
    review = periodic(home.benefit)
    done = benefits.review_complete(
        actor=staff.community, review_id=review.pk, outcome=ReviewOutcome.UNCHANGED, note="入户核实"
    )
    assert (done.state, done.outcome, done.done_by) == (
        ReviewState.DONE,
        ReviewOutcome.UNCHANGED,
        staff.community,
    )
    benefit = reload(home.benefit)
    assert benefit.next_review_on == dt.date(2027, 3, 10)
    assert benefit.status == BenefitStatus.ACTIVE
    with pytest.raises(Conflict):
        benefits.review_complete(
            actor=staff.street, review_id=review.pk, outcome=ReviewOutcome.UNCHANGED
        )


def test_unstable_income_means_half_yearly_reviews(home, staff):
    review = periodic(home.benefit)
    benefits.review_complete(
        actor=staff.street,
        review_id=review.pk,
        outcome=ReviewOutcome.UNCHANGED,
        income_unstable=True,
    )
    benefit = reload(home.benefit)
    assert benefit.income_unstable is True
    assert benefit.review_months == 6
    assert benefit.next_review_on == dt.date(2026, 9, 10)
    second = periodic(benefit, dt.date(2026, 9, 10))
    benefits.review_complete(
        actor=staff.street, review_id=second.pk, outcome=ReviewOutcome.UNCHANGED,
        income_unstable=False,
    )  # fmt: skip
    assert reload(benefit).review_months == 12


def test_community_workers_may_not_stop_through_a_review(home, staff):
    review = periodic(home.benefit)
    assert benefits.review_outcomes(staff.community, review) == [ReviewOutcome.UNCHANGED]
    with pytest.raises(PermissionDenied):
        benefits.review_complete(
            actor=staff.community, review_id=review.pk, outcome=ReviewOutcome.STOPPED, note="x"
        )
    assert benefits.review_outcomes(staff.auditor, review) == []
    with pytest.raises(PermissionDenied):
        benefits.review_complete(
            actor=staff.auditor, review_id=review.pk, outcome=ReviewOutcome.UNCHANGED
        )


def test_stopping_through_a_review_needs_a_note_and_stops(home, staff):
    review = periodic(home.benefit)
    with pytest.raises(ValidationFailed) as refused:
        benefits.review_complete(actor=staff.street, review_id=review.pk, outcome="stopped")
    assert "note" in refused.value.details
    benefits.review_complete(
        actor=staff.street, review_id=review.pk, outcome="stopped", note="家庭收入超标且拒绝核查"
    )
    benefit = reload(home.benefit)
    assert (benefit.status, benefit.end_month) == (BenefitStatus.STOPPED, dt.date(2026, 3, 1))
    review.refresh_from_db()
    assert review.outcome == ReviewOutcome.STOPPED


@pytest.mark.parametrize("outcome", ["verified", "nonsense", ""])
def test_an_outcome_the_kind_cannot_have_is_refused(home, staff, outcome):
    review = periodic(home.benefit)
    with pytest.raises(ValidationFailed) as refused:
        benefits.review_complete(actor=staff.street, review_id=review.pk, outcome=outcome)
    assert "outcome" in refused.value.details


def test_reviews_outside_the_jurisdiction_are_not_found(home, staff):
    review = periodic(home.benefit)
    with pytest.raises(NotFound):
        benefits.review_complete(
            actor=staff.neighbour, review_id=review.pk, outcome=ReviewOutcome.UNCHANGED
        )


def test_review_open_by_hand(home, staff):
    review = benefits.review_open(
        actor=staff.community, benefit_id=home.benefit.pk, kind=ReviewKind.INCOME_RISE,
        note="儿子新找到工作",
    )  # fmt: skip
    assert review.due_on == TODAY + dt.timedelta(days=benefits.REVIEW_LEAD_DAYS)
    with pytest.raises(Conflict):
        benefits.review_open(
            actor=staff.community, benefit_id=home.benefit.pk, kind=ReviewKind.INCOME_RISE
        )
    with pytest.raises(ValidationFailed):
        benefits.review_open(
            actor=staff.community, benefit_id=home.benefit.pk, kind="income_rise",
            due_on=TODAY - dt.timedelta(days=1),
        )  # fmt: skip
    with pytest.raises(PermissionDenied):
        benefits.review_open(actor=staff.auditor, benefit_id=home.benefit.pk, kind="income_rise")


# --- the credit pledge (先办后核) --------------------------------------------------------------


@pytest.fixture
def pledged(home, policy, town):
    household, (person, _child) = make_household(town.building, name="赵")
    benefit = make_benefit(
        household, person, policy, credit_route=True, amount="900.00",
        start_month=dt.date(2025, 12, 1),
    )  # fmt: skip
    review = Review.objects.create(
        benefit=benefit, kind=ReviewKind.VERIFICATION, due_on=dt.date(2026, 3, 31)
    )
    return benefit, review


def test_failed_verification_without_payments_recovers_the_months_run(pledged, staff):
    benefit, review = pledged
    benefits.review_complete(
        actor=staff.street, review_id=review.pk, outcome="verification_failed",
        note="隐瞒经营收入",
    )  # fmt: skip
    benefit = reload(benefit)
    assert benefit.status == BenefitStatus.STOPPED
    assert benefit.end_month == dt.date(2026, 2, 1)  # nothing paid from March on
    recovery = Recovery.objects.get(benefit=benefit)
    # December, January, February and March: four months of 900 元.
    assert recovery.amount == Decimal("3600.00")
    assert recovery.recovered == 0
    penalty = CreditPenalty.objects.get(person=benefit.recipient)
    assert (penalty.starts_on, penalty.ends_on) == (TODAY, dt.date(2027, 3, 9))
    assert benefits.active_credit_penalty(person_id=benefit.recipient_id) == penalty
    assert (
        benefits.active_credit_penalty(person_id=benefit.recipient_id, on=dt.date(2027, 3, 10))
        is None
    )
    benefit.application.refresh_from_db()
    assert benefit.application.verification_failed is True
    assert benefit.application.verified_at is not None
    assert benefits.open_recoveries_for([benefit.pk]) == {benefit.pk: [recovery]}


def test_failed_verification_recovers_what_was_paid(pledged, staff, town):
    benefit, review = pledged
    cycle = PaymentCycle.objects.create(
        program=benefit.program, street=town.street, month=dt.date(2026, 1, 1),
        prepared_by=staff.street,
    )  # fmt: skip
    for month, status in (
        (dt.date(2025, 12, 1), PaymentStatus.PAID),
        (dt.date(2026, 1, 1), PaymentStatus.PAID),
        (dt.date(2026, 2, 1), PaymentStatus.FAILED),
    ):
        Payment.objects.create(
            cycle=cycle, benefit=benefit, recipient=benefit.recipient, program=benefit.program,
            month=month, amount=Decimal("900.00"), entitlement=Decimal("900.00"), status=status,
        )  # fmt: skip
    benefits.review_complete(
        actor=staff.bureau, review_id=review.pk, outcome="verification_failed", note="虚假承诺"
    )
    assert Recovery.objects.get(benefit=benefit).amount == Decimal("1800.00")


def test_verified_pledge_keeps_the_benefit(pledged, staff):
    benefit, review = pledged
    assert benefits.review_outcomes(staff.community, review) == [ReviewOutcome.VERIFIED]
    benefits.review_complete(actor=staff.community, review_id=review.pk, outcome="verified")
    benefit = reload(benefit)
    assert benefit.status == BenefitStatus.ACTIVE
    assert benefit.application.verification_failed is False
    assert benefit.application.verified_at is not None
    assert not Recovery.objects.exists() and not CreditPenalty.objects.exists()


# --- recoveries --------------------------------------------------------------------------------


@pytest.fixture
def recovery(home, staff):
    return Recovery.objects.create(
        benefit=home.benefit, amount=Decimal("500.00"), reason="多发", created_by=staff.street
    )


def test_repayments_add_up_to_the_amount_and_never_past_it(recovery, staff):
    benefits.recovery_record_repayment(actor=staff.street, recovery_id=recovery.pk, amount="200")
    with pytest.raises(ValidationFailed) as refused:
        benefits.recovery_record_repayment(
            actor=staff.street, recovery_id=recovery.pk, amount="300.01"
        )
    assert refused.value.details == {"amount": ["More than is owed."]}
    assert "300.00" in refused.value.message
    done = benefits.recovery_record_repayment(
        actor=staff.street, recovery_id=recovery.pk, amount=Decimal("300.00")
    )
    assert done.recovered == done.amount
    assert benefits.open_recoveries_for([recovery.benefit_id]) == {}
    with pytest.raises(Conflict):
        benefits.recovery_record_repayment(actor=staff.street, recovery_id=recovery.pk, amount="1")
    entries = AuditEntry.objects.for_object(done).order_by("id")
    assert [e.changes["recovered"] for e in entries] == [["0.00", "200.00"], ["200.00", "500.00"]]


@pytest.mark.parametrize("amount", ["0", "-5", "abc", "1.001", "NaN", "Infinity", "", None, "1e9"])
def test_bad_repayment_amounts_are_refused(recovery, staff, amount):
    with pytest.raises(ValidationFailed) as refused:
        benefits.recovery_record_repayment(
            actor=staff.street, recovery_id=recovery.pk, amount=amount
        )
    assert "amount" in refused.value.details
    recovery.refresh_from_db()
    assert recovery.recovered == 0


def test_repayments_need_a_money_role_and_the_jurisdiction(recovery, staff):
    with pytest.raises(PermissionDenied):
        benefits.recovery_record_repayment(actor=staff.grid, recovery_id=recovery.pk, amount="1")
    with pytest.raises(NotFound):
        benefits.recovery_record_repayment(
            actor=staff.neighbour, recovery_id=recovery.pk, amount="1"
        )


def test_deductions_of_a_cycle_cannot_pass_the_amount(recovery):
    from django.db import IntegrityError

    benefits.recoveries_record_deductions(actor=None, deductions={recovery.pk: Decimal("400")})
    recovery.refresh_from_db()
    assert recovery.recovered == Decimal("400.00")
    with pytest.raises(IntegrityError):
        benefits.recoveries_record_deductions(
            actor=None, deductions={recovery.pk: Decimal("100.01")}
        )


# --- lists and the workbench -------------------------------------------------------------------


def test_recipient_list_filters_and_searches(home, staff, policy, town):
    household, (person, _c) = make_household(town.building, name="孙")
    make_benefit(household, person, policy, program="extreme_poverty", status="suspended")
    listed = benefits.benefit_list(actor=staff.street)
    assert set(listed) == {home.benefit, Benefit.objects.get(household=household)}
    by_program = benefits.BenefitFilter(program="extreme_poverty")
    assert [b.household for b in benefits.benefit_list(actor=staff.street, filters=by_program)] == [
        household
    ]
    running = benefits.BenefitFilter(status="running")
    assert benefits.benefit_list(actor=staff.street, filters=running).count() == 2
    by_number = benefits.BenefitFilter(search=home.household.number)
    assert list(benefits.benefit_list(actor=staff.street, filters=by_number)) == [home.benefit]
    by_name = benefits.BenefitFilter(search="孙")
    assert benefits.benefit_list(actor=staff.street, filters=by_name).count() == 1
    other_place = benefits.BenefitFilter(place_id=town.other_street.pk)
    assert benefits.benefit_list(actor=staff.street, filters=other_place).count() == 0
    assert benefits.benefit_list(actor=staff.bureau).count() == 3
    assert benefits.benefit_list(actor=staff.resident).count() == 0


def test_workbench_counts_and_lists_reviews(home, staff, clock):
    periodic(home.benefit, dt.date(2026, 3, 12))
    late = periodic(home.benefit, dt.date(2026, 3, 1))
    periodic(home.other_benefit, dt.date(2026, 3, 1))
    benefits.mark_overdue_reviews()
    counts = {c.key: c.count for c in benefits.workbench_counts(staff.community)}
    assert counts == {"assistance.reviews_due": 1, "assistance.reviews_overdue": 1}
    listing = benefits.workbench_listing(staff.community, "assistance.reviews_overdue")
    (row,) = [listing.row(r) for r in listing.queryset]
    assert row.warning == 2
    assert row.url.endswith(f"#review-{late.pk}")
    assert home.household.number in row.title
    due = benefits.workbench_listing(staff.community, "assistance.reviews_due")
    assert [due.row(r).warning for r in due.queryset] == [1]  # due within a week
    assert benefits.workbench_counts(staff.resident) == []
    assert benefits.workbench_listing(staff.community, "assistance.unknown") is None


def test_classification_is_shown_in_words_not_as_its_code():
    benefit = Benefit(program="extreme_poverty", classification="dispersed/partial")
    label = benefit.classification_label
    assert label and "/" not in label and "_" not in label  # words, not "dispersed/partial"
    assert Benefit(program="minimum_living", classification="").classification_label == ""
