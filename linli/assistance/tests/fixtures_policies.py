"""Fixtures of the policy and simulation tests: a district bureau, the demo policies, and
households built straight into the registry (members, income and asset records)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from linli.assistance.policies import ensure_demo_policies
from linli.core.roles import Role
from linli.core.testing.factories import make_id_number, make_user
from linli.people.models import FinancialRecord, Household, Person

_numbers = itertools.count(1)
RELATIONS = ("head", "spouse", "child", "parent", "grandchild", "sibling", "other")


@pytest.fixture
def bureau(town):
    """The district's civil-affairs officer: edits policies and runs simulations."""
    return make_user("bureau", Role.CIVIL_AFFAIRS, [town.district])


@pytest.fixture
def officer(town):
    """A street officer: reads the district's policies, may not edit or simulate."""
    return make_user("officer", Role.STREET_OFFICER, [town.street])


@pytest.fixture
def demo_sets(town):
    urban, rural = ensure_demo_policies(town.district)
    return urban, rural


def make_household(
    building,
    *,
    members: int = 1,
    registration: str = "urban",
    inactive_members: int = 0,
) -> tuple[Household, list[Person]]:
    number = next(_numbers)
    household = Household.objects.create(
        number=f"T{number:07d}",
        address=f"测试路 {number} 号",
        building=building,
        registration=registration,
    )
    persons = []
    for index in range(members + inactive_members):
        birth = dt.date(1950 + (number + index) % 50, 1 + index % 12, 1 + number % 28)
        persons.append(
            Person.objects.create(
                household=household,
                relation=RELATIONS[min(index, len(RELATIONS) - 1)] if index else "head",
                name=f"成员{number}-{index}",
                id_number=make_id_number(birth=birth, sequence=(number * 7 + index) % 499),
                birth_date=birth,
                sex="M",
                status="active" if index < members else "moved_out",
            )
        )
    return household, persons


def add_record(
    person: Person,
    kind: str,
    amount: Decimal | str | int,
    *,
    category: str = "income",
    valid_from: dt.date = dt.date(2025, 1, 1),
    valid_to: dt.date | None = None,
    new_employment: bool = False,
    voided: bool = False,
) -> FinancialRecord:
    from django.utils import timezone

    return FinancialRecord.objects.create(
        person=person,
        category=category,
        kind=kind,
        amount=Decimal(str(amount)),
        valid_from=valid_from,
        valid_to=valid_to,
        new_employment=new_employment,
        voided_at=timezone.now() if voided else None,
    )
