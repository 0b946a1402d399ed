"""Assistance statistics checked against sums made by hand; scoping, bad periods, the Excel
export's tables and totals, the workbench's figures."""

import datetime as dt
import io
from decimal import Decimal
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook

from linli.assistance import statistics
from linli.core.errors import PermissionDenied, ValidationFailed

from .fixtures_supervision import fast_passwords, mid_june_2026, month, staff, world

__all__ = ["fast_passwords", "mid_june_2026", "staff", "world"]

D = Decimal


@pytest.fixture
def paid(world, town):
    """Street A: a1 (低保 500, 1 person), a2 (低保 1000, 2 persons), a3 (特困 1040), s (低保
    700, stopped in April). Street B: b1 (低保 600). March to May, with a failed April payment
    retried in the May cycle and no April payment for b1."""
    _h, (p1,) = world.household()
    _h, (p2, _child) = world.household(members=2)
    _h, (p3,) = world.household()
    _h, (ps,) = world.household()
    _h, (pb,) = world.household(building=town.other_building)
    a1 = world.benefit(p1, amount="500.00")
    a2 = world.benefit(p2, amount="1000.00", persons_covered=2)
    a3 = world.benefit(p3, program="extreme_poverty", amount="1040.00")
    s = world.benefit(ps, amount="700.00", status="stopped")
    b1 = world.benefit(pb, amount="600.00")
    for m in (3, 4):
        world.pay(a1, month(m))
    world.pay(a1, month(5), status="pending")
    world.pay(a2, month(3))
    world.pay(a2, month(4), status="failed")
    world.pay(a2, month(4), in_cycle_of=month(5))
    world.pay(a2, month(5))
    world.pay(a3, month(4))
    world.pay(a3, month(5))
    world.pay(s, month(3))
    world.pay(b1, month(3))
    world.pay(b1, month(5))
    return SimpleNamespace(a1=a1, a2=a2, a3=a3, s=s, b1=b1)


def figures(stats, program, street=""):
    lines = stats.monthly if not street else [m for m in stats.lines if m.street == street]
    return {f"{m.month:%m}": m for m in lines if m.program == program}


def test_monthly_figures_match_the_hand_sums(paid, staff):
    stats = statistics.assistance_statistics(
        actor=staff.civil, start=dt.date(2026, 4, 10), end=dt.date(2026, 5, 31)
    )
    assert stats.months == [month(4), month(5)]
    low = figures(stats, "minimum_living")
    assert low.keys() == {"04", "05"}
    # April: a1 500 + a2's retry 1000 (its failed payment counts nowhere).
    assert (low["04"].households, low["04"].persons, low["04"].amount) == (2, 3, D("1500.00"))
    assert low["04"].paid == D("1500.00")
    # From March's 500 + 1000 + 700 + 600 = 2800.
    assert (low["04"].change, low["04"].change_rate) == (D("-1300.00"), D("-46.4"))
    # May: a1 500 (still to be paid) + a2 1000 + b1 600.
    assert (low["05"].households, low["05"].persons, low["05"].payments) == (3, 4, 3)
    assert (low["05"].amount, low["05"].paid) == (D("2100.00"), D("1600.00"))
    assert (low["05"].change, low["05"].change_rate) == (D("600.00"), D("40.0"))
    extreme = figures(stats, "extreme_poverty")
    assert (extreme["04"].amount, extreme["04"].change, extreme["04"].change_rate) == (
        D("1040.00"),
        D("1040.00"),
        None,
    )
    assert (extreme["05"].change, extreme["05"].change_rate) == (D("0.00"), D("0.0"))


def test_streets_have_their_own_lines_and_a_month_without_payments_shows_as_zero(paid, staff, town):
    stats = statistics.assistance_statistics(
        actor=staff.civil, start=month(4), end=month(5), program="minimum_living"
    )
    street_a = figures(stats, "minimum_living", town.street.name)
    street_b = figures(stats, "minimum_living", town.other_street.name)
    assert (street_a["04"].amount, street_a["05"].amount) == (D("1500.00"), D("1500.00"))
    assert (street_a["04"].change, street_a["05"].change) == (D("-700.00"), D("0.00"))
    assert (street_b["04"].amount, street_b["04"].change) == (D("0.00"), D("-600.00"))
    assert (street_b["05"].amount, street_b["05"].change_rate) == (D("600.00"), None)
    assert sum(m.amount for m in stats.lines) == sum(m.amount for m in stats.monthly)
    assert {m.program for m in stats.monthly} == {"minimum_living"}


def test_recipients_now_are_the_benefits_being_paid(paid, staff, town):
    stats = statistics.assistance_statistics(actor=staff.civil, start=month(5), end=month(5))
    now = {
        (r.street, r.program): (r.households, r.persons, r.monthly_amount) for r in stats.recipients
    }
    assert now == {
        (town.street.name, "minimum_living"): (2, 3, D("1500.00")),
        (town.street.name, "extreme_poverty"): (1, 1, D("1040.00")),
        (town.other_street.name, "minimum_living"): (1, 1, D("600.00")),
    }
    totals = {
        r.program: (r.households, r.persons, r.monthly_amount) for r in stats.recipients_total
    }
    assert totals == {
        "minimum_living": (3, 4, D("2100.00")),
        "extreme_poverty": (1, 1, D("1040.00")),
    }


def test_a_street_officer_sees_only_their_street(paid, staff, town):
    stats = statistics.assistance_statistics(actor=staff.street, start=month(4), end=month(5))
    assert {m.street for m in stats.lines} == {town.street.name}
    assert {r.street for r in stats.recipients} == {town.street.name}
    low = figures(stats, "minimum_living")
    assert low["05"].amount == D("1500.00")


def test_the_figures_take_a_fixed_number_of_queries(paid, staff, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        statistics.assistance_statistics(actor=staff.civil, start=month(1), end=month(12))


@pytest.mark.parametrize(
    ("start", "end", "program", "field"),
    [
        (month(5), month(4), "", "end"),
        (month(1, 2020), month(2, 2023), "", "start"),
        (month(1), month(2), "lottery", "program"),
        (dt.date(1899, 12, 1), month(2), "", "start"),
    ],
)
def test_bad_periods_name_the_field(staff, start, end, program, field):
    with pytest.raises(ValidationFailed) as refused:
        statistics.assistance_statistics(actor=staff.civil, start=start, end=end, program=program)
    assert field in refused.value.details


def test_only_staff_who_view_assistance_read_the_figures(staff, town):
    from linli.core.roles import Role
    from linli.core.testing.factories import make_user

    for user in (staff.resident, make_user("handler", Role.DEPARTMENT_HANDLER)):
        with pytest.raises(PermissionDenied):
            statistics.assistance_statistics(actor=user, start=month(1), end=month(2))


def test_the_workbook_has_every_table_and_the_right_totals(paid, staff):
    stats = statistics.assistance_statistics(actor=staff.civil, start=month(4), end=month(5))
    book = load_workbook(io.BytesIO(statistics.statistics_workbook(stats).read()))
    assert book.sheetnames == [
        "Recipients by street",
        "Recipients by program",
        "Payments by month",
        "By street and month",
    ]
    monthly = list(book["Payments by month"].iter_rows(min_row=3, values_only=True))
    *rows, total = monthly
    assert len(rows) == 4
    # Program, month, households, persons, payments, amount, paid, change, change %.
    assert total[0] == "Total"
    assert D(str(total[5])) == D("1500") + D("2100") + D("1040") + D("1040")
    assert D(str(total[6])) == D("1500") + D("1600") + D("1040") + D("1040")
    lines = list(book["By street and month"].iter_rows(min_row=3, values_only=True))
    assert D(str(lines[-1][6])) == D(str(total[5]))
    recipients = list(book["Recipients by program"].iter_rows(min_row=3, values_only=True))
    assert recipients[-1][1:] == (4, 5, 3140)
    by_street = list(book["Recipients by street"].iter_rows(min_row=3, values_only=True))
    assert by_street[-1][2:] == (4, 5, 3140)


def test_chart_data_carries_amounts_as_text(paid, staff, town):
    stats = statistics.assistance_statistics(actor=staff.civil, start=month(4), end=month(5))
    chart = statistics.chart_data(stats)
    assert chart["months"] == ["2026-04", "2026-05"]
    low = next(s for s in chart["amounts"] if s["name"] == "Minimum living guarantee")
    assert low["data"] == ["1500.00", "2100.00"]
    assert chart["streets"] == [town.street.name, town.other_street.name]


def test_figures_for_a_place(paid, staff, town, world):
    from linli.assistance import supervision

    supervision.supervision_run(actor=None, place_path="")
    figures_a = statistics.figures_for_place(staff.civil, town.street.path)
    assert (figures_a["households"], figures_a["persons"]) == (3, 4)
    assert figures_a["monthly_amount"] == D("2540.00")
    assert figures_a["programs"]["extreme_poverty"]["households"] == 1
    assert figures_a["latest_month"] == month(5)
    assert figures_a["latest_month_amount"] == D("2540.00")
    assert figures_a["open_findings"] == 0
    assert statistics.figures_for_place(staff.resident, town.street.path) == {}
    outside = statistics.figures_for_place(staff.other_street, town.street.path)
    assert outside["households"] == 0
