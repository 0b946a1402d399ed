"""The alerts list, one alert's page data, the community's dismissal and the Excel export:
filters, jurisdiction, figures with labels, masking, audit, refusals."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, AuditEntry
from linli.monitoring import alerts as alert_services
from linli.monitoring import selectors
from linli.monitoring.models import Alert, AlertState, HomeVisit
from linli.monitoring.selectors import AlertFilter

from .fixtures_overview import *  # noqa: F403  (the fixtures)

pytestmark = pytest.mark.django_db


def ids(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


# --- list and filters ---------------------------------------------------------------------------


def test_street_officer_sees_the_street_only(world, street_officer):
    w = world
    assert ids(selectors.alert_list(street_officer)) == {
        w.a1.pk,
        w.a2.pk,
        w.a3.pk,
        w.a4.pk,
        w.a5.pk,
    }


def test_civil_affairs_sees_the_district(world, civil_affairs):
    assert selectors.alert_list(civil_affairs).count() == 7


def test_filters(world, street_officer):
    w = world

    def listed(**kw):
        return ids(selectors.alert_list(street_officer, AlertFilter(**kw)))

    assert listed(rule="ov-income") == {w.a1.pk, w.a4.pk}
    assert listed(severity=4) == {w.a3.pk}
    assert listed(state="active") == {w.a1.pk, w.a2.pk, w.a3.pk, w.a5.pk}
    assert listed(state="visiting") == {w.a2.pk}
    assert listed(state="resolved") == {w.a4.pk}
    assert listed(place_path=w.building2.path) == {w.a5.pk}
    assert listed(street_path=w.town.street.path) == {w.a1.pk, w.a2.pk, w.a3.pk, w.a4.pk, w.a5.pk}
    assert listed(number=w.h1.number) == {w.a1.pk, w.a2.pk}
    assert listed(number=w.h1.number, rule="ov-elderly") == {w.a2.pk}
    # A filter for a place outside the jurisdiction finds nothing rather than leaking.
    assert listed(place_path=w.town.other_street.path) == set()
    assert listed(number=w.h5.number) == set()


def test_most_severe_first(world, street_officer):
    severities = [a.severity for a in selectors.alert_list(street_officer)]
    assert severities == sorted(severities, reverse=True)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=st.text(max_size=40))
def test_hostile_number_search_never_fails(world, street_officer, number):
    found = ids(selectors.alert_list(street_officer, AlertFilter(number=number)))
    assert found <= ids(selectors.alert_list(street_officer))


def test_without_the_permission_nothing(world, town):
    from linli.core.roles import Role
    from linli.core.testing.factories import make_user

    handler = make_user("handler", Role.DEPARTMENT_HANDLER, [town.district])
    with pytest.raises(PermissionDenied):
        selectors.alert_list(handler)


# --- one alert ----------------------------------------------------------------------------------


def test_detail_has_explanation_figures_rule_visits(world, grid_worker):
    d = selectors.alert_detail(grid_worker, world.a1.pk)
    assert d.explanation == (
        "Per-capita income 612.00 yuan is below 1.5 × the local minimum (1,140.00 yuan)."
    )
    figures = {f.name: (f.label, f.value) for f in d.figures}
    assert figures["per_capita"] == ("Per-capita monthly income (yuan)", "612.00")
    assert figures["bound"][1] == "1,140.00"
    assert figures["members"] == ("Members counted", "2")
    assert d.rule == world.income
    assert d.head_name == "张*丰"
    assert d.key_household == world.key1
    assert [a.pk for a in d.other_alerts] == [world.a2.pk]


def test_detail_visits_and_referrals(world, grid_worker):
    d = selectors.alert_detail(grid_worker, world.a2.pk)
    assert [v.pk for v in d.visits] == [world.v_overdue.pk]
    records = list(d.visits[0].records.all())
    assert records == [world.record]
    assert selectors.referrals_of(records[0]) == [("application", 4242)]
    labels = {f.name: f.value for f in d.figures}
    assert labels["situation"] == "lives alone"
    assert "grade" not in labels  # a figure the rule did not compute is left out


def test_explanation_in_chinese(world, grid_worker):
    from django.utils import translation

    with translation.override("zh-hans"):
        d = selectors.alert_detail(grid_worker, world.a1.pk)
    assert d.explanation == "人均收入612.00元，低于当地低保标准1.5倍（1,140.00元）"


def test_neighbours_alert_is_not_found(world, grid_worker, neighbour):
    with pytest.raises(NotFound):
        selectors.alert_detail(grid_worker, world.a6.pk)
    with pytest.raises(NotFound):
        selectors.alert_detail(neighbour, world.a1.pk)
    with pytest.raises(NotFound):
        selectors.alert_detail(grid_worker, 10**9)


# --- dismissal ----------------------------------------------------------------------------------


def test_dismiss_closes_cancels_visits_and_audits(world, community_worker):
    alert = alert_services.alert_dismiss(
        actor=community_worker, alert_id=world.a3.pk, reason="家属已接回照料"
    )
    assert alert.state == AlertState.DISMISSED
    assert alert.resolution == "家属已接回照料"
    assert alert.dismissed_by == community_worker
    assert alert.resolved_at is not None
    world.v_pending.refresh_from_db()
    assert world.v_pending.state == "cancelled"
    entries = AuditEntry.objects.filter(action=AuditAction.UPDATE, object_type="monitoring.alert")
    entry = entries.get(object_id=str(world.a3.pk))
    assert entry.changes["state"] == ["open", "dismissed"]
    assert "王" not in entry.object_label  # no names in the audit label
    assert AuditEntry.objects.filter(
        object_type="monitoring.homevisit", object_id=str(world.v_pending.pk)
    ).exists()


def test_dismiss_twice_is_a_conflict_and_changes_nothing(world, community_worker):
    alert_services.alert_dismiss(actor=community_worker, alert_id=world.a1.pk, reason="误报")
    before = AuditEntry.objects.count()
    with pytest.raises(Conflict):
        alert_services.alert_dismiss(actor=community_worker, alert_id=world.a1.pk, reason="再次")
    assert AuditEntry.objects.count() == before
    assert Alert.objects.get(pk=world.a1.pk).resolution == "误报"


def test_dismiss_closed_alert_refused(world, community_worker):
    with pytest.raises(Conflict):
        alert_services.alert_dismiss(actor=community_worker, alert_id=world.a4.pk, reason="x")


@pytest.mark.parametrize("reason", ["", "   ", "x" * 301, "bad\x07bell"])
def test_dismiss_needs_a_clean_reason(world, community_worker, reason):
    with pytest.raises(ValidationFailed) as exc:
        alert_services.alert_dismiss(actor=community_worker, alert_id=world.a1.pk, reason=reason)
    assert "reason" in exc.value.details
    assert Alert.objects.get(pk=world.a1.pk).state == AlertState.OPEN


def test_dismiss_needs_the_key_permission_and_the_place(world, grid_worker, auditor, town):
    from linli.core.roles import Role
    from linli.core.testing.factories import make_user

    for actor in (grid_worker, auditor):
        with pytest.raises(PermissionDenied):
            alert_services.alert_dismiss(actor=actor, alert_id=world.a1.pk, reason="x")
    other = make_user("othercw", Role.COMMUNITY_WORKER, [town.other_community])
    with pytest.raises(NotFound):
        alert_services.alert_dismiss(actor=other, alert_id=world.a1.pk, reason="x")
    assert HomeVisit.objects.get(pk=world.v_pending.pk).state == "pending"


# --- export -------------------------------------------------------------------------------------


def test_export_masks_names_totals_and_audits(world, street_officer):
    name, out = alert_services.alerts_export(actor=street_officer, filters=AlertFilter())
    assert name.startswith("alerts-") and name.endswith(".xlsx")
    ws = load_workbook(out).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "Household number"
    body = rows[1:]
    assert len(body) == 5
    heads = {r[2] for r in body}
    assert "张*丰" in heads and "张三丰" not in heads
    assert {r[0] for r in body} == {w.number for w in (world.h1, world.h2, world.h3, world.h4)}
    assert all(r[3] == world.town.street.name for r in body)
    entry = AuditEntry.objects.get(action=AuditAction.EXPORT, object_type="monitoring.alert")
    assert entry.changes["rows"] == 5


def test_export_follows_the_filter(world, street_officer):
    _name, out = alert_services.alerts_export(
        actor=street_officer, filters=AlertFilter(state="active", severity=3)
    )
    rows = list(load_workbook(out).active.iter_rows(values_only=True))[1:]
    assert [r[0] for r in rows] == [world.h1.number]


def test_export_limit(world, street_officer, settings):
    settings.LINLI_EXPORT_MAX_ROWS = 2
    with pytest.raises(ValidationFailed):
        alert_services.alerts_export(actor=street_officer)
