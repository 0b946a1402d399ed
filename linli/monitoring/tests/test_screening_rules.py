"""Every default rule fires on planted data with the explanation in the household's own
numbers, and does not fire on clean data, just outside its bounds, or for a household that
already receives the matching program."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from linli.assistance.models import Benefit
from linli.assistance.policies import version_for
from linli.monitoring import rules as rule_data
from linli.monitoring.models import Alert, RiskRule
from linli.monitoring.screening import screen
from linli.people.models import LegalSupporter

from .fixtures_screening import *  # noqa: F403  (the fixtures)
from .fixtures_screening import (
    AS_OF,
    clean_household,
    household,
    person,
    record,
    signal,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_site(settings):
    """Alerts store the explanation in the site language; English here so labels are exact."""
    settings.LANGUAGE_CODE = "en"


def run(town) -> dict:
    return screen(place_path=town.district.path, as_of=AS_OF)


def alerts(code: str) -> list[Alert]:
    return list(Alert.objects.filter(rule_code=code).order_by("household_id"))


def benefit(h, who, program: str, status: str = "active") -> Benefit:
    version = version_for(place_path=h.place_path, registration=h.registration, on=AS_OF)
    return Benefit.objects.create(
        household=h,
        recipient=who,
        program=program,
        monthly_amount=100,
        start_month=dt.date(2026, 1, 1),
        status=status,
        policy_version=version,
    )


def test_clean_registry_raises_nothing(town, policies, rules):
    for _ in range(3):
        clean_household(town.building)
    counts = run(town)
    assert counts["opened"] == 0
    assert Alert.objects.count() == 0
    assert counts["households"] == 3


# --- marginal income ------------------------------------------------------------------------


def test_marginal_income_explains_in_the_households_numbers(town, policies, rules, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    h = household(town.building)
    a = person(h)
    person(h, relation="spouse")
    record(a, "business", 1224)  # 612.00 per capita; urban standard 800 → bound 1,200.00
    run(town)
    [alert] = alerts("marginal-income")
    assert alert.household_id == h.pk
    assert alert.explanation == "人均收入612.00元，低于当地低保标准1.5倍（1,200.00元）"
    assert alert.snapshot["per_capita"] == "612.00"
    assert alert.snapshot["bound"] == "1200.00"
    assert alert.severity == 3
    rule = RiskRule.objects.get(code="marginal-income")
    assert rule_data.explain(rule, alert.snapshot, "en") == (
        "Per-capita income 612.00 yuan is below 1.5 × the local minimum (1,200.00 yuan)."
    )


def test_marginal_income_boundary_is_strict(town, policies, rules):
    at = household(town.building)
    record(person(at), "business", 1200)  # exactly 1.5 × 800: not below
    below = household(town.building)
    record(person(below), "business", "1199.99")
    run(town)
    assert [a.household_id for a in alerts("marginal-income")] == [below.pk]


def test_rural_households_use_the_rural_standard(town, policies, rules):
    h = household(town.building, registration="rural")
    record(person(h), "business", 1100)  # rural 700 × 1.5 = 1,050: not below
    g = household(town.building, registration="rural")
    record(person(g), "business", 1000)
    run(town)
    [alert] = alerts("marginal-income")
    assert alert.household_id == g.pk
    assert alert.snapshot["bound"] == "1050.00"


def test_marginal_income_spares_a_household_receiving_the_minimum(town, policies, rules):
    h = household(town.building)
    a = person(h)
    record(a, "business", 300)
    benefit(h, a, "minimum_living")
    stopped = household(town.building)
    b = person(stopped)
    record(b, "business", 300)
    benefit(stopped, b, "minimum_living", status="stopped")
    run(town)
    assert [x.household_id for x in alerts("marginal-income")] == [stopped.pk]


# --- expenditure share ----------------------------------------------------------------------


def test_expenditure_share_fires_over_half_the_income(town, policies, rules):
    h = household(town.building)
    a = person(h)
    record(a, "business", 3000)  # 36,000.00 in 12 months
    record(a, "medical", 15000, category="expenditure", valid_from=dt.date(2026, 2, 1))
    record(a, "education", "3000.01", category="expenditure", valid_from=dt.date(2025, 12, 1))
    record(a, "medical", 90000, category="expenditure", valid_from=dt.date(2025, 6, 30))  # old
    exactly = household(town.building)
    b = person(exactly)
    record(b, "business", 3000)
    record(b, "medical", 18000, category="expenditure", valid_from=dt.date(2026, 2, 1))
    run(town)
    [alert] = alerts("expenditure-share")
    assert alert.household_id == h.pk
    assert alert.explanation == (
        "Medical and education spending of 18,000.01 yuan in the last 12 months is 50.0% of "
        "the household's income of 36,000.00 yuan."
    )
    zh = RiskRule.objects.get(code="expenditure-share")
    assert rule_data.explain(zh, alert.snapshot, "zh-hans") == (
        "近12个月医疗、教育支出18,000.01元，占家庭同期收入36,000.00元的50.0%"
    )


def test_expenditure_share_spares_rigid_expenditure_recipients(town, policies, rules):
    h = household(town.building)
    a = person(h)
    record(a, "business", 3000)
    record(a, "medical", 30000, category="expenditure", valid_from=dt.date(2026, 2, 1))
    benefit(h, a, "rigid_expenditure")
    run(town)
    assert alerts("expenditure-share") == []


# --- loss of the main earner ----------------------------------------------------------------


def test_death_of_the_main_earner(town, policies, rules):
    h = household(town.building)
    earner = person(h, status="deceased", died_on=dt.date(2026, 3, 15))
    other = person(h, relation="spouse")
    record(earner, "wage", 8000, valid_to=dt.date(2026, 3, 15))
    record(other, "wage", 3000)
    run(town)
    [alert] = alerts("earner-loss")
    assert alert.household_id == h.pk
    assert alert.explanation == "The main earner (wage 8,000.00 yuan a month) died on 2026-03-15."


def test_death_of_a_lesser_earner_or_long_ago_does_not_fire(town, policies, rules):
    h = household(town.building)
    lesser = person(h, status="deceased", died_on=dt.date(2026, 3, 15))
    record(lesser, "wage", 2000, valid_to=dt.date(2026, 3, 15))
    record(person(h, relation="spouse"), "wage", 3000)
    g = household(town.building)
    old = person(g, status="deceased", died_on=dt.date(2025, 12, 30))  # before 6 months
    record(old, "wage", 9000, valid_to=dt.date(2025, 12, 30))
    record(person(g, relation="spouse"), "wage", 1000)
    run(town)
    assert alerts("earner-loss") == []


def test_unemployment_of_the_main_earner(town, policies, rules):
    h = household(town.building)
    earner = person(h)
    record(earner, "wage", 5000, valid_to=dt.date(2026, 4, 30))
    record(person(h, relation="spouse"), "wage", 1000)
    signal(h, "unemployment", dt.date(2026, 5, 10), who=earner)
    run(town)
    [alert] = alerts("earner-loss")
    assert alert.explanation == (
        "The main earner (wage 5,000.00 yuan a month) registered as unemployed on 2026-05-10."
    )


def test_disability_of_the_main_earner_dated_by_the_record_update(town, policies, rules):
    h = household(town.building)
    earner = person(h, disability_category="physical", disability_grade=1)
    record(earner, "wage", 5000)
    run(town)  # updated_at is now (the test clock): inside the window only if now is
    recorded_on = timezone.localdate()
    hit = alerts("earner-loss")
    if dt.date(2025, 12, 30) < recorded_on <= AS_OF:
        assert hit[0].snapshot["event"] == "disabled"
    else:
        assert hit == []


# --- elderly alone ------------------------------------------------------------------------


def test_person_80_living_alone(town, policies, rules):
    h = household(town.building)
    person(h, birth=dt.date(1946, 6, 30), living_alone=True)  # 80 on the day
    g = household(town.building)
    person(g, birth=dt.date(1946, 7, 1), living_alone=True)  # 79 on the day
    d = household(town.building)
    person(d, birth=dt.date(1940, 1, 1), disability_category="visual", disability_grade=2)
    mild = household(town.building)
    person(mild, birth=dt.date(1940, 1, 1), disability_category="visual", disability_grade=3)
    record(person(mild, relation="child"), "wage", 6000)
    for x in (h, g, d):
        record(person(x, relation="child"), "wage", 6000)
    run(town)
    found = {a.household_id: a.explanation for a in alerts("elderly-alone")}
    assert found == {
        h.pk: "A person aged 80 lives alone.",
        d.pk: "A person aged 86 has a severe disability.",
    }


# --- severely disabled without care --------------------------------------------------------


def test_severely_disabled_without_care(town, policies, rules):
    alone = household(town.building)
    person(alone, birth=dt.date(1990, 1, 1), disability_category="mental", disability_grade=1)
    cared = household(town.building)
    person(cared, birth=dt.date(1990, 1, 1), disability_category="mental", disability_grade=1)
    person(cared, relation="parent", birth=dt.date(1960, 1, 1))
    supported = household(town.building)
    s = person(
        supported, birth=dt.date(1990, 1, 1), disability_category="mental", disability_grade=2
    )
    LegalSupporter.objects.create(
        person=s, supporter_name="张三", relation="sibling", able_to_support=True
    )
    unable = household(town.building)
    u = person(unable, birth=dt.date(1990, 1, 1), disability_category="mental", disability_grade=2)
    person(unable, relation="parent", birth=dt.date(1940, 1, 1))  # 86: not a carer
    LegalSupporter.objects.create(
        person=u, supporter_name="李四", relation="sibling", able_to_support=False
    )
    run(town)
    found = {a.household_id: a.explanation for a in alerts("disabled-without-care")}
    expected = (
        "A member aged 36 with a grade {g} disability has no able carer in the household and "
        "no able legal supporter."
    )
    assert found == {alone.pk: expected.format(g=1), unable.pk: expected.format(g=2)}
    assert Alert.objects.get(household=alone, rule_code="disabled-without-care").severity == 4


# --- signals --------------------------------------------------------------------------------


def test_repeated_hardship_cases(town, policies, rules):
    h = clean_household(town.building)
    signal(h, "hardship_case", dt.date(2026, 4, 2))
    signal(h, "hardship_case", dt.date(2026, 6, 1))
    once = clean_household(town.building)
    signal(once, "hardship_case", dt.date(2026, 6, 1))
    signal(once, "hardship_case", dt.date(2026, 4, 1))  # 90 days before: outside
    run(town)
    [alert] = alerts("repeated-hardship-cases")
    assert alert.household_id == h.pk
    assert alert.explanation == (
        "2 signals (Hardship-related case) in the last 90 days, the latest on 2026-06-01."
    )


def test_external_signal_over_the_amount(town, policies, rules):
    h = clean_household(town.building)
    signal(h, "hospital_bill", dt.date(2026, 5, 5), amount="25000.50")
    signal(h, "hospital_bill", dt.date(2026, 6, 5), amount="21000")
    low = clean_household(town.building)
    signal(low, "hospital_bill", dt.date(2026, 5, 5), amount="20000")  # not over
    future = clean_household(town.building)
    signal(future, "hospital_bill", dt.date(2026, 7, 1), amount="50000")  # after the date
    run(town)
    [alert] = alerts("hospital-bill")
    assert alert.household_id == h.pk
    assert alert.explanation == (
        "Hospital bill: 2 in the last 90 days, the largest 25,000.50 yuan, the latest on "
        "2026-06-05."
    )


def test_external_signal_without_amount(town, policies, rules):
    h = clean_household(town.building)
    signal(h, "school_fee_waiver", dt.date(2026, 3, 1))
    run(town)
    [alert] = alerts("school-fee-waiver")
    assert alert.explanation == (
        "School-fee waiver: 1 in the last 365 days, the latest on 2026-03-01."
    )
    assert alert.severity == 1
