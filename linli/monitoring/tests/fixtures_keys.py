"""Fixtures of the key-household tests: who handles key households, households in both
grids of the test town, an alert, and a clock frozen on a month's last day (the month
arithmetic's hard case)."""

from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from linli.core.roles import Role
from linli.core.testing.factories import make_user
from linli.monitoring.models import Alert, RiskRule, Severity
from linli.people.models import Household

CHINA = ZoneInfo("Asia/Shanghai")
# Saturday 31 January 2026, 10:00 China time: the next month has 28 days.
NOW = dt.datetime(2026, 1, 31, 10, 0, tzinfo=CHINA)
TODAY = NOW.date()
API = "/api/v1/monitoring"
_numbers = itertools.count(1)

__all__ = ["api_as", "clock", "english", "fast_passwords", "homes", "rule", "staff"]


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock():
    """Frozen at NOW; `clock.move_to(...)` moves it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def staff(town, grid_worker, neighbour, street_officer, auditor):
    return SimpleNamespace(
        grid=grid_worker,  # town.grid: follows up, cannot add or release
        neighbour=neighbour,  # town.other_grid
        community=make_user("community", Role.COMMUNITY_WORKER, [town.community]),
        street=street_officer,
        other_street=make_user("otherstreet", Role.STREET_OFFICER, [town.other_street]),
        bureau=make_user("bureau", Role.CIVIL_AFFAIRS, [town.district]),
        auditor=auditor,
        resident=make_user("resident", Role.RESIDENT),
    )


def make_household(building, status: str = "active") -> Household:
    n = next(_numbers)
    return Household.objects.create(
        number=f"K{n:06d}", address=f"测试路 {n} 号", building=building, status=status
    )


@pytest.fixture
def homes(town):
    return SimpleNamespace(
        mine=make_household(town.building),
        second=make_household(town.building),
        other=make_household(town.other_building),
    )


@pytest.fixture
def rule(db):
    return RiskRule.objects.create(
        code="marginal",
        name="Marginal income",
        kind="marginal_income",
        severity=Severity.HIGH,
        template="per-capita income {per_capita} 元",
        valid_from=dt.date(2025, 1, 1),
    )


def make_alert(household: Household, rule: RiskRule, state: str = "open") -> Alert:
    return Alert.objects.create(
        household=household,
        rule=rule,
        rule_code=rule.code,
        severity=rule.severity,
        explanation=f"per-capita income 612 元 ({household.number})",
        snapshot={"per_capita": 612},
        state=state,
    )


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def api_as():
    """api_as(user).get/post(path, body) — an API client with the user's token."""
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

    return Caller
