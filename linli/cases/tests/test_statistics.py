import datetime as dt
import random
from decimal import Decimal

import pytest
import time_machine

from linli.cases import services
from linli.cases.models import Case
from linli.cases.statistics import Grouping, case_statistics, open_case_points
from linli.core.errors import ValidationFailed

from .conftest import THERE

# A Wednesday morning, China time: the period ends "today", and cases are reported "now".
NOW = dt.datetime(2026, 12, 2, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
TODAY = NOW.date()
YEAR_AGO = TODAY - dt.timedelta(days=364)


@pytest.fixture(autouse=True)
def frozen_clock():
    """A session's clock may pass midnight between collecting TODAY and reporting a case."""
    with time_machine.travel(NOW, tick=True):
        yield


def test_per_street_figures_count_overdue_open_cases_as_late(actors, town, year):
    stats = case_statistics(
        actor=actors.operator, start=YEAR_AGO, end=TODAY, grouping=Grouping.STREET
    )
    rows = {r.code: r for r in stats.rows}
    assert set(rows) == {town.street.code, town.other_street.code}
    mine, other = rows[town.street.code], rows[town.other_street.code]
    assert (mine.name, mine.reported, mine.registered, mine.open) == (town.street.name, 2, 2, 1)
    assert mine.registration_rate == Decimal("100.0")
    assert (mine.dispatch_on_time, mine.dispatch_late) == (2, 0)
    assert (mine.handle_on_time, mine.handle_late) == (1, 1)
    assert mine.handle_on_time_rate == Decimal("50.0")
    assert (mine.close_on_time, mine.close_late) == (1, 1)
    assert mine.average_handling_hours == Decimal("10.0")
    assert (mine.rated, mine.average_rating, mine.satisfaction_rate) == (1, Decimal("5.00"), 100)

    assert (other.reported, other.registered, other.rejected) == (2, 1, 1)
    assert other.registration_rate == Decimal("50.0")
    assert (other.reworked, other.handled_once, other.rework_rate) == (1, 1, Decimal("100.0"))
    assert (other.average_rating, other.satisfaction_rate) == (Decimal("3.00"), Decimal("0.0"))

    assert stats.total.reported == 4  # the case from two years ago is outside the period
    assert stats.total.satisfaction_rate == Decimal("50.0")
    assert [(c.code, n) for c, n in stats.top_categories] == [("SJ0101", 3), ("SJ0102", 1)]
    assert [c.code for c, _n in stats.top_of(mine)] == ["SJ0101", "SJ0102"]


def test_every_grouping_adds_up_to_the_same_total(actors, town, report):
    """Random loops in both streets: per grid, community, street and department, the rows sum
    to one total, and every case of the period is counted once."""
    rng = random.Random(7)
    codes = ["SJ0101", "SJ0102", "SJ0201"]
    for _ in range(24):
        case = report(code=rng.choice(codes), point=rng.choice([(37.005, 118.005), THERE]))
        step = rng.randrange(4)
        if step == 0:
            continue
        if step == 1:
            services.case_reject(actor=actors.operator, case_id=case.pk, reason="重复")
            continue
        services.case_register(actor=actors.operator, case_id=case.pk)
        if step == 3 and case.category.department.code == "CGJ":
            loop_rest = rng.random() < 0.5
            services.case_dispatch(actor=actors.operator, case_id=case.pk)
            if loop_rest:
                services.case_accept(actor=actors.cgj, case_id=case.pk)
    totals = {}
    for grouping, _label in Grouping.CHOICES:
        stats = case_statistics(actor=actors.operator, start=YEAR_AGO, end=TODAY, grouping=grouping)
        summed = {
            name: sum(getattr(r, name) for r in stats.rows)
            for name in ("reported", "registered", "rejected", "open", "dispatch_on_time")
        }
        assert summed["reported"] == stats.total.reported == 24
        totals[grouping] = summed
    assert len({tuple(sorted(t.items())) for t in totals.values()}) == 1


def test_figures_stay_inside_the_jurisdiction(actors, town, year):
    street = case_statistics(actor=actors.street, start=YEAR_AGO, end=TODAY)
    assert [r.code for r in street.rows] == [town.street.code]
    assert street.total.reported == 2

    department = case_statistics(
        actor=actors.cgj, start=YEAR_AGO, end=TODAY, grouping=Grouping.DEPARTMENT
    )
    assert [(r.code, r.reported) for r in department.rows] == [("CGJ", 3)]
    by_grid = case_statistics(
        actor=actors.operator, start=YEAR_AGO, end=TODAY, grouping=Grouping.GRID, place=town.street
    )
    assert [(r.code, r.reported) for r in by_grid.rows] == [(town.grid.code, 2)]


def test_a_period_must_make_sense(actors):
    with pytest.raises(ValidationFailed) as backwards:
        case_statistics(actor=actors.operator, start=TODAY, end=TODAY - dt.timedelta(days=1))
    assert "end" in backwards.value.details
    with pytest.raises(ValidationFailed) as long:
        case_statistics(actor=actors.operator, start=TODAY - dt.timedelta(days=4000), end=TODAY)
    assert "start" in long.value.details
    with pytest.raises(ValidationFailed) as grouping:
        case_statistics(actor=actors.operator, start=TODAY, end=TODAY, grouping="planet")
    assert "grouping" in grouping.value.details


def test_the_map_shows_open_cases_most_urgent_first(actors, town, year):
    points, total = open_case_points(actor=actors.operator)
    assert ({p.number for p in points}, total) == ({year["late"].number, year["old"].number}, 2)
    assert not open_case_points(actor=actors.neighbour)[0]
    for _ in range(3):
        services.case_report(
            actor=actors.resident,
            category_id=year["late"].category_id,
            description="又一处",
            lat=37.004,
            lng=118.004,
        )
    Case.objects.filter(pk=year["late"].pk).update(warning=2)
    points, total = open_case_points(actor=actors.operator, limit=2)
    assert (points[0].number, points[0].warning, len(points), total) == (
        year["late"].number,
        2,
        2,
        5,
    )
