"""The set-based figures agree with the engine: households generated into the registry (members
in and out of the household on the date, counted, exempt and deducted incomes, new employment,
assets, disabilities and illnesses for single-person cover) under generated policies; for each
household `simulations.household_figures` must give what `engine.assess` gives on its
snapshot: 低保 eligibility, persons covered, amount, marginal, per capita, counted income."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linli.assistance import engine, simulations, snapshot
from linli.assistance.models import Program
from linli.assistance.policy import INCOME_KINDS, PolicyParameters
from linli.core.testing.factories import make_id_number
from linli.people.models import FinancialRecord, Household, Person, SeriousIllness

pytestmark = pytest.mark.django_db

_serial = itertools.count(1)
DATES = (dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 5, 15), dt.date(2026, 8, 31))
AMOUNTS = st.one_of(
    st.sampled_from(["0.01", "0.50", "100", "299.99", "800", "1200.33", "1500", "5000"]),
    st.decimals(min_value=0, max_value=20000, places=2, allow_nan=False).map(str),
)


@st.composite
def records(draw):
    category = draw(st.sampled_from(["income", "income", "income", "asset"]))
    if category == "income":
        kind = draw(st.sampled_from(sorted(INCOME_KINDS) + ["wage"] * 4))
    else:
        kind = draw(st.sampled_from(["savings", "securities", "vehicle", "extra_housing"]))
    return {
        "category": category,
        "kind": kind,
        "amount": draw(AMOUNTS)
        if kind not in ("savings", "securities")
        else draw(st.sampled_from(["0", "5000", "19999.99", "40000", "60000.01"])),
        # Days before the date (negative: starts after it).
        "starts": draw(st.integers(min_value=-40, max_value=400)),
        "ends": draw(st.one_of(st.none(), st.integers(min_value=-40, max_value=60))),
        "new_employment": kind == "wage" and draw(st.booleans()),
        "voided": draw(st.integers(0, 9)) == 0,
    }


DISABILITIES = st.sampled_from(
    [("", None)] * 4
    + [("physical", 1), ("physical", 3), ("intellectual", 3), ("mental", 4), ("visual", 2)]
)


@st.composite
def members(draw):
    category, grade = draw(DISABILITIES)
    return {
        "status": draw(st.sampled_from(["active"] * 5 + ["moved_out", "deceased"])),
        "died": draw(st.sampled_from([None] * 6 + [-10, 0, 10])),  # days after the date
        "born_after": draw(st.integers(0, 30)) == 0,
        "disability": (category, grade),
        "illness": draw(st.sampled_from([None, None, None, "holds", "ended", "later"])),
        "records": draw(st.lists(records(), max_size=4)),
    }


@st.composite
def policies(draw):
    standard = Decimal(draw(st.sampled_from(["800", "733.33", "1000", "650.5"])))
    kinds = sorted(INCOME_KINDS)
    treatment = {
        kind: draw(st.sampled_from(["counted", "counted", "exempt", "deducted"])) for kind in kinds
    }
    treatment["wage"] = draw(st.sampled_from(["counted"] * 5 + ["exempt"]))
    listed = {t: [k for k in kinds if treatment[k] == t] for t in ("counted", "exempt", "deducted")}
    return PolicyParameters(
        standard=standard,
        extreme_poverty_standard=standard,
        counted_income_kinds=listed["counted"],
        exempt_income_kinds=listed["exempt"],
        deducted_income_kinds=listed["deducted"],
        employment_cost_share=Decimal(draw(st.sampled_from(["0.2", "0", "0.3333", "0.1234"]))),
        employment_cost_cap=Decimal(draw(st.sampled_from(["300", "0", "99.99"]))),
        new_employment_exempt_months=draw(st.sampled_from([0, 1, 6, 12])),
        new_employment_exempt_cap_multiple=Decimal(draw(st.sampled_from(["1", "0.5", "1.3333"]))),
        marginal_multiple=Decimal(draw(st.sampled_from(["1.5", "1.3333", "0.9", "2"]))),
        marginal_bound_inclusive=draw(st.booleans()),
        savings_per_person_limit=Decimal(draw(st.sampled_from(["20000", "0", "33333.33"]))),
        vehicles_allowed=draw(st.sampled_from([0, 1])),
        extra_housing_allowed=draw(st.booleans()),
        single_person_disability_grade_max=draw(st.sampled_from([0, 2])),
        single_person_mental_grade_max=draw(st.sampled_from([0, 3])),
        single_person_serious_illness=draw(st.booleans()),
    )


def _build(town, household_specs, on: dt.date) -> list[Household]:
    households = []
    for spec in household_specs:
        number = next(_serial)
        household = Household.objects.create(
            number=f"AG{number:07d}", address="测试路", building=town.building
        )
        for index, member in enumerate(spec):
            birth = on + dt.timedelta(days=5) if member["born_after"] else dt.date(1960, 3, 1)
            category, grade = member["disability"]
            died = None if member["died"] is None else on + dt.timedelta(days=member["died"])
            person = Person.objects.create(
                household=household,
                relation="head" if index == 0 else "child",
                name=f"成员{number}-{index}",
                id_number=make_id_number(birth=birth, sequence=(number * 5 + index) % 499),
                birth_date=birth,
                sex="M",
                # Only one active householder per household (a database constraint).
                status=member["status"] if index else "active",
                died_on=died,
                disability_category=category,
                disability_grade=grade,
            )
            if member["illness"]:
                diagnosed, ended = {
                    "holds": (on - dt.timedelta(days=100), None),
                    "ended": (on - dt.timedelta(days=100), on - dt.timedelta(days=1)),
                    "later": (on + dt.timedelta(days=1), None),
                }[member["illness"]]
                SeriousIllness.objects.create(
                    person=person, illness="尿毒症", diagnosed_on=diagnosed, ended_on=ended
                )
            for r in member["records"]:
                start = on - dt.timedelta(days=r["starts"])
                end = None if r["ends"] is None else max(start, on + dt.timedelta(days=r["ends"]))
                FinancialRecord.objects.create(
                    person=person,
                    category=r["category"],
                    kind=r["kind"],
                    amount=Decimal(r["amount"]),
                    valid_from=start,
                    valid_to=end,
                    new_employment=r["new_employment"],
                    voided_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) if r["voided"] else None,
                )
        households.append(household)
    return households


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(st.lists(members(), min_size=1, max_size=4), min_size=1, max_size=5),
    params=policies(),
    on=st.sampled_from(DATES),
)
def test_set_based_figures_equal_the_engine(town, specs, params, on):
    with transaction.atomic():
        households = _build(town, specs, on)
        ids = [h.pk for h in households]
        figures = {
            f.household_id: f
            for f in simulations.household_figures(Household.objects.filter(pk__in=ids), params, on)
        }
        for household in households:
            result = engine.assess(
                snapshot.household_snapshot(household, on),
                params,
                on,
                programs=[Program.MINIMUM_LIVING, Program.MARGINAL],
            )
            minimum = result.results[Program.MINIMUM_LIVING]
            marginal = result.results[Program.MARGINAL]
            got = figures.get(household.pk)
            if got is None:
                assert result.members_counted == 0
                assert not minimum.eligible and not marginal.eligible
                continue
            expected = (
                result.members_counted,
                result.counted_income,
                result.per_capita,
                minimum.eligible,
                minimum.persons_covered if minimum.eligible else 0,
                minimum.monthly_amount if minimum.eligible else Decimal("0.00"),
                marginal.eligible,
            )
            actual = (
                got.members,
                got.counted_income,
                got.per_capita,
                got.eligible,
                got.persons_covered,
                got.monthly_amount,
                got.marginal,
            )
            assert actual == expected, result.trace
        transaction.set_rollback(True)


def test_new_employment_cutoff_matches_month_arithmetic():
    """Exempt exactly when on < start + months, month ends clamped as the engine does."""
    start = dt.date(2025, 1, 1)
    for on in (dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2024, 2, 29)):
        for months in (1, 6, 12):
            cutoff = simulations.new_employment_cutoff(on, months)
            for offset in range(800):
                day = start + dt.timedelta(days=offset)
                assert (day > cutoff) == (on < engine.add_months(day, months)), (on, months, day)
