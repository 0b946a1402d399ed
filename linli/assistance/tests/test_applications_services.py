"""Every path of an application through the services: 低保 decided by the district, 低保边缘 by
the street, 特困 with the district's sample, 临时救助 by amount and paid first, the credit
pledge, withdrawal; deadlines on the working-day calendar; the engine's answer stored at each
step and given as the reason of a rejection; and the refusals, each naming its problem."""

import datetime as dt
from decimal import Decimal

import pytest

from linli.assistance import applications as services
from linli.assistance.models import (
    Application,
    Benefit,
    CreditPenalty,
    InvestigationVisit,
    Objection,
    Review,
)
from linli.assistance.transitions import available_actions
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry, CalendarDay

from .fixtures_applications import *  # noqa: F403  (the fixtures)
from .fixtures_applications import MONDAY, act, investigate, submit, to_decision

pytestmark = pytest.mark.usefixtures("clock", "policy")


def test_minimum_living_from_the_window_to_a_benefit(staff, homes, clock):
    application = submit(staff.community, homes.poor)
    assert application.state == "submitted"
    assert application.channel == "window"
    assert application.approval_tier == "district"
    assert application.assessment["results"]["minimum_living"]["eligible"] is True
    assert application.policy_version is not None

    act(staff.street, application, "accept")
    application.refresh_from_db()
    # Accepted on Monday 2 March: 3 working days → Thursday 5 March; 30 → Monday 13 April.
    assert application.accepted_on == dt.date(2026, 3, 2)
    assert application.investigation_due == dt.date(2026, 3, 5)
    assert application.decision_due == dt.date(2026, 4, 13)

    investigate(staff.community, application)
    application.refresh_from_db()
    assert application.state == "investigated"
    assert InvestigationVisit.objects.filter(application=application).count() == 1

    act(staff.street, application, "start_notice")
    application.refresh_from_db()
    assert (application.notice_from, application.notice_to) == (
        dt.date(2026, 3, 2),
        dt.date(2026, 3, 8),
    )
    with pytest.raises(Conflict, match="runs until 2026-03-08"):
        act(staff.street, application, "end_notice")
    act(staff.grid, application, "object", content="邻居说他家有车")
    assert Objection.objects.filter(application=application).count() == 1

    clock.move_to(MONDAY + dt.timedelta(days=7))
    act(staff.street, application, "end_notice")
    application.refresh_from_db()
    assert application.state == "awaiting_decision"

    # Decided at the district: the street officer is refused, naming the tier.
    assert "approve" not in available_actions(application, staff.street)
    with pytest.raises(PermissionDenied, match="District tier"):
        act(staff.street, application, "approve")
    act(staff.bureau, application, "approve", note="符合条件")
    application.refresh_from_db()
    assert application.state == "approved"
    assert application.amount == Decimal(
        application.assessment["results"]["minimum_living"]["monthly_amount"]
    )
    benefit = Benefit.objects.get(application=application)
    assert benefit.start_month == dt.date(2026, 4, 1)
    assert benefit.next_review_on == dt.date(2027, 4, 1)
    assert benefit.monthly_amount == application.amount
    assert benefit.policy_version_id == application.policy_version_id
    assert benefit.recipient_id == application.applicant_id
    # Every step is audited.
    steps = AuditEntry.objects.filter(
        object_type="assistance.application", object_id=str(application.pk)
    )
    # Submitted, accepted, investigated, in notice, awaiting the decision, approved.
    assert steps.count() == 6
    assert AuditEntry.objects.filter(object_type="assistance.objection").count() == 1
    assert AuditEntry.objects.filter(object_type="assistance.investigationvisit").count() == 1
    assert AuditEntry.objects.filter(object_type="assistance.benefit").count() == 1


def test_the_notice_counts_calendar_days_and_the_deadlines_skip_holidays(staff, homes, clock):
    # Thursday 5 March is a holiday: the investigation is due on Friday.
    CalendarDay.objects.create(date=dt.date(2026, 3, 5), is_workday=False)
    application = submit(staff.community, homes.poor)
    act(staff.street, application, "accept")
    application.refresh_from_db()
    assert application.investigation_due == dt.date(2026, 3, 6)


def test_a_rejected_applicant_receives_the_trace(staff, homes, clock):
    application = submit(staff.community, homes.rich)
    assert application.assessment["results"]["minimum_living"]["eligible"] is False
    to_decision(staff, application, clock)
    application.refresh_from_db()
    assert "approve" not in available_actions(application, staff.bureau)
    with pytest.raises(Conflict, match="not eligible"):
        act(staff.bureau, application, "approve")
    act(staff.bureau, application, "reject")
    application.refresh_from_db()
    assert application.state == "rejected"
    from linli.assistance.engine import explain

    sentences = explain(application.assessment, "minimum_living")
    assert sentences and any("9,000" in s or "9000" in s for s in sentences)
    assert not Benefit.objects.filter(application=application).exists()


def test_rejecting_an_eligible_household_needs_a_reason(staff, homes, clock):
    application = submit(staff.community, homes.poor)
    to_decision(staff, application, clock)
    with pytest.raises(ValidationFailed, match="say why"):
        act(staff.bureau, application, "reject")
    act(staff.bureau, application, "reject", note="公示期间查实有隐瞒收入")
    application.refresh_from_db()
    assert application.decision_note == "公示期间查实有隐瞒收入"


def test_marginal_households_are_decided_by_the_street(staff, homes, clock):
    application = submit(staff.community, homes.marginal, program="marginal")
    assert application.approval_tier == "street"
    to_decision(staff, application, clock)
    application.refresh_from_db()
    assert "approve" not in available_actions(application, staff.bureau)
    with pytest.raises(NotFound):
        act(staff.other_street, application, "approve")
    with pytest.raises(PermissionDenied, match="Street tier"):
        act(staff.bureau, application, "approve")
    act(staff.street, application, "approve")
    application.refresh_from_db()
    assert application.state == "approved"
    assert Benefit.objects.get(application=application).monthly_amount == Decimal("0.00")


def test_the_time_limit_is_extended_once_with_a_reason(staff, homes, clock):
    application = submit(staff.community, homes.poor)
    act(staff.street, application, "accept")
    with pytest.raises(ValidationFailed, match="reason"):
        act(staff.bureau, application, "extend")
    act(staff.bureau, application, "extend", reason="需补充调查")
    application.refresh_from_db()
    # 45 working days from Monday 2 March.
    assert application.decision_due == dt.date(2026, 5, 4)
    assert application.extended
    with pytest.raises(Conflict, match="already extended"):
        act(staff.bureau, application, "extend", reason="再延一次")


# --- 特困 ------------------------------------------------------------------------------------


def test_extreme_poverty_is_decided_by_the_street_and_sampled_by_the_district(
    staff, town, clock, settings
):
    from .fixtures_applications import make_household

    approved = []
    for _ in range(10):
        household, _members = make_household(town.building, [{"birth": dt.date(1940, 1, 1)}])
        application = submit(staff.community, household, program="extreme_poverty")
        assert application.approval_tier == "street"
        assert application.assessment["results"]["extreme_poverty"]["eligible"] is True
        act(staff.street, application, "accept")
        application.refresh_from_db()
        # 15 working days from Monday 2 March: Monday 23 March.
        assert application.decision_due == dt.date(2026, 3, 23)
        approved.append(application)
    for application in approved:
        investigate(staff.community, application)
        act(staff.street, application, "start_notice")
    clock.move_to(MONDAY + dt.timedelta(days=7))
    for application in approved:
        act(staff.street, application, "end_notice")
        act(staff.street, application, "approve")
    states = [Application.objects.get(pk=a.pk).state for a in approved]
    sampled = [a for a, s in zip(approved, states, strict=True) if s == "sampled"]
    assert len(sampled) >= 3  # at least 30 %
    assert states.count("approved") == 10 - len(sampled)
    one = Application.objects.get(pk=sampled[0].pk)
    assert one.approval_tier == "district" and one.district_sampled
    # 15 working days from Monday 9 March.
    assert one.decision_due == dt.date(2026, 3, 30)
    assert "approve" not in available_actions(one, staff.street)
    assert "approve" in available_actions(one, staff.bureau)
    act(staff.bureau, one, "approve")
    one.refresh_from_db()
    assert one.state == "approved"
    benefit = Benefit.objects.get(application=one)
    assert benefit.monthly_amount > 0 and benefit.persons_covered == 1


# --- 临时救助 ----------------------------------------------------------------------------------


def test_temporary_assistance_up_to_the_ceiling_is_the_streets(staff, homes, clock):
    application = submit(
        staff.community,
        homes.poor,
        program="temporary",
        temporary_kind="expenditure",
        requested_amount="2000",
    )
    assert application.approval_tier == "street"
    act(staff.street, application, "accept")
    investigate(staff.community, application)
    application.refresh_from_db()
    assert application.state == "awaiting_decision"  # no public notice
    act(staff.street, application, "approve")
    application.refresh_from_db()
    assert application.state == "approved" and application.amount == Decimal("2000.00")
    assert not Benefit.objects.filter(application=application).exists()  # paid once


def test_temporary_assistance_above_the_ceiling_is_the_districts(staff, homes, clock):
    application = submit(
        staff.community,
        homes.poor,
        program="temporary",
        temporary_kind="expenditure",
        requested_amount="4000",
    )
    assert application.approval_tier == "district"
    act(staff.street, application, "accept")
    investigate(staff.community, application)
    application.refresh_from_db()
    with pytest.raises(PermissionDenied, match="District tier"):
        act(staff.street, application, "approve")
    act(staff.bureau, application, "approve")
    application.refresh_from_db()
    assert application.amount == Decimal("4000.00")


def test_an_emergency_is_paid_first_and_documented_after(staff, homes, clock):
    application = submit(
        staff.community,
        homes.poor,
        program="temporary",
        temporary_kind="emergency",
        requested_amount="1500",
    )
    assert "pay_first" in available_actions(application, staff.street)
    act(staff.street, application, "pay_first", note="火灾")
    application.refresh_from_db()
    assert application.state == "approved" and application.paid_first
    # 5 working days from Monday 2 March.
    assert application.documents_due == dt.date(2026, 3, 9)
    clock.move_to(MONDAY + dt.timedelta(days=8))
    assert services.overdue_mark() == 1
    assert services.overdue_mark() == 0  # idempotent
    act(staff.street, application, "record_documents")
    application.refresh_from_db()
    assert application.documents_received_on == dt.date(2026, 3, 10)
    assert application.overdue_since is None
    with pytest.raises(Conflict, match="were recorded"):
        act(staff.street, application, "record_documents")


def test_only_an_emergency_is_paid_first(staff, homes):
    application = submit(
        staff.community, homes.poor, program="temporary", temporary_kind="expenditure",
        requested_amount="100",
    )  # fmt: skip
    assert "pay_first" not in available_actions(application, staff.street)
    with pytest.raises(Conflict, match="emergency"):
        act(staff.street, application, "pay_first")


# --- the credit pledge -------------------------------------------------------------------------


def test_a_credit_pledge_skips_investigation_and_notice(staff, homes):
    application = submit(staff.community, homes.poor, credit_pledge=True)
    assert application.credit_route and application.pledge_signed_at
    act(staff.street, application, "accept")
    application.refresh_from_db()
    assert application.state == "awaiting_decision"
    assert application.investigation_due is None
    act(staff.bureau, application, "approve")
    benefit = Benefit.objects.get(application=application)
    review = Review.objects.get(benefit=benefit)
    assert review.kind == "verification" and review.state == "due"
    assert review.due_on == dt.date(2026, 3, 5)


def test_the_credit_route_is_refused_during_a_penalty(staff, homes):
    earlier = submit(staff.community, homes.poor, program="marginal")
    CreditPenalty.objects.create(
        person=homes.poor_members[0],
        application=earlier,
        starts_on=dt.date(2026, 1, 1),
        ends_on=dt.date(2026, 12, 31),
        reason="承诺不实",
    )
    with pytest.raises(Conflict, match="until 2026-12-31"):
        submit(staff.community, homes.poor, credit_pledge=True)
    # The ordinary route stays open.
    assert submit(staff.community, homes.poor).state == "submitted"


def test_extreme_poverty_cannot_be_pledged(staff, homes):
    with pytest.raises(ValidationFailed, match="credit pledge"):
        submit(staff.community, homes.alone, program="extreme_poverty", credit_pledge=True)


# --- channels and withdrawal -------------------------------------------------------------------


def test_a_resident_applies_online_for_their_own_household_only(staff, homes):
    application = submit(staff.resident, homes.poor)
    assert application.channel == "online"
    assert application.applicant_id == homes.poor_members[0].pk
    with pytest.raises(NotFound):
        submit(staff.resident, homes.marginal, program="marginal")
    with pytest.raises(PermissionDenied):
        submit(staff.resident, homes.poor, program="marginal", channel="window")
    # The applicant withdraws it; a resident sees no other action.
    assert available_actions(application, staff.resident) == ["withdraw"]
    act(staff.resident, application, "withdraw")
    application.refresh_from_db()
    assert application.state == "withdrawn"
    # Once withdrawn, the household may apply again.
    assert submit(staff.resident, homes.poor).state == "submitted"


def test_a_worker_applying_for_the_resident_records_consent(staff, homes):
    with pytest.raises(ValidationFailed, match="consented"):
        submit(staff.grid, homes.poor, channel="grid_worker")
    application = submit(staff.grid, homes.poor, channel="grid_worker", consent_note="本人口头同意")
    assert application.proxy_id == staff.grid.pk
    assert application.consent_note == "本人口头同意"


def test_a_referral_carries_its_source_and_evidence(staff, homes):
    application = services.application_refer(
        actor=staff.grid,
        household_id=homes.poor.pk,
        program="minimum_living",
        source="监测预警 #42",
        evidence={"rule": "income_drop", "score": 0.9},
    )
    assert application.channel == "referral"
    assert application.referral_source == "监测预警 #42"
    assert application.referral_evidence == {"rule": "income_drop", "score": 0.9}
    assert application.applicant_id == homes.poor_members[0].pk


def test_staff_withdrawing_record_the_written_reason(staff, homes):
    application = submit(staff.community, homes.poor)
    with pytest.raises(ValidationFailed, match="written request"):
        act(staff.street, application, "withdraw")
    with pytest.raises(PermissionDenied):
        act(staff.community, application, "withdraw", reason="本人书面撤回")
    act(staff.street, application, "withdraw", reason="本人书面撤回")


# --- bad input ---------------------------------------------------------------------------------


def test_applying_twice_is_refused_by_the_constraint(staff, homes):
    submit(staff.community, homes.poor)
    with pytest.raises(Conflict, match="already has an open application"):
        submit(staff.resident, homes.poor)
    # Temporary assistance is per event: two may be open.
    for _ in range(2):
        submit(
            staff.community, homes.poor, program="temporary", temporary_kind="emergency",
            requested_amount="100",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("more", "field"),
    [
        ({"program": "heating"}, "program"),
        ({"program": "nonsense"}, "program"),
        ({"program": "temporary"}, "temporary_kind"),
        ({"program": "temporary", "temporary_kind": "emergency"}, "requested_amount"),
        (
            {"program": "temporary", "temporary_kind": "emergency", "requested_amount": "-5"},
            "requested_amount",
        ),
        (
            {"program": "temporary", "temporary_kind": "emergency", "requested_amount": "1.234"},
            "requested_amount",
        ),
        ({"reason": "x" * 2001}, "reason"),
        ({"reason": "困难\x07"}, "reason"),
        ({"channel": "referral"}, "referral_source"),
        ({"channel": "online"}, "channel"),
        ({"channel": "carrier pigeon"}, "channel"),
        ({"referral_evidence": ["not", "an", "object"]}, "referral_evidence"),
    ],
)
def test_bad_submissions_name_the_field(staff, homes, more, field):
    more.setdefault("program", "minimum_living")
    with pytest.raises(ValidationFailed) as caught:
        submit(staff.community, homes.poor, **more)
    assert field in caught.value.details


def test_an_applicant_from_another_household_is_refused(staff, homes):
    with pytest.raises(ValidationFailed, match="current member"):
        submit(staff.community, homes.poor, applicant_id=homes.alone_members[0].pk)


def test_a_household_outside_the_jurisdiction_is_not_found(staff, homes):
    with pytest.raises(NotFound):
        submit(staff.community, homes.elsewhere)


def test_html_in_findings_is_kept_as_text(staff, homes):
    application = submit(staff.community, homes.poor)
    act(staff.street, application, "accept")
    investigate_html = "<script>alert(1)</script> 家中困难"
    act(staff.community, application, "investigate", visitors="李四", findings=investigate_html)
    assert InvestigationVisit.objects.get(application=application).findings == investigate_html


def test_unknown_actions_and_fields_are_refused(staff, homes):
    application = submit(staff.community, homes.poor)
    with pytest.raises(ValidationFailed, match="Unknown action"):
        act(staff.street, application, "approve_everything")
    with pytest.raises(ValidationFailed, match="does not take"):
        act(staff.street, application, "accept", amount="99999")


def test_the_visit_cannot_be_in_the_future_or_before_acceptance(staff, homes):
    application = submit(staff.community, homes.poor)
    act(staff.street, application, "accept")
    with pytest.raises(ValidationFailed, match="future"):
        investigate(staff.community, application, visited_on="2026-03-03")
    with pytest.raises(ValidationFailed, match="before the application was accepted"):
        investigate(staff.community, application, visited_on="2026-03-01")
    with pytest.raises(ValidationFailed, match="YYYY-MM-DD"):
        investigate(staff.community, application, visited_on="yesterday")


def test_no_policy_is_a_clear_refusal(staff, homes):
    from linli.assistance.models import PolicyVersion

    PolicyVersion.objects.filter(policy_set__registration="urban").update(
        valid_from=dt.date(2027, 1, 1)
    )
    from linli.assistance.policies import NoPolicy

    with pytest.raises(NoPolicy, match="takes effect on 2027-01-01"):
        submit(staff.community, homes.poor)


# --- periodic jobs -----------------------------------------------------------------------------


def test_notices_end_by_the_job_once(staff, homes, clock):
    application = submit(staff.community, homes.poor)
    act(staff.street, application, "accept")
    investigate(staff.community, application)
    act(staff.street, application, "start_notice")
    clock.move_to(MONDAY + dt.timedelta(days=6))
    assert services.notices_end() == 0  # the last day of the notice
    clock.move_to(MONDAY + dt.timedelta(days=7))
    assert services.notices_end() == 1
    assert services.notices_end() == 0
    application.refresh_from_db()
    assert application.state == "awaiting_decision"
    entry = AuditEntry.objects.filter(object_id=str(application.pk)).order_by("-id").first()
    assert entry.actor is None and entry.actor_label == "system"


def test_overdue_investigations_are_marked_once(staff, homes, clock):
    application = submit(staff.community, homes.poor)
    act(staff.street, application, "accept")
    clock.move_to(MONDAY + dt.timedelta(days=3))  # Thursday, the last day
    assert services.overdue_mark() == 0
    clock.move_to(MONDAY + dt.timedelta(days=4))
    assert services.overdue_mark() == 1
    assert services.overdue_mark() == 0
    application.refresh_from_db()
    assert application.overdue_since == dt.date(2026, 3, 6)
    investigate(staff.community, application)
    application.refresh_from_db()
    assert application.overdue_since is None
