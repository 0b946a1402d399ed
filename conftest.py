import datetime as dt
import os

import pytest
import time_machine
from django.utils import translation

from linli.core.refcache import ProcessCache
from linli.core.roles import Role
from linli.core.testing.factories import Town, make_user


def pytest_configure(config):
    """LINLI_TEST_CLOCK="2026-12-02T10:30:00+08:00" runs the whole session from that moment,
    the clock ticking on. CI runs the suite under two such clocks (.ci/run), so a test that
    reads the time of day without freezing it fails there, not on some evening in production.
    """
    clock = os.environ.get("LINLI_TEST_CLOCK")
    if not clock:
        return
    moment = dt.datetime.fromisoformat(clock)
    if moment.tzinfo is None:
        raise pytest.UsageError(f"LINLI_TEST_CLOCK={clock!r} needs a UTC offset, e.g. +08:00.")
    traveller = time_machine.travel(moment, tick=True)
    traveller.start()
    config.add_cleanup(traveller.stop)


@pytest.fixture(autouse=True)
def english_messages():
    """Service-level tests read English messages; pages follow the request's language."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Uploads go to the test's own folder: nothing lands in, or is swept from, the real one
    (the orphan-photo job deletes the files no row of the test database names)."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """A test's grids and categories are rolled back after it; so must the caches of them be."""
    ProcessCache.clear_all()
    yield
    ProcessCache.clear_all()


@pytest.fixture
def town(db):
    return Town()


@pytest.fixture
def admin(town):
    return make_user("admin", Role.ADMIN, [town.city])


@pytest.fixture
def grid_worker(town):
    """Bound to `town.grid` only; `town.other_grid` is the neighbour's."""
    return make_user("gridworker", Role.GRID_WORKER, [town.grid])


@pytest.fixture
def neighbour(town):
    return make_user("neighbour", Role.GRID_WORKER, [town.other_grid])


@pytest.fixture
def street_officer(town):
    return make_user("streetofficer", Role.STREET_OFFICER, [town.street])


@pytest.fixture
def auditor(town):
    return make_user("auditor", Role.AUDITOR, [town.district])


@pytest.fixture
def people(town, admin):
    """One household with two members in each jurisdiction, made through the services."""
    import datetime as dt

    from linli.core.testing.factories import make_id_number
    from linli.people import services

    def household(number, building, surname):
        h = services.household_create(
            actor=admin, number=number, address=f"{surname}家 1 号", building_id=building.id
        )
        head = services.person_create(
            actor=admin,
            household_id=h.id,
            relation="head",
            name=f"{surname}大山",
            id_number=make_id_number(birth=dt.date(1950, 3, 1)),
            phone="13800138000",
        )
        child = services.person_create(
            actor=admin,
            household_id=h.id,
            relation="child",
            name=f"{surname}小川",
            id_number=make_id_number(birth=dt.date(1985, 6, 15), sex="F"),
        )
        return h, head, child

    class People:
        pass

    p = People()
    p.household, p.head, p.child = household("H0001", town.building, "张")
    p.other_household, p.other_head, p.other_child = household("H0002", town.other_building, "李")
    return p


@pytest.fixture
def postgresql_only():
    """For modules of races (`pytest.mark.usefixtures("postgresql_only")`): SQLite serialises
    writers, so only PostgreSQL can show a race."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
