"""The overview's counts against hand counts (see fixtures_overview), drill-down, the map's
points and the Excel file; grouping is set-based (a fixed number of queries)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from linli.core.testing.factories import make_place
from linli.monitoring import statistics
from linli.places.models import PlaceLevel

from .fixtures_overview import *  # noqa: F403  (the fixtures)
from .fixtures_overview import make_alert, make_household

pytestmark = pytest.mark.django_db


def by_name(overview):
    return {r.name: r for r in overview.rows}


def test_street_overview_matches_hand_counts(world, street_officer):
    o = statistics.monitoring_overview(actor=street_officer)
    assert o.place == world.town.street
    rows = by_name(o)
    assert list(rows) == [world.town.community.name]
    row = rows[world.town.community.name]
    assert row.active == 4
    assert row.waiting == 3
    assert row.visiting == 1
    assert dict(row.by_severity) == {4: 1, 3: 1, 2: 2}
    assert dict(row.by_rule) == {"ov-income": 1, "ov-care": 1, "ov-elderly": 2}
    assert row.by_state["resolved"] == 1
    assert row.visits_pending == 2
    assert row.visits_overdue == 1
    assert row.key_households == 1
    assert row.key_overdue == 1
    assert o.total.active == 4
    assert o.rules[0][0] == "ov-elderly"  # most alerts first


def test_district_overview_rows_are_streets(world, civil_affairs):
    o = statistics.monitoring_overview(actor=civil_affairs)
    assert o.place == world.town.district
    rows = by_name(o)
    assert rows[world.town.street.name].active == 4
    other = rows[world.town.other_street.name]
    assert other.active == 1
    assert other.by_state["referred"] == 1
    assert other.key_households == 1 and other.key_overdue == 0
    assert o.total.active == 5
    assert o.total.key_households == 2
    assert o.total.by_rule["ov-income"] == 2


def test_drill_down_to_the_grid(world, civil_affairs):
    o = statistics.monitoring_overview(actor=civil_affairs, place=world.town.grid)
    rows = by_name(o)
    assert rows["1号楼"].active == 3
    assert rows["2号楼"].active == 1
    assert not rows["1号楼"].drillable
    community = statistics.monitoring_overview(actor=civil_affairs, place=world.town.community)
    assert by_name(community)[world.town.grid.name].drillable
    # The trail back up stops at the officer's own places (the city is not one of them).
    assert [p.pk for p in community.ancestors] == [world.town.district.pk, world.town.street.pk]


def test_grid_worker_sees_only_the_grid(world, grid_worker):
    o = statistics.monitoring_overview(actor=grid_worker)
    assert o.place == world.town.grid
    assert o.total.active == 4
    assert o.total.key_households == 1


def test_neighbour_sees_none_of_ours(world, neighbour):
    o = statistics.monitoring_overview(actor=neighbour)
    assert o.total.active == 1
    assert set(o.total.by_rule) == {"ov-income"}


def test_children_with_codes_of_different_lengths(world, civil_affairs):
    """Children whose paths differ in length are grouped once per length, all counted."""
    odd = make_place("370502001099", "新区社区", PlaceLevel.COMMUNITY, world.town.street)
    grid = make_place("3705020010990001", "新区网格", PlaceLevel.GRID, odd)
    building = make_place("37050200109900010001", "新1号楼", PlaceLevel.BUILDING, grid)
    make_alert(make_household(building, "孙六"), world.income, {"per_capita": "1"})
    o = statistics.monitoring_overview(actor=civil_affairs, place=world.town.street)
    rows = by_name(o)
    assert rows["新区社区"].active == 1
    assert rows[world.town.community.name].active == 4
    assert o.total.active == 5


def test_query_count_does_not_grow_with_households(world, civil_affairs):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            statistics.monitoring_overview(actor=civil_affairs)
        return len(ctx.captured_queries)

    queries()  # the actor's places are read once and kept
    before = queries()
    for i in range(15):
        h = make_household(world.building2, f"测{i}")
        make_alert(h, world.income, {"per_capita": "1"})
    assert queries() == before


def test_chart_data(world, street_officer):
    o = statistics.monitoring_overview(actor=street_officer)
    chart = statistics.chart_data(o)
    codes = [c for c, _n in o.rules]
    waiting, visiting = chart["series"]
    for i, code in enumerate(codes):
        assert waiting["data"][i] + visiting["data"][i] == o.total.by_rule[code]
    assert visiting["data"][codes.index("ov-elderly")] == 1


# --- map ----------------------------------------------------------------------------------------


def test_map_points_per_building_without_personal_data(world, civil_affairs):
    points, total, unlocated = statistics.open_alert_points(actor=civil_affairs)
    assert total == 5
    assert unlocated == 1  # a5: building 2 has no position
    by_building = {p.building_id: p for p in points}
    mine = by_building[world.town.building.pk]
    assert mine.count == 3 and mine.severity == 4
    assert mine.by_severity == {4: 1, 3: 1, 2: 1}
    assert by_building[world.town.other_building.pk].count == 1
    geo = statistics.points_geojson(points)
    text = json.dumps(geo, ensure_ascii=False)
    for h in (world.h1, world.h2, world.h5):
        assert h.number not in text
        assert h.address not in text
    for name in ("张", "王", "李", "钱"):
        assert name not in text
    feature = geo["features"][0]
    assert feature["geometry"]["type"] == "Point"
    assert set(feature["properties"]) == {
        "building_id",
        "building",
        "count",
        "severity",
        "severity_label",
        "by_severity",
    }


def test_map_is_scoped(world, grid_worker):
    points, total, _u = statistics.open_alert_points(actor=grid_worker)
    assert {p.building_id for p in points} == {world.town.building.pk}
    assert total == 4


# --- Excel --------------------------------------------------------------------------------------


def test_workbook_totals(world, civil_affairs):
    o = statistics.monitoring_overview(actor=civil_affairs)
    wb = load_workbook(statistics.overview_workbook(o))
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[1]
    assert header[:3] == ("Place", "Code", "Open alerts")
    total = rows[-1]
    assert total[0] == "Total"
    assert total[2] == 5
    assert total[header.index("Overdue visits")] == 1
    assert total[header.index("Key households")] == 2
    assert total[header.index("Severe")] == 1
    street_rows = {r[0]: r for r in rows[2:-1]}
    assert street_rows[world.town.street.name][2] == 4
    rules = wb.worksheets[1]
    rule_rows = list(rules.iter_rows(values_only=True))
    last = rule_rows[-1]
    assert last[0] == "Total" and last[-1] == 5
    income = next(r for r in rule_rows if r[1] == "ov-income")
    assert income[-1] == 2
