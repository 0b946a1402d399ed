"""Alerts (预警) and the monitoring overview in the API: the alerts list and each alert with its
figures, visits and referrals; the community's dismissal; counts by place, rule, severity and
state; the map of open alerts as GeoJSON (counts per building, nothing personal); Excel
exports. The selectors and services do every check; this layer translates JSON."""

import datetime as dt
from typing import Any, Literal

from django.http import FileResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from linli.core.api import ERRORS, Id, Page, actor_of
from linli.places.models import Place

from .. import alerts as alert_services
from .. import selectors, statistics
from ..models import Alert, AlertState, HomeVisit, VisitRecord

router = Router(tags=["monitoring"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_XLSX_RESPONSE = {
    "responses": {
        200: {
            "description": "An .xlsx workbook",
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


# --- alerts -------------------------------------------------------------------------------------


class AlertOut(Schema):
    id: int
    household_id: int
    household_number: str
    rule_id: int
    rule_code: str
    severity: int
    severity_label: str
    state: str
    state_label: str
    explanation: str = Field(description="The explanation as stored, in the site language.")
    opened_at: dt.datetime
    resolved_at: dt.datetime | None
    resolution: str
    screening_round_id: int | None

    @staticmethod
    def resolve_household_number(obj: Alert) -> str:
        return obj.household.number

    @staticmethod
    def resolve_severity_label(obj: Alert) -> str:
        return str(obj.get_severity_display())

    @staticmethod
    def resolve_state_label(obj: Alert) -> str:
        return str(obj.get_state_display())


class AlertQuery(Schema):
    rule: str | None = Field(None, max_length=40, description="A rule code (every version).")
    severity: int | None = Field(None, ge=1, le=4, description="1 low, 2 medium, 3 high, 4 severe.")
    state: Literal[("active", *AlertState.values)] | None = Field(
        None, description="A state, or `active` for open and being visited."
    )
    place_id: Id | None = Field(None, description="Only alerts under this place.")
    number: str | None = Field(
        None, max_length=32, description="Household number, or its beginning."
    )


def _filter(actor, query: AlertQuery) -> selectors.AlertFilter:
    place = None if query.place_id is None else Place.objects.get_for(actor, query.place_id)
    return selectors.AlertFilter(
        rule=query.rule or "",
        severity=query.severity,
        state=query.state or "",
        place_path=place.path if place else "",
        number=query.number or "",
    )


@router.get("/alerts", response={200: list[AlertOut], **ERRORS})
@paginate(Page)
def alert_list(request, query: Query[AlertQuery]):
    """Alerts of the caller's places, most severe and newest first."""
    actor = actor_of(request)
    return selectors.alert_list(actor, _filter(actor, query))


class AlertFigureOut(Schema):
    name: str
    label: str
    value: str


class AlertRuleOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    severity: int
    valid_from: dt.date
    valid_to: dt.date | None


class AlertVisitRecordOut(Schema):
    id: int
    visited_at: dt.datetime
    visitor: str
    met: str
    findings: str
    photos: int
    lat: float | None
    lng: float | None
    outcome: str
    referral: dict[str, Any] = Field(
        description='What it opened: {"application": id} or {"case": id}.'
    )

    @staticmethod
    def resolve_visitor(obj: VisitRecord) -> str:
        return str(obj.visitor)

    @staticmethod
    def resolve_photos(obj: VisitRecord) -> int:
        return len(obj.photos or [])


class AlertVisitOut(Schema):
    id: int
    state: str
    due_at: dt.datetime
    assignee: str | None
    attempts: int
    outcome: str
    records: list[AlertVisitRecordOut]

    @staticmethod
    def resolve_assignee(obj: HomeVisit) -> str | None:
        return str(obj.assignee) if obj.assignee_id else None

    @staticmethod
    def resolve_records(obj: HomeVisit) -> list:
        return list(obj.records.all())


class AlertDetailOut(Schema):
    alert: AlertOut
    explanation: str = Field(description="In the request's language, from the figures.")
    householder: str = Field(description="The householder's name, masked.")
    rule: AlertRuleOut
    figures: list[AlertFigureOut] = Field(description="The figures the alert was computed from.")
    visits: list[AlertVisitOut]
    key_household_id: int | None


@router.get("/alerts/{alert_id}", response={200: AlertDetailOut, **ERRORS})
def alert_detail(request, alert_id: Id):
    detail = selectors.alert_detail(actor_of(request), alert_id)
    rule = detail.rule
    return {
        "alert": detail.alert,
        "explanation": detail.explanation,
        "householder": detail.head_name,
        "rule": {
            "id": rule.pk,
            "code": rule.code,
            "name": detail.rule_name,
            "kind": rule.kind,
            "severity": rule.severity,
            "valid_from": rule.valid_from,
            "valid_to": rule.valid_to,
        },
        "figures": detail.figures,
        "visits": detail.visits,
        "key_household_id": detail.key_household.pk if detail.key_household else None,
    }


class DismissIn(Schema):
    reason: str = Field(max_length=300, description="Why the alert needs no visit.")


@router.post("/alerts/{alert_id}/dismiss", response={200: AlertOut, **ERRORS})
def alert_dismiss(request, alert_id: Id, payload: DismissIn):
    """Dismiss an open alert as a false alarm (monitoring.key); its pending visits are
    cancelled. An alert already closed: 409, nothing changes."""
    alert_services.alert_dismiss(actor=actor_of(request), alert_id=alert_id, reason=payload.reason)
    return selectors.alert_get(actor_of(request), alert_id)


@router.get("/alerts-export", response=ERRORS, openapi_extra=_XLSX_RESPONSE)
def alerts_export(request, query: Query[AlertQuery]):
    """The alerts the filters select as an .xlsx, householders' names masked; audited."""
    actor = actor_of(request)
    name, content = alert_services.alerts_export(actor=actor, filters=_filter(actor, query))
    return FileResponse(content, as_attachment=True, filename=name, content_type=XLSX)


# --- overview -----------------------------------------------------------------------------------


class OverviewQuery(Schema):
    place_id: Id | None = Field(
        None, description="The place looked at (rows are its children); empty: your places."
    )


class OverviewRowOut(Schema):
    place_id: int | None = Field(description="Empty in the total.")
    name: str
    code: str
    open_alerts: int = Field(description="Waiting for a visit or with a visit in progress.")
    waiting: int
    visiting: int
    by_state: dict[str, int] = Field(description="Every alert by state.")
    by_severity: dict[str, int] = Field(description="Open alerts by severity (1 low – 4 severe).")
    by_rule: dict[str, int] = Field(description="Open alerts by rule code.")
    visits_pending: int
    visits_overdue: int
    visits_escalated: int
    key_households: int
    key_overdue: int = Field(description="Key households whose follow-up is past due.")


class OverviewOut(Schema):
    place_id: int | None
    name: str
    as_of: dt.datetime
    rules: dict[str, str] = Field(description="Rule code → name, of the rules with open alerts.")
    rows: list[OverviewRowOut]
    total: OverviewRowOut


def _row(row: statistics.OverviewRow) -> dict[str, Any]:
    return {
        "place_id": row.place_id,
        "name": row.name,
        "code": row.code,
        "open_alerts": row.active,
        "waiting": row.waiting,
        "visiting": row.visiting,
        "by_state": {k: v for k, v in row.by_state.items() if v},
        "by_severity": {str(k): v for k, v in sorted(row.by_severity.items()) if v},
        "by_rule": {k: v for k, v in row.by_rule.items() if v},
        "visits_pending": row.visits_pending,
        "visits_overdue": row.visits_overdue,
        "visits_escalated": row.visits_escalated,
        "key_households": row.key_households,
        "key_overdue": row.key_overdue,
    }


def _place(actor, place_id: int | None) -> Place | None:
    return None if place_id is None else Place.objects.get_for(actor, place_id)


@router.get("/overview", response={200: OverviewOut, **ERRORS})
def overview(request, query: Query[OverviewQuery]):
    """Counts of a place's children (or of your places): alerts by state, severity and rule,
    home visits to do, overdue and escalated, key households and overdue follow-ups."""
    actor = actor_of(request)
    data = statistics.monitoring_overview(actor=actor, place=_place(actor, query.place_id))
    return {
        "place_id": data.place.pk if data.place else None,
        "name": str(data.name),
        "as_of": data.now,
        "rules": dict(data.rules),
        "rows": [_row(r) for r in data.rows],
        "total": _row(data.total),
    }


@router.get("/overview-export", response=ERRORS, openapi_extra=_XLSX_RESPONSE)
def overview_export(request, query: Query[OverviewQuery]):
    """The overview's tables as an .xlsx (aggregates only)."""
    actor = actor_of(request)
    data = statistics.monitoring_overview(actor=actor, place=_place(actor, query.place_id))
    code = data.place.code if data.place else "all"
    return FileResponse(
        statistics.overview_workbook(data),
        as_attachment=True,
        filename=f"monitoring-{code}.xlsx",
        content_type=XLSX,
    )


class PointProperties(Schema):
    building_id: int
    building: str
    count: int
    severity: int = Field(description="The most severe open alert in the building.")
    severity_label: str
    by_severity: dict[str, int]


class PointGeometry(Schema):
    type: Literal["Point"]
    coordinates: list[float] = Field(description="[longitude, latitude]")


class PointFeature(Schema):
    type: Literal["Feature"]
    geometry: PointGeometry
    properties: PointProperties


class MapOut(Schema):
    type: Literal["FeatureCollection"]
    features: list[PointFeature]
    total: int = Field(description="Open alerts under the place.")
    unlocated: int = Field(description="Of them, in buildings without a position.")


@router.get("/alerts-map", response={200: MapOut, **ERRORS})
def alerts_map(request, query: Query[OverviewQuery]):
    """Open alerts as GeoJSON points, one per building with its counts by severity: no
    names, no household numbers."""
    actor = actor_of(request)
    points, total, unlocated = statistics.open_alert_points(
        actor=actor, place=_place(actor, query.place_id)
    )
    return statistics.points_geojson(points) | {"total": total, "unlocated": unlocated}
