"""Policy sets and versions: the lookup every decision uses (nearest locality, registration,
date boundaries, a clear refusal), adding versions (never in the past, never before the latest,
parameters checked field by field), schedule import (gaps and overlaps named by row), the
audit of what changed, scoping, and hostile input."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from linli.assistance import policies
from linli.assistance.models import PolicySet, PolicyVersion
from linli.assistance.policies import NoPolicy
from linli.assistance.policy import demo_parameters
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry
from linli.core.roles import Role
from linli.core.testing.factories import make_place, make_user
from linli.places.models import PlaceLevel

from .fixtures_policies import *  # noqa: F403  (the fixtures)

pytestmark = pytest.mark.django_db

TODAY = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(TODAY, tick=False):
        yield


def params(**changes) -> dict:
    return demo_parameters(rural=False).as_json() | changes


# --- lookup ------------------------------------------------------------------------------------


def test_version_for_finds_the_nearest_locality_and_registration(town, demo_sets):
    urban, rural = demo_sets
    path = town.building.path
    found = policies.version_for(place_path=path, registration="urban", on=dt.date(2026, 3, 1))
    assert found.policy_set == urban and found.params.standard == Decimal("800")
    found = policies.version_for(place_path=path, registration="rural", on=dt.date(2026, 3, 1))
    assert found.policy_set == rural and found.params.standard == Decimal("700")
    # A city-wide set is used only where no district has its own.
    city_set = PolicySet.objects.create(locality=town.city, registration="urban", name="市")
    PolicyVersion.objects.create(
        policy_set=city_set, valid_from=dt.date(2020, 1, 1), parameters=params(standard="900")
    )
    assert (
        policies.version_for(place_path=path, registration="urban", on=dt.date(2026, 3, 1))
        == urban.versions.get()
    )
    other_district = make_place("370503", "河口区", PlaceLevel.DISTRICT, town.city)
    found = policies.version_for(
        place_path=other_district.path, registration="urban", on=dt.date(2026, 3, 1)
    )
    assert found.policy_set == city_set


def test_version_for_date_boundaries(town, demo_sets, bureau):
    urban, _rural = demo_sets
    later = policies.policy_version_add(
        actor=bureau,
        policy_set_id=urban.pk,
        valid_from=dt.date(2026, 7, 1),
        parameters=params(standard="850"),
    )
    first = urban.versions.get(valid_from=dt.date(2026, 1, 1))
    assert first.valid_to == dt.date(2026, 6, 30)
    lookup = lambda day: policies.version_for(  # noqa: E731
        place_path=town.building.path, registration="urban", on=day
    )
    assert lookup(dt.date(2026, 1, 1)) == first
    assert lookup(dt.date(2026, 6, 30)) == first
    assert lookup(dt.date(2026, 7, 1)) == later
    assert lookup(dt.date(2099, 1, 1)) == later
    with pytest.raises(NoPolicy) as refused:
        lookup(dt.date(2025, 12, 31))
    assert "takes effect on 2026-01-01" in refused.value.message
    assert "2025-12-31" in refused.value.message
    assert refused.value.status == 422 and refused.value.details["date"]


def test_no_policy_says_what_is_missing(town):
    with pytest.raises(NoPolicy) as refused:
        policies.version_for(place_path=town.building.path, registration="rural", on=TODAY.date())
    assert "No Rural assistance policy covers this place" in refused.value.message


def test_demo_policies_are_idempotent(town):
    first = policies.ensure_demo_policies(town.district)
    again = policies.ensure_demo_policies(town.district)
    assert [s.pk for s in first] == [s.pk for s in again]
    assert PolicyVersion.objects.filter(policy_set__locality=town.district).count() == 2
    rural = PolicyVersion.objects.get(policy_set__registration="rural")
    assert rural.params.heating_per_household == Decimal("800")
    assert rural.params.one_off_per_person == Decimal("200")


# --- adding versions ---------------------------------------------------------------------------


def test_a_version_starts_after_the_latest_and_not_in_the_past(demo_sets, bureau):
    urban, _rural = demo_sets
    for day, fragment in (
        (dt.date(2026, 6, 14), "has not passed"),
        (dt.date(2026, 1, 1), "has not passed"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            policies.policy_version_add(
                actor=bureau, policy_set_id=urban.pk, valid_from=day, parameters=params()
            )
        assert fragment in refused.value.message and "valid_from" in refused.value.details
    policies.policy_version_add(
        actor=bureau, policy_set_id=urban.pk, valid_from=dt.date(2026, 9, 1), parameters=params()
    )
    with pytest.raises(ValidationFailed) as refused:
        policies.policy_version_add(
            actor=bureau,
            policy_set_id=urban.pk,
            valid_from=dt.date(2026, 8, 1),
            parameters=params(),
        )
    assert "starts on 2026-09-01" in refused.value.message
    # Today itself is allowed.
    other = PolicySet.objects.create(locality=urban.locality.parent, registration="urban", name="x")
    policies.policy_version_add(
        actor=make_user("city", Role.CIVIL_AFFAIRS, [urban.locality.parent]),
        policy_set_id=other.pk,
        valid_from=TODAY.date(),
        parameters=params(),
    )


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"standard": "-1"}, "standard", "at least 0"),
        ({"standard": "abc"}, "standard", "Give a number"),
        ({"standard": "800.123"}, "standard", "to the fen"),
        ({"employment_cost_share": "1.5"}, "employment_cost_share", "at most 1"),
        ({"vehicles_allowed": 99}, "vehicles_allowed", "at most 10"),
        ({"wage_bonus": "1"}, "wage_bonus", "no parameter of this name"),
        ({"counted_income_kinds": ["wage", "lottery"]}, "counted_income_kinds", "lottery"),
        ({"marginal_bound_inclusive": "perhaps"}, "marginal_bound_inclusive", "yes or no"),
    ],
)
def test_invalid_parameters_name_the_field_and_the_fix(demo_sets, bureau, change, field, fragment):
    urban, _rural = demo_sets
    with pytest.raises(ValidationFailed) as refused:
        policies.policy_version_add(
            actor=bureau,
            policy_set_id=urban.pk,
            valid_from=dt.date(2026, 7, 1),
            parameters=params(**change),
        )
    assert field in refused.value.details, refused.value.details
    assert fragment in " ".join(refused.value.details[field]), refused.value.details
    assert urban.versions.count() == 1


def test_a_kind_treated_twice_or_not_at_all_is_refused(demo_sets, bureau):
    urban, _rural = demo_sets
    broken = params()
    broken["exempt_income_kinds"] = [*broken["exempt_income_kinds"], "wage"]
    with pytest.raises(ValidationFailed) as refused:
        policies.policy_version_add(
            actor=bureau, policy_set_id=urban.pk, valid_from="2026-07-01", parameters=broken
        )
    assert "wage" in refused.value.message
    with pytest.raises(ValidationFailed):
        policies.policy_version_add(
            actor=bureau, policy_set_id=urban.pk, valid_from="2026-07-01", parameters=[1, 2]
        )
    with pytest.raises(ValidationFailed) as refused:
        policies.policy_version_add(
            actor=bureau, policy_set_id=urban.pk, valid_from="next week", parameters=params()
        )
    assert "valid_from" in refused.value.details


def test_the_audit_entry_lists_the_figures_that_changed(demo_sets, bureau):
    urban, _rural = demo_sets
    version = policies.policy_version_add(
        actor=bureau,
        policy_set_id=urban.pk,
        valid_from=dt.date(2026, 7, 1),
        parameters=params(standard="850", vehicles_allowed=1),
        note="<b>市政府</b>\x07 文件",
    )
    assert version.note == "<b>市政府</b> 文件"  # control characters dropped, HTML kept as text
    entry = AuditEntry.objects.get(object_type="assistance.policyversion", object_id=version.pk)
    assert entry.changes["parameters"] == [
        ["Minimum living standard", "800", "850"],
        ["Vehicles allowed", "0", "1"],
    ]
    assert entry.actor == bureau and entry.labels["fields"]["valid_from"] == "effective from"
    ended = AuditEntry.objects.get(
        object_type="assistance.policyversion", object_id=urban.versions.earliest("valid_from").pk
    )
    assert ended.changes["valid_to"] == [None, "2026-06-30"]


def test_only_policy_editors_within_the_locality_add_versions(town, demo_sets, officer):
    urban, _rural = demo_sets
    with pytest.raises(PermissionDenied):
        policies.policy_version_add(
            actor=officer, policy_set_id=urban.pk, valid_from="2026-07-01", parameters=params()
        )
    elsewhere = make_place("370503", "河口区", PlaceLevel.DISTRICT, town.city)
    stranger = make_user("stranger", Role.CIVIL_AFFAIRS, [elsewhere])
    with pytest.raises(NotFound):
        policies.policy_version_add(
            actor=stranger, policy_set_id=urban.pk, valid_from="2026-07-01", parameters=params()
        )
    # The street officer reads the district's policy; the stranger does not.
    assert policies.policy_sets(officer).filter(pk=urban.pk).exists()
    assert not policies.policy_sets(stranger).filter(pk=urban.pk).exists()


def test_policy_sets_are_made_for_cities_and_districts_only(town, bureau):
    with pytest.raises(ValidationFailed) as refused:
        policies.policy_set_create(
            actor=bureau, locality_id=town.street.pk, registration="urban", name="街道"
        )
    assert "locality" in refused.value.details
    created = policies.policy_set_create(
        actor=bureau, locality_id=town.district.pk, registration="urban", name=" 东营区城市 "
    )
    assert created.name == "东营区城市"
    with pytest.raises(Conflict):
        policies.policy_set_create(
            actor=bureau, locality_id=town.district.pk, registration="urban", name="again"
        )
    with pytest.raises(ValidationFailed):
        policies.policy_set_create(
            actor=bureau, locality_id=town.district.pk, registration="martian", name="x"
        )
    with pytest.raises(NotFound):
        policies.policy_set_create(
            actor=bureau, locality_id=town.city.pk, registration="rural", name="x"
        )
    with pytest.raises(ValidationFailed):
        policies.policy_set_create(
            actor=bureau, locality_id=town.district.pk, registration="rural", name="长" * 101
        )


# --- schedules ---------------------------------------------------------------------------------


@pytest.fixture
def empty_set(town, bureau):
    return policies.policy_set_create(
        actor=bureau, locality_id=town.district.pk, registration="urban", name="东营区城市"
    )


def test_a_schedule_without_gaps_loads_whole(empty_set, bureau):
    rows = [
        {
            "valid_from": "2024-01-01",
            "valid_to": "2024-12-31",
            "parameters": params(standard="760"),
        },
        {
            "valid_from": "2025-01-01",
            "valid_to": "2025-12-31",
            "parameters": params(standard="780"),
        },
        {"valid_from": "2026-01-01", "parameters": params(), "note": "2026"},
    ]
    created = policies.policy_schedule_import(
        actor=bureau, policy_set_id=empty_set.pk, versions=rows
    )
    assert [v.params.standard for v in created] == [Decimal(760), Decimal(780), Decimal(800)]
    assert policies.policy_versions_check(empty_set) == []
    with pytest.raises(Conflict):
        policies.policy_schedule_import(actor=bureau, policy_set_id=empty_set.pk, versions=rows)


@pytest.mark.parametrize(
    ("rows", "row", "fragment"),
    [
        (
            [("2024-01-01", "2024-12-30"), ("2025-01-01", None)],
            2,
            "Gap before row 2: nothing is in force from 2024-12-31 to 2024-12-31",
        ),
        (
            [("2024-01-01", "2025-01-15"), ("2025-01-01", None)],
            2,
            "Row 2 overlaps row 1",
        ),
        (
            [("2024-01-01", None), ("2025-01-01", None)],
            2,
            "only the last row may be open-ended",
        ),
        (
            [("2024-01-01", "2024-06-30"), ("2024-07-01", "2024-12-31"), ("2025-02-01", None)],
            3,
            "Start row 3 on 2025-01-01",
        ),
    ],
)
def test_a_gap_or_overlap_is_refused_with_the_row_named(empty_set, bureau, rows, row, fragment):
    versions = [
        {"valid_from": start, "valid_to": end, "parameters": params()} for start, end in rows
    ]
    with pytest.raises(ValidationFailed) as refused:
        policies.policy_schedule_import(actor=bureau, policy_set_id=empty_set.pk, versions=versions)
    assert fragment in refused.value.message
    assert f"versions[{row}]" in refused.value.details
    assert not empty_set.versions.exists()


def test_schedule_rows_name_their_bad_field_and_order(empty_set, bureau):
    with pytest.raises(ValidationFailed) as refused:
        policies.policy_schedule_import(
            actor=bureau,
            policy_set_id=empty_set.pk,
            versions=[
                {"valid_from": "2025-01-01", "valid_to": "2025-12-31", "parameters": params()},
                {"valid_from": "2026-01-01", "parameters": params(standard="-5")},
            ],
        )
    assert refused.value.message.startswith("Row 2:")
    assert "versions[2].standard" in refused.value.details
    with pytest.raises(ValidationFailed) as refused:
        policies.policy_schedule_import(
            actor=bureau,
            policy_set_id=empty_set.pk,
            versions=[
                {"valid_from": "2026-01-01", "parameters": params()},
                {"valid_from": "2025-01-01", "valid_to": "2025-12-31", "parameters": params()},
            ],
        )
    assert "date order" in refused.value.message
    for bad in ([], "x", [{"valid_from": "2026-01-01"}] * 201):
        with pytest.raises(ValidationFailed):
            policies.policy_schedule_import(actor=bureau, policy_set_id=empty_set.pk, versions=bad)


def test_check_reports_gaps_in_data_entered_otherwise(demo_sets):
    urban, _rural = demo_sets
    first = urban.versions.get()
    first.valid_to = dt.date(2026, 3, 31)
    first.save()
    PolicyVersion.objects.create(
        policy_set=urban, valid_from=dt.date(2026, 5, 1), parameters=params()
    )
    problems = policies.policy_versions_check(urban)
    assert [p.row for p in problems] == [2]
    assert "2026-04-01 to 2026-04-30" in problems[0].message


@pytest.mark.django_db(transaction=True)
def test_two_editors_adding_at_once_leave_one_schedule(town, demo_sets, bureau):
    """On PostgreSQL the set is locked: the second waits and then sees the first's version."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself")
    urban, _rural = demo_sets
    errors: list[Exception] = []

    def add(day: dt.date) -> None:
        try:
            policies.policy_version_add(
                actor=bureau, policy_set_id=urban.pk, valid_from=day, parameters=params()
            )
        except ValidationFailed as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=add, args=(day,))
        for day in (dt.date(2026, 8, 1), dt.date(2026, 7, 1))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert policies.policy_versions_check(urban) == []
    assert len(errors) <= 1
