"""Fixtures of the application tests: the demo policy from 2020 for the town's district, everyone
in the workflow, and households whose assessment is known (poor, marginal, well off, an elderly
person alone for 特困). Time stands still on a Monday (2026-03-02, 10:00 in Beijing) unless a
test moves it; the calendar is Monday to Friday."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine
from django.test import Client

from linli.assistance import applications as services
from linli.assistance.models import PolicySet, PolicyVersion
from linli.assistance.policy import demo_parameters
from linli.core import workdays
from linli.core.roles import Role
from linli.core.services import api_token_issue
from linli.core.testing.factories import make_id_number, make_user
from linli.people.models import FinancialRecord, Household, Person

# The fixtures, for `from .fixtures_applications import *` in the test modules (the helpers
# below are imported by name).
__all__ = [
    "as_",
    "clock",
    "fast_passwords",
    "fresh_calendar_cache",
    "homes",
    "policy",
    "staff",
]

MONDAY = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
API = "/api/v1/assistance"
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_calendar_cache():
    workdays.reset()
    yield
    workdays.reset()


@pytest.fixture
def clock():
    """Time frozen on MONDAY; `clock.move_to(moment)` moves it."""
    with time_machine.travel(MONDAY, tick=False) as traveller:
        yield traveller


@pytest.fixture
def policy(town):
    """The demo policy (Qinghai's figures: urban standard 800 元) for the district from 2020."""
    versions = {}
    for registration, rural in (("urban", False), ("rural", True)):
        policy_set = PolicySet.objects.create(
            locality=town.district, registration=registration, name=f"东营区 {registration}"
        )
        versions[registration] = PolicyVersion.objects.create(
            policy_set=policy_set,
            valid_from=dt.date(2020, 1, 1),
            parameters=demo_parameters(rural=rural).as_json(),
        )
    return versions


@pytest.fixture
def staff(town, admin):
    return SimpleNamespace(
        grid=make_user("a_grid", Role.GRID_WORKER, [town.grid]),
        community=make_user("a_community", Role.COMMUNITY_WORKER, [town.community]),
        street=make_user("a_street", Role.STREET_OFFICER, [town.street]),
        street2=make_user("a_street2", Role.STREET_OFFICER, [town.street]),
        other_street=make_user("a_other_street", Role.STREET_OFFICER, [town.other_street]),
        bureau=make_user("a_bureau", Role.CIVIL_AFFAIRS, [town.district]),
        auditor=make_user("a_auditor", Role.AUDITOR, [town.district]),
        resident=make_user("a_resident", Role.RESIDENT),
        other_resident=make_user("a_resident2", Role.RESIDENT),
        admin=admin,
    )


def make_household(
    building,
    members: list[dict],
    *,
    registration: str = "urban",
) -> tuple[Household, list[Person]]:
    """A household with members given as {"birth": date, "wage": amount, "name": …, …}."""
    number = next(_numbers)
    household = Household.objects.create(
        number=f"A{number:06d}", address=f"幸福路 {number} 号", building=building,
        registration=registration,
    )  # fmt: skip
    persons = []
    for index, spec in enumerate(members):
        birth = spec.get("birth", dt.date(1980, 1, 1))
        person = Person.objects.create(
            household=household,
            relation="head" if index == 0 else spec.get("relation", "child"),
            name=spec.get("name", f"王{number}{'一二三四五六'[index]}"),
            id_number=make_id_number(birth=birth, sequence=(number * 7 + index) % 499),
            birth_date=birth,
            sex="M",
            work_capacity=spec.get("work_capacity", ""),
            account=spec.get("account"),
        )
        if spec.get("wage"):
            FinancialRecord.objects.create(
                person=person,
                category="income",
                kind="wage",
                amount=Decimal(spec["wage"]),
                valid_from=dt.date(2025, 1, 1),
            )
        persons.append(person)
    return household, persons


@pytest.fixture
def homes(town, staff):
    """poor: two members, wages 500 (低保: 800 × 2 − 400 = 1,200 a month); marginal: one
    member, wage 1,200 (counted 960, between 800 and 1,200); rich: wage 9,000; alone: a man of
    80 without income or supporters (特困); elsewhere: a poor household in the other street.
    The resident's account belongs to the poor household's head."""
    poor, poor_members = make_household(
        town.building,
        [
            {"wage": 500, "name": "张大山", "account": staff.resident},
            {"birth": dt.date(2015, 5, 1)},
        ],
    )
    marginal, _members = make_household(town.building, [{"wage": 1200}])
    rich, _members = make_household(town.building, [{"wage": 9000}])
    alone, alone_members = make_household(
        town.building, [{"birth": dt.date(1945, 5, 1), "name": "赵老汉"}]
    )
    elsewhere, _members = make_household(
        town.other_building, [{"wage": 300}, {"birth": dt.date(2016, 1, 1)}]
    )
    return SimpleNamespace(
        poor=poor,
        poor_members=poor_members,
        marginal=marginal,
        rich=rich,
        alone=alone,
        alone_members=alone_members,
        elsewhere=elsewhere,
    )


def submit(actor, household, program="minimum_living", **more):
    return services.application_submit(
        actor=actor, household_id=household.pk, program=program, **more
    )


def act(actor, application, action, **fields):
    return services.application_act(
        actor=actor, application_id=application.pk, action=action, **fields
    )


def investigate(actor, application, **more):
    return act(
        actor, application, "investigate", visitors="李四、王五", findings="家中确实困难", **more
    )


def to_decision(staff, application, clock):
    """Accept, investigate, notice for 7 days, end the notice: awaiting the decision."""
    act(staff.street, application, "accept")
    investigate(staff.community, application)
    act(staff.street, application, "start_notice")
    clock.move_to(MONDAY + dt.timedelta(days=7))
    return act(staff.street, application, "end_notice")


@pytest.fixture
def as_():
    """as_(user).get/post(path, …) — an API client with the user's token."""

    class Caller:
        def __init__(self, user):
            _, key = api_token_issue(actor=None, user=user, name="test")
            self.headers = {"Authorization": f"Bearer {key}", "Accept-Language": "en"}
            self.client = Client()

        def get(self, path, data=None):
            return self.client.get(API + path, data or {}, headers=self.headers)

        def post(self, path, body=None):
            return self.client.post(
                API + path, body or {}, content_type="application/json", headers=self.headers
            )

        def upload(self, path, data):
            return self.client.post(API + path, data, headers=self.headers)

    return Caller
