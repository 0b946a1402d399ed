"""Overviews of monitoring (监测预警概况) for a community, a street or any place of the actor's:
alerts by rule, severity and state per place below it, home visits to do and overdue, key
households and their overdue follow-ups; the chart by rule, the map of open alerts and the
Excel file of the same tables.

Set-based: one grouped query per table (alerts; home visits; key households), grouped by the
prefix of the row's place path that names the child place (`Substr(place_path, 1, length)`; a
place's descendants share its path as a prefix, and children of one parent whose codes differ
in length are grouped once per length). A child place's row is the sum of what lies under it;
the total is the sum of the rows. The map groups open alerts by building (one query), with the
building's point: no names, no household numbers, only counts per building and severity.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

from linli.core.models import User
from linli.core.scoping import under_any
from linli.core.text import excel_safe
from linli.places.models import Place, PlaceLevel

from .models import OPEN_ALERT_STATES, Alert, AlertState, HomeVisit, KeyHousehold, Severity
from .selectors import require_view, rule_choices

MAP_LIMIT = 2000  # buildings drawn on the map, the most severe first
MAP_GRIDS = 500
SEVERITIES = [s for s in reversed(Severity)]  # severe first


@dataclass
class OverviewRow:
    """The figures of one place (or the total, `place` None)."""

    name: str
    code: str = ""
    path: str = ""
    place_id: int | None = None
    level: int | None = None
    by_state: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Alerts open or being visited, by severity and by rule code.
    by_severity: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    by_rule: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    visiting_by_rule: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    visits_pending: int = 0
    visits_overdue: int = 0
    visits_escalated: int = 0
    key_households: int = 0
    key_overdue: int = 0

    @property
    def waiting(self) -> int:
        return self.by_state.get(AlertState.OPEN, 0)

    @property
    def visiting(self) -> int:
        return self.by_state.get(AlertState.VISITING, 0)

    @property
    def active(self) -> int:
        return self.waiting + self.visiting

    @property
    def drillable(self) -> bool:
        return self.place_id is not None and (self.level or 99) <= PlaceLevel.GRID

    def severity_counts(self) -> list[int]:
        return [self.by_severity.get(int(s), 0) for s in SEVERITIES]

    def add(self, other: OverviewRow) -> None:
        for k, v in other.by_state.items():
            self.by_state[k] += v
        for k, v in other.by_severity.items():
            self.by_severity[k] += v
        for k, v in other.by_rule.items():
            self.by_rule[k] += v
        for k, v in other.visiting_by_rule.items():
            self.visiting_by_rule[k] += v
        self.visits_pending += other.visits_pending
        self.visits_overdue += other.visits_overdue
        self.visits_escalated += other.visits_escalated
        self.key_households += other.key_households
        self.key_overdue += other.key_overdue


@dataclass
class Overview:
    place: Place | None  # the place looked at; None: the actor's places together
    name: str
    now: dt.datetime
    rows: list[OverviewRow]
    total: OverviewRow
    rules: list[tuple[str, str]]  # (code, name) of the rules with alerts, most first
    ancestors: list[Place] = field(default_factory=list)  # for the drill-down trail

    def rule_total(self, code: str) -> int:
        return self.total.by_rule.get(code, 0)


# --- scope --------------------------------------------------------------------------------------


def _children(actor: User, place: Place | None) -> tuple[Place | None, list[Place]]:
    """The place looked at and the places its rows are: its children; with no place given,
    the actor's one place and its children, or the actor's several places themselves."""
    if place is None:
        if actor.sees_everything:
            return None, list(Place.objects.filter(parent__isnull=True).order_by("code"))
        mine = list(Place.objects.filter(path__in=actor.scope_paths).order_by("path"))
        if len(mine) != 1:
            return None, mine
        place = mine[0]
    return place, list(Place.objects.filter(parent=place).order_by("code"))


def _grouped(
    queryset: QuerySet, children: list[Place], values: list[str], **aggregates
) -> list[tuple[str, dict]]:
    """(child path, row) for every group of `values` under each child place: one grouped query
    per distinct length of the children's paths (usually one)."""
    by_length: dict[int, list[str]] = defaultdict(list)
    for child in children:
        by_length[len(child.path)].append(child.path)
    out: list[tuple[str, dict]] = []
    for length, paths in by_length.items():
        rows = (
            queryset.filter(under_any(paths))
            .annotate(_child=Substr("place_path", 1, length))
            .values("_child", *values)
            .annotate(**aggregates)
            .order_by()
        )
        out.extend((row.pop("_child"), row) for row in rows)
    return out


def monitoring_overview(*, actor: User, place: Place | None = None) -> Overview:
    """The overview of a place of the actor's (checked by the caller with get_for), or of all
    the actor's places: a row per child place and a total."""
    require_view(actor)
    now = timezone.now()
    today = timezone.localdate()
    root, children = _children(actor, place)
    rows = {
        c.path: OverviewRow(name=c.name, code=c.code, path=c.path, place_id=c.pk, level=c.level)
        for c in children
    }
    alerts = Alert.objects.restrict(actor)
    for path, row in _grouped(alerts, children, ["state", "severity", "rule_code"], n=Count("id")):
        target = rows.get(path)
        if target is None:
            continue
        target.by_state[row["state"]] += row["n"]
        if row["state"] in OPEN_ALERT_STATES:
            target.by_severity[row["severity"]] += row["n"]
            target.by_rule[row["rule_code"]] += row["n"]
        if row["state"] == AlertState.VISITING:
            target.visiting_by_rule[row["rule_code"]] += row["n"]
    visits = HomeVisit.objects.restrict(actor).filter(state__in=("pending", "escalated"))
    for path, row in _grouped(
        visits,
        children,
        [],
        pending=Count("id", filter=Q(state="pending")),
        overdue=Count("id", filter=Q(state="pending", due_at__lt=now)),
        escalated=Count("id", filter=Q(state="escalated")),
    ):
        if (target := rows.get(path)) is not None:
            target.visits_pending += row["pending"]
            target.visits_overdue += row["overdue"]
            target.visits_escalated += row["escalated"]
    keys = KeyHousehold.objects.restrict(actor).filter(released_on__isnull=True)
    for path, row in _grouped(
        keys,
        children,
        [],
        n=Count("id"),
        overdue=Count("id", filter=Q(next_follow_up_on__lt=today)),
    ):
        if (target := rows.get(path)) is not None:
            target.key_households += row["n"]
            target.key_overdue += row["overdue"]
    total = OverviewRow(name=_("Total"))
    for row in rows.values():
        total.add(row)
    names = dict(rule_choices(actor))
    codes = sorted(total.by_rule, key=lambda c: (-total.by_rule[c], names.get(c, c)))
    return Overview(
        place=root,
        name=root.name if root else _("All your places"),
        now=now,
        rows=list(rows.values()),
        total=total,
        rules=[(c, names.get(c, c)) for c in codes],
        ancestors=_trail(actor, root),
    )


def _trail(actor: User, place: Place | None) -> list[Place]:
    """The place's ancestors the actor may see (for links back up), root first."""
    if place is None:
        return []
    visible = set(
        Place.objects.restrict(actor)
        .filter(pk__in=[p.pk for p in place.ancestors()])
        .values_list("pk", flat=True)
    )
    return [p for p in place.ancestors() if p.pk in visible]


def chart_data(overview: Overview) -> dict[str, Any]:
    """What the ECharts bar chart draws: open alerts per rule, waiting for a visit and with a
    visit in progress, stacked."""
    total = overview.total
    codes = [code for code, _name in overview.rules]
    return {
        "names": [name for _code, name in overview.rules],
        "series": [
            {
                "name": _("Waiting for a visit"),
                "data": [total.by_rule.get(c, 0) - total.visiting_by_rule.get(c, 0) for c in codes],
            },
            {
                "name": _("Visit in progress"),
                "data": [total.visiting_by_rule.get(c, 0) for c in codes],
            },
        ],
    }


# --- map ----------------------------------------------------------------------------------------


@dataclass
class BuildingPoint:
    building_id: int
    name: str
    lat: float
    lng: float
    count: int
    severity: int  # the highest
    by_severity: dict[int, int]


def open_alert_points(
    *, actor: User, place: Place | None = None, limit: int = MAP_LIMIT
) -> tuple[list[BuildingPoint], int, int]:
    """Buildings with open alerts and a point, the most severe and most alerts first (at most
    `limit`); the number of open alerts under the place, and of those without a point."""
    require_view(actor)
    alerts = Alert.objects.restrict(actor).filter(state__in=OPEN_ALERT_STATES)
    if place is not None:
        alerts = alerts.filter(place_path__under=place.path)
    per_severity = {f"s{int(s)}": Count("id", filter=Q(severity=int(s))) for s in Severity}
    rows = (
        alerts.values(
            "household__building_id",
            "household__building__name",
            "household__building__lat",
            "household__building__lng",
        )
        .annotate(n=Count("id"), top=Max("severity"), **per_severity)
        .order_by()
    )
    points, total, unlocated = [], 0, 0
    for row in rows:
        total += row["n"]
        lat, lng = row["household__building__lat"], row["household__building__lng"]
        if lat is None or lng is None:
            unlocated += row["n"]
            continue
        points.append(
            BuildingPoint(
                building_id=row["household__building_id"],
                name=row["household__building__name"],
                lat=lat,
                lng=lng,
                count=row["n"],
                severity=row["top"],
                by_severity={int(s): row[f"s{int(s)}"] for s in Severity if row[f"s{int(s)}"]},
            )
        )
    points.sort(key=lambda p: (-p.severity, -p.count, p.building_id))
    return points[:limit], total, unlocated


def points_geojson(points: list[BuildingPoint]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the buildings: counts only, nothing personal."""
    labels = dict(Severity.choices)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [p.lng, p.lat]},
                "properties": {
                    "building_id": p.building_id,
                    "building": p.name,
                    "count": p.count,
                    "severity": p.severity,
                    "severity_label": str(labels.get(p.severity, p.severity)),
                    "by_severity": {str(k): v for k, v in sorted(p.by_severity.items())},
                },
            }
            for p in points
        ],
    }


def map_grids(actor: User, place: Place | None) -> list[dict[str, Any]]:
    """Grid boundaries under the place (GeoJSON), for the map's outlines."""
    grids = Place.objects.restrict(actor).filter(level=PlaceLevel.GRID, boundary__isnull=False)
    if place is not None:
        grids = grids.filter(path__under=place.path)
    return [{"name": g.name, "boundary": g.boundary} for g in grids.order_by("path")[:MAP_GRIDS]]


# --- Excel --------------------------------------------------------------------------------------


def place_columns() -> list[tuple[str, Any]]:
    """(heading, getter) of the table by place, in the page's and the file's order."""
    severity = [(str(s.label), (lambda r, v=int(s): r.by_severity.get(v, 0))) for s in SEVERITIES]
    return [
        (_("Open alerts"), lambda r: r.active),
        (_("Waiting for a visit"), lambda r: r.waiting),
        (_("Visit in progress"), lambda r: r.visiting),
        *severity,
        (_("Referred"), lambda r: r.by_state.get(AlertState.REFERRED, 0)),
        (_("Resolved"), lambda r: r.by_state.get(AlertState.RESOLVED, 0)),
        (_("Dismissed"), lambda r: r.by_state.get(AlertState.DISMISSED, 0)),
        (_("Visits to do"), lambda r: r.visits_pending),
        (_("Overdue visits"), lambda r: r.visits_overdue),
        (_("Escalated visits"), lambda r: r.visits_escalated),
        (_("Key households"), lambda r: r.key_households),
        (_("Overdue follow-ups"), lambda r: r.key_overdue),
    ]


def overview_workbook(overview: Overview) -> io.BytesIO:
    """The overview as an .xlsx: the table by place with its total, and open alerts by rule
    and place (aggregates only: nothing personal in them)."""
    wb = Workbook()
    ws = wb.active
    ws.title = _("By place")
    stamp = timezone.localtime(overview.now).strftime("%Y-%m-%d %H:%M")
    ws.append(
        [
            _("Monitoring overview of %(place)s as of %(now)s")
            % {"place": overview.name, "now": stamp}
        ]
    )
    columns = place_columns()
    ws.append([_("Place"), _("Code"), *(str(h) for h, _g in columns)])
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in [*overview.rows, overview.total]:
        ws.append([excel_safe(row.name), row.code, *(g(row) for _h, g in columns)])
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "C3"
    ws.column_dimensions["A"].width = 18

    rules = wb.create_sheet(_("By rule"))
    rules.append([_("Rule"), _("Code"), *(excel_safe(r.name) for r in overview.rows), _("Total")])
    for cell in rules[1]:
        cell.font = Font(bold=True)
    for code, name in overview.rules:
        rules.append(
            [
                excel_safe(name),
                code,
                *(r.by_rule.get(code, 0) for r in overview.rows),
                overview.rule_total(code),
            ]
        )
    rules.append([_("Total"), "", *(r.active for r in overview.rows), overview.total.active])
    for cell in rules[rules.max_row]:
        cell.font = Font(bold=True)
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return out
