"""The monitoring part of the workbench (工作台): home visits waiting for the person and those
overdue (from visits.py), key-household follow-ups due soon and overdue, and — for community
and street staff — open alerts nobody is visiting; each place's open alerts, key households and
overdue follow-ups."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from linli.core.models import User
from linli.core.roles import Perm
from linli.core.scoping import PATH_SEPARATOR
from linli.core.workbench import Count, Figure, Kind, Listing, Provider, Row, register
from linli.places.models import PlaceLevel

from . import keys
from .models import Alert, KeyHousehold

DUE_KEY = "monitoring.follow_ups_due"
OVERDUE_KEY = "monitoring.follow_ups_overdue"
UNVISITED_KEY = "monitoring.alerts_without_visit"


def _visits() -> Any:
    """The visits area's workbench part (`workbench_counts(actor)`, `workbench_listing(actor,
    key)`), or None while it is not there."""
    if importlib.util.find_spec("linli.monitoring.visits") is None:
        return None
    visits = importlib.import_module("linli.monitoring.visits")
    if not (hasattr(visits, "workbench_counts") and hasattr(visits, "workbench_listing")):
        return None
    return visits


def _key_row(key: KeyHousehold) -> Row:
    state = keys.warning(key)
    detail = _("next follow-up %(when)s") % {"when": key.next_follow_up_on.isoformat()}
    return Row(
        title=f"{key.household.number} · {key.reason}"[:120],
        detail=detail,
        url=reverse("monitoring:key_detail", args=[key.pk]),
        warning=state,
    )


def _alert_row(alert: Alert) -> Row:
    return Row(
        title=f"{alert.household.number} · {alert.get_severity_display()}",
        detail=alert.explanation,
        url=keys.url_or_blank("monitoring:alert_detail", alert.pk),
    )


class MonitoringProvider(Provider):
    name = "monitoring"

    def _lists(self, actor: User) -> dict:
        if not keys.may_view(actor):
            return {}
        lists: dict = {}
        if keys.may_follow_up(actor):
            lists[DUE_KEY] = (
                _("Key-household follow-ups due soon"),
                Kind.DUE_SOON,
                keys.follow_ups_due,
                _key_row,
            )
            lists[OVERDUE_KEY] = (
                _("Overdue key-household follow-ups"),
                Kind.OVERDUE,
                keys.follow_ups_overdue,
                _key_row,
            )
        if keys.may_see_unvisited_alerts(actor):
            lists[UNVISITED_KEY] = (
                _("Open alerts without a home visit"),
                Kind.WAITING,
                keys.alerts_without_visit,
                _alert_row,
            )
        return lists

    def todos(self, actor: User) -> list[Count]:
        if not keys.may_view(actor):
            return []
        counts: list[Count] = []
        visits = _visits()
        if visits is not None:
            counts += list(visits.workbench_counts(actor))
        counts += [
            Count(key, label, select(actor=actor).order_by().count(), kind)
            for key, (label, kind, select, _row) in self._lists(actor).items()
        ]
        return counts

    def figures(self, actor: User, place_id: int, place_path: str) -> list[Figure]:
        if not (keys.may_view(actor) and actor.has_perm_code(Perm.MONITORING_VIEW)):
            return []
        counts = keys.place_counts(actor=actor, place_path=place_path)
        key_list = reverse("monitoring:keys")
        level = len([part for part in place_path.split(PATH_SEPARATOR) if part])
        alerts = keys.url_or_blank("monitoring:alerts")
        # The alerts list filters by street, community or grid.
        if alerts and PlaceLevel.STREET <= level <= PlaceLevel.GRID:
            alerts = f"{alerts}?place={place_id}"
        elif actor.scope_paths != [place_path]:
            alerts = ""
        return [
            Figure(
                _("open alerts"),
                keys.open_alert_count(actor=actor, place_path=place_path),
                alerts,
            ),
            Figure(_("key households"), counts["open"], f"{key_list}?place={place_id}"),
            Figure(
                _("overdue follow-ups"),
                counts["overdue"],
                f"{key_list}?place={place_id}&state=overdue",
            ),
        ]

    def listing(self, actor: User, key: str) -> Listing | None:
        visits = _visits()
        if visits is not None:
            found = visits.workbench_listing(actor, key)
            if found is not None:
                return found
        entry = self._lists(actor).get(key)
        if entry is None:
            return None
        label, _kind, select, row = entry
        return Listing(label=label, queryset=select(actor=actor), row=row)


register(MonitoringProvider())
