"""Fixtures of the benefits tests: the people who manage benefits, the demo policy, and
benefits made straight in the database (as an approval would leave them)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine

from linli.assistance.models import (
    Application,
    ApplicationChannel,
    ApplicationState,
    Benefit,
    PolicySet,
    PolicyVersion,
    Program,
)
from linli.assistance.policy import demo_parameters
from linli.core.roles import Role
from linli.core.testing.factories import make_id_number, make_user
from linli.people.models import FinancialRecord, Household, Person

CHINA = ZoneInfo("Asia/Shanghai")
# A Tuesday morning in March 2026; every benefits test runs frozen at it unless it moves on.
NOW = dt.datetime(2026, 3, 10, 9, 30, tzinfo=CHINA)
TODAY = NOW.date()
_numbers = itertools.count(1)

# The fixtures, for `from .fixtures_benefits import *` in the test modules.
__all__ = ["clock", "fast_passwords", "home", "policy", "staff"]


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock():
    """Frozen at NOW; `clock.move_to(...)` moves it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def staff(town, grid_worker, street_officer, auditor):
    """Who touches benefits: the grid and community (view, investigate), the street officer
    (decides for the street), the district bureau (everything), the neighbouring street's
    officer (outside), an auditor (view only) and a resident."""
    return SimpleNamespace(
        grid=grid_worker,
        community=make_user("community", Role.COMMUNITY_WORKER, [town.community]),
        street=street_officer,
        bureau=make_user("bureau", Role.CIVIL_AFFAIRS, [town.district]),
        neighbour=make_user("neighbourstreet", Role.STREET_OFFICER, [town.other_street]),
        auditor=auditor,
        resident=make_user("resident", Role.RESIDENT),
    )


@pytest.fixture
def policy(town) -> PolicyVersion:
    """The district's urban demo policy (standard 800 元), in force since 2024."""
    policy_set = PolicySet.objects.create(
        locality=town.district, registration="urban", name="东营区 城镇"
    )
    return PolicyVersion.objects.create(
        policy_set=policy_set,
        valid_from=dt.date(2024, 1, 1),
        parameters=demo_parameters(rural=False).as_json(),
    )


def make_household(building, *, members: int = 2, name: str = "王") -> tuple[Household, list]:
    number = next(_numbers)
    household = Household.objects.create(
        number=f"B{number:06d}", address=f"幸福路 {number} 号", building=building
    )
    persons = []
    for index in range(members):
        birth = dt.date(1960 + index * 20, 5, 1 + number % 27)
        persons.append(
            Person.objects.create(
                household=household,
                relation="head" if index == 0 else "child",
                name=f"{name}{'大小'[index % 2]}{number}",
                id_number=make_id_number(birth=birth, sequence=(number * 5 + index) % 499),
                birth_date=birth,
                sex="M",
            )
        )
    return household, persons


def add_income(person: Person, kind: str, amount: str, *, since=dt.date(2025, 1, 1)):
    return FinancialRecord.objects.create(
        person=person,
        category="income",
        kind=kind,
        amount=Decimal(amount),
        valid_from=since,
    )


def make_benefit(
    household: Household,
    recipient: Person,
    policy: PolicyVersion,
    *,
    program: str = Program.MINIMUM_LIVING,
    amount: str = "1600.00",
    start_month: dt.date = dt.date(2025, 6, 1),
    credit_route: bool = False,
    **extra,
) -> Benefit:
    application = None
    if credit_route:
        application = Application.objects.create(
            household=household,
            applicant=recipient,
            program=program,
            channel=ApplicationChannel.WINDOW,
            credit_route=True,
            pledge_signed_at=NOW - dt.timedelta(days=60),
            state=ApplicationState.APPROVED,
        )
    return Benefit.objects.create(
        household=household,
        recipient=recipient,
        program=program,
        classification=extra.pop("classification", "A"),
        persons_covered=extra.pop("persons_covered", len(household.members.all())),
        monthly_amount=Decimal(amount),
        start_month=start_month,
        application=application,
        policy_version=policy,
        next_review_on=extra.pop("next_review_on", dt.date(2026, 6, 1)),
        # Decided ten days before the month it is first paid for.
        created_at=dt.datetime.combine(start_month, dt.time(10), CHINA) - dt.timedelta(days=10),
        **extra,
    )


@pytest.fixture
def home(town, policy, clock):
    """A two-member household in the street officer's street receiving 低保 1,600 元, and one
    in the neighbouring street."""
    household, (head, child) = make_household(town.building)
    other, (other_head, _other_child) = make_household(town.other_building, name="李")
    return SimpleNamespace(
        household=household,
        head=head,
        child=child,
        benefit=make_benefit(household, head, policy),
        other_household=other,
        other_benefit=make_benefit(other, other_head, policy),
    )
