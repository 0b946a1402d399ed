"""Writes on alerts (预警) outside screening and visits: the community dismisses a false alarm
with a reason; and the Excel export of the alerts list (names masked, logged).

Alerts are opened and resolved by screening (screening.py) and closed by visits (visits.py);
a dismissal is the community's word that an alert needs no visit, so its pending home visits
are cancelled with it."""

from __future__ import annotations

import tempfile
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from linli.core import audit
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.roles import Perm
from linli.core.text import (
    control_character,
    control_character_message,
    excel_safe,
    strip_invisible,
)
from linli.people.models import jurisdiction_path

from . import rules as rule_data
from . import selectors
from .models import OPEN_ALERT_STATES, Alert, AlertState, HomeVisit, VisitState

REASON_LENGTH = 300


def _reason(value: str) -> str:
    label = _("Reason")
    value = strip_invisible(value or "").strip()
    if not value:
        message = _("Say why the alert needs no visit.")
        raise ValidationFailed(message, details={"reason": [message]})
    if len(value) > REASON_LENGTH:
        message = _("Use at most %(n)s characters.") % {"n": REASON_LENGTH}
        raise ValidationFailed(message, details={"reason": [message]})
    char = control_character(value)
    if char is not None:
        message = control_character_message(label, char)
        raise ValidationFailed(message, details={"reason": [message]})
    return value


@transaction.atomic
def alert_dismiss(*, actor: User, alert_id: int, reason: str) -> Alert:
    """Dismiss an open alert (a false alarm) with the reason; its pending home visits are
    cancelled. Community workers, street officers and civil affairs (monitoring.key), within
    their places; an alert already closed is refused, nothing changes."""
    if not actor.has_perm_code(Perm.MONITORING_KEY):
        raise PermissionDenied()
    try:
        alert = Alert.objects.restrict(actor, "key").select_for_update().get(pk=alert_id)
    except (Alert.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    reason = _reason(reason)
    if alert.state not in OPEN_ALERT_STATES:
        raise Conflict(
            _("This alert is already closed (%(state)s); reload the page.")
            % {"state": alert.get_state_display()}
        )
    before = {"state": alert.state, "resolution": alert.resolution}
    now = timezone.now()
    alert.state = AlertState.DISMISSED
    alert.resolution = reason
    alert.resolved_at = now
    alert.dismissed_by = actor
    alert.save(update_fields=["state", "resolution", "resolved_at", "dismissed_by"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        instance=alert,
        changes=audit.diff(before, {"state": alert.state, "resolution": alert.resolution}),
        label=_("Alert %(id)s of household %(number)s")
        % {"id": alert.pk, "number": alert.household.number},
    )
    pending = list(HomeVisit.objects.select_for_update().filter(alert=alert, state="pending"))
    for visit in pending:
        visit.state = VisitState.CANCELLED
        visit.save(update_fields=["state"])
        audit.record(
            actor=actor,
            action=AuditAction.UPDATE,
            instance=visit,
            changes=audit.diff({"state": VisitState.PENDING}, {"state": VisitState.CANCELLED}),
            label=_("Home visit %(id)s of household %(number)s")
            % {"id": visit.pk, "number": alert.household.number},
        )
    return alert


# --- export -------------------------------------------------------------------------------------


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)


def _columns() -> list[str]:
    return [
        _("Household number"),
        _("Address"),
        _("Householder"),
        _("Street"),
        _("Rule"),
        _("Severity"),
        _("State"),
        _("Explanation"),
        _("Opened"),
        _("Closed"),
        _("Resolution"),
    ]


@transaction.atomic
def alerts_export(
    *, actor: User, filters: selectors.AlertFilter | None = None
) -> tuple[str, IO[bytes]]:
    """The alerts the filter selects as an .xlsx, householders' names masked; logged with
    the filters and the number of rows."""
    if not actor.has_perm_code(Perm.PEOPLE_EXPORT):
        raise PermissionDenied()
    filters = filters or selectors.AlertFilter()
    queryset = selectors.with_head_names(selectors.alert_list(actor, filters))
    count = queryset.count()
    if count > settings.LINLI_EXPORT_MAX_ROWS:
        raise ValidationFailed(
            _("%(count)s rows match; an export holds at most %(limit)s. Narrow the filter.")
            % {"count": count, "limit": settings.LINLI_EXPORT_MAX_ROWS}
        )
    streets = selectors.street_names(
        set(queryset.order_by().values_list("street_path", flat=True).distinct())
    )
    rule_names: dict[int, str] = {}
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Alerts"))
    ws.append(_columns())
    for alert in queryset.iterator(chunk_size=2000):
        if alert.rule_id not in rule_names:
            rule_names[alert.rule_id] = rule_data.rule_name(alert.rule)
        closed = timezone.localtime(alert.resolved_at) if alert.resolved_at else None
        ws.append(
            [
                excel_safe(value)
                for value in (
                    alert.household.number,
                    alert.household.address,
                    selectors.masked_head(alert),
                    streets.get(alert.street_path, ""),
                    rule_names[alert.rule_id],
                    alert.get_severity_display(),
                    alert.get_state_display(),
                    selectors.explanation_of(alert),
                    timezone.localtime(alert.opened_at).replace(tzinfo=None),
                    closed.replace(tzinfo=None) if closed else None,
                    alert.resolution,
                )
            ]
        )
    out = _spool()
    wb.save(out)
    out.seek(0)
    shown = {k: v for k, v in vars(filters).items() if v not in ("", None)}
    audit.record(
        actor=actor,
        action=AuditAction.EXPORT,
        instance=Alert(pk=0),
        label=_("%(count)s rows") % {"count": count},
        place_path=jurisdiction_path(actor),
        changes={"filters": shown, "rows": count, "full": False},
    )
    return f"alerts-{timezone.localdate():%Y%m%d}.xlsx", out
