"""The monitoring part of the workbench: key-household follow-ups due soon and overdue for
those who record them, open alerts nobody is visiting for community and street staff, each
place's figures; every count opens its list, inside the jurisdiction."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from linli.core.workbench import Kind, provider_of
from linli.monitoring import keys
from linli.monitoring.models import HomeVisit, KeyHousehold
from linli.monitoring.workbench import DUE_KEY, OVERDUE_KEY, UNVISITED_KEY

from .fixtures_keys import *  # noqa: F403  (the fixtures)
from .fixtures_keys import NOW, TODAY, make_alert, make_household

pytestmark = pytest.mark.usefixtures("clock")
EN = {"Accept-Language": "en"}
MINE = (DUE_KEY, OVERDUE_KEY, UNVISITED_KEY)


def counts(actor) -> dict[str, tuple[int, str]]:
    provider = provider_of("monitoring.x")
    return {c.key: (c.count, c.kind) for c in provider.todos(actor) if c.key in MINE}


@pytest.fixture
def world(town, staff, homes, rule):
    """In town.grid: one key household due in 3 days, one 5 days late, one released; an open
    alert with a pending visit and one without. In the other street: one late, one alert."""

    def key(household, next_on, released=False):
        return KeyHousehold.objects.create(
            household=household,
            reason="独居老人",
            since=dt.date(2025, 6, 1),
            next_follow_up_on=next_on,
            released_on=dt.date(2025, 12, 1) if released else None,
        )

    due = key(homes.mine, TODAY + dt.timedelta(days=3))
    late = key(homes.second, TODAY - dt.timedelta(days=5))
    key(make_household(town.building), TODAY - dt.timedelta(days=9), released=True)
    key(homes.other, TODAY - dt.timedelta(days=1))
    visited = make_alert(homes.mine, rule)
    HomeVisit.objects.create(
        alert=visited,
        household=homes.mine,
        grid=town.grid,
        assignee=staff.grid,
        due_at=NOW + dt.timedelta(days=2),
    )
    unvisited = make_alert(homes.second, rule)
    make_alert(homes.other, rule)
    return type("World", (), {"due": due, "late": late, "unvisited": unvisited})


def test_grid_worker_counts_follow_ups_only(world, staff):
    assert counts(staff.grid) == {DUE_KEY: (1, Kind.DUE_SOON), OVERDUE_KEY: (1, Kind.OVERDUE)}


def test_community_worker_also_counts_alerts_without_a_visit(world, staff):
    assert counts(staff.community) == {
        DUE_KEY: (1, Kind.DUE_SOON),
        OVERDUE_KEY: (1, Kind.OVERDUE),
        UNVISITED_KEY: (1, Kind.WAITING),
    }


def test_street_officer_and_the_bureau(world, staff):
    assert counts(staff.street) == counts(staff.community)
    # The district bureau sees both streets.
    assert counts(staff.bureau) == {
        DUE_KEY: (1, Kind.DUE_SOON),
        OVERDUE_KEY: (2, Kind.OVERDUE),
        UNVISITED_KEY: (2, Kind.WAITING),
    }
    assert counts(staff.auditor) == {}  # views, but neither follows up nor manages
    assert counts(staff.resident) == {}


def test_counts_follow_the_records(world, staff):
    keys.follow_up_record(
        actor=staff.grid,
        key_household_id=world.late.pk,
        done_on=TODAY,
        note="上门走访",
        idempotency_key="wb-token-1",
    )
    assert counts(staff.grid)[OVERDUE_KEY] == (0, Kind.OVERDUE)


def test_the_lists_open_from_the_workbench(client, world, staff, homes):
    client.force_login(staff.community)
    home = client.get(reverse("home"), headers=EN).content.decode()
    url = f"{reverse('workbench_list')}?list={OVERDUE_KEY}"
    assert f'href="{url}"><b>1</b>' in home
    listed = client.get(url, headers=EN).content.decode()
    assert homes.second.number in listed and homes.other.number not in listed
    assert reverse("monitoring:key_detail", args=[world.late.pk]) in listed
    assert 'class="tag warn-2"' in listed
    alerts = client.get(
        f"{reverse('workbench_list')}?list={UNVISITED_KEY}", headers=EN
    ).content.decode()
    assert world.unvisited.explanation in alerts and homes.mine.number not in alerts
    client.force_login(staff.grid)
    assert client.get(f"{reverse('workbench_list')}?list={UNVISITED_KEY}").status_code == 404


def test_figures_per_place(world, staff, town):
    provider = provider_of("monitoring.x")
    figures = provider.figures(staff.street, town.street.pk, town.street.path)
    values = [f.value for f in figures]
    assert values == [2, 2, 1]  # open alerts, key households, overdue follow-ups
    assert figures[2].url.endswith(f"?place={town.street.pk}&state=overdue")
    assert provider.figures(staff.resident, town.street.pk, town.street.path) == []
