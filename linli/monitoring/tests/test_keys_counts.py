"""Counts per grid match a count by hand, in a fixed number of queries however many key
households there are; the periodic job marks overdue follow-ups once (idempotent)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from linli.core.roles import Role
from linli.core.testing.factories import make_place, make_user
from linli.monitoring import keys
from linli.monitoring.keys_tasks import mark_overdue_key_follow_ups
from linli.monitoring.models import KeyHousehold
from linli.places.models import PlaceLevel

from .fixtures_keys import *  # noqa: F403  (the fixtures)
from .fixtures_keys import TODAY, make_household

pytestmark = pytest.mark.usefixtures("clock")


def plant(building, *, next_on: dt.date, released: bool = False) -> KeyHousehold:
    """A key household as the services would leave it, its next follow-up on `next_on`."""
    return KeyHousehold.objects.create(
        household=make_household(building),
        reason="测试",
        since=dt.date(2025, 6, 1),
        next_follow_up_on=next_on,
        released_on=dt.date(2025, 12, 1) if released else None,
        release_reason="已脱困" if released else "",
    )


@pytest.fixture
def second_grid(town):
    grid = make_place("370502001001002", "银座二网格", PlaceLevel.GRID, town.community)
    return make_place("370502001001002001", "5号楼", PlaceLevel.BUILDING, grid)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_per_grid_match_a_count_by_hand(town, staff, second_grid, seed):
    rng = random.Random(seed)
    buildings = [town.building, second_grid, town.other_building]
    planted = []
    for _ in range(rng.randint(5, 25)):
        building = rng.choice(buildings)
        next_on = TODAY + dt.timedelta(days=rng.randint(-40, 40))
        planted.append(plant(building, next_on=next_on, released=rng.random() < 0.2))

    def by_hand(path: str) -> dict[str, int]:
        rows = [k for k in planted if k.place_path.startswith(path)]
        open_ = [k for k in rows if k.released_on is None]
        return {
            "open": len(open_),
            "overdue": sum(k.next_follow_up_on < TODAY for k in open_),
            "due_soon": sum(
                TODAY <= k.next_follow_up_on <= TODAY + dt.timedelta(days=7) for k in open_
            ),
            "released": len(rows) - len(open_),
        }

    counted = {g.grid_path: g for g in keys.grid_counts(actor=staff.bureau)}
    for building in buildings:
        grid = building.parent
        expected = by_hand(grid.path)
        if not expected["open"] and not expected["released"]:
            assert grid.path not in counted
            continue
        row = counted[grid.path]
        assert row.grid_id == grid.pk and row.grid_name == grid.name
        assert row.community_name == grid.parent.name
        got = {"open": row.open, "overdue": row.overdue}
        got |= {"due_soon": row.due_soon, "released": row.released}
        assert got == expected
    # The street officer sees only their street's grids; the totals add up.
    mine = keys.grid_counts(actor=staff.street)
    assert {g.grid_path for g in mine} <= {town.grid.path, second_grid.parent.path}
    total = keys.totals(mine)
    assert total.open == by_hand(town.street.path)["open"]
    assert keys.place_counts(actor=staff.street, place_path=town.street.path) == by_hand(
        town.street.path
    )


def test_counts_take_the_same_queries_for_ten_or_a_hundred(town, staff):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            keys.grid_counts(actor=staff.bureau)
        return len(captured.captured_queries)

    for _ in range(10):
        plant(town.building, next_on=TODAY)
    queries()  # the first call also reads the user's places
    few = queries()
    for _ in range(90):
        plant(town.other_building, next_on=TODAY - dt.timedelta(days=3))
    assert queries() == few <= 3


def test_grid_workers_count_their_grid_and_residents_nothing(town, staff):
    plant(town.building, next_on=TODAY)
    plant(town.other_building, next_on=TODAY)
    assert [g.grid_path for g in keys.grid_counts(actor=staff.grid)] == [town.grid.path]
    assert keys.grid_counts(actor=staff.resident) == []
    lost = make_user("nobody", Role.DEPARTMENT_HANDLER, [town.district])
    assert keys.grid_counts(actor=lost) == []


def test_the_job_marks_overdue_follow_ups_once(town, staff, clock):
    late = plant(town.building, next_on=TODAY - dt.timedelta(days=3))
    due = plant(town.building, next_on=TODAY)
    released = plant(town.building, next_on=TODAY - dt.timedelta(days=30), released=True)

    first = mark_overdue_key_follow_ups.call()
    assert first == {"marked": 1, "cleared": 0, "overdue": 1}
    late.refresh_from_db()
    assert late.overdue_since == TODAY - dt.timedelta(days=2)
    assert mark_overdue_key_follow_ups.call() == {"marked": 0, "cleared": 0, "overdue": 1}

    # A day later the one due today is late too; the first keeps the day it turned late.
    clock.move_to(dt.datetime(2026, 2, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    assert mark_overdue_key_follow_ups.call() == {"marked": 1, "cleared": 0, "overdue": 2}
    due.refresh_from_db()
    late.refresh_from_db()
    assert due.overdue_since == dt.date(2026, 2, 1)
    assert late.overdue_since == TODAY - dt.timedelta(days=2)
    released.refresh_from_db()
    assert released.overdue_since is None

    # A follow-up clears the mark at once; the job then has nothing to clear.
    keys.follow_up_record(
        actor=staff.grid,
        key_household_id=late.pk,
        done_on=dt.date(2026, 2, 1),
        note="上门走访",
        idempotency_key="token-late-1",
    )
    late.refresh_from_db()
    assert late.overdue_since is None and late.next_follow_up_on == dt.date(2026, 3, 1)
    assert mark_overdue_key_follow_ups.call() == {"marked": 0, "cleared": 0, "overdue": 1}
    # A mark left behind (the date moved another way) is cleared by the job.
    KeyHousehold.objects.filter(pk=due.pk).update(next_follow_up_on=dt.date(2026, 3, 1))
    assert mark_overdue_key_follow_ups.call() == {"marked": 0, "cleared": 1, "overdue": 0}
