"""Each supervision check on planted data, and silent on clean data; runs are idempotent and
set-based; a finding no longer found is marked, not closed; a resolved one whose records grew
is opened again."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from linli.assistance import supervision
from linli.assistance.models import Finding, FindingKind, FindingState, StaffRelative
from linli.core.roles import Role
from linli.core.testing.factories import make_user
from linli.people import services as people_services

from .fixtures_supervision import TODAY, fast_passwords, mid_june_2026, month, staff, world

__all__ = ["fast_passwords", "mid_june_2026", "staff", "world"]


def run():
    return supervision.supervision_run(actor=None, place_path="")


def findings(kind):
    return list(Finding.objects.filter(kind=kind).order_by("id"))


# --- shared accounts ---------------------------------------------------------------------------


def test_one_account_for_two_unrelated_recipients_is_found(world):
    _h1, (a,) = world.household(name="张三丰")
    _h2, (b,) = world.household(name="李四光", building=world.town.other_building)
    ba, bb = world.benefit(a), world.benefit(b)
    world.account(a, "6222000011112222")
    world.account(b, "6222000011112222")
    counts = run()
    (finding,) = findings(FindingKind.SHARED_ACCOUNT)
    assert counts["shared_account"]["new"] == 1
    assert sorted(finding.records["persons"]) == [a.id, b.id]
    assert sorted(finding.records["benefits"]) == [ba.id, bb.id]
    assert finding.records["figures"]["account"] == "6222********2222"
    # Across two streets: the district's finding, not either street's.
    assert finding.place_path == world.town.district.path
    assert "张*丰" in finding.summary and "张三丰" not in finding.summary
    assert "6222000011112222" not in str(finding.records)


def test_members_of_one_household_may_share_an_account(world):
    _h, (head, spouse) = world.household(members=2)
    world.benefit(head)
    world.benefit(spouse, program="extreme_poverty", amount="1000.00", covers_person_only=True)
    world.account(head, "6222000099990000")
    world.account(spouse, "6222000099990000")
    # A non-recipient elsewhere with the same account is no recipient's problem here.
    _h2, (other,) = world.household()
    world.account(other, "6222000099990000")
    run()
    assert findings(FindingKind.SHARED_ACCOUNT) == []


def test_a_voided_account_is_not_shared(world):
    _h1, (a,) = world.household()
    _h2, (b,) = world.household()
    world.benefit(a), world.benefit(b)
    world.account(a, "6222000011113333")
    people_services.bank_account_set(
        actor=world.admin,
        person_id=b.id,
        bank="建设银行",
        account_number="6222000011113333",
        holder_name=b.name,
    )
    people_services.bank_account_set(
        actor=world.admin,
        person_id=b.id,
        bank="建设银行",
        account_number="6222000044445555",
        holder_name=b.name,
    )
    run()
    assert findings(FindingKind.SHARED_ACCOUNT) == []


# --- payments after death ----------------------------------------------------------------------


def test_payments_for_months_after_the_death_are_found(world):
    _h, (person,) = world.household(name="赵大海")
    benefit = world.benefit(person)
    before = [world.pay(benefit, month(m)) for m in (2, 3)]
    after = [world.pay(benefit, month(4)), world.pay(benefit, month(5), status="pending")]
    world.pay(benefit, month(6), status="failed")  # failed at the bank: no money went out
    people_services.person_record_death(
        actor=world.admin, person_id=person.id, died_on=dt.date(2026, 3, 15)
    )
    run()
    (finding,) = findings(FindingKind.PAID_AFTER_DEATH)
    assert finding.records["payments"] == [p.id for p in after]
    assert not set(finding.records["payments"]) & {p.id for p in before}
    assert finding.records["figures"]["months"] == ["2026-04", "2026-05"]
    assert finding.records["figures"]["total"] == "1000.00"
    assert finding.records["figures"]["pending"] == 1
    assert finding.program == "minimum_living"


def test_a_payment_before_the_death_is_fine(world):
    _h, (person,) = world.household()
    benefit = world.benefit(person)
    world.pay(benefit, month(3))  # for March; died in March
    people_services.person_record_death(
        actor=world.admin, person_id=person.id, died_on=dt.date(2026, 3, 31)
    )
    run()
    assert findings(FindingKind.PAID_AFTER_DEATH) == []


def test_recorded_dead_without_a_date_flags_the_payments_for_checking(world):
    _h, (person,) = world.household()
    benefit = world.benefit(person)
    payment = world.pay(benefit, month(5))
    person.status = "deceased"
    person.save()
    run()
    (finding,) = findings(FindingKind.PAID_AFTER_DEATH)
    assert finding.records["payments"] == [payment.id]
    assert finding.records["figures"]["died_on"] is None
    assert "without a date" in supervision.finding_text(finding)


# --- asset limits -----------------------------------------------------------------------------


def test_savings_over_the_limit_per_member_are_found(world):
    _h, (head, child) = world.household(members=2)
    benefit = world.benefit(head, persons_covered=2, amount="1000.00")
    record = world.asset(head, "savings", "30000.00")
    world.asset(child, "securities", "10000.01")
    run()
    (finding,) = findings(FindingKind.OVER_ASSET_LIMIT)
    figures = finding.records["figures"]
    assert (figures["savings"], figures["savings_limit"]) == ("40000.01", "40000.00")
    assert figures["breaches"] == ["savings"]
    assert finding.records["benefits"] == [benefit.id]
    assert record.id in finding.records["finances"]


def test_savings_at_the_limit_and_old_or_voided_records_are_fine(world):
    _h, (head, child) = world.household(members=2)
    world.benefit(head, persons_covered=2, amount="1000.00")
    world.asset(head, "savings", "40000.00")
    # A car sold last year, a flat voided as entered by mistake, savings not yet valid.
    world.asset(
        child, "vehicle", "50000.00", valid_from=dt.date(2024, 1, 1), valid_to=dt.date(2025, 12, 31)
    )
    flat = world.asset(child, "extra_housing", "300000.00")
    people_services.financial_record_void(actor=world.admin, record_id=flat.id, reason="录入错误")
    world.asset(child, "savings", "90000.00", valid_from=dt.date(2026, 7, 1))
    run()
    assert findings(FindingKind.OVER_ASSET_LIMIT) == []


def test_a_vehicle_or_extra_housing_is_found_for_low_income_and_marginal(world):
    _h1, (a,) = world.household()
    _h2, (b,) = world.household()
    world.benefit(a)
    world.benefit(b, program="marginal", amount="0.00")
    world.asset(a, "vehicle", "30000.00")
    world.asset(b, "extra_housing", "200000.00")
    run()
    by_person = {f.records["persons"][0]: f for f in findings(FindingKind.OVER_ASSET_LIMIT)}
    assert by_person[a.id].records["figures"]["breaches"] == ["vehicles"]
    assert by_person[b.id].records["figures"]["breaches"] == ["extra_housing"]
    assert "1 vehicles, 0 allowed" in supervision.finding_text(by_person[a.id])


def test_extreme_poverty_has_no_asset_test_and_members_who_left_do_not_count(world):
    _h1, (a,) = world.household()
    world.benefit(a, program="extreme_poverty", amount="1040.00")
    world.asset(a, "vehicle", "30000.00")
    _h2, (head, gone) = world.household(members=2)
    world.benefit(head)
    world.asset(gone, "vehicle", "30000.00")
    people_services.person_set_status(actor=world.admin, person_id=gone.id, status="moved_out")
    run()
    assert findings(FindingKind.OVER_ASSET_LIMIT) == []


# --- staff and their relatives ------------------------------------------------------------------


def test_a_recipient_who_is_staff_or_a_declared_relative_is_found(world, town):
    clerk = make_user("clerk", Role.COMMUNITY_WORKER, [town.community], display_name="刘干事")
    _h1, (staff_person,) = world.household(name="刘干事")
    staff_person.account = clerk
    staff_person.save()
    world.benefit(staff_person)
    _h2, (head, mother) = world.household(members=2, name="陈家主")
    benefit = world.benefit(head, persons_covered=2, amount="1000.00")
    StaffRelative.objects.create(staff=clerk, person=mother, relation="母亲")
    # A resident's own account is no conflict.
    _h3, (resident_person,) = world.household()
    resident_person.account = make_user("res", Role.RESIDENT)
    resident_person.save()
    world.benefit(resident_person)
    run()
    found = {f.records["benefits"][0]: f for f in findings(FindingKind.STAFF_RELATIVE)}
    assert len(found) == 2
    relative = found[benefit.id]
    assert relative.records["staff"] == [clerk.id]
    assert relative.records["persons"] == [mother.id]
    assert "declared relative (母亲) of 刘干事" in supervision.finding_text(relative)


def test_a_relative_outside_the_person_covered_alone_is_no_conflict(world, town):
    clerk = make_user("clerk", Role.COMMUNITY_WORKER, [town.community])
    _h, (head, brother) = world.household(members=2)
    world.benefit(head, program="extreme_poverty", amount="1040.00", covers_person_only=True)
    StaffRelative.objects.create(staff=clerk, person=brother, relation="兄弟")
    run()
    assert findings(FindingKind.STAFF_RELATIVE) == []


# --- amounts ------------------------------------------------------------------------------------


def test_amounts_above_what_the_policy_can_give_are_found(world):
    # Demo urban policy: standard 800, extreme-poverty standard 1040, full care 800.
    cases = {
        "low_over": ("minimum_living", "800.01", 1, True),
        "low_two": ("minimum_living", "1600.00", 2, False),
        "low_two_over": ("minimum_living", "1700.00", 2, True),
        "extreme_at": ("extreme_poverty", "1840.00", 1, False),
        "extreme_over": ("extreme_poverty", "1900.00", 1, True),
    }
    benefits = {}
    for name, (program, amount, covered, _over) in cases.items():
        _h, (person,) = world.household()
        benefits[name] = world.benefit(
            person, program=program, amount=amount, persons_covered=covered
        )
    run()
    flagged = {f.records["benefits"][0] for f in findings(FindingKind.AMOUNT_OUT_OF_LINE)}
    assert flagged == {benefits[n].id for n, case in cases.items() if case[3]}
    low = Finding.objects.get(
        kind=FindingKind.AMOUNT_OUT_OF_LINE, key=f"benefit-{benefits['low_two_over'].id}"
    )
    assert low.records["figures"]["limit"] == "1600.00"
    assert "standard 800.00 × 2 persons" in supervision.finding_text(low)


def test_stopped_benefits_are_not_checked(world):
    _h, (person,) = world.household()
    world.benefit(person, amount="5000.00", status="stopped")
    run()
    assert Finding.objects.count() == 0


# --- runs ----------------------------------------------------------------------------------------


def _plant_everything(world, n=1, first=0):
    for i in range(first, first + n):
        _h1, (a,) = world.household()
        _h2, (b,) = world.household(building=world.town.other_building)
        ba = world.benefit(a, amount="900.00")
        world.benefit(b)
        world.account(a, f"62220000{i:08d}")
        world.account(b, f"62220000{i:08d}")
        world.asset(b, "vehicle", "20000.00")
        world.pay(ba, month(5))


def test_a_second_run_updates_instead_of_duplicating(world):
    _plant_everything(world)
    first = run()
    assert {k: v["new"] for k, v in first.items() if v["new"]} == {
        "shared_account": 1,
        "over_asset_limit": 1,
        "amount_out_of_line": 1,
    }
    before = {f.pk: (f.found_at, f.last_seen_at) for f in Finding.objects.all()}
    import time_machine

    with time_machine.travel(dt.datetime(2026, 6, 16, 9, 0, tzinfo=dt.UTC), tick=False):
        second = run()
    assert all(v["new"] == 0 for v in second.values())
    after = {f.pk: (f.found_at, f.last_seen_at) for f in Finding.objects.all()}
    assert after.keys() == before.keys()
    for pk, (found_at, seen_at) in after.items():
        assert found_at == before[pk][0] and seen_at > before[pk][1]


def test_the_checks_take_as_many_queries_for_many_recipients_as_for_few(world):
    _plant_everything(world, n=1)
    with CaptureQueriesContext(connection) as few:
        run()
    _plant_everything(world, n=12, first=1)
    Finding.objects.all().delete()
    with CaptureQueriesContext(connection) as many:
        run()
    assert Finding.objects.count() == 13 * 3
    assert len(many) <= len(few) + 2  # bulk inserts split in batches at most


def test_a_finding_no_longer_found_is_marked_and_found_again_unmarked(world):
    _h, (person,) = world.household()
    benefit = world.benefit(person, amount="900.00")
    run()
    (finding,) = findings(FindingKind.AMOUNT_OUT_OF_LINE)
    benefit.monthly_amount = "800.00"
    benefit.save()
    counts = run()
    finding.refresh_from_db()
    assert counts["amount_out_of_line"]["cleared"] == 1
    assert finding.cleared_at is not None and finding.state == FindingState.OPEN
    benefit.monthly_amount = "950.00"
    benefit.save()
    run()
    finding.refresh_from_db()
    assert finding.cleared_at is None
    assert finding.records["figures"]["amount"] == "950.00"


def test_a_run_over_one_street_leaves_the_other_streets_findings_alone(world, town):
    _h1, (a,) = world.household()
    _h2, (b,) = world.household(building=town.other_building)
    world.benefit(a, amount="900.00")
    benefit_b = world.benefit(b, amount="900.00")
    run()
    benefit_b.monthly_amount = "800.00"
    benefit_b.save()
    supervision.supervision_run(actor=None, place_path=town.street.path)
    assert Finding.objects.filter(cleared_at__isnull=False).count() == 0
    run()
    assert Finding.objects.get(cleared_at__isnull=False).records["benefits"] == [benefit_b.id]


def test_a_resolved_finding_opens_again_when_another_payment_follows_the_death(world, staff):
    _h, (person,) = world.household()
    benefit = world.benefit(person)
    world.pay(benefit, month(4))
    people_services.person_record_death(
        actor=world.admin, person_id=person.id, died_on=dt.date(2026, 3, 2)
    )
    run()
    (finding,) = findings(FindingKind.PAID_AFTER_DEATH)
    supervision.finding_resolve(
        actor=staff.civil, finding_id=finding.id, state="confirmed", resolution="已停发并追回"
    )
    run()
    finding.refresh_from_db()
    assert finding.state == FindingState.CONFIRMED  # nothing new
    world.pay(benefit, month(5))
    counts = run()
    finding.refresh_from_db()
    assert counts["paid_after_death"]["reopened"] == 1
    assert finding.state == FindingState.OPEN and finding.resolution == "已停发并追回"
    assert len(finding.records["payments"]) == 2


def test_today_is_the_day_the_assets_are_read(world):
    assert dt.date(2026, 6, 15) == TODAY
    _h, (person,) = world.household()
    world.benefit(person)
    world.asset(person, "vehicle", "20000.00", valid_to=dt.date(2026, 6, 14))
    run()
    assert findings(FindingKind.OVER_ASSET_LIMIT) == []
    supervision.supervision_run(actor=None, place_path="", today=dt.date(2026, 6, 1))
    assert len(findings(FindingKind.OVER_ASSET_LIMIT)) == 1


def test_html_in_a_name_is_kept_as_masked_text(world):
    _h1, (a,) = world.household(name="<b>x</b>")
    world.benefit(a, amount="900.00")
    run()
    (finding,) = findings(FindingKind.AMOUNT_OUT_OF_LINE)
    assert finding.records["figures"]["name"] == "<******>"
