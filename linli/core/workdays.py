"""Working-time arithmetic on the calendar held as data (工作日历), for every capability with
time limits: the cases loop counts working hours, services and assistance count working days.

A stage limit is a number of working hours. Working hours run 09:00–17:00 (8 a day) on working
days, in the project's time zone (settings.TIME_ZONE). A day is a working day unless a
`CalendarDay` row says otherwise (public holidays off, make-up weekend days 调休 on); without a
row, Monday–Friday work. Categories marked round-the-clock count clock hours instead.

The yellow warning of a stage starts when 80 % of its time has passed (WARN_FRACTION): late
enough not to cry wolf on short stages, early enough to leave a working day on long ones.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping
from decimal import Decimal

from django.utils import timezone

WORKDAY_START = dt.time(9, 0)
WORKDAY_END = dt.time(17, 0)
WARN_FRACTION = Decimal("0.8")
# Beyond the longest limit a category can hold (9999.99 working hours, some 1,800 days).
MAX_DAYS = 2000
# How long a process trusts its cached calendar before checking the table for changes.
CACHE_SECONDS = 60.0


def to_seconds(hours: Decimal | float | int) -> int:
    """Whole seconds; limits are stored with two decimals, so this is exact."""
    seconds = Decimal(str(hours)) * 3600
    if seconds < 0:
        raise ValueError("a time limit cannot be negative")
    return int(seconds.to_integral_value())


def whole_second(moment: dt.datetime) -> dt.datetime:
    """`moment` rounded up to the whole second. Deadlines are kept to the second, rounded up so
    a limit is never cut short: otherwise a deadline reached inside working hours would carry
    the microseconds of the moment the case was made and one reached at 09:00 would not, and
    outputs to the second (Open311, the API) would differ from the stored value."""
    if moment.microsecond == 0:
        return moment
    return moment.replace(microsecond=0) + dt.timedelta(seconds=1)


class WorkCalendar:
    """Working days and working hours, from a {date: is_workday} map of exceptions."""

    def __init__(self, overrides: Mapping[dt.date, bool]) -> None:
        self.overrides = dict(overrides)
        self.tz = timezone.get_default_timezone()

    def is_workday(self, day: dt.date) -> bool:
        override = self.overrides.get(day)
        if override is not None:
            return override
        return day.weekday() < 5

    def _local(self, moment: dt.datetime) -> dt.datetime:
        return timezone.localtime(moment, self.tz).replace(tzinfo=None)

    def _aware(self, naive: dt.datetime) -> dt.datetime:
        return timezone.make_aware(naive, self.tz)

    def add_working_seconds(self, start: dt.datetime, seconds: int) -> dt.datetime:
        """The moment `seconds` of working time after `start` (aware in, aware out).

        With seconds > 0 the result lies inside working hours of a working day, 17:00 included;
        with 0 it is the first working moment at or after `start`.
        """
        remaining = dt.timedelta(seconds=seconds)
        local = self._local(whole_second(start))
        day, cursor = local.date(), local.time()
        for _ in range(MAX_DAYS):
            if self.is_workday(day):
                begin = max(cursor, WORKDAY_START)
                if begin < WORKDAY_END:
                    opened = dt.datetime.combine(day, begin)
                    available = dt.datetime.combine(day, WORKDAY_END) - opened
                    if remaining <= available:
                        return self._aware(opened + remaining)
                    remaining -= available
            day += dt.timedelta(days=1)
            cursor = dt.time(0, 0)
        raise ValueError("a time limit reaches beyond the calendar")

    def add_working_hours(self, start: dt.datetime, hours: Decimal | float | int) -> dt.datetime:
        return self.add_working_seconds(start, to_seconds(hours))

    def working_seconds_between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Working time from start to end, in seconds (0 if end is not after start)."""
        if end <= start:
            return 0
        a, b = self._local(start), self._local(end)
        total = dt.timedelta()
        day = a.date()
        while day <= b.date():
            if self.is_workday(day):
                lo = max(dt.datetime.combine(day, WORKDAY_START), a)
                hi = min(dt.datetime.combine(day, WORKDAY_END), b)
                if hi > lo:
                    total += hi - lo
            day += dt.timedelta(days=1)
        return int(total.total_seconds())

    def working_hours_between(self, start: dt.datetime, end: dt.datetime) -> Decimal:
        return (Decimal(self.working_seconds_between(start, end)) / 3600).quantize(Decimal("0.01"))

    def add_working_days(self, day: dt.date, days: int) -> dt.date:
        """The date `days` working days after `day` (a limit of "3 working days" from an act on
        `day` ends on this date); the day itself does not count, whether it is worked or not."""
        if days < 0:
            raise ValueError("a number of working days cannot be negative")
        for _ in range(days):
            day += dt.timedelta(days=1)
            for _ in range(MAX_DAYS):
                if self.is_workday(day):
                    break
                day += dt.timedelta(days=1)
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (0 if `end` is not later)."""
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_workday(day)
        return count


_lock = threading.Lock()
_cached: WorkCalendar | None = None
_stamp: tuple | None = None
_checked_at = 0.0


def current_calendar() -> WorkCalendar:
    """The calendar from the database, cached per process and re-read when the table changes
    (checked at most every CACHE_SECONDS; `reset()` drops it at once)."""
    global _cached, _stamp, _checked_at
    from django.db.models import Count, Max

    from .models import CalendarDay

    with _lock:
        if _cached is not None and time.monotonic() - _checked_at < CACHE_SECONDS:
            return _cached
        stamp = tuple(
            CalendarDay.objects.aggregate(n=Count("id"), latest=Max("updated_at")).values()
        )
        if _cached is None or stamp != _stamp:
            _cached = WorkCalendar(dict(CalendarDay.objects.values_list("date", "is_workday")))
            _stamp = stamp
        _checked_at = time.monotonic()
        return _cached


def reset() -> None:
    global _cached, _stamp
    with _lock:
        _cached, _stamp = None, None


def _after(start: dt.datetime, seconds: int, round_the_clock: bool) -> dt.datetime:
    if round_the_clock:
        return whole_second(start) + dt.timedelta(seconds=seconds)
    return current_calendar().add_working_seconds(start, seconds)


def deadline_after(
    start: dt.datetime, hours: Decimal, *, round_the_clock: bool = False
) -> dt.datetime:
    """The moment `hours` of working time (clock time if round the clock) after `start`, to the
    whole second."""
    return _after(start, to_seconds(hours), round_the_clock)


def stage_window(
    start: dt.datetime, hours: Decimal, *, round_the_clock: bool = False
) -> tuple[dt.datetime, dt.datetime]:
    """(yellow-warning moment, deadline) of a stage of `hours` starting at `start`."""
    seconds = to_seconds(hours)
    warn_seconds = int(seconds * WARN_FRACTION)
    return _after(start, warn_seconds, round_the_clock), _after(start, seconds, round_the_clock)


def due_date(start: dt.date, days: int) -> dt.date:
    """The last day of a limit of `days` working days counted from `start` (assistance and
    services count their limits in days, the cases loop in hours)."""
    return current_calendar().add_working_days(start, days)
