"""Fixtures of the alerts and overview tests: three risk rules made here, alerts planted
straight into the two sibling jurisdictions of `town` in every state, home visits (one
overdue, one with a record that referred to assistance) and key households.

Hand counts (what the tests compare the overview with), for `town.street` / `town.community`:
  open:     a1 (income, high, building 1), a3 (care, severe, building 1),
            a5 (elderly, medium, building 2 — no position)
  visiting: a2 (elderly, medium, building 1)
  resolved: a4 (income);   dismissed: none
  → open alerts 4 (income 1, care 1, elderly 2; severe 1, high 1, medium 2)
  visits: pending 2 (one overdue), escalated 0; key households 1 (overdue 1)
Neighbour's street: a6 open (income, high, building 9), a7 referred (care); key 1 (not due).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import pytest
import time_machine
from django.utils import timezone

from linli.core.roles import Role
from linli.core.testing.factories import make_id_number, make_place, make_user
from linli.monitoring import rules as rule_data
from linli.monitoring.models import (
    Alert,
    AlertState,
    HomeVisit,
    KeyHousehold,
    RiskRule,
    RuleKind,
    Severity,
    VisitRecord,
)
from linli.people.models import Household, Person
from linli.places.models import PlaceLevel

NOW = dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
_serial = itertools.count(1)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def community_worker(town):
    return make_user("communityworker", Role.COMMUNITY_WORKER, [town.community])


@pytest.fixture
def civil_affairs(town):
    return make_user("civilaffairs", Role.CIVIL_AFFAIRS, [town.district])


def make_rule(code: str, kind: str, severity: int, template: str, zh: str) -> RiskRule:
    return RiskRule.objects.create(
        code=code,
        name=code.replace("-", " ").capitalize(),
        kind=kind,
        parameters=rule_data.validate_parameters(kind, {}),
        severity=severity,
        template=template,
        translations={"zh-hans": zh},
        valid_from=dt.date(2026, 1, 1),
    )


def make_household(building, head_name: str) -> Household:
    n = next(_serial)
    h = Household.objects.create(
        number=f"OV{n:05d}", address=f"测试路 {n} 号", building=building, registration="urban"
    )
    Person.objects.create(
        household=h,
        relation="head",
        name=head_name,
        id_number=make_id_number(birth=dt.date(1950, 1, 1), sequence=400 + n),
        birth_date=dt.date(1950, 1, 1),
        sex="M",
    )
    return h


def make_alert(household, rule: RiskRule, snapshot: dict, state: str = AlertState.OPEN) -> Alert:
    closed = state in (AlertState.RESOLVED, AlertState.REFERRED, AlertState.DISMISSED)
    return Alert.objects.create(
        household=household,
        rule=rule,
        rule_code=rule.code,
        severity=rule.severity,
        explanation=rule_data.explain(rule, snapshot, "en"),
        snapshot=snapshot,
        state=state,
        opened_at=NOW - dt.timedelta(days=10),
        resolved_at=NOW - dt.timedelta(days=1) if closed else None,
        resolution="condition no longer holds" if closed else "",
    )


@dataclass
class World:
    town: object
    income: RiskRule
    elderly: RiskRule
    care: RiskRule
    building2: object
    h1: Household
    h2: Household
    h3: Household
    h4: Household
    h5: Household
    a1: Alert
    a2: Alert
    a3: Alert
    a4: Alert
    a5: Alert
    a6: Alert
    a7: Alert
    v_overdue: HomeVisit
    v_pending: HomeVisit
    record: VisitRecord
    key1: KeyHousehold


@pytest.fixture
def world(town, frozen, grid_worker) -> World:
    income = make_rule(
        "ov-income",
        RuleKind.MARGINAL_INCOME,
        Severity.HIGH,
        "Per-capita income {per_capita} yuan is below {multiple} × the local minimum "
        "({bound} yuan).",
        "人均收入{per_capita}元，低于当地低保标准{multiple}倍（{bound}元）",
    )
    elderly = make_rule(
        "ov-elderly",
        RuleKind.ELDERLY_ALONE,
        Severity.MEDIUM,
        "A person aged {age} {situation}.",
        "{age}岁老人{situation}",
    )
    care = make_rule(
        "ov-care",
        RuleKind.DISABLED_WITHOUT_CARE,
        Severity.SEVERE,
        "A member aged {age} with a grade {grade} disability has no able carer.",
        "{age}岁{grade}级残疾成员，无人照料",
    )
    town.building.lat, town.building.lng = 37.005, 118.005
    town.building.save(update_fields=["lat", "lng"])
    town.other_building.lat, town.other_building.lng = 37.005, 118.015
    town.other_building.save(update_fields=["lat", "lng"])
    building2 = make_place("370502001001001002", "2号楼", PlaceLevel.BUILDING, town.grid)

    h1 = make_household(town.building, "张三丰")
    h2 = make_household(town.building, "王小明")
    h3 = make_household(town.building, "赵四")
    h4 = make_household(building2, "钱五")
    h5 = make_household(town.other_building, "李大嘴")

    money = {
        "per_capita": "612.00",
        "bound": "1140.00",
        "standard": "760.00",
        "multiple": "1.5",
        "members": 2,
        "monthly_income": "1224.00",
    }
    a1 = make_alert(h1, income, money)
    a2 = make_alert(h1, elderly, {"age": 84, "situation": "alone", "grade": None}, "visiting")
    a3 = make_alert(h2, care, {"age": 45, "grade": 1})
    a4 = make_alert(h3, income, money, AlertState.RESOLVED)
    a5 = make_alert(h4, elderly, {"age": 90, "situation": "disabled", "grade": 2})
    a6 = make_alert(h5, income, money)
    a7 = make_alert(h5, care, {"age": 50, "grade": 2}, AlertState.REFERRED)

    v_overdue = HomeVisit.objects.create(
        alert=a2,
        household=h1,
        grid=town.grid,
        assignee=grid_worker,
        due_at=NOW - dt.timedelta(days=2),
        attempts=1,
    )
    record = VisitRecord.objects.create(
        visit=v_overdue,
        idempotency_key="ov-record-1",
        visited_at=NOW - dt.timedelta(days=3),
        visitor=grid_worker,
        met="户主",
        findings="无人在家",
        outcome="unreachable",
        referral={"application": 4242},
    )
    v_pending = HomeVisit.objects.create(
        alert=a3, household=h2, grid=town.grid, due_at=NOW + dt.timedelta(days=1)
    )
    HomeVisit.objects.create(
        alert=a7,
        household=h5,
        grid=town.other_grid,
        due_at=NOW - dt.timedelta(days=5),
        state="done",
        outcome="refer_assistance",
    )
    today = timezone.localdate()
    key1 = KeyHousehold.objects.create(
        household=h1,
        reason="独居高龄",
        since=dt.date(2026, 3, 1),
        next_follow_up_on=today - dt.timedelta(days=3),
        alert=a2,
    )
    KeyHousehold.objects.create(
        household=h3,
        reason="已脱困",
        since=dt.date(2026, 1, 1),
        next_follow_up_on=today - dt.timedelta(days=30),
        released_on=today - dt.timedelta(days=20),
        release_reason="收入恢复",
    )
    KeyHousehold.objects.create(
        household=h5, reason="重病", since=dt.date(2026, 5, 1), next_follow_up_on=today
    )
    return World(
        town=town,
        income=income,
        elderly=elderly,
        care=care,
        building2=building2,
        h1=h1,
        h2=h2,
        h3=h3,
        h4=h4,
        h5=h5,
        a1=a1,
        a2=a2,
        a3=a3,
        a4=a4,
        a5=a5,
        a6=a6,
        a7=a7,
        v_overdue=v_overdue,
        v_pending=v_pending,
        record=record,
        key1=key1,
    )
