"""Builders of engine snapshots for the engine and assessment tests, and a hypothesis strategy
of whole households (any mix of members, incomes, assets, facts)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from linli.assistance.engine import (
    Asset,
    Expenditure,
    HouseholdSnapshot,
    Illness,
    Income,
    Member,
    SelfCare,
    Supporter,
)
from linli.assistance.policy import INCOME_KINDS, demo_parameters

ON = dt.date(2026, 3, 15)
LONG_AGO = dt.date(2020, 1, 1)
# Demo urban policy: standard 800, extreme-poverty 1040, care 100/400/800, heating 1000,
# one-off 300 per person, employment cost 20 % up to 300, savings 20,000 per person.
URBAN = demo_parameters(rural=False)
RURAL = demo_parameters(rural=True)

_keys = iter(range(1, 10**9))


def income(
    kind: str, amount: str, since: dt.date = LONG_AGO, until: dt.date | None = None, **kw: Any
) -> Income:
    return Income(kind, Decimal(amount), since, until, **kw)


def asset(kind: str, amount: str = "0", since: dt.date = LONG_AGO) -> Asset:
    return Asset(kind, Decimal(amount), since)


def spent(kind: str, amount: str, since: dt.date, until: dt.date | None = None) -> Expenditure:
    return Expenditure(kind, Decimal(amount), since, until)


def self_care(not_managed: int, on: dt.date = dt.date(2026, 1, 10)) -> SelfCare:
    """An assessment with the first `not_managed` of the six items not managed."""
    items = ("eating", "dressing", "bed_transfer", "toileting", "indoor_walking", "bathing")
    return SelfCare(on, **{item: i >= not_managed for i, item in enumerate(items)})


def member(
    name: str = "",
    birth: dt.date = dt.date(1980, 6, 1),
    *,
    incomes: tuple = (),
    assets: tuple = (),
    expenditures: tuple = (),
    **kw: Any,
) -> Member:
    key = kw.pop("key", None) or str(next(_keys))
    return Member(
        key=key,
        name=name or f"M{key}",
        birth_date=birth,
        incomes=tuple(incomes),
        assets=tuple(assets),
        expenditures=tuple(expenditures),
        **kw,
    )


def household(*members: Member, **kw: Any) -> HouseholdSnapshot:
    return HouseholdSnapshot(members=tuple(members), **kw)


def age(years: int, on: dt.date = ON) -> dt.date:
    """A birth date making the person exactly `years` old on `on` (birthday that day)."""
    return on.replace(year=on.year - years)


# --- hypothesis --------------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=6000, places=2, allow_nan=False, allow_infinity=False)
income_kinds = st.sampled_from(sorted(INCOME_KINDS))
dates = st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2026, 12, 31))


@st.composite
def incomes(draw) -> Income:
    kind = draw(income_kinds)
    since = draw(st.one_of(st.just(LONG_AGO), dates))
    until = draw(st.one_of(st.none(), dates.filter(lambda d: d >= since)))
    return Income(
        kind,
        draw(money),
        since,
        until,
        new_employment=kind == "wage" and draw(st.booleans()),
    )


@st.composite
def members(draw) -> Member:
    grade = draw(st.one_of(st.none(), st.integers(1, 4)))
    return member(
        birth=draw(st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2025, 12, 31))),
        relation=draw(st.sampled_from(["head", "spouse", "child", "parent", ""])),
        status=draw(st.sampled_from(["active"] * 6 + ["deceased", "moved_out"])),
        work_capacity=draw(st.sampled_from(["", "full", "partial", "none"])),
        disability_category=(
            draw(st.sampled_from(["physical", "intellectual", "mental", "visual"])) if grade else ""
        ),
        disability_grade=grade,
        illnesses=tuple(Illness("白血病", d) for d in draw(st.lists(dates, max_size=1))),
        self_care=tuple(self_care(n) for n in draw(st.lists(st.integers(0, 6), max_size=1))),
        supporters=tuple(
            Supporter("child", able, "子女") for able in draw(st.lists(st.booleans(), max_size=2))
        ),
        incomes=tuple(draw(st.lists(incomes(), max_size=4))),
        assets=tuple(
            Asset(kind, draw(money) * 5, LONG_AGO)
            for kind in draw(
                st.lists(st.sampled_from(["savings", "securities", "vehicle"]), max_size=2)
            )
        ),
        expenditures=tuple(
            Expenditure("medical", draw(money) * 3, d) for d in draw(st.lists(dates, max_size=2))
        ),
    )


households = st.builds(
    lambda ms: HouseholdSnapshot(members=tuple(ms)), st.lists(members(), min_size=1, max_size=4)
)
