import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from linli.core import workdays
from linli.core.calendar_data import CALENDAR_FILE, load_calendar, overrides_from, read_json
from linli.core.models import CalendarDay
from linli.core.workdays import WORKDAY_END, WORKDAY_START, WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar(overrides_from(read_json(CALENDAR_FILE)))


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("day", "works"),
    [
        (dt.date(2025, 1, 1), False),  # 元旦
        (dt.date(2025, 1, 26), True),  # Sunday, make-up day for the Spring Festival
        (dt.date(2025, 2, 4), False),
        (dt.date(2025, 10, 8), False),
        (dt.date(2025, 10, 11), True),  # Saturday make-up
        (dt.date(2026, 1, 4), True),  # Sunday make-up
        (dt.date(2026, 2, 23), False),  # Monday, last day of the 2026 Spring Festival
        (dt.date(2026, 9, 20), True),
        (dt.date(2026, 11, 23), True),  # an ordinary Monday
        (dt.date(2026, 11, 22), False),  # an ordinary Sunday
        (dt.date(2027, 2, 8), False),  # provisional: 初三 of 2027
        (dt.date(2028, 1, 3), True),  # beyond the data: Monday–Friday
    ],
)
def test_official_schedule(day, works):
    assert CAL.is_workday(day) is works


def test_deadlines_skip_nights_weekends_and_holidays():
    # Friday 16:00 + 2 h → Monday 10:00.
    assert CAL.add_working_hours(at(2026, 11, 20, 16), 2) == at(2026, 11, 23, 10)
    # Before the Spring Festival 2026: Friday 16:00 + 2 h lands on the make-up Saturday.
    assert CAL.add_working_hours(at(2026, 2, 13, 16), 2) == at(2026, 2, 14, 10)
    # From that Saturday's close, the next working hour is after the nine days off.
    assert CAL.add_working_hours(at(2026, 2, 14, 17), 1) == at(2026, 2, 24, 10)
    # A start at night counts from the next morning; fractions of an hour are exact.
    assert CAL.add_working_hours(at(2026, 11, 23, 3), Decimal("0.25")) == at(2026, 11, 23, 9, 15)
    assert CAL.working_hours_between(at(2026, 11, 20, 16), at(2026, 11, 23, 10)) == 2


def test_negative_or_endless_limits_are_refused():
    with pytest.raises(ValueError):
        CAL.add_working_hours(at(2026, 1, 5, 9), -1)
    with pytest.raises(ValueError):
        WorkCalendar({}).add_working_hours(at(2026, 1, 5, 9), 8 * 2000)


def test_round_the_clock_stages_count_clock_hours(db):
    start = at(2026, 11, 21, 22)  # Saturday night
    warn, deadline = workdays.stage_window(start, Decimal("0.5"), round_the_clock=True)
    assert (warn, deadline) == (start + dt.timedelta(minutes=24), start + dt.timedelta(minutes=30))
    warn, deadline = workdays.stage_window(start, Decimal("8"))
    assert deadline == at(2026, 11, 23, 17)
    assert warn == at(2026, 11, 23, 15, 24)  # 80 % of 8 working hours


starts = st.datetimes(
    min_value=dt.datetime(2025, 1, 1),
    max_value=dt.datetime(2027, 10, 31),
    timezones=st.just(SHANGHAI),
)
quarter_hours = st.integers(min_value=0, max_value=4 * 200).map(lambda q: Decimal(q) / 4)


@settings(max_examples=300, deadline=None)
@given(start=starts, hours=quarter_hours)
def test_deadline_lands_in_working_time_and_round_trips(start, hours):
    end = CAL.add_working_hours(start, hours)
    local = end.astimezone(SHANGHAI)
    assert end >= start
    assert CAL.is_workday(local.date())
    if hours > 0:
        assert WORKDAY_START < local.time() <= WORKDAY_END
    else:
        assert WORKDAY_START <= local.time() < WORKDAY_END
    assert CAL.working_hours_between(start, end) == hours


@settings(max_examples=300, deadline=None)
@given(
    start=starts,
    later=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=30)),
    a=quarter_hours,
)
def test_deadline_is_monotone_in_start_and_in_hours(start, later, a):
    assert CAL.add_working_hours(start, a) <= CAL.add_working_hours(start + later, a)
    assert CAL.add_working_hours(start, a) <= CAL.add_working_hours(start, a + Decimal("0.25"))


@settings(max_examples=300, deadline=None)
@given(start=starts, a=quarter_hours, b=quarter_hours.filter(lambda h: h > 0))
def test_deadlines_add_up(start, a, b):
    assert CAL.add_working_hours(CAL.add_working_hours(start, a), b) == CAL.add_working_hours(
        start, a + b
    )


def test_database_calendar_follows_the_table(db):
    load_calendar(read_json(CALENDAR_FILE), CalendarDay=CalendarDay)
    workdays.reset()
    assert not workdays.current_calendar().is_workday(dt.date(2026, 10, 1))
    CalendarDay.objects.filter(date=dt.date(2026, 10, 1)).update(is_workday=True)
    workdays.reset()
    assert workdays.current_calendar().is_workday(dt.date(2026, 10, 1))


def test_loading_a_year_replaces_its_provisional_days(db, tmp_path):
    call_command("load_workday_calendar", stdout=io.StringIO())
    assert CalendarDay.objects.filter(provisional=True).count() == 13
    official = {
        "years": {
            "2027": {
                "holidays": [
                    {"name": "元旦", "off": ["2027-01-01", "2027-01-03"], "work": []},
                    {"name": "春节", "off": ["2027-02-05", "2027-02-11"], "work": ["2027-02-20"]},
                ]
            }
        }
    }
    load_calendar(official, CalendarDay=CalendarDay)
    days = CalendarDay.objects.filter(date__year=2027)
    assert days.count() == 3 + 7 + 1
    assert not days.filter(provisional=True).exists()
    assert days.get(date=dt.date(2027, 2, 20)).is_workday
    # Other years are untouched, and loading again changes nothing.
    assert CalendarDay.objects.filter(date__year=2026).count() == 39
    assert (
        str(load_calendar(official, CalendarDay=CalendarDay))
        == "0 created, 0 updated, 11 unchanged"
    )


def test_a_bad_calendar_file_is_refused(db, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"years": {"2027": {"holidays": [{"name": "x", "off": ["2027-02-05", "2027-01-01"]}]}}}'
    )
    with pytest.raises(Exception, match="bad range"):
        call_command("load_workday_calendar", file=bad)
    assert not CalendarDay.objects.exists()


@pytest.mark.parametrize("round_the_clock", [False, True])
def test_deadlines_are_whole_seconds_rounded_up(db, round_the_clock):
    """A deadline reached inside working hours does not carry the microseconds of the moment
    the stage began: Open311 and the API give it to the second, as stored."""
    start = at(2026, 11, 23, 10, 0, 0, 250_000)
    warn, deadline = workdays.stage_window(start, Decimal("1"), round_the_clock=round_the_clock)
    assert deadline == at(2026, 11, 23, 11, 0, 1)
    assert warn == at(2026, 11, 23, 10, 48, 1)
    due = workdays.deadline_after(start, Decimal("2"), round_the_clock=round_the_clock)
    assert due == at(2026, 11, 23, 12, 0, 1)


def test_working_days_skip_the_national_day_week_and_count_its_make_up_day():
    # 2026: 1–7 October off, Saturday 10 October worked (调休), as the shipped file says.
    assert CAL.add_working_days(dt.date(2026, 9, 30), 1) == dt.date(2026, 10, 8)
    assert CAL.add_working_days(dt.date(2026, 9, 30), 3) == dt.date(2026, 10, 10)
    assert CAL.add_working_days(dt.date(2026, 10, 3), 0) == dt.date(2026, 10, 3)
    assert CAL.working_days_between(dt.date(2026, 9, 30), dt.date(2026, 10, 10)) == 3
    with pytest.raises(ValueError):
        CAL.add_working_days(dt.date(2026, 9, 30), -1)


@given(st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 1)), st.integers(0, 40))
def test_working_days_added_are_counted_back(start, days):
    end = CAL.add_working_days(start, days)
    assert CAL.working_days_between(start, end) == days
    assert days == 0 or CAL.is_workday(end)
