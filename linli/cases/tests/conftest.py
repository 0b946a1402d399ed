from types import SimpleNamespace

import pytest

from linli.cases import workdays
from linli.cases.models import CalendarDay, Category
from linli.cases.seeding import (
    CALENDAR_FILE,
    TAXONOMY_FILE,
    load_calendar,
    load_categories,
    read_json,
)
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


@pytest.fixture
def taxonomy(db):
    load_categories(read_json(TAXONOMY_FILE), Category=Category, Department=Department)
    load_calendar(read_json(CALENDAR_FILE), CalendarDay=CalendarDay)
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
