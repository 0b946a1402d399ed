"""Fixtures of the eligibility-check API and page tests: the demo policies of the town's
district, staff of the street, a registered household with the facts the engine reads, and an
API caller."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.test import Client

from linli.assistance.policies import ensure_demo_policies
from linli.core.roles import Role
from linli.core.services import api_token_issue
from linli.core.testing.factories import make_id_number, make_user
from linli.people.models import (
    FinancialRecord,
    Household,
    LegalSupporter,
    Person,
    SelfCareAssessment,
    SeriousIllness,
)

ASSESS = "/api/v1/assistance/assess"
ON = dt.date(2026, 3, 15)
_numbers = itertools.count(1)


@pytest.fixture
def demo_policies(town):
    urban, rural = ensure_demo_policies(town.district)
    return urban, rural


@pytest.fixture
def urban_version(demo_policies):
    return demo_policies[0].versions.get()


@pytest.fixture
def caseworker(town):
    return make_user("caseworker", Role.COMMUNITY_WORKER, [town.community])


def make_person(household: Household, name: str, birth: dt.date, **kw) -> Person:
    return Person.objects.create(
        household=household,
        name=name,
        id_number=make_id_number(birth=birth, sequence=next(_numbers) % 999),
        birth_date=birth,
        sex="M",
        **kw,
    )


def make_household(building, registration: str = "urban") -> Household:
    number = next(_numbers)
    return Household.objects.create(
        number=f"A{number:06d}",
        address=f"测试路 {number} 号",
        building=building,
        registration=registration,
    )


def record(person: Person, kind: str, amount: str, category: str = "income", **kw):
    kw.setdefault("valid_from", dt.date(2025, 1, 1))
    return FinancialRecord.objects.create(
        person=person, category=category, kind=kind, amount=Decimal(amount), **kw
    )


@pytest.fixture
def registered(town):
    """A household of the street: an elder (78, two items of self-care not managed, one
    supporter unable) and a daughter with a grade-2 physical disability and a wage.

    Income on 2026-03-15: wage 1500 − employment cost 300 − social insurance 100 = 1100;
    the elder's basic pension 200 is exempt. Per capita 550.00 < 800: 低保, 1600 − 1100 = 500.
    """
    household = make_household(town.building)
    elder = make_person(household, "王秀英", dt.date(1948, 2, 1), relation="head")
    daughter = make_person(
        household,
        "李小红",
        dt.date(1985, 7, 9),
        relation="child",
        disability_category="physical",
        disability_grade=2,
        work_capacity="partial",
    )
    gone = make_person(household, "李建国", dt.date(1946, 1, 1), relation="spouse")
    gone.status = "deceased"
    gone.died_on = dt.date(2025, 10, 1)
    gone.save()
    record(elder, "basic_pension", "200")
    record(daughter, "wage", "1500")
    record(daughter, "social_insurance", "100")
    record(daughter, "wage", "9999", valid_to=dt.date(2024, 12, 31), valid_from=dt.date(2024, 1, 1))
    voided = record(daughter, "business", "5000")
    FinancialRecord.objects.filter(pk=voided.pk).update(
        voided_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    record(daughter, "medical", "6000", category="expenditure", valid_from=dt.date(2025, 12, 1))
    record(elder, "savings", "12000", category="asset")
    SelfCareAssessment.objects.create(
        person=elder,
        assessed_on=dt.date(2025, 6, 1),
        assessor="街道",
        eating=True,
        dressing=True,
        bed_transfer=True,
        toileting=True,
        indoor_walking=True,
        bathing=True,
    )
    SelfCareAssessment.objects.create(
        person=elder,
        assessed_on=dt.date(2026, 1, 5),
        assessor="街道",
        eating=True,
        dressing=False,
        bed_transfer=True,
        toileting=True,
        indoor_walking=True,
        bathing=False,
    )
    LegalSupporter.objects.create(
        person=elder, supporter=gone, relation="spouse", able_to_support=True
    )
    LegalSupporter.objects.create(
        person=elder, supporter_name="李强", relation="child", able_to_support=False
    )
    SeriousIllness.objects.create(
        person=daughter, illness="乳腺癌", diagnosed_on=dt.date(2025, 9, 1)
    )
    return household


class Caller:
    """A client with the user's API token; `language` sets Accept-Language."""

    def __init__(self, user, language: str = "en") -> None:
        _token, key = api_token_issue(actor=None, user=user, name="test")
        self.headers = {"Authorization": f"Bearer {key}", "Accept-Language": language}
        self.client = Client()

    def post(self, body, **headers):
        return self.client.post(
            ASSESS, body, content_type="application/json", headers={**self.headers, **headers}
        )

    def get(self, path, data=None):
        return self.client.get(path, data or {}, headers=self.headers)


def body(**more) -> dict:
    """A request for one pensioner (retirement pension 600) under a stored version."""
    household = more.pop("household", None) or {
        "members": [
            {
                "key": "m1",
                "name": "张大山",
                "birth_date": "1958-05-01",
                "relation": "head",
                "incomes": [{"kind": "retirement_pension", "amount": "600.00"}],
            }
        ]
    }
    return {"on": ON.isoformat(), "household": household, **more}
