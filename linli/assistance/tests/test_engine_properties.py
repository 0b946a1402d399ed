"""Properties of the eligibility engine over generated households: exempt income changes no
result, counted income never raises an amount, amounts are non-negative Decimals to the fen,
and every step renders as a sentence in both languages."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linli.assistance.engine import SENTENCES, Income, assess

from .fixtures_engine import ON, URBAN, households, money

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OPTIONS = {"hardship_amount": Decimal("4000"), "especially_hard": False}
# Every threshold moved about so the boundaries are met from both sides.
policies = st.builds(
    lambda standard, inclusive, rise: URBAN.model_copy(
        update={
            "standard": standard,
            "marginal_bound_inclusive": inclusive,
            "price_cpi_rise": rise,
            "heating_per_household": Decimal("1000"),
            "one_off_per_person": Decimal("300"),
        }
    ),
    st.decimals(min_value=300, max_value=1500, places=2),
    st.booleans(),
    st.decimals(min_value=0, max_value=8, places=1),
)


def outcome(assessment):
    """What a decision rests on: everything of each result but its trace."""
    return {
        code: (
            r.eligible,
            r.classification,
            r.monthly_amount,
            r.amount,
            r.persons_covered,
            r.covered,
            r.approval_tier,
        )
        for code, r in assessment.results.items()
    }


def with_income(snapshot, index: int, record: Income):
    members = list(snapshot.members)
    target = members[index % len(members)]
    members[index % len(members)] = dataclasses.replace(target, incomes=(*target.incomes, record))
    return dataclasses.replace(snapshot, members=tuple(members))


@SETTINGS
@given(
    households,
    policies,
    st.integers(0, 3),
    st.sampled_from(URBAN.exempt_income_kinds),
    money,
    st.dates(min_value=dt.date(2020, 1, 1), max_value=ON),
)
def test_adding_exempt_income_never_changes_a_result(snapshot, params, who, kind, amount, since):
    before = assess(snapshot, params, ON, **OPTIONS)
    after = assess(with_income(snapshot, who, Income(kind, amount, since)), params, ON, **OPTIONS)
    assert outcome(after) == outcome(before)


@SETTINGS
@given(
    households,
    policies,
    st.integers(0, 3),
    st.sampled_from(URBAN.counted_income_kinds),
    money,
    st.dates(min_value=dt.date(2020, 1, 1), max_value=ON),
)
def test_adding_counted_income_never_raises_an_amount(snapshot, params, who, kind, amount, since):
    before = assess(snapshot, params, ON, **OPTIONS)
    after = assess(with_income(snapshot, who, Income(kind, amount, since)), params, ON, **OPTIONS)
    for code, result in after.results.items():
        assert result.monthly_amount <= before.results[code].monthly_amount, code
        assert result.amount <= before.results[code].amount, code


@SETTINGS
@given(households, policies)
def test_amounts_are_non_negative_decimals_to_the_fen(snapshot, params):
    assessment = assess(snapshot, params, ON, **OPTIONS)
    for result in assessment.results.values():
        for amount in (result.monthly_amount, result.amount):
            assert isinstance(amount, Decimal)
            assert amount >= 0 and amount.as_tuple().exponent == -2
        if not result.eligible:
            assert result.monthly_amount == 0 and result.amount == 0
        for person in result.covered:
            assert person.monthly_amount > 0 and person.monthly_amount.as_tuple().exponent == -2
        if result.covered:
            assert sum(p.monthly_amount for p in result.covered) == result.monthly_amount
    for value in (assessment.counted_income, assessment.per_capita):
        assert value >= 0 and value.as_tuple().exponent == -2


@SETTINGS
@given(households, policies, st.sampled_from(["zh-hans", "en"]))
def test_every_step_renders_in_both_languages(snapshot, params, language):
    assessment = assess(snapshot, params, ON, **OPTIONS)
    with translation.override(language):
        sentences = assessment.sentences()
    steps = [*assessment.trace, *(s for r in assessment.results.values() for s in r.trace)]
    assert len(sentences) == len(steps)
    for step, sentence in zip(steps, sentences, strict=True):
        assert step.code in SENTENCES, step.code
        assert "%(" not in sentence and sentence.strip()
