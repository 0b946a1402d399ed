"""Snapshots from the registry: the facts the engine reads, in a handful of queries whatever
the household's size; voided records, later assessments and dead supporters handled."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from linli.assistance.engine import assess
from linli.assistance.snapshot import household_snapshot, snapshot_from_payload
from linli.people.models import FinancialRecord

from . import fixtures_assess
from .fixtures_assess import ON, make_household, make_person, record
from .fixtures_engine import URBAN

registered = fixtures_assess.registered
pytestmark = pytest.mark.django_db


def test_snapshot_holds_what_the_engine_reads(registered):
    snapshot = household_snapshot(registered, ON)
    assert snapshot.household_id == registered.pk and snapshot.registration == "urban"
    elder, daughter, gone = snapshot.members
    assert (elder.name, elder.relation, elder.birth_date) == ("王秀英", "head", dt.date(1948, 2, 1))
    assert gone.status == "deceased" and gone.died_on == dt.date(2025, 10, 1)
    # The latest assessment on or before the date only.
    assert len(elder.self_care) == 1 and elder.self_care[0].assessed_on == dt.date(2026, 1, 5)
    assert elder.self_care[0].items_not_managed == 2
    # The registered spouse died before the date: unable to support, whatever was recorded.
    assert [(s.name, s.able_to_support) for s in elder.supporters] == [
        ("李建国", False),
        ("李强", False),
    ]
    assert daughter.disability_grade == 2 and daughter.work_capacity == "partial"
    assert [i.illness for i in daughter.illnesses] == ["乳腺癌"]
    # The voided business income is left out; the wage that ended in 2024 is outside the
    # 12 months (April 2025 on) and left out too.
    assert sorted((i.kind, i.amount) for i in daughter.incomes) == [
        ("social_insurance", Decimal("100.00")),
        ("wage", Decimal("1500.00")),
    ]
    assert [(e.kind, e.amount) for e in daughter.expenditures] == [("medical", Decimal("6000.00"))]
    assert [(a.kind, a.amount) for a in elder.assets] == [("savings", Decimal("12000.00"))]


def test_snapshot_takes_five_queries_whatever_the_size(town, django_assert_num_queries):
    household = make_household(town.building)
    for i in range(8):
        person = make_person(household, f"成员{i}", dt.date(1960 + i, 1, 1))
        record(person, "wage", "100")
        record(person, "savings", "10", category="asset")
    with django_assert_num_queries(5):
        snapshot = household_snapshot(household, ON)
    assert len(snapshot.members) == 8


def test_records_after_the_date_are_left_out(town):
    household = make_household(town.building)
    person = make_person(household, "甲", dt.date(1970, 1, 1))
    record(person, "wage", "3000", valid_from=dt.date(2026, 4, 1))
    later = household_snapshot(household, ON)
    assert later.members[0].incomes == ()
    voided = record(person, "retirement_pension", "700")
    FinancialRecord.objects.filter(pk=voided.pk).update(voided_at=timezone.now())
    assert household_snapshot(household, ON).members[0].incomes == ()


def test_registry_and_payload_snapshots_agree(registered):
    """The same household written as an API payload is assessed the same."""
    from_registry = assess(household_snapshot(registered, ON), URBAN, ON)
    payload = {
        "registration": "urban",
        "members": [
            {
                "key": str(m.key),
                "name": m.name,
                "birth_date": m.birth_date,
                "relation": m.relation,
                "status": m.status,
                "died_on": m.died_on,
                "work_capacity": m.work_capacity,
                "disability_category": m.disability_category,
                "disability_grade": m.disability_grade,
                "illnesses": [vars(i) for i in m.illnesses],
                "self_care": [vars(s) for s in m.self_care],
                "supporters": [vars(s) for s in m.supporters],
                "incomes": [vars(r) for r in m.incomes],
                "assets": [vars(r) for r in m.assets],
                "expenditures": [vars(r) for r in m.expenditures],
            }
            for m in household_snapshot(registered, ON).members
        ],
    }
    from_payload = assess(snapshot_from_payload(payload), URBAN, ON)
    assert from_payload.as_json() | {"household_id": None} == from_registry.as_json() | {
        "household_id": None
    }
