"""Statistics of the case loop (案件统计) per department, street, community or grid, for a
period; a read model over the punctuality flags each transition fixes on the case.

One grouped query per request: cases reported in the period, counted by (grid or department,
category) with conditional aggregates; streets and communities are rolled up from their grids
in Python, because a grid's ancestors are prefixes of its path and there are at most a few
thousand grids. Open cases already past their deadline count as late, not as "not yet known".
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, DurationField, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.styles import Font

from linli.core.errors import ValidationFailed
from linli.core.models import Department, User
from linli.core.scoping import PATH_SEPARATOR
from linli.places.models import Place, PlaceLevel

from .models import TIMED_STATES, Case, CaseState, Category, WarningLevel


class Grouping:
    DEPARTMENT = "department"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"

    CHOICES = (
        (DEPARTMENT, _("Department")),
        (STREET, _("Street")),
        (COMMUNITY, _("Community")),
        (GRID, _("Grid")),
    )
    LEVELS = {STREET: PlaceLevel.STREET, COMMUNITY: PlaceLevel.COMMUNITY, GRID: PlaceLevel.GRID}


MAX_PERIOD_DAYS = 3 * 366
TOP_CATEGORIES = 10


def _aggregates(now: dt.datetime) -> dict[str, Any]:
    handling = F("handled_at") - F("dispatched_at")
    closure = F("closed_at") - F("reported_at")
    return {
        "reported": Count("id"),
        "registered": Count("id", filter=Q(registered_at__isnull=False)),
        "rejected": Count("id", filter=Q(state=CaseState.REJECTED)),
        "open": Count("id", filter=Q(state__in=TIMED_STATES)),
        "overdue_open": Count("id", filter=Q(state__in=TIMED_STATES, warning=WarningLevel.RED)),
        "dispatch_on_time": Count("id", filter=Q(dispatched_on_time=True)),
        "dispatch_late": Count(
            "id",
            filter=Q(dispatched_on_time=False)
            | Q(state=CaseState.REGISTERED, stage_deadline__lt=now),
        ),
        "handle_on_time": Count("id", filter=Q(handled_on_time=True)),
        "handle_late": Count(
            "id",
            filter=Q(handled_on_time=False)
            | Q(state__in=(CaseState.DISPATCHED, CaseState.IN_HAND), stage_deadline__lt=now),
        ),
        "close_on_time": Count("id", filter=Q(closed_on_time=True)),
        "close_late": Count(
            "id", filter=Q(closed_on_time=False) | Q(state__in=TIMED_STATES, due_at__lt=now)
        ),
        # Reached "handled" at least once: a reopened case has lost its handled_at.
        "handled_once": Count("id", filter=Q(handled_at__isnull=False) | Q(rework_count__gt=0)),
        "reworked": Count("id", filter=Q(rework_count__gt=0)),
        "handling_count": Count(
            "id", filter=Q(handled_at__isnull=False, dispatched_at__isnull=False)
        ),
        "handling_time": Sum(
            handling,
            filter=Q(handled_at__isnull=False, dispatched_at__isnull=False),
            output_field=DurationField(),
        ),
        "closure_count": Count("id", filter=Q(closed_at__isnull=False)),
        "closure_time": Sum(
            closure, filter=Q(closed_at__isnull=False), output_field=DurationField()
        ),
        "rated": Count("id", filter=Q(rating__isnull=False)),
        "rating_sum": Sum("rating"),
        "satisfied": Count("id", filter=Q(rating__gte=4)),
    }


def _rate(part: int, whole: int) -> Decimal | None:
    """A percentage to one decimal, or None when there is nothing to divide."""
    if not whole:
        return None
    return (Decimal(100 * part) / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _hours(total: dt.timedelta, count: int) -> Decimal | None:
    if not count:
        return None
    return (Decimal(total.total_seconds()) / 3600 / count).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class StatRow:
    """The figures of one department or place (or of them all, for the total)."""

    key: int | None = None
    code: str = ""
    name: str = ""
    reported: int = 0
    registered: int = 0
    rejected: int = 0
    open: int = 0
    overdue_open: int = 0
    dispatch_on_time: int = 0
    dispatch_late: int = 0
    handle_on_time: int = 0
    handle_late: int = 0
    close_on_time: int = 0
    close_late: int = 0
    handled_once: int = 0
    reworked: int = 0
    handling_count: int = 0
    handling_time: dt.timedelta = dt.timedelta(0)
    closure_count: int = 0
    closure_time: dt.timedelta = dt.timedelta(0)
    rated: int = 0
    rating_sum: int = 0
    satisfied: int = 0
    categories: Counter = field(default_factory=Counter)

    def add(self, values: dict[str, Any], category_id: int | None = None) -> None:
        for name in COUNTS:
            value = values.get(name)
            if value:
                setattr(self, name, getattr(self, name) + value)
        if category_id is not None and values.get("reported"):
            self.categories[category_id] += values["reported"]

    def merge(self, other: StatRow) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.categories.update(other.categories)

    # 立案率: of everything reported, the share registered.
    @property
    def registration_rate(self) -> Decimal | None:
        return _rate(self.registered, self.reported)

    @property
    def dispatch_on_time_rate(self) -> Decimal | None:
        return _rate(self.dispatch_on_time, self.dispatch_on_time + self.dispatch_late)

    @property
    def handle_on_time_rate(self) -> Decimal | None:
        return _rate(self.handle_on_time, self.handle_on_time + self.handle_late)

    @property
    def close_on_time_rate(self) -> Decimal | None:
        return _rate(self.close_on_time, self.close_on_time + self.close_late)

    @property
    def rework_rate(self) -> Decimal | None:
        return _rate(self.reworked, self.handled_once)

    @property
    def average_handling_hours(self) -> Decimal | None:
        return _hours(self.handling_time, self.handling_count)

    @property
    def average_closure_hours(self) -> Decimal | None:
        return _hours(self.closure_time, self.closure_count)

    @property
    def average_rating(self) -> Decimal | None:
        if not self.rated:
            return None
        return (Decimal(self.rating_sum) / self.rated).quantize(Decimal("0.01"), ROUND_HALF_UP)

    @property
    def satisfaction_rate(self) -> Decimal | None:
        return _rate(self.satisfied, self.rated)


# The summed figures of a row, in the order of the aggregates.
COUNTS = tuple(
    f.name for f in fields(StatRow) if f.name not in ("key", "code", "name", "categories")
)


@dataclass
class CaseStatistics:
    start: dt.date
    end: dt.date
    grouping: str
    place: Place | None
    now: dt.datetime
    rows: list[StatRow]
    total: StatRow

    categories: dict[int, Category]

    @property
    def top_categories(self) -> list[tuple[Category, int]]:
        """(category, cases), the most reported first."""
        return self.top_of(self.total, TOP_CATEGORIES)

    def top_of(self, row: StatRow, n: int = 3) -> list[tuple[Category, int]]:
        return [(self.categories[pk], count) for pk, count in row.categories.most_common(n)]


# The days a period may name: the day after the end and local midnights in UTC must still be
# dates Python can hold (years 1–9999).
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2999, 12, 31)


def _period_problem(start: dt.date, end: dt.date) -> dict[str, list[str]]:
    for name, day in (("start", start), ("end", end)):
        if not FIRST_DAY <= day <= LAST_DAY:
            return {name: [str(_("Choose a day between 1900 and 2999."))]}
    if end < start:
        return {"end": [str(_("The end is before the start."))]}
    if (end - start).days >= MAX_PERIOD_DAYS:
        message = _("A period is at most %(days)d days; split it.") % {"days": MAX_PERIOD_DAYS}
        return {"start": [str(message)]}
    return {}


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def case_statistics(
    *,
    actor: User,
    start: dt.date,
    end: dt.date,
    grouping: str = Grouping.STREET,
    place: Place | None = None,
    now: dt.datetime | None = None,
) -> CaseStatistics:
    """Figures of the cases reported from `start` to `end` (both days included, local time)
    within the actor's reach, under `place` if given, one row per department or per place of
    the grouping's level."""
    problems = _period_problem(start, end)
    if grouping not in dict(Grouping.CHOICES):
        problems["grouping"] = [str(_("Choose department, street, community or grid."))]
    if problems:
        raise ValidationFailed(next(iter(problems.values()))[0], details=problems)
    now = now or timezone.now()
    cases = Case.objects.restrict(actor).filter(
        reported_at__gte=_local_midnight(start),
        reported_at__lt=_local_midnight(end + dt.timedelta(days=1)),
    )
    if place is not None:
        cases = cases.filter(place_path__under=place.path)
    key = "department_id" if grouping == Grouping.DEPARTMENT else "grid_id"
    grouped = cases.values(key, "category_id").annotate(**_aggregates(now)).order_by()

    by_key: dict[int | None, StatRow] = {}
    for values in grouped:
        row = by_key.setdefault(values[key], StatRow(key=values[key]))
        row.add(values, values["category_id"])
    rows = _label(by_key, grouping)
    total = StatRow(name=str(_("Total")))
    for row in rows:
        total.merge(row)
    return CaseStatistics(
        start=start,
        end=end,
        grouping=grouping,
        place=place,
        now=now,
        rows=rows,
        total=total,
        # The taxonomy is a few dozen rows: one query names every row's top categories.
        categories=Category.objects.select_related("parent").in_bulk(),
    )


def _label(by_key: dict[int | None, StatRow], grouping: str) -> list[StatRow]:
    """Name the rows; for streets and communities, roll the grids up to them."""
    if grouping == Grouping.DEPARTMENT:
        departments = Department.objects.in_bulk([k for k in by_key if k is not None])
        for pk, row in by_key.items():
            department = departments.get(pk)
            row.code = department.code if department else ""
            row.name = department.name if department else str(_("Not dispatched yet"))
        return sorted(by_key.values(), key=lambda r: (r.key is None, r.code))
    # Names and paths only: a grid's boundary is kilobytes of GeoJSON the figures never read.
    grids = Place.objects.only("code", "name", "path").in_bulk(list(by_key))
    if grouping == Grouping.GRID:
        for pk, row in by_key.items():
            row.code, row.name = grids[pk].code, grids[pk].name
        return sorted(by_key.values(), key=lambda r: r.code)
    prefixes = {_prefixes(grid.path) for grid in grids.values()}
    ancestors = {
        place.path: place
        for place in Place.objects.filter(
            level=Grouping.LEVELS[grouping], path__in={p for ps in prefixes for p in ps}
        )
    }
    rolled: dict[int, StatRow] = {}
    for pk, row in by_key.items():
        owner = next((ancestors[p] for p in _prefixes(grids[pk].path) if p in ancestors), None)
        if owner is None:  # a grid moved out from under any place of the level
            continue
        target = rolled.setdefault(owner.pk, StatRow(key=owner.pk, code=owner.code))
        target.name = owner.name
        target.merge(row)
    return sorted(rolled.values(), key=lambda r: r.code)


def _prefixes(path: str) -> tuple[str, ...]:
    """Paths of a place's ancestors and itself: "a/", "a/b/", "a/b/c/"."""
    parts = path.split(PATH_SEPARATOR)[:-1]
    return tuple(PATH_SEPARATOR.join(parts[: i + 1]) + PATH_SEPARATOR for i in range(len(parts)))


@dataclass
class OpenCasePoint:
    id: int
    number: str
    lat: float
    lng: float
    warning: int
    state: str
    category: str


MAP_LIMIT = 2000


def open_case_points(
    *, actor: User, place: Place | None = None, limit: int = MAP_LIMIT
) -> tuple[list[OpenCasePoint], int]:
    """Open cases with a point, the most urgent first (at most `limit`), and how many open
    cases with a point there are in all: for the map of open cases."""
    cases = Case.objects.restrict(actor).filter(
        state__in=TIMED_STATES, lat__isnull=False, lng__isnull=False
    )
    if place is not None:
        cases = cases.filter(place_path__under=place.path)
    states = dict(CaseState.choices)
    rows = cases.order_by("-warning", "stage_deadline", "id").values_list(
        "id", "number", "lat", "lng", "warning", "state", "category__name"
    )[:limit]
    points = [
        OpenCasePoint(pk, number, lat, lng, warning, str(states[state]), category)
        for pk, number, lat, lng, warning, state, category in rows
    ]
    total = len(points) if len(points) < limit else cases.count()
    return points, total


# (attribute of StatRow, column heading, Excel number format): the export's columns.
COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("reported", _("Reported"), "0"),
    ("registered", _("Registered"), "0"),
    ("registration_rate", _("Registration rate (%)"), "0.0"),
    ("rejected", _("Not registered"), "0"),
    ("open", _("Still open"), "0"),
    ("overdue_open", _("Open and overdue"), "0"),
    ("dispatch_on_time", _("Dispatched on time"), "0"),
    ("dispatch_late", _("Dispatched late"), "0"),
    ("dispatch_on_time_rate", _("On-time dispatch (%)"), "0.0"),
    ("handle_on_time", _("Handled on time"), "0"),
    ("handle_late", _("Handled late"), "0"),
    ("handle_on_time_rate", _("On-time handling (%)"), "0.0"),
    ("close_on_time", _("Closed on time"), "0"),
    ("close_late", _("Closed late"), "0"),
    ("close_on_time_rate", _("On-time closure (%)"), "0.0"),
    ("reworked", _("Reworked"), "0"),
    ("rework_rate", _("Rework rate (%)"), "0.0"),
    ("average_handling_hours", _("Average handling time (h)"), "0.0"),
    ("average_closure_hours", _("Average time to close (h)"), "0.0"),
    ("rated", _("Rated"), "0"),
    ("average_rating", _("Average rating"), "0.00"),
    ("satisfaction_rate", _("Satisfied, 4–5 stars (%)"), "0.0"),
)


def statistics_workbook(stats: CaseStatistics) -> io.BytesIO:
    """The figures as an .xlsx: one sheet of rows and total, one of the top categories."""
    wb = Workbook()
    ws = wb.active
    ws.title = str(_("Statistics"))
    scope = stats.place.name if stats.place else str(_("Whole jurisdiction"))
    ws.append(
        [
            str(_("Cases reported from %(start)s to %(end)s, %(scope)s; as of %(now)s"))
            % {
                "start": stats.start.isoformat(),
                "end": stats.end.isoformat(),
                "scope": scope,
                "now": timezone.localtime(stats.now).strftime("%Y-%m-%d %H:%M"),
            }
        ]
    )
    ws.append(
        [
            str(dict(Grouping.CHOICES)[stats.grouping]),
            str(_("Code")),
            *(str(label) for _a, label, _f in COLUMNS),
            str(_("Top categories")),
        ]
    )
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in [*stats.rows, stats.total]:
        top = "、".join(f"{c.name} {n}" for c, n in stats.top_of(row))
        values = [getattr(row, attr) for attr, _l, _f in COLUMNS]
        ws.append([row.name, row.code, *values, top])
        for cell, (_a, _l, number_format) in zip(ws[ws.max_row][2:], COLUMNS, strict=False):
            cell.number_format = number_format
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "C3"
    ws.column_dimensions["A"].width = 18

    top_sheet = wb.create_sheet(str(_("Top categories")))
    top_sheet.append([str(_("Major class")), str(_("Category")), str(_("Code")), str(_("Cases"))])
    for category, count in stats.top_categories:
        parent = category.parent.name if category.parent else ""
        top_sheet.append([parent, category.name, category.code, count])
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return out
