"""Screening: idempotent re-runs, resolution when the condition goes away, rules' effective
dates, rounds (progress, counts, audit, one at a time), the command, and a bounded number of
queries whatever the number of households."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry
from linli.monitoring import screening
from linli.monitoring.models import Alert, HomeVisit, RiskRule, RoundState, ScreeningRound
from linli.monitoring.rules import ensure_default_rules, rule_version_add
from linli.monitoring.screening import round_run, round_start, screen

from .fixtures_screening import *  # noqa: F403  (the fixtures)
from .fixtures_screening import AS_OF, clean_household, household, person, record, signal

pytestmark = pytest.mark.django_db


def poor(building, income=300):
    h = household(building)
    record(person(h), "business", income)
    return h


def test_rerun_over_an_unchanged_registry_raises_nothing_new(town, policies, rules):
    poor(town.building)
    poor(town.other_building)
    clean_household(town.building)
    first = screen(place_path=town.district.path, as_of=AS_OF)
    assert first["opened"] == 2
    assert first["by_rule"]["marginal-income"] == 2
    before = list(Alert.objects.values_list("pk", "explanation", "opened_at"))
    second = screen(place_path=town.district.path, as_of=AS_OF)
    assert second["opened"] == 0 and second["resolved"] == 0
    assert second["by_rule"] == first["by_rule"]
    assert list(Alert.objects.values_list("pk", "explanation", "opened_at")) == before


def test_alert_is_resolved_when_the_condition_no_longer_holds(town, policies, rules):
    h = poor(town.building)
    screen(place_path=town.district.path, as_of=AS_OF)
    alert = Alert.objects.get(household=h)
    snapshot = dict(alert.snapshot)
    record(person(h, relation="spouse"), "business", 5000)
    counts = screen(place_path=town.district.path, as_of=AS_OF)
    assert counts["resolved"] == 1
    alert.refresh_from_db()
    assert alert.state == "resolved"
    assert alert.resolution == "condition no longer holds on 2026-06-30"
    assert alert.snapshot == snapshot  # still explainable
    # It comes back: a new alert, the old one stays resolved.
    record(person(h, relation="child"), "business", 0)
    h.members.filter(relation="spouse").update(status="moved_out")
    screen(place_path=town.district.path, as_of=AS_OF)
    assert Alert.objects.filter(household=h).count() == 2
    assert Alert.objects.filter(household=h, state="open").count() == 1


def test_visiting_alerts_are_left_to_the_visit(town, policies, rules):
    h = poor(town.building)
    screen(place_path=town.district.path, as_of=AS_OF)
    Alert.objects.filter(household=h).update(state="visiting")
    record(h.members.get(), "business", 9000)
    assert screen(place_path=town.district.path, as_of=AS_OF)["resolved"] == 0
    assert Alert.objects.get(household=h).state == "visiting"


def test_resolution_cancels_the_pending_visit(town, policies, rules):
    h = poor(town.building)
    screen(place_path=town.district.path, as_of=AS_OF)
    alert = Alert.objects.get(household=h)
    visit = HomeVisit.objects.create(
        alert=alert, household=h, grid=town.grid, due_at=dt.datetime(2026, 7, 3, tzinfo=dt.UTC)
    )
    record(h.members.get(), "business", 9000)
    screen(place_path=town.district.path, as_of=AS_OF)
    visit.refresh_from_db()
    assert visit.state == "cancelled"


def test_screening_a_street_leaves_the_other_streets_alerts(town, policies, rules):
    mine = poor(town.building)
    theirs = poor(town.other_building)
    screen(place_path=town.district.path, as_of=AS_OF)
    record(theirs.members.get(), "business", 9000)
    counts = screen(place_path=town.street.path, as_of=AS_OF)
    assert counts["resolved"] == 0 and counts["households"] == 1
    assert Alert.objects.get(household=theirs).state == "open"
    assert Alert.objects.get(household=mine).street_path == town.street.path


def test_only_rules_in_force_on_the_date(town, policies, rules, screener):
    poor(town.building, income=1100)  # below 1.5 × 800, not below 1.3 × 800
    rule_version_add(
        actor=screener,
        code="marginal-income",
        valid_from=dt.date(2026, 7, 1),
        parameters={"multiple": "1.3"},
    )
    early = screen(place_path=town.district.path, as_of=AS_OF)
    assert early["by_rule"]["marginal-income"] == 1
    later = screen(place_path=town.district.path, as_of=dt.date(2026, 7, 1))
    assert later["by_rule"]["marginal-income"] == 0
    assert later["resolved"] == 1
    before = screen(place_path=town.district.path, as_of=dt.date(2025, 12, 31))
    assert before["by_rule"] == {}  # the defaults start on 2026-01-01


def test_ensure_default_rules_is_idempotent(db):
    assert ensure_default_rules() == 11
    assert ensure_default_rules() == 0
    assert RiskRule.objects.count() == 11
    assert all(r.translations["zh-hans"] and r.template for r in RiskRule.objects.all())


def test_evaluators_issue_a_bounded_number_of_queries(town, policies, rules):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            screen(place_path=town.district.path, as_of=AS_OF)
        return len(ctx.captured_queries)

    for building in (town.building, town.other_building):
        poor(building)
        clean_household(building)
        signal(clean_household(building), "hospital_bill", dt.date(2026, 6, 1), amount=50000)
    small = count_queries()
    for _ in range(12):
        poor(town.building)
        poor(town.other_building, income=1000)
        old = household(town.building)
        person(old, birth=dt.date(1940, 1, 1), living_alone=True)
        signal(clean_household(town.other_building), "hospital_bill", dt.date(2026, 6, 1), 50000)
    count_queries()  # opens the new ones
    assert count_queries() <= small


# --- rounds ---------------------------------------------------------------------------------


def test_round_runs_street_by_street_and_audits_its_summary(
    town, policies, rules, screener, django_capture_on_commit_callbacks
):
    poor(town.building)
    poor(town.other_building)
    with django_capture_on_commit_callbacks(execute=False):
        r = round_start(actor=screener, place_id=town.district.pk, as_of=AS_OF)
    assert r.state == RoundState.QUEUED
    done = round_run(round_id=r.pk)
    assert done.state == RoundState.DONE
    assert (done.total, done.processed) == (2, 2)
    assert done.counts["by_rule"]["marginal-income"] == 2
    assert done.counts["by_street"] == {town.street.path: 2, town.other_street.path: 2} or (
        done.counts["by_street"][town.street.path] >= 1
    )
    assert done.counts["by_severity"]["3"] >= 2
    assert done.counts["opened"] >= 2
    assert set(Alert.objects.values_list("screening_round", flat=True)) == {r.pk}
    entries = AuditEntry.objects.filter(
        object_type="monitoring.screeninground", object_id=str(r.pk)
    )
    assert entries.count() == 2  # created, finished with the summary
    assert round_run(round_id=r.pk).state == RoundState.DONE  # claimed once
    again = round_start(actor=screener, place_id=town.district.pk, as_of=AS_OF)
    assert round_run(round_id=again.pk).counts["opened"] == 0


def test_second_round_of_the_same_place_is_refused(town, screener, rules):
    round_start(actor=screener, place_id=town.district.pk, as_of=AS_OF)
    with pytest.raises(Conflict, match="already running"):
        round_start(actor=screener, place_id=town.district.pk, as_of=AS_OF)
    round_start(actor=screener, place_id=town.street.pk, as_of=AS_OF)  # another place: fine


def test_round_start_checks_permission_jurisdiction_and_place(town, street_screener, grid_worker):
    with pytest.raises(PermissionDenied):
        round_start(actor=grid_worker, place_id=town.street.pk, as_of=AS_OF)
    with pytest.raises(NotFound):
        round_start(actor=street_screener, place_id=town.other_street.pk, as_of=AS_OF)
    with pytest.raises(ValidationFailed):
        round_start(actor=street_screener, place_id=town.grid.pk, as_of=AS_OF)
    with pytest.raises(ValidationFailed):
        round_start(actor=street_screener, place_id=town.street.pk, as_of="2026-06-30")


def test_failed_round_frees_the_place(town, screener, rules, monkeypatch):
    r = round_start(actor=screener, place_id=town.district.pk, as_of=AS_OF)

    def boom(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(screening, "screen", boom)
    assert round_run(round_id=r.pk).state == RoundState.FAILED
    assert "Start it again" in ScreeningRound.objects.get(pk=r.pk).failure
    round_start(actor=screener, place_id=town.district.pk, as_of=AS_OF)


def test_stale_rounds_fail(town, screener, rules):
    import time_machine

    r = round_start(actor=screener, place_id=town.district.pk, as_of=AS_OF)
    ScreeningRound.objects.filter(pk=r.pk).update(state="running")
    with time_machine.travel(dt.timedelta(hours=1), tick=False):
        assert screening.rounds_fail_stale() == 1
    assert ScreeningRound.objects.get(pk=r.pk).state == RoundState.FAILED


# --- the command -----------------------------------------------------------------------------


def test_command_screens_the_whole_city_and_prints_counts(town, policies):
    poor(town.building)
    poor(town.other_building)
    out = StringIO()
    call_command("screen", "--as-of", "2026-06-30", stdout=out)
    text = out.getvalue()
    assert "Screened 东营市 as of 2026-06-30: 2 households" in text
    assert "marginal-income" in text and "2" in text
    assert "high" in text and "Opened 2, resolved 0" in text
    out = StringIO()
    call_command("screen", "--place", town.street.code, "--as-of", "2026-06-30", stdout=out)
    assert "Opened 0, resolved 0" in out.getvalue()
    assert ScreeningRound.objects.filter(state="done").count() == 2


def test_command_rejects_bad_input(town):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no place"):
        call_command("screen", "--place", "nope", stdout=StringIO())
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("screen", "--as-of", "30/06/2026", stdout=StringIO())
