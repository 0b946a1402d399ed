"""Fixtures of the supervision and statistics tests: the demo policy, households and their
members made through the registry's services, and benefits, cycles and payments written
straight into their tables (their own services are tested elsewhere)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine

from linli.assistance.models import (
    Benefit,
    Payment,
    PaymentCycle,
    PolicySet,
    PolicyVersion,
)
from linli.assistance.policy import demo_parameters
from linli.core.roles import Role
from linli.core.testing.factories import make_id_number, make_user
from linli.people import services as people_services
from linli.people.models import BankAccount, Household, Person

NOW = dt.datetime(2026, 6, 15, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
TODAY = NOW.date()
_serial = itertools.count(1)


@pytest.fixture(autouse=True)
def mid_june_2026():
    """The checks read today's date (current assets, deaths): the tests run on 15 June 2026."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def month(m: int, year: int = 2026) -> dt.date:
    return dt.date(year, m, 1)


class World:
    """Builds recipients in the town: households through the registry's services, benefits,
    cycles and payments directly."""

    def __init__(self, town, admin) -> None:
        self.town = town
        self.admin = admin
        policy_set = PolicySet.objects.create(
            locality=town.district, registration="urban", name="东营区城市低保"
        )
        self.version = PolicyVersion.objects.create(
            policy_set=policy_set,
            valid_from=dt.date(2025, 1, 1),
            parameters=demo_parameters(rural=False).as_json(),
        )
        self.params = self.version.params

    def household(self, *, building=None, members: int = 1, name: str | None = None):
        """A household and its members (the first is the householder)."""
        n = next(_serial)
        building = building or self.town.building
        household = people_services.household_create(
            actor=self.admin, number=f"S{n:06d}", address=f"和平路 {n} 号", building_id=building.id
        )
        persons = []
        for index in range(members):
            persons.append(
                people_services.person_create(
                    actor=self.admin,
                    household_id=household.id,
                    relation="head" if index == 0 else "child",
                    name=(name or f"王{n}号") if index == 0 else f"王{n}-{index}",
                    id_number=make_id_number(
                        birth=dt.date(1960 + index * 20, 1 + n % 12, 1 + n % 28),
                        sequence=(n * 7 + index) % 499,
                    ),
                )
            )
        return household, persons

    def benefit(
        self,
        person: Person,
        *,
        program: str = "minimum_living",
        amount: str = "500.00",
        persons_covered: int = 1,
        status: str = "active",
        covers_person_only: bool = False,
        application=None,
    ) -> Benefit:
        return Benefit.objects.create(
            household=person.household,
            recipient=person,
            program=program,
            persons_covered=persons_covered,
            covers_person_only=covers_person_only,
            monthly_amount=Decimal(amount),
            start_month=month(1),
            status=status,
            policy_version=self.version,
            application=application,
        )

    def account(self, person: Person, number: str) -> BankAccount:
        return BankAccount.objects.create(
            person=person, bank="工商银行", account_number=number, holder_name=person.name
        )

    def cycle(self, street, program: str, for_month: dt.date) -> PaymentCycle:
        cycle, _created = PaymentCycle.objects.get_or_create(
            program=program,
            street=street,
            month=for_month,
            defaults={"prepared_by": self.admin, "state": "exported"},
        )
        return cycle

    def pay(
        self,
        benefit: Benefit,
        for_month: dt.date,
        *,
        amount: str | None = None,
        status: str = "paid",
        street=None,
        in_cycle_of: dt.date | None = None,
    ) -> Payment:
        """A payment for a month, in that month's cycle or a later one's (a retry, an arrear)."""
        street = street or self._street_of(benefit)
        value = Decimal(amount) if amount is not None else benefit.monthly_amount
        return Payment.objects.create(
            cycle=self.cycle(street, benefit.program, in_cycle_of or for_month),
            benefit=benefit,
            recipient=benefit.recipient,
            program=benefit.program,
            month=for_month,
            amount=value,
            entitlement=value,
            status=status,
            place_path=benefit.place_path,
        )

    def asset(self, person: Person, kind: str, amount: str, **more):
        return people_services.financial_record_create(
            actor=self.admin,
            person_id=person.id,
            category="asset",
            kind=kind,
            amount=Decimal(amount),
            valid_from=more.pop("valid_from", dt.date(2026, 1, 1)),
            **more,
        )

    def _street_of(self, benefit: Benefit):
        town = self.town
        return town.street if benefit.street_path == town.street.path else town.other_street


@pytest.fixture
def world(town, admin) -> World:
    return World(town, admin)


@pytest.fixture
def staff(town):
    """civil: the district's civil-affairs officer (supervises); street_civil: a civil-affairs
    officer bound to street A only; street: street A's officer (sees findings, cannot resolve);
    other_street: street B's officer; community: a community worker (no findings)."""
    return SimpleNamespace(
        civil=make_user("civil", Role.CIVIL_AFFAIRS, [town.district]),
        civil2=make_user("civil2", Role.CIVIL_AFFAIRS, [town.district]),
        street_civil=make_user("streetcivil", Role.CIVIL_AFFAIRS, [town.street]),
        street=make_user("officer_a", Role.STREET_OFFICER, [town.street]),
        other_street=make_user("officer_b", Role.STREET_OFFICER, [town.other_street]),
        community=make_user("community", Role.COMMUNITY_WORKER, [town.community]),
        auditor=make_user("auditor_d", Role.AUDITOR, [town.district]),
        resident=make_user("resident_x", Role.RESIDENT),
    )


def household_of(person: Person) -> Household:
    return Household.objects.get(pk=person.household_id)
