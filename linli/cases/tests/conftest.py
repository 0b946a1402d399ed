import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone

from linli.cases import notifications, services
from linli.cases.models import Case, Category
from linli.cases.seeding import load_reference_data
from linli.core import workdays
from linli.core.models import Department
from linli.core.roles import Role
from linli.core.testing.factories import make_user

# Inside town.grid (a 0.01° square from 118.00 E, 37.00 N) and town.other_grid (east of it).
HERE = (37.005, 118.005)
THERE = (37.005, 118.015)
RESIDENT = object()


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """A dozen accounts per test: the production hasher would take seconds to make them."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_calendar_cache():
    """The calendar is cached per process; each test sees its own database's."""
    workdays.reset()
    yield
    workdays.reset()


@pytest.fixture(autouse=True)
def fresh_enqueue_debounce():
    """Each test starts as a fresh process would: its first change enqueues the sender."""
    notifications.reset_enqueue_debounce()


@pytest.fixture
def taxonomy(db):
    load_reference_data()
    workdays.reset()
    return SimpleNamespace(
        cat={c.code: c for c in Category.objects.all()},
        dept={d.code: d for d in Department.objects.all()},
    )


@pytest.fixture
def actors(town, taxonomy, grid_worker, neighbour, street_officer, auditor):
    """Everyone in the loop; department handlers of the city-management bureau (CGJ) and of
    the water bureau (SWJ)."""

    def handler(name, code):
        user = make_user(name, Role.DEPARTMENT_HANDLER)
        user.departments.set([taxonomy.dept[code]])
        return user

    return SimpleNamespace(
        grid=grid_worker,
        neighbour=neighbour,
        community=make_user("communityworker", Role.COMMUNITY_WORKER, [town.community]),
        street=street_officer,
        operator=make_user("operator", Role.COMMAND_OPERATOR, [town.district]),
        auditor=auditor,
        resident=make_user("resident", Role.RESIDENT),
        other_resident=make_user("resident2", Role.RESIDENT),
        cgj=handler("cgj1", "CGJ"),
        cgj2=handler("cgj2", "CGJ"),
        swj=handler("swj1", "SWJ"),
        zjj=handler("zjj1", "ZJJ"),
    )


@pytest.fixture
def report(actors, taxonomy):
    """report(actor=…, code="SJ0101", point=HERE, **more) through the real service; the
    reporter is the resident unless given (None: anonymous)."""
    from linli.cases.services import case_report

    def make(actor=RESIDENT, code="SJ0101", point=HERE, description="路边有一堆垃圾", **more):
        if actor is RESIDENT:
            actor = actors.resident
        return case_report(
            actor=actor,
            category_id=taxonomy.cat[code].pk,
            description=description,
            lat=point[0] if point else None,
            lng=point[1] if point else None,
            **more,
        )

    return make


def loop(actors, case, *, rating=None, rework=False):
    """Register, dispatch to the category's department (CGJ), handle, verify, close, rate."""
    services.case_register(actor=actors.operator, case_id=case.pk)
    services.case_dispatch(actor=actors.operator, case_id=case.pk)
    services.case_accept(actor=actors.cgj, case_id=case.pk)
    services.case_report_handled(actor=actors.cgj, case_id=case.pk, evidence="已清运")
    if rework:
        services.case_verify(actor=actors.operator, case_id=case.pk, passed=False, note="没清干净")
        services.case_accept(actor=actors.cgj, case_id=case.pk)  # back in the same hands
        services.case_report_handled(actor=actors.cgj, case_id=case.pk, evidence="再次清运")
    services.case_verify(actor=actors.operator, case_id=case.pk, passed=True)
    services.case_close(actor=actors.operator, case_id=case.pk)
    if rating:
        services.case_rate(actor=actors.resident, case_id=case.pk, rating=rating)
    return Case.objects.get(pk=case.pk)


def shift(case, **deltas):
    """Move the case's moments into the past (the loop ran in a second; life takes days)."""
    case.refresh_from_db()
    for name, delta in deltas.items():
        setattr(case, name, getattr(case, name) - delta)
    case.save(update_fields=list(deltas))


@pytest.fixture
def year(actors, report, town):
    """Four cases this year in two streets, and one from two years ago."""
    fixed = loop(actors, report(), rating=5)
    shift(fixed, dispatched_at=dt.timedelta(hours=10))  # handled 10 h after dispatch
    late = report(code="SJ0102")
    services.case_register(actor=actors.operator, case_id=late.pk)
    services.case_dispatch(actor=actors.operator, case_id=late.pk)
    # Handling and closing deadlines already passed, and still open: late, not "unknown".
    Case.objects.filter(pk=late.pk).update(
        stage_deadline=timezone.now() - dt.timedelta(hours=1),
        due_at=timezone.now() - dt.timedelta(hours=1),
    )
    rejected = report(point=THERE, description="其他街道的事")
    services.case_reject(actor=actors.operator, case_id=rejected.pk, reason="不属于受理范围")
    reworked = loop(actors, report(point=THERE), rating=3, rework=True)
    old = report()
    Case.objects.filter(pk=old.pk).update(reported_at=timezone.now() - dt.timedelta(days=800))
    return {"fixed": fixed, "late": late, "rejected": rejected, "reworked": reworked, "old": old}
