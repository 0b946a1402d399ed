"""Hardship signals from providers: the interface in core, collection into Signal rows
(idempotent, set-based), the cases loop's provider, and `signal_record` for in-process feeders."""

from __future__ import annotations

import ast
import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from linli.cases.models import Case, Category
from linli.cases.risk_signals import HardshipCases
from linli.cases.seeding import load_reference_data
from linli.cases.services import case_report
from linli.core import risk_signals, workdays
from linli.core.errors import NotFound, ValidationFailed
from linli.core.jobs import registered_jobs
from linli.core.roles import Role
from linli.core.testing.factories import make_user
from linli.monitoring import signals
from linli.monitoring.models import Signal, SignalFeed
from linli.people.models import Household, Person

from .fixtures_signals import *  # noqa: F403  (the fixtures)

HERE = (37.005, 118.005)  # inside town.grid


class _Fixed(risk_signals.Provider):
    """A later capability's provider, as eldercare would register one."""

    name = "eldercare"

    def __init__(self, rows):
        self.rows = rows
        self.windows = []

    def signals(self, since, until):
        self.windows.append((since, until))
        return iter(self.rows)


def _rows(households, *, kind="alarm", prefix="a"):
    return [
        (h.pk, None, kind, dt.date(2026, 6, 1), None, {"n": i}, f"{prefix}{i}")
        for i, h in enumerate(households)
    ]


def _households(town, n):
    return Household.objects.bulk_create(
        [
            Household(
                number=f"B{i:05d}",
                address=f"测试路 {i} 号",
                building=town.building,
                place_path=town.building.path,
            )
            for i in range(n)
        ]
    )


def test_core_interface_registers_providers(monkeypatch):
    monkeypatch.setattr(risk_signals, "_providers", dict(risk_signals._providers))
    provider = risk_signals.register(_Fixed([]))
    assert provider in risk_signals.providers()
    assert any(isinstance(p, HardshipCases) for p in risk_signals.providers())
    for bad in ("", "a:b", "much-too-long-a-name"):
        with pytest.raises(ValueError):
            risk_signals.register(type("Bad", (risk_signals.Provider,), {"name": bad})())


def test_core_imports_no_capability():
    """The signal interface sits in core; core still imports no capability."""
    capabilities = {
        app.removeprefix("linli.") for app in settings.INSTALLED_APPS if app.startswith("linli.")
    } - {"core"}
    source = Path(settings.BASE_DIR) / "core" / "risk_signals.py"
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            assert not (parts[0] == "linli" and len(parts) > 1 and parts[1] in capabilities)


def test_collection_job_is_registered_hourly():
    jobs = {job.name: job for job in registered_jobs()}
    job = jobs["linli.monitoring.signals_tasks.collect_signals"]
    assert job.every == dt.timedelta(hours=1)


def test_collect_is_idempotent_and_windowed(town):
    households = _households(town, 3)
    provider = _Fixed(_rows(households))
    first = timezone.now()
    assert signals.signals_collect(now=first, providers=[provider]) == {"eldercare": 3}
    stored = Signal.objects.order_by("key")
    assert [s.key for s in stored] == ["eldercare:a0", "eldercare:a1", "eldercare:a2"]
    assert {s.place_path for s in stored} == {town.building.path}
    assert stored[0].source == "eldercare" and stored[0].details == {"n": 0}
    # The second run reads from the end of the first (less the overlap) and adds nothing.
    second = first + dt.timedelta(hours=1)
    assert signals.signals_collect(now=second, providers=[provider]) == {"eldercare": 0}
    assert provider.windows == [(None, first), (first - signals.OVERLAP, second)]
    assert Signal.objects.count() == 3
    feed = SignalFeed.objects.get(name="eldercare")
    assert feed.collected_until == second and feed.added == 0


def test_collect_is_set_based(town):
    """Queries per batch, not per signal: 10 or 2,500 signals cost about the same."""

    def queries(n, prefix):
        provider = _Fixed(_rows(_households_for(n, prefix), prefix=prefix))
        with CaptureQueriesContext(connection) as ctx:
            added = signals.signals_collect(providers=[provider])
        assert added == {"eldercare": n}
        return len(ctx.captured_queries)

    def _households_for(n, prefix):
        return Household.objects.bulk_create(
            [
                Household(
                    number=f"{prefix}{i:05d}",
                    address="x",
                    building=town.building,
                    place_path=town.building.path,
                )
                for i in range(n)
            ]
        )

    small = queries(10, "s")
    large = queries(2500, "l")
    # Three queries a batch of 1,000; SQLite splits an insert into ~90-row statements (its
    # limit on parameters), PostgreSQL does not. Never one a signal.
    assert small <= 12
    assert large <= small + 3 * 2 + 2500 // 90


def test_collect_skips_bad_rows_and_unknown_sources(town, caplog):
    (household,) = _households(town, 1)
    provider = _Fixed(
        [
            (household.pk, None, "no_such_kind", dt.date(2026, 6, 1), None, {}, "k1"),
            (household.pk, None, "alarm", dt.date(2026, 6, 1), Decimal("-1"), {}, "k2"),
            (None, None, "alarm", dt.date(2026, 6, 1), None, {}, "k3"),
            (household.pk, None, "alarm"),
            (household.pk, None, "alarm", dt.date(2026, 6, 1), None, {}, "ok"),
        ]
    )
    assert signals.signals_collect(providers=[provider]) == {"eldercare": 1}
    stranger = type("Stranger", (risk_signals.Provider,), {"name": "weather"})()
    assert signals.signals_collect(providers=[stranger]) == {}
    assert Signal.objects.get().key == "eldercare:ok"


def test_signal_record_is_idempotent(town):
    (household,) = _households(town, 1)
    kwargs = dict(
        source="eldercare",
        household_id=household.pk,
        kind="alarm",
        occurred_on=dt.date(2026, 6, 1),
        key="alarm:7",
    )
    first = signals.signal_record(**kwargs, amount=Decimal("0"), details={"alarm": 7})
    again = signals.signal_record(**kwargs)
    assert first.pk == again.pk and Signal.objects.count() == 1
    assert first.key == "eldercare:alarm:7" and first.place_path == town.building.path
    with pytest.raises(ValidationFailed):
        signals.signal_record(**{**kwargs, "kind": "nonsense", "key": "x"})
    with pytest.raises(ValidationFailed):
        signals.signal_record(**{**kwargs, "source": "weather", "key": "y"})
    with pytest.raises(ValidationFailed):
        signals.signal_record(**{**kwargs, "key": "z"}, amount=Decimal("-5"))
    with pytest.raises(NotFound):
        signals.signal_record(**{**kwargs, "household_id": 999999, "key": "w"})


def test_long_keys_are_hashed_to_fit():
    key = signals.full_key("cases", "x" * 500)
    assert len(key) <= 120 and key.startswith("cases:")
    assert key == signals.full_key("cases", "x" * 500)


# --- the cases loop's provider ---------------------------------------------------------------


@pytest.fixture
def cases_world(town, people, admin):
    load_reference_data()
    workdays.reset()
    resident = make_user("resident", Role.RESIDENT)
    Person.objects.filter(pk=people.head.pk).update(account=resident)
    stranger = make_user("stranger", Role.RESIDENT)  # no registered person
    hotline = make_user("hotline", Role.COMMAND_OPERATOR, [town.district])
    codes = {c.code: c.pk for c in Category.objects.all()}
    serial = itertools.count(1)  # distinct descriptions: no report is a duplicate of another

    def report(actor, code, **more):
        point = more.pop("point", HERE)
        return case_report(
            actor=actor,
            category_id=codes[code],
            description=more.pop("description", f"需要帮助 {next(serial)}"),
            lat=point[0] if point else None,
            lng=point[1] if point else None,
            **more,
        )

    return type(
        "World",
        (),
        {"resident": resident, "stranger": stranger, "hotline": hotline, "report": report},
    )


def test_cases_provider_yields_hardship_cases_only(cases_world, people, town):
    w = cases_world
    elderly = w.report(w.resident, "MS0104")  # the resident's own request: their household
    wages = w.report(w.resident, "MD0104")
    w.report(w.resident, "SJ0101")  # rubbish: not hardship
    w.report(w.stranger, "MS0104")  # no registered person: no household
    # A 12345 call from the head's phone, entered for the grid: their household by phone.
    called = w.report(
        w.hotline,
        "MS0104",
        source="hotline",
        reporter_phone="13800138000",
        point=None,
        grid_id=town.grid.pk,
    )
    # The same phone (both heads have it) calling about the other grid: the household there.
    there = w.report(
        w.hotline,
        "MS0104",
        source="hotline",
        reporter_phone="13800138000",
        point=None,
        grid_id=town.other_grid.pk,
    )
    w.report(  # an unknown phone
        w.hotline,
        "MS0104",
        source="hotline",
        reporter_phone="13900000000",
        point=None,
        grid_id=town.grid.pk,
    )
    added = signals.signals_collect(now=timezone.now() + dt.timedelta(minutes=1))
    assert added["cases"] == 4
    stored = {s.details["case_id"]: s for s in Signal.objects.filter(source="cases")}
    assert set(stored) == {elderly.pk, wages.pk, called.pk, there.pk}
    for case in (elderly, wages, called):
        signal = stored[case.pk]
        assert signal.kind == "hardship_case"
        assert signal.household_id == people.household.pk
        assert signal.person_id == people.head.pk
        assert signal.occurred_on == timezone.localdate()
    assert stored[there.pk].household_id == people.other_household.pk
    assert stored[elderly.pk].details["category"] == "MS0104"
    assert stored[elderly.pk].key == f"cases:case:{elderly.pk}"
    # Collected again: nothing new.
    assert signals.signals_collect(now=timezone.now() + dt.timedelta(hours=2))["cases"] == 0


def test_cases_provider_leaves_out_rejected_and_merged(cases_world):
    w = cases_world
    rejected = w.report(w.resident, "MS0104")
    kept = w.report(w.resident, "MS0104", description="另一件事")
    Case.objects.filter(pk=rejected.pk).update(state="rejected")
    rows = list(HardshipCases().signals(None, timezone.now() + dt.timedelta(minutes=1)))
    assert [r[5]["case_id"] for r in rows] == [kept.pk]


def test_cases_provider_is_set_based(cases_world, town):
    w = cases_world
    for i in range(5):
        w.report(w.resident, "MS0104", description=f"第{i}次")
        w.report(
            w.hotline,
            "MS0104",
            source="hotline",
            reporter_phone="13800138000",
            point=None,
            grid_id=town.grid.pk,
            description=f"电话{i}",
        )
    with CaptureQueriesContext(connection) as ctx:
        rows = list(HardshipCases().signals(None, timezone.now() + dt.timedelta(minutes=1)))
    assert len(rows) == 10
    assert len(ctx.captured_queries) <= 3


def test_categories_are_data(cases_world, settings):
    w = cases_world
    w.report(w.resident, "SJ0101")
    settings.LINLI_HARDSHIP_CASE_CATEGORIES = ["SJ0101"]
    rows = list(HardshipCases().signals(None, timezone.now() + dt.timedelta(minutes=1)))
    assert [r[5]["category"] for r in rows] == ["SJ0101"]


def test_signal_list_is_scoped(town, people, street_officer, auditor):
    make = signals.signal_record
    mine = make(
        source="external",
        household_id=people.household.pk,
        kind="hospital_bill",
        occurred_on=dt.date(2026, 5, 1),
        key="m",
        amount=Decimal("12000"),
    )
    make(
        source="external",
        household_id=people.other_household.pk,
        kind="utility_arrears",
        occurred_on=dt.date(2026, 5, 2),
        key="o",
    )
    assert list(signals.signals_for(street_officer)) == [mine]
    assert signals.signals_for(auditor).count() == 2
    assert list(signals.signals_for(auditor, kind="hospital_bill")) == [mine]
    assert list(signals.signals_for(auditor, household="H0001")) == [mine]
    assert signals.signals_for(auditor, date_from=dt.date(2026, 5, 2)).count() == 1
    grid_resident = make_user("res", Role.RESIDENT)
    assert signals.signals_for(grid_resident).count() == 0
