"""Reads of the alerts (预警) for pages, the API and exports; every one takes `actor` and sees
only the actor's places (`Alert.objects.restrict`). The alert page's figures, visits and
referrals come from here; overviews and the map are in statistics.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.utils import translation
from django.utils.translation import gettext_lazy

from linli.core.errors import PermissionDenied
from linli.core.masking import mask_name
from linli.core.models import User
from linli.core.roles import Perm
from linli.people.models import Person
from linli.places.models import Place

from . import rules as rule_data
from .models import (
    OPEN_ALERT_STATES,
    Alert,
    HomeVisit,
    KeyHousehold,
    RiskRule,
    VisitRecord,
)

# Labels of the figures an alert's snapshot may hold (rules.FIGURES), for the figures table.
FIGURE_LABELS: dict[str, Any] = {
    "per_capita": gettext_lazy("Per-capita monthly income (yuan)"),
    "bound": gettext_lazy("Threshold (yuan)"),
    "standard": gettext_lazy("Local minimum standard (yuan)"),
    "multiple": gettext_lazy("Multiple of the standard"),
    "members": gettext_lazy("Members counted"),
    "monthly_income": gettext_lazy("Household monthly income (yuan)"),
    "spending": gettext_lazy("Medical and education spending (yuan)"),
    "income": gettext_lazy("Household income in the period (yuan)"),
    "share": gettext_lazy("Share of income flagged"),
    "percent": gettext_lazy("Spending as a share of income (%)"),
    "months": gettext_lazy("Months looked back"),
    "wage": gettext_lazy("Main earner's monthly wage (yuan)"),
    "event": gettext_lazy("What happened"),
    "event_on": gettext_lazy("On"),
    "age": gettext_lazy("Age"),
    "situation": gettext_lazy("Situation"),
    "grade": gettext_lazy("Disability grade"),
    "count": gettext_lazy("Number of signals"),
    "days": gettext_lazy("Within days"),
    "kinds": gettext_lazy("Signal kinds"),
    "kind": gettext_lazy("Signal kind"),
    "last_on": gettext_lazy("Latest on"),
    "max_amount": gettext_lazy("Largest amount (yuan)"),
    "total_amount": gettext_lazy("Total amount (yuan)"),
    "min_amount": gettext_lazy("Amount over (yuan)"),
    "amount": gettext_lazy("Amount (yuan)"),
}


def require_view(actor: User) -> None:
    if not (actor.is_authenticated and actor.has_perm_code(Perm.MONITORING_VIEW)):
        raise PermissionDenied()


def may_dismiss(actor: User) -> bool:
    return actor.is_authenticated and actor.has_perm_code(Perm.MONITORING_KEY)


# --- list ---------------------------------------------------------------------------------------


@dataclass
class AlertFilter:
    """What the alerts list is narrowed by; empty values do not narrow."""

    rule: str = ""  # a rule code (every version of it)
    severity: int | None = None
    state: str = ""  # an AlertState, or "active" for open and visiting
    place_path: str = ""  # under this place (street, community, grid or building)
    street_path: str = ""  # in this street
    number: str = ""  # household number, exact or its beginning


def _head_name() -> Subquery:
    heads = Person.objects.filter(household_id=OuterRef("household_id"), relation="head")
    return Subquery(heads.order_by("id").values("name")[:1])


def alert_list(actor: User, filters: AlertFilter | None = None) -> QuerySet[Alert]:
    """Alerts of the actor's places, most severe and newest first, narrowed by `filters`."""
    require_view(actor)
    f = filters or AlertFilter()
    alerts = Alert.objects.restrict(actor).select_related("household", "rule")
    if f.rule:
        alerts = alerts.filter(rule_code=f.rule)
    if f.severity:
        alerts = alerts.filter(severity=f.severity)
    if f.state == "active":
        alerts = alerts.filter(state__in=OPEN_ALERT_STATES)
    elif f.state:
        alerts = alerts.filter(state=f.state)
    if f.place_path:
        alerts = alerts.filter(place_path__under=f.place_path)
    if f.street_path:
        alerts = alerts.filter(street_path=f.street_path)
    number = (f.number or "").strip()
    if "\x00" in number or "\x00" in f.rule:  # no number holds one; PostgreSQL cannot compare
        return alerts.none()
    if number:
        alerts = alerts.filter(household__number__startswith=number)
    return alerts.order_by("-severity", "-opened_at", "-id")


def with_head_names(alerts: QuerySet[Alert]) -> QuerySet[Alert]:
    """Each alert annotated with `head_name`: its household head's name (mask before showing)."""
    return alerts.annotate(head_name=_head_name())


def masked_heads(alerts: list[Alert]) -> dict[int, str]:
    """Household id → its head's name, masked, for a page of alerts: one query."""
    rows = (
        Person.objects.filter(household_id__in={a.household_id for a in alerts}, relation="head")
        .order_by("-id")
        .values_list("household_id", "name")
    )
    return {household_id: mask_name(name) for household_id, name in rows}


def masked_head(alert: Alert) -> str:
    return mask_name(getattr(alert, "head_name", None) or "")


def street_names(paths) -> dict[str, str]:
    """Street path → name, one query."""
    return dict(Place.objects.filter(path__in=list(paths)).values_list("path", "name"))


def rule_choices(actor: User) -> list[tuple[str, str]]:
    """(code, name) of every rule, the name of its newest version: the list's rule filter."""
    require_view(actor)
    seen: dict[str, str] = {}
    for rule in RiskRule.objects.order_by("code", "-valid_from"):
        seen.setdefault(rule.code, rule_data.rule_name(rule))
    return sorted(seen.items(), key=lambda item: item[1])


# --- one alert ----------------------------------------------------------------------------------


def alert_get(actor: User, alert_id: int) -> Alert:
    """One alert of the actor's places; outside them the same 404 as a missing one."""
    require_view(actor)
    return Alert.objects.select_related("household", "household__building", "rule").get_for(
        actor, alert_id
    )


@dataclass
class Figure:
    name: str
    label: str
    value: str


@dataclass
class AlertDetail:
    alert: Alert
    explanation: str  # in the request's language, from the snapshot
    rule_name: str
    rule: RiskRule
    figures: list[Figure]
    head_name: str  # masked
    visits: list[HomeVisit]
    key_household: KeyHousehold | None  # the household's open key record, if any
    other_alerts: list[Alert] = field(default_factory=list)


def figures_of(snapshot: dict[str, Any], language: str | None = None) -> list[Figure]:
    """The snapshot as labelled rows, values shown as in the explanation (money to the fen,
    codes by their label); figures without a label keep their name."""
    language = language or translation.get_language()
    rows = []
    with translation.override(language):
        for name, value in (snapshot or {}).items():
            if value is None:
                continue
            shown = rule_data.fill("{" + name + "}", {name: value}, language)
            rows.append(Figure(name, str(FIGURE_LABELS.get(name, name)), shown))
    return rows


def explanation_of(alert: Alert, language: str | None = None) -> str:
    """The explanation in a language; the stored one when the snapshot is empty."""
    if not alert.snapshot:
        return alert.explanation
    return rule_data.explain(alert.rule, alert.snapshot, language or translation.get_language())


def alert_detail(actor: User, alert_id: int) -> AlertDetail:
    """Everything the alert page shows: explanation, figures, rule version, visits with their
    records (newest first), the open key-household record and the household's other alerts."""
    alert = alert_get(actor, alert_id)
    head = (
        Person.objects.filter(household_id=alert.household_id, relation="head")
        .order_by("id")
        .values_list("name", flat=True)
        .first()
    )
    visits = list(
        HomeVisit.objects.filter(alert=alert)
        .select_related("assignee", "grid")
        .prefetch_related(
            Prefetch(
                "records",
                queryset=VisitRecord.objects.select_related("visitor").order_by(
                    "-visited_at", "-id"
                ),
            )
        )
        .order_by("-created_at", "-id")
    )
    key = (
        KeyHousehold.objects.filter(household_id=alert.household_id, released_on__isnull=True)
        .order_by("-since")
        .first()
    )
    others = list(
        Alert.objects.restrict(actor)
        .filter(household_id=alert.household_id)
        .exclude(pk=alert.pk)
        .select_related("rule")
        .order_by("-opened_at", "-id")[:20]
    )
    return AlertDetail(
        alert=alert,
        explanation=explanation_of(alert),
        rule_name=rule_data.rule_name(alert.rule),
        rule=alert.rule,
        figures=figures_of(alert.snapshot),
        head_name=mask_name(head or ""),
        visits=visits,
        key_household=key,
        other_alerts=others,
    )


def referrals_of(record: VisitRecord) -> list[tuple[str, int]]:
    """What a visit record opened: [("application", id), ("case", id)]."""
    out = []
    for kind in ("application", "case"):
        value = (record.referral or {}).get(kind)
        if isinstance(value, int) and not isinstance(value, bool):
            out.append((kind, value))
    return out


def is_active(alert: Alert) -> bool:
    return alert.state in OPEN_ALERT_STATES


def overdue_visit(visit: HomeVisit, now: dt.datetime) -> bool:
    return visit.state == "pending" and visit.due_at < now
