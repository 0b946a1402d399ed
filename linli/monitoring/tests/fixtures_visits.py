"""Fixtures of the home-visit tests: the town's staff, rules of every severity, households
with members (the householder's ID number is masked on the pages), the demo assistance policy
(referrals assess the household), the cases taxonomy (referrals open cases), and a clock frozen
on a Wednesday morning (the calendar Monday to Friday)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from linli.core import workdays
from linli.core.roles import Role
from linli.core.testing.factories import make_id_number, make_user
from linli.monitoring.models import Alert, HomeVisit, RiskRule, Severity
from linli.people.models import FinancialRecord, Household, Person

CHINA = ZoneInfo("Asia/Shanghai")
# Wednesday 4 March 2026, 10:00 China time.
NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=CHINA)
API = "/api/v1/monitoring"
_numbers = itertools.count(1)

__all__ = [
    "api_as",
    "clock",
    "fast_passwords",
    "fresh_calendar",
    "homes",
    "policy",
    "rules",
    "staff",
    "taxonomy",
]


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_calendar():
    workdays.reset()
    yield
    workdays.reset()


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def staff(town, grid_worker, neighbour, street_officer, auditor):
    return SimpleNamespace(
        grid=grid_worker,  # town.grid
        neighbour=neighbour,  # town.other_grid
        community=make_user("v_community", Role.COMMUNITY_WORKER, [town.community]),
        street=street_officer,
        bureau=make_user("v_bureau", Role.CIVIL_AFFAIRS, [town.district]),
        auditor=auditor,
        resident=make_user("v_resident", Role.RESIDENT),
    )


@pytest.fixture
def rules(db):
    def rule(code, severity, program=""):
        return RiskRule.objects.create(
            code=code,
            name=code,
            kind="marginal_income",
            severity=severity,
            template="per-capita income {per_capita} 元",
            program=program,
            valid_from=dt.date(2025, 1, 1),
        )

    return {
        Severity.LOW: rule("low", Severity.LOW),
        Severity.MEDIUM: rule("medium", Severity.MEDIUM),
        Severity.HIGH: rule("marginal", Severity.HIGH, "minimum_living"),
        Severity.SEVERE: rule("severe", Severity.SEVERE),
    }


def make_household(building, wage: int = 500) -> Household:
    n = next(_numbers)
    household = Household.objects.create(
        number=f"V{n:06d}", address=f"走访路 {n} 号", building=building
    )
    head = Person.objects.create(
        household=household,
        relation="head",
        name=f"王{n}山",
        id_number=make_id_number(birth=dt.date(1960, 1, 1), sequence=n % 499),
        birth_date=dt.date(1960, 1, 1),
        sex="M",
    )
    FinancialRecord.objects.create(
        person=head,
        category="income",
        kind="wage",
        amount=Decimal(wage),
        valid_from=dt.date(2025, 1, 1),
    )
    return household


@pytest.fixture
def homes(town):
    return SimpleNamespace(
        mine=make_household(town.building),
        second=make_household(town.building),
        other=make_household(town.other_building),
    )


def make_alert(household, rule, state="open", opened_at=None) -> Alert:
    return Alert.objects.create(
        household=household,
        rule=rule,
        rule_code=rule.code,
        severity=rule.severity,
        explanation="per-capita income 500 元",
        snapshot={"per_capita": "500.00"},
        state=state,
        opened_at=opened_at or NOW - dt.timedelta(days=1),
    )


def make_visit(alert, grid, assignee=None, due_at=None, state="pending") -> HomeVisit:
    return HomeVisit.objects.create(
        alert=alert,
        household=alert.household,
        grid=grid,
        assignee=assignee,
        due_at=due_at or NOW + dt.timedelta(days=2),
        state=state,
    )


@pytest.fixture
def taxonomy(db):
    from linli.cases.models import Category
    from linli.cases.seeding import load_reference_data

    load_reference_data()
    workdays.reset()
    return {c.code: c for c in Category.objects.all()}


@pytest.fixture
def policy(town):
    from linli.assistance.models import PolicySet, PolicyVersion
    from linli.assistance.policy import demo_parameters

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
def api_as():
    from linli.core.services import api_token_issue

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
