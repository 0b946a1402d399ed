"""Fixtures of the screening tests: the demo policies (urban standard 800 元), the default
rules, and households planted straight into the registry."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from linli.assistance.policies import ensure_demo_policies
from linli.core.roles import Role
from linli.core.testing.factories import make_id_number, make_user
from linli.monitoring.models import Signal
from linli.monitoring.rules import ensure_default_rules
from linli.people.models import FinancialRecord, Household, Person

AS_OF = dt.date(2026, 6, 30)
_numbers = itertools.count(1)
_people = itertools.count(1)


@pytest.fixture
def policies(town):
    return ensure_demo_policies(town.district)


@pytest.fixture
def rules(db):
    ensure_default_rules()


@pytest.fixture
def screener(town):
    """The district's civil-affairs officer: starts rounds and edits rules."""
    return make_user("bureau", Role.CIVIL_AFFAIRS, [town.district])


@pytest.fixture
def street_screener(town):
    return make_user("streetofficer", Role.STREET_OFFICER, [town.street])


def household(building, registration: str = "urban") -> Household:
    number = next(_numbers)
    return Household.objects.create(
        number=f"S{number:07d}",
        address=f"测试路 {number} 号",
        building=building,
        registration=registration,
    )


def person(household: Household, birth: dt.date = dt.date(1980, 5, 1), **fields) -> Person:
    n = next(_people)
    return Person.objects.create(
        household=household,
        relation=fields.pop("relation", "head"),
        name=fields.pop("name", f"成员{n}"),
        id_number=make_id_number(birth=birth, sequence=n % 997),
        birth_date=birth,
        sex="M",
        **fields,
    )


def record(
    who: Person,
    kind: str,
    amount,
    *,
    category: str = "income",
    valid_from: dt.date = dt.date(2025, 1, 1),
    valid_to: dt.date | None = None,
) -> FinancialRecord:
    return FinancialRecord.objects.create(
        person=who,
        category=category,
        kind=kind,
        amount=Decimal(str(amount)),
        valid_from=valid_from,
        valid_to=valid_to,
    )


def signal(household: Household, kind: str, on: dt.date, amount=None, who=None) -> Signal:
    n = next(_people)
    return Signal.objects.create(
        household=household,
        person=who,
        source="external",
        kind=kind,
        occurred_on=on,
        amount=None if amount is None else Decimal(str(amount)),
        key=f"test:{n}",
    )


def clean_household(building) -> Household:
    """Two working adults with a good wage: no rule fires."""
    h = household(building)
    a = person(h)
    b = person(h, relation="spouse", birth=dt.date(1982, 2, 2))
    record(a, "wage", 6000)
    record(b, "wage", 5000)
    return h
