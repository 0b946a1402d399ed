"""Fixtures of the payment-cycle tests: a street's maker and the district's checkers, the demo
policies, recipients with benefits and bank accounts built straight into the registry."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from linli.assistance import payments
from linli.assistance.models import Benefit, PaymentCycle, PolicyVersion, Recovery
from linli.assistance.policies import ensure_demo_policies
from linli.core.roles import Role
from linli.core.testing.factories import make_id_number, make_place, make_user
from linli.people.models import BankAccount, Household, Person
from linli.places.models import PlaceLevel

MONTH = dt.date(2026, 3, 1)
NOW = dt.datetime(2026, 3, 10, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
_serial = itertools.count(1)


@pytest.fixture(autouse=True)
def march_2026():
    """Cycles are prepared at most for next month: the tests run on 10 March 2026."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people(town):
    """maker: the street officer who prepares cycles (colleague: another, who may not approve
    either); checker and checker2: the district's
    civil-affairs officers who approve them; viewer: a community worker; outsider: the other
    street's officer."""
    ensure_demo_policies(town.district)
    second_community = make_place("370502001002", "胜利社区", PlaceLevel.COMMUNITY, town.street)
    second_grid = make_place("370502001002001", "胜利一网格", PlaceLevel.GRID, second_community)
    second_building = make_place("370502001002001001", "2号楼", PlaceLevel.BUILDING, second_grid)
    return SimpleNamespace(
        maker=make_user("maker", Role.STREET_OFFICER, [town.street]),
        colleague=make_user("colleague", Role.STREET_OFFICER, [town.street]),
        checker=make_user("checker", Role.CIVIL_AFFAIRS, [town.district]),
        checker2=make_user("checker2", Role.CIVIL_AFFAIRS, [town.district]),
        viewer=make_user("viewer", Role.COMMUNITY_WORKER, [town.community]),
        outsider=make_user("outsider", Role.STREET_OFFICER, [town.other_street]),
        buildings=[town.building, second_building],
        communities=[town.community, second_community],
    )


def make_recipient(
    building,
    *,
    name: str | None = None,
    registration: str = "urban",
    account: str | None = "auto",
    members: int = 1,
) -> Person:
    n = next(_serial)
    household = Household.objects.create(
        number=f"P{n:07d}", address=f"幸福路 {n} 号", building=building, registration=registration
    )
    birth = dt.date(1950 + n % 40, 1 + n % 12, 1 + n % 28)
    person = Person(
        household=household,
        relation="head",
        name=name or f"受助人{n}",
        id_number=make_id_number(birth=birth, sequence=n % 499),
    )
    person.full_clean()
    person.save()
    for index in range(1, members):
        other = Person(
            household=household,
            relation="child",
            name=f"家属{n}-{index}",
            id_number=make_id_number(birth=dt.date(2010, 1 + index, 1), sequence=(n + index) % 499),
        )
        other.full_clean()
        other.save()
    if account == "auto":
        account = f"6222{n:015d}"
    if account:
        BankAccount.objects.create(
            person=person, bank="工商银行", account_number=account, holder_name=person.name
        )
    return person


def make_benefit(
    person: Person,
    *,
    amount: str = "800.00",
    program: str = "minimum_living",
    status: str = "active",
    start: dt.date = dt.date(2026, 1, 1),
    end: dt.date | None = None,
    phase_out_until: dt.date | None = None,
    persons_covered: int = 1,
) -> Benefit:
    version = PolicyVersion.objects.filter(
        policy_set__registration=person.household.registration
    ).first()
    return Benefit.objects.create(
        household=person.household,
        recipient=person,
        program=program,
        persons_covered=persons_covered,
        monthly_amount=Decimal(amount),
        start_month=start,
        end_month=end,
        status=status,
        phase_out_until=phase_out_until,
        policy_version=version,
    )


def make_recovery(benefit: Benefit, amount: str, recovered: str = "0") -> Recovery:
    return Recovery.objects.create(
        benefit=benefit, amount=Decimal(amount), recovered=Decimal(recovered), reason="多领追回"
    )


def start_and_generate(actor, street, month=MONTH, program="minimum_living") -> PaymentCycle:
    cycle = payments.cycle_start(actor=actor, program=program, street_id=street.pk, month=month)
    return payments.cycle_generate(cycle_id=cycle.pk)


def through_export(people, street, month=MONTH, program="minimum_living"):
    """Generate, approve, export (CSV): the cycle and its bank file."""
    cycle = start_and_generate(people.maker, street, month, program)
    payments.cycle_approve(actor=people.checker, cycle_id=cycle.pk)
    bank_file = payments.cycle_export(actor=people.maker, cycle_id=cycle.pk, file_format="csv")
    cycle.refresh_from_db()
    return cycle, bank_file


def return_csv(rows, name="return.csv", header=None) -> SimpleUploadedFile:
    """A return file: rows of (account, name, amount, result, reason)."""
    lines = [header or "账号,户名,金额（元）,结果,原因"]
    lines += [",".join(str(v) for v in row) for row in rows]
    return SimpleUploadedFile(name, ("\n".join(lines) + "\n").encode(), "text/csv")


def answer_all(bank_file, failed: dict[str, str] | None = None):
    """A return file answering every row of the bank file: paid, or failed with a reason."""
    failed = failed or {}
    out = []
    for account, name, amount in bank_file_rows(bank_file):
        if account in failed:
            out.append((account, name, amount, "失败", failed[account]))
        else:
            out.append((account, name, amount, "成功", ""))
    return out


def bank_file_rows(bank_file) -> list[list[str]]:
    """The rows of a CSV bank file, without its header, total and checksum rows."""
    lines = list(csv.reader(io.StringIO(bank_file.content.decode("utf-8-sig"))))
    return lines[1:-2]
