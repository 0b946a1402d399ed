"""Worked examples of the eligibility engine, one or more per program, each figure checked by
hand in the comments. Demo urban policy unless said otherwise: standard 800, extreme-poverty
standard 1040, care 100/400/800, employment cost 20 % up to 300 per earner, savings 20,000 per
person, no vehicle, no extra housing, marginal bound 1.5 × standard inclusive, heating 1000 per
household, one-off 300 per person, temporary cap 3 × (6 × especially hard), street ceiling 3000."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from linli.assistance.engine import (
    Asset,
    Illness,
    Supporter,
    add_months,
    age_on,
    assess,
    explain,
)

from .fixtures_engine import (
    ON,
    RURAL,
    URBAN,
    age,
    asset,
    household,
    income,
    member,
    self_care,
    spent,
)

D = Decimal


def result(snapshot, program, params=URBAN, on=ON, **options):
    return assess(snapshot, params, on, programs=[program], **options).results[program]


def codes(result_or_assessment) -> list[str]:
    return [step.code for step in result_or_assessment.trace]


# --- counting members and income ---------------------------------------------------------------


def test_income_counted_exempted_and_deducted_household_of_three():
    head = member(
        "Head",
        incomes=(income("wage", "1500"), income("social_insurance", "120")),
        relation="head",
    )
    spouse = member("Spouse", incomes=(income("basic_pension", "150"),), relation="spouse")
    child = member("Child", age(12), incomes=(income("scholarship", "100"),), relation="child")
    a = assess(household(head, spouse, child), URBAN, ON)
    # Counted: wage 1500. Exempt: basic pension 150, scholarship 100. Deducted: 120.
    # Employment cost: min(1500 × 0.2 = 300, 300) = 300.
    # Counted income = 1500 − 120 − 300 = 1080; per capita 1080 / 3 = 360.00.
    assert a.members_counted == 3
    assert a.counted_income == D("1080.00")
    assert a.per_capita == D("360.00")
    low = a.results["minimum_living"]
    # Amount = 800 × 3 − 1080 = 1320.00.
    assert low.eligible and low.classification == "household"
    assert low.monthly_amount == D("1320.00") and low.persons_covered == 3
    steps = {s.code: s for s in a.trace}
    assert steps["income.employment_cost"].figures["deduction"] == "300.00"
    assert [s.outcome for s in a.trace if s.code.startswith("income.")][:4] == [
        "counted",
        "deducted",
        "deducted",
        "exempt",
    ]


def test_amount_is_standard_times_members_minus_income_not_per_capita_gap():
    # Counted 1000.00 for 3: per capita 333.33. Standard × members − income = 2400 − 1000 =
    # 1400.00; (800 − 333.33) × 3 would give 1400.01.
    snapshot = household(
        member(incomes=(income("retirement_pension", "1000"),)), member(), member()
    )
    low = result(snapshot, "minimum_living")
    assert low.monthly_amount == D("1400.00")


def test_members_not_counted_and_their_income_left_out():
    head = member("Head", incomes=(income("retirement_pension", "600"),))
    dead = member("Dead", status="deceased", incomes=(income("retirement_pension", "900"),))
    died_before = member("Gone", died_on=dt.date(2026, 3, 1))
    moved = member("Moved", status="moved_out")
    unborn = member("Baby", dt.date(2026, 5, 1))
    a = assess(household(head, dead, died_before, moved, unborn), URBAN, ON)
    assert a.members_counted == 1
    # Only the head's 600 counts: 800 × 1 − 600 = 200.
    assert a.counted_income == D("600.00")
    assert a.results["minimum_living"].monthly_amount == D("200.00")
    assert codes(a).count("member.counted") == 1
    assert {"member.not_active", "member.died", "member.not_born", "income.not_member"} <= set(
        codes(a)
    )


def test_a_member_who_dies_after_the_date_still_counts():
    person = member(died_on=dt.date(2026, 3, 16))
    assert assess(household(person), URBAN, ON).members_counted == 1


def test_no_member_makes_every_program_ineligible():
    a = assess(household(member(status="deceased")), URBAN, ON)
    assert a.members_counted == 0
    assert not any(r.eligible for r in a.results.values())
    assert all(r.trace[0].code == "members.none" for r in a.results.values())


def test_income_not_in_force_on_the_date_is_ignored():
    snapshot = household(
        member(
            incomes=(
                income("wage", "3000", until=dt.date(2026, 2, 28)),
                income("wage", "500", since=dt.date(2026, 3, 16)),
            )
        )
    )
    assert assess(snapshot, URBAN, ON).counted_income == D("0.00")


def test_deductions_never_make_income_negative():
    snapshot = household(member(incomes=(income("social_insurance", "200"),)))
    a = assess(snapshot, URBAN, ON)
    assert a.counted_income == D("0.00")
    assert "income.total_floored" in codes(a)


# --- employment cost and new-employment exemption ----------------------------------------------


@pytest.mark.parametrize(
    ("wage", "cost", "counted"),
    [
        ("1000", "200.00", "800.00"),  # 1000 × 0.2 = 200 < 300
        ("1500", "300.00", "1200.00"),  # 1500 × 0.2 = 300 = cap
        ("2000", "300.00", "1700.00"),  # 2000 × 0.2 = 400 → capped at 300
        ("333.33", "66.67", "266.66"),  # 66.666 → 66.67 (half up)
    ],
)
def test_employment_cost_share_and_cap(wage, cost, counted):
    a = assess(household(member(incomes=(income("wage", wage),))), URBAN, ON)
    assert a.counted_income == D(counted)
    step = next(s for s in a.trace if s.code == "income.employment_cost")
    assert step.figures["deduction"] == cost


def test_employment_cost_is_per_earner():
    # Two earners of 2000: each capped at 300 → 4000 − 600 = 3400.
    earners = household(
        member(incomes=(income("wage", "2000"),)), member(incomes=(income("wage", "2000"),))
    )
    assert assess(earners, URBAN, ON).counted_income == D("3400.00")


def test_employment_cost_applies_only_to_wages():
    a = assess(household(member(incomes=(income("business", "2000"),))), URBAN, ON)
    assert a.counted_income == D("2000.00")


def test_new_employment_exemption_cap_and_month_boundary():
    since = dt.date(2026, 1, 31)
    # 6 months from 31 January: 31 July. Exempt up to 1 × 800 a month.
    worker = household(member(incomes=(income("wage", "1000", since, new_employment=True),)))
    before = assess(worker, URBAN, dt.date(2026, 7, 30))
    # Exempt 800, counted 200; employment cost 200 × 0.2 = 40 → 160.
    assert before.counted_income == D("160.00")
    step = next(s for s in before.trace if s.code == "income.new_employment")
    assert step.figures["exempt"] == "800.00" and step.figures["ends_on"] == "2026-07-31"
    on_the_day = assess(worker, URBAN, dt.date(2026, 7, 31))
    # Counted in full: 1000 − 200 employment cost = 800.
    assert on_the_day.counted_income == D("800.00")
    assert "income.new_employment_ended" in codes(on_the_day)


def test_new_employment_months_end_on_a_short_month():
    # 31 August + 6 months = 28 February (2026 is not a leap year).
    assert add_months(dt.date(2025, 8, 31), 6) == dt.date(2026, 2, 28)
    worker = household(
        member(incomes=(income("wage", "700", dt.date(2025, 8, 31), new_employment=True),))
    )
    # 700 ≤ cap 800: wholly exempt the day before; counted from 28 February.
    assert assess(worker, URBAN, dt.date(2026, 2, 27)).counted_income == D("0.00")
    # 700 − 140 employment cost = 560.
    assert assess(worker, URBAN, dt.date(2026, 2, 28)).counted_income == D("560.00")


def test_wage_not_marked_new_employment_is_counted():
    worker = household(member(incomes=(income("wage", "1000", dt.date(2026, 3, 1)),)))
    assert assess(worker, URBAN, ON).counted_income == D("800.00")


# --- assets ------------------------------------------------------------------------------------


def test_savings_limit_per_member_inclusive():
    # Limit 20,000 × 2 = 40,000; savings 30,000 + securities 10,000 = 40,000: within.
    within = household(
        member(assets=(asset("savings", "30000"), asset("securities", "10000"))), member()
    )
    assert result(within, "minimum_living").eligible
    over = household(member(assets=(asset("savings", "40000.01"),)), member())
    low = result(over, "minimum_living")
    assert not low.eligible and "minimum_living.assets_over" in codes(low)


def test_vehicle_and_extra_housing():
    car = household(member(assets=(asset("vehicle"),)))
    assert not result(car, "minimum_living").eligible
    assert result(car, "minimum_living", URBAN.model_copy(update={"vehicles_allowed": 1})).eligible
    house = household(member(assets=(asset("extra_housing"),)))
    assert not result(house, "minimum_living").eligible
    allowed = URBAN.model_copy(update={"extra_housing_allowed": True})
    assert result(house, "minimum_living", allowed).eligible


def test_assets_sold_before_the_date_do_not_count():
    sold = Asset("vehicle", D("0"), dt.date(2019, 1, 1), dt.date(2025, 1, 1))
    assert result(household(member(assets=(sold,))), "minimum_living").eligible


# --- 低保: single-person coverage (单人保) ------------------------------------------------------


def _earner_and(disabled, wage="2200"):
    # Wage 2200 − cost 300 = 1900 for 2 members: per capita 950 ≥ 800 (not eligible as a
    # household) and ≤ 1200 (within the marginal band).
    return household(member("Earner", incomes=(income("wage", wage),)), disabled)


def test_single_person_covered_for_severe_disability():
    disabled = member("Disabled", disability_category="physical", disability_grade=1)
    low = result(_earner_and(disabled), "minimum_living")
    # Own counted income 0: 800 − 0 = 800.
    assert low.eligible and low.classification == "single_person"
    assert low.monthly_amount == D("800.00") and low.persons_covered == 1
    assert [p.key for p in low.covered] == [disabled.key]
    assert "minimum_living.single_reason_disability" in codes(low)


def test_single_person_amount_is_standard_minus_own_counted_income():
    disabled = member(
        "Disabled",
        disability_category="visual",
        disability_grade=2,
        incomes=(income("retirement_pension", "300"), income("disability_allowance", "100")),
    )
    # Own counted 300 (the allowance is exempt): 800 − 300 = 500.
    low = result(_earner_and(disabled, wage="1900"), "minimum_living")
    # Household: 1900 − 300 + 300 = 1900 / 2 = 950: single coverage applies.
    assert low.classification == "single_person" and low.monthly_amount == D("500.00")


def test_single_person_own_income_at_the_standard_is_not_covered():
    disabled = member(
        "Disabled",
        disability_category="physical",
        disability_grade=1,
        incomes=(income("retirement_pension", "800"),),
    )
    # Household: 1900 + 800 = 2700 / 2 = 1350 > 1200: outside the band anyway; use a lower
    # earner: 1000 − 200 = 800 + 800 = 1600 / 2 = 800 ≥ 800, within the band.
    low = result(_earner_and(disabled, wage="1000"), "minimum_living")
    assert not low.eligible
    assert "minimum_living.single_own_income_over" in codes(low)


@pytest.mark.parametrize(
    ("category", "grade", "covered"),
    [
        ("physical", 2, True),  # grade ≤ 2, any category
        ("physical", 3, False),
        ("intellectual", 3, True),  # intellectual or mental grade ≤ 3
        ("mental", 3, True),
        ("mental", 4, False),
        ("hearing", 3, False),
    ],
)
def test_single_person_disability_grades(category, grade, covered):
    disabled = member("Disabled", disability_category=category, disability_grade=grade)
    assert result(_earner_and(disabled), "minimum_living").eligible is covered


def test_single_person_serious_illness_while_it_holds():
    ill = member("Ill", illnesses=(Illness("尿毒症", dt.date(2025, 5, 1)),))
    assert result(_earner_and(ill), "minimum_living").eligible
    cured = member(
        "Cured", illnesses=(Illness("尿毒症", dt.date(2024, 5, 1), dt.date(2025, 1, 1)),)
    )
    assert not result(_earner_and(cured), "minimum_living").eligible
    no_illness_rule = URBAN.model_copy(update={"single_person_serious_illness": False})
    assert not result(_earner_and(ill), "minimum_living", no_illness_rule).eligible


def test_single_person_needs_the_household_in_the_marginal_band():
    disabled = member("Disabled", disability_category="physical", disability_grade=1)
    # 3300 − 300 = 3000 / 2 = 1500 > 1200.
    low = result(_earner_and(disabled, wage="3300"), "minimum_living")
    assert not low.eligible and "minimum_living.single_outside_band" in codes(low)


def test_household_amount_never_below_single_person_coverage():
    disabled = member("Disabled", disability_category="physical", disability_grade=1)
    # 2000 − 300 = 1700 / 2 = 850? Too high; wage 1950 − 300 = 1650 / 2 = 825. Use 1850:
    # 1850 − 300 = 1550 / 2 = 775 < 800: household eligible, 1600 − 1550 = 50.
    # Covered alone the disabled member would get 800 − 0 = 800: the household gets 800.
    low = result(_earner_and(disabled, wage="1850"), "minimum_living")
    assert low.classification == "household" and low.persons_covered == 2
    assert low.monthly_amount == D("800.00")
    assert "minimum_living.single_floor" in codes(low)


# --- 特困 ---------------------------------------------------------------------------------------


def test_extreme_poverty_worked_example_partial_self_care():
    elder = member("Elder", age(70), self_care=(self_care(2),))
    ep = result(household(elder), "extreme_poverty")
    # Condition 1: 70 ≥ 60. Condition 2: per capita 0 < 1040, no assets. Condition 3: no
    # supporter. Self-care: 2 items not managed → partial, care 400. 1040 + 400 = 1440.
    assert ep.eligible and ep.classification == "dispersed/partial"
    assert ep.monthly_amount == D("1440.00") and ep.persons_covered == 1
    assert ep.covered[0].monthly_amount == D("1440.00")


@pytest.mark.parametrize(
    ("not_managed", "level", "amount"),
    [
        (0, "independent", "1140.00"),  # 1040 + 100
        (1, "partial", "1440.00"),  # 1040 + 400
        (3, "partial", "1440.00"),
        (4, "dependent", "1840.00"),  # 1040 + 800
        (6, "dependent", "1840.00"),
    ],
)
def test_extreme_poverty_self_care_tiers(not_managed, level, amount):
    elder = member(birth=age(75), self_care=(self_care(not_managed),))
    ep = result(household(elder), "extreme_poverty")
    assert ep.classification == f"dispersed/{level}" and ep.monthly_amount == D(amount)


def test_extreme_poverty_latest_assessment_on_or_before_the_date():
    elder = member(
        birth=age(75),
        self_care=(
            self_care(5, dt.date(2025, 6, 1)),
            self_care(1, dt.date(2026, 2, 1)),
            self_care(0, dt.date(2026, 4, 1)),  # after the date: ignored
        ),
    )
    assert result(household(elder), "extreme_poverty").classification == "dispersed/partial"


def test_extreme_poverty_without_assessment_takes_the_full_self_care_amount():
    ep = result(household(member(birth=age(80))), "extreme_poverty")
    assert ep.monthly_amount == D("1140.00")
    assert "extreme_poverty.self_care_missing" in codes(ep)


def test_extreme_poverty_centralised_care_option():
    elder = member(birth=age(80), self_care=(self_care(4),))
    ep = result(household(elder), "extreme_poverty", extreme_poverty_arrangement="centralised")
    assert ep.classification == "centralised/dependent"
    snapshot = household(elder, care_arrangement="centralised")
    assert result(snapshot, "extreme_poverty").classification == "centralised/dependent"


@pytest.mark.parametrize(
    ("birth", "capacity", "eligible"),
    [
        (age(60), "full", True),  # 60 today
        (age(60) + dt.timedelta(days=1), "full", False),  # 59
        (age(16) + dt.timedelta(days=1), "", True),  # 15, turning 16 tomorrow
        (age(16), "", False),  # 16 today
        (age(45), "none", True),  # recorded as unable to work
        (age(45), "partial", False),
        (age(45), "", False),
    ],
)
def test_extreme_poverty_condition_one_no_capacity_to_work(birth, capacity, eligible):
    person = member(birth=birth, work_capacity=capacity)
    ep = result(household(person), "extreme_poverty")
    assert ep.eligible is eligible
    if not eligible:
        assert "extreme_poverty.capacity_able" in codes(ep)


def test_extreme_poverty_condition_two_income_fails():
    # Pension 1040 is not below the extreme-poverty standard 1040.
    elder = member(birth=age(70), incomes=(income("retirement_pension", "1040"),))
    ep = result(household(elder), "extreme_poverty")
    assert not ep.eligible and "extreme_poverty.income_over" in codes(ep)
    # 1039.99 is below: eligible, 1040 + 100 = 1140.
    poorer = member(birth=age(70), incomes=(income("retirement_pension", "1039.99"),))
    assert result(household(poorer), "extreme_poverty").monthly_amount == D("1140.00")


def test_extreme_poverty_condition_two_assets_fail():
    elder = member(birth=age(70), assets=(asset("savings", "20000.01"),))
    ep = result(household(elder), "extreme_poverty")
    assert not ep.eligible and "extreme_poverty.assets_over" in codes(ep)


def test_extreme_poverty_condition_three_supporters():
    able = member(birth=age(70), supporters=(Supporter("child", True, "儿子"),))
    ep = result(household(able), "extreme_poverty")
    assert not ep.eligible and "extreme_poverty.supporter_able" in codes(ep)
    unable = member(
        birth=age(70),
        supporters=(Supporter("child", False, "儿子"), Supporter("spouse", False, "老伴")),
    )
    ep = result(household(unable), "extreme_poverty")
    assert ep.eligible and "extreme_poverty.supporters_unable" in codes(ep)
    one_able = member(
        birth=age(70),
        supporters=(Supporter("child", False, "儿子"), Supporter("child", True, "女儿")),
    )
    assert not result(household(one_able), "extreme_poverty").eligible


def test_extreme_poverty_covers_each_qualifying_member():
    # Two elders, no income: each 1040 + care. 1140 + 1840 = 2980.
    a = member(birth=age(70), self_care=(self_care(0),))
    b = member(birth=age(82), self_care=(self_care(5),))
    ep = result(household(a, b), "extreme_poverty")
    assert ep.persons_covered == 2 and ep.monthly_amount == D("2980.00")
    assert [p.classification for p in ep.covered] == [
        "dispersed/independent",
        "dispersed/dependent",
    ]


# --- 低保边缘 ------------------------------------------------------------------------------------


def _pensioner(amount):
    return household(member(incomes=(income("retirement_pension", amount),)))


@pytest.mark.parametrize(
    ("pension", "inclusive", "eligible"),
    [
        ("1200.00", True, True),  # exactly 1.5 × 800: 以下 includes it
        ("1200.00", False, False),  # 低于 excludes it
        ("1199.99", False, True),
        ("1200.01", True, False),
        ("800.00", True, True),  # at the standard: not 低保, marginal
        ("799.99", True, False),  # 低保 instead
    ],
)
def test_marginal_bound_inclusive_or_exclusive(pension, inclusive, eligible):
    params = URBAN.model_copy(update={"marginal_bound_inclusive": inclusive})
    marginal = result(_pensioner(pension), "marginal", params)
    assert marginal.eligible is eligible
    assert marginal.monthly_amount == D("0.00") and marginal.amount == D("0.00")


def test_marginal_needs_assets_within_limits():
    snapshot = household(
        member(incomes=(income("retirement_pension", "1000"),), assets=(asset("vehicle"),))
    )
    marginal = result(snapshot, "marginal")
    assert not marginal.eligible and "marginal.assets_over" in codes(marginal)


def test_single_person_household_is_still_marginal():
    disabled = member("Disabled", disability_category="physical", disability_grade=1)
    a = assess(_earner_and(disabled), URBAN, ON, programs=["minimum_living", "marginal"])
    assert a.results["minimum_living"].classification == "single_person"
    assert a.results["marginal"].eligible


# --- 刚性支出困难 ---------------------------------------------------------------------------------


def _patient(amount, when=dt.date(2025, 11, 3)):
    # Wage 2000 − cost 300 = 1700 a month for 2 members: per capita 850.
    return household(
        member("Earner", incomes=(income("wage", "2000"),)),
        member("Patient", expenditures=(spent("medical", amount, when),)),
    )


def test_rigid_expenditure_worked_example():
    rigid = result(_patient("15000"), "rigid_expenditure")
    # Months 2025-04 … 2026-03: income 1700 × 12 = 20,400; 50 % = 10,200 < 15,000.
    # Monthly average 15,000 / 12 = 1250; (1700 − 1250) / 2 = 225.00 < 800.
    # Per capita 850 < reference 3000. Eligible, mostly medical; no cash.
    assert rigid.eligible and rigid.classification == "medical"
    assert rigid.monthly_amount == D("0.00") and rigid.amount == D("0.00")
    step = next(s for s in rigid.trace if s.code == "rigid.income")
    assert step.figures["income"] == "20400.00" and step.figures["first_month"] == "2025-04"
    after = next(s for s in rigid.trace if s.code == "rigid.after_below")
    assert after.figures["per_capita"] == "225.00"


def test_rigid_expenditure_not_over_the_share():
    # 10,200 is not more than 50 % of 20,400.
    rigid = result(_patient("10200"), "rigid_expenditure")
    assert not rigid.eligible and "rigid.share_not_over" in codes(rigid)


def test_rigid_expenditure_after_deduction_not_below_standard():
    # 11,000 > 10,200, but (1700 − 916.67) / 2 = 391.67 … below. Use a richer household:
    # wage 4000 − 300 = 3700; 12 months 44,400; share 22,200 < 23,000;
    # (3700 − 1916.67) / 2 = 891.67 ≥ 800: not eligible.
    snapshot = household(
        member(incomes=(income("wage", "4000"),)),
        member(expenditures=(spent("medical", "23000", dt.date(2026, 1, 5)),)),
    )
    rigid = result(snapshot, "rigid_expenditure")
    assert not rigid.eligible and "rigid.after_not_below" in codes(rigid)


def test_rigid_expenditure_window_is_twelve_calendar_months():
    # Paid in March 2025, before April 2025: outside the window.
    rigid = result(_patient("15000", dt.date(2025, 3, 31)), "rigid_expenditure")
    assert not rigid.eligible
    assert "rigid.expenditure" not in codes(rigid)
    inside = result(_patient("15000", dt.date(2025, 4, 1)), "rigid_expenditure")
    assert inside.eligible


def test_rigid_expenditure_income_of_the_months_follows_the_records():
    # A wage that began in 2026-01 counts for 3 of the 12 months: (2000 − 300) × 3 = 5100.
    snapshot = household(
        member(incomes=(income("wage", "2000", dt.date(2026, 1, 1)),)),
        member(expenditures=(spent("education", "3000", dt.date(2025, 9, 1)),)),
    )
    rigid = result(snapshot, "rigid_expenditure")
    step = next(s for s in rigid.trace if s.code == "rigid.income")
    assert step.figures["income"] == "5100.00"
    # 3000 > 2550; (1700 − 250) / 2 = 725 < 800; 850 < 3000: eligible, education.
    assert rigid.eligible and rigid.classification == "education"


# --- 临时救助 -----------------------------------------------------------------------------------


def _three():
    return household(member(), member(), member())


@pytest.mark.parametrize(
    ("hardship", "hard", "amount", "tier"),
    [
        ("2500", False, "2500.00", "street"),  # within the cap 3 × 800 × 3 = 7200; ≤ 3000
        ("3000", False, "3000.00", "street"),  # at the ceiling: the street
        ("5000", False, "5000.00", "district"),
        ("9000", False, "7200.00", "district"),  # capped at 7200
        ("9000", True, "9000.00", "district"),  # especially hard: 6 × 800 × 3 = 14,400
        ("20000", True, "14400.00", "district"),
    ],
)
def test_temporary_assistance_cap_and_tier(hardship, hard, amount, tier):
    temp = result(_three(), "temporary", hardship_amount=D(hardship), especially_hard=hard)
    assert temp.eligible and temp.amount == D(amount) and temp.approval_tier == tier
    assert temp.classification == "emergency"


def test_temporary_assistance_persons_struck_and_kind():
    # One person struck: 3 × 800 × 1 = 2400.
    temp = result(
        _three(),
        "temporary",
        hardship_amount=D("5000"),
        temporary_persons=1,
        temporary_kind="expenditure",
    )
    assert temp.amount == D("2400.00") and temp.classification == "expenditure"
    assert temp.approval_tier == "street"


def test_temporary_assistance_without_a_hardship_amount():
    temp = result(_three(), "temporary")
    assert not temp.eligible and temp.amount == D("0.00")
    assert "temporary.no_amount" in codes(temp)


# --- grants ------------------------------------------------------------------------------------


def _poor_three():
    return household(member(), member(), member())


def test_heating_one_off_and_price_subsidy_for_a_minimum_living_household():
    params = URBAN.model_copy(update={"price_cpi_rise": D("4.0")})
    a = assess(_poor_three(), params, ON, programs=["heating", "one_off", "price_subsidy"])
    # Heating: 1000 per household.
    assert a.results["heating"].amount == D("1000.00")
    # One-off: 300 × 3 = 900.
    assert a.results["one_off"].amount == D("900.00")
    # Price: 4.0 ≥ 3.5; 800 × 4 / 100 = 32.00 per person × 3 = 96.00.
    assert a.results["price_subsidy"].amount == D("96.00")
    # The grants asked for alone still read 低保, without reporting it.
    assert set(a.results) == {"heating", "one_off", "price_subsidy"}


def test_rural_grants():
    a = assess(_poor_three(), RURAL, ON, programs=["heating", "one_off"])
    # Rural: 800 per household; 200 × 3 = 600.
    assert a.results["heating"].amount == D("800.00")
    assert a.results["one_off"].amount == D("600.00")


def test_price_subsidy_trigger_is_inclusive():
    at = URBAN.model_copy(update={"price_cpi_rise": D("3.5")})
    # 800 × 3.5 / 100 = 28.00 × 3 = 84.00.
    assert result(_poor_three(), "price_subsidy", at).amount == D("84.00")
    below = URBAN.model_copy(update={"price_cpi_rise": D("3.49")})
    price = result(_poor_three(), "price_subsidy", below)
    assert not price.eligible and "price.below_trigger" in codes(price)


def test_grants_only_for_recipients():
    richer = household(member(incomes=(income("retirement_pension", "3000"),)))
    heating = result(richer, "heating")
    assert not heating.eligible and "grants.no_recipients" in codes(heating)
    # The request says the household receives 低保 for 1 person.
    told = result(richer, "one_off", receiving={"minimum_living": 1})
    assert told.eligible and told.amount == D("300.00")


def test_grants_count_single_person_and_extreme_poverty_recipients():
    disabled = member("Disabled", disability_category="physical", disability_grade=1)
    # Single-person coverage: one recipient, 300.
    assert result(_earner_and(disabled), "one_off").amount == D("300.00")
    # An elder on 特困 in a household that is not 低保-eligible: one recipient.
    elder = member(birth=age(70))
    rich = member(incomes=(income("wage", "4000"),))
    assert result(household(elder, rich), "one_off").amount == D("0.00")  # 3700/2 > 1040


def test_no_heating_in_the_policy():
    none = URBAN.model_copy(update={"heating_per_household": D("0")})
    heating = result(_poor_three(), "heating", none)
    assert not heating.eligible and "heating.none" in codes(heating)


# --- the answer as data ------------------------------------------------------------------------


def test_as_json_is_json_and_explain_renders_it():
    a = assess(_earner_and(member(disability_category="mental", disability_grade=2)), URBAN, ON)
    data = json.loads(json.dumps(a.as_json()))
    assert data["results"]["minimum_living"]["monthly_amount"] == "800.00"
    assert data["per_capita"] == "950.00"
    assert explain(data) == a.sentences()
    assert explain(data, "marginal") == a.sentences("marginal")


def test_unknown_program_is_refused():
    with pytest.raises(ValueError, match="unknown programs"):
        assess(_three(), URBAN, ON, programs=["lottery"])


def test_unknown_option_is_refused():
    with pytest.raises(TypeError):
        assess(_three(), URBAN, ON, hardship=D("1"))


def test_age_on_birthday():
    assert age_on(dt.date(1966, 3, 15), ON) == 60
    assert age_on(dt.date(1966, 3, 16), ON) == 59
    assert age_on(dt.date(2008, 2, 29), dt.date(2026, 2, 28)) == 17
    assert age_on(dt.date(2008, 2, 29), dt.date(2026, 3, 1)) == 18
