"""Policy simulation: what a variant changes, by street and in total, for the households its
policy governs; the run through the real worker from the page and the API; progress; refusals;
the Excel export; and that real decisions are never touched."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from linli.assistance import simulations
from linli.assistance.models import PolicySet, PolicyVersion, Simulation, SimulationState
from linli.assistance.policies import ensure_demo_policies
from linli.assistance.policy import demo_parameters
from linli.core.errors import NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry
from linli.core.roles import Role
from linli.core.testing.factories import make_place, make_user
from linli.people.models import FinancialRecord, Household
from linli.places.models import PlaceLevel

from .fixtures_policies import *  # noqa: F403  (the fixtures)
from .fixtures_policies import add_record, make_household

TODAY = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
AS_OF = dt.date(2026, 7, 1)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(TODAY, tick=True):
        yield


@pytest.fixture
def registry(town):
    """Urban households on two streets and a rural one; see the expected figures below."""
    h1, (p1,) = make_household(town.building)  # per capita 820: newly eligible at 850
    add_record(p1, "retirement_pension", "820")
    h2, _members = make_household(town.building, members=2)  # no income: eligible both
    h3, (p3,) = make_household(town.other_building)  # 1250: newly marginal (bound 1275)
    add_record(p3, "wage", "1250")
    add_record(p3, "social_insurance", "250")  # 1250 − 250 − 250 (employment cost) = 750
    h4, _rural = make_household(town.building, registration="rural")  # another policy
    h5, (p5,) = make_household(town.other_building)  # savings over the limit
    add_record(p5, "savings", "50000", category="asset")
    return {"newly": h1, "both": h2, "marginal": h3, "rural": h4, "assets": h5}


EXPECTED_TOTALS = {
    "households": 4,
    "base_eligible_households": 2,
    "variant_eligible_households": 3,
    "newly_eligible_households": 1,
    "newly_eligible_persons": 1,
    "no_longer_eligible_households": 0,
    "no_longer_eligible_persons": 0,
    "newly_marginal_households": 0,
    "no_longer_marginal_households": 1,
    # h2: 2 × 800 → 2 × 850; h3 (750 counted): 800 − 750 → 850 − 750; h1: 0 → 850 − 820.
    "base_budget": "1650.00",
    "variant_budget": "1830.00",
    "budget_change": "180.00",
}


def _start(actor, town, demo_sets, **overrides):
    urban, _rural = demo_sets
    arguments = {
        "actor": actor,
        "policy_version_id": urban.versions.get().pk,
        "changes": {"standard": "850"},
        "place_id": town.district.pk,
        "as_of": AS_OF,
        "name": "城市低保标准 850",
    } | overrides
    return simulations.simulation_start(**arguments)


@pytest.mark.django_db
def test_the_variant_against_the_base_by_street(town, demo_sets, bureau, registry):
    simulation = _start(bureau, town, demo_sets)
    assert simulation.changes == {"standard": "850"}
    done = simulations.simulation_run(simulation_id=simulation.pk)
    assert done.state == SimulationState.DONE and done.processed == done.total == 4
    assert done.result["totals"] == EXPECTED_TOTALS
    streets = {row["name"]: row for row in done.result["streets"]}
    assert set(streets) == {town.street.name, town.other_street.name}
    assert streets[town.street.name]["newly_eligible_households"] == 1
    assert streets[town.street.name]["budget_change"] == "130.00"
    assert streets[town.other_street.name]["households"] == 2
    assert done.result["base"] == {"standard": "800"}
    # Running it again changes nothing (the run is claimed once).
    again = simulations.simulation_run(simulation_id=simulation.pk)
    assert again.finished_at == done.finished_at


@pytest.mark.django_db
def test_a_lower_standard_reports_who_would_lose_it(town, demo_sets, bureau, registry):
    simulation = _start(bureau, town, demo_sets, changes={"standard": "740"})
    totals = simulations.simulation_run(simulation_id=simulation.pk).result["totals"]
    assert totals["no_longer_eligible_households"] == 1  # h3: 750 ≥ 740
    assert totals["no_longer_eligible_persons"] == 1
    assert totals["newly_marginal_households"] == 1  # h3 moves into the band
    assert Decimal(totals["budget_change"]) == Decimal("-170.00")  # −120 (h2) − 50 (h3)


@pytest.mark.django_db
def test_a_district_with_its_own_policy_is_left_to_it(town, demo_sets, bureau, registry):
    """A city-wide variant covers the city's households except those a district governs."""
    city_set = PolicySet.objects.create(locality=town.city, registration="urban", name="市")
    city_version = PolicyVersion.objects.create(
        policy_set=city_set,
        valid_from=dt.date(2026, 1, 1),
        parameters=demo_parameters(rural=False).as_json(),
    )
    city_officer = make_user("city", Role.CIVIL_AFFAIRS, [town.city])
    other = make_place("370503", "河口区", PlaceLevel.DISTRICT, town.city)
    street = make_place("370503001000", "河口街道", PlaceLevel.STREET, other)
    community = make_place("370503001001", "河口社区", PlaceLevel.COMMUNITY, street)
    grid = make_place("370503001001001", "河口一网格", PlaceLevel.GRID, community)
    building = make_place("370503001001001001", "1号楼", PlaceLevel.BUILDING, grid)
    make_household(building)
    simulation = _start(
        city_officer,
        town,
        demo_sets,
        policy_version_id=city_version.pk,
        place_id=town.city.pk,
    )
    done = simulations.simulation_run(simulation_id=simulation.pk)
    assert done.result["totals"]["households"] == 1
    assert [row["name"] for row in done.result["streets"]] == ["河口街道"]


@pytest.mark.django_db
def test_real_decisions_are_not_touched(
    town, demo_sets, bureau, registry, django_assert_max_num_queries
):
    simulation = _start(bureau, town, demo_sets)
    before = (Household.objects.count(), FinancialRecord.objects.count())
    audit_before = AuditEntry.objects.count()
    # Set-based: a handful of statements per street, not one per household.
    with django_assert_max_num_queries(20):
        simulations.simulation_run(simulation_id=simulation.pk)
    assert (Household.objects.count(), FinancialRecord.objects.count()) == before
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"changes": {}}, "changes", "Change at least one figure"),
        ({"changes": {"standard": "800.00"}}, "changes", "Change at least one figure"),
        ({"changes": {"standard": "-5"}}, "standard", "at least 0"),
        ({"changes": {"bonus": "1"}}, "bonus", "no parameter called bonus"),
        ({"changes": ["standard"]}, "changes", "object"),
        ({"name": "  \x00 "}, "name", "required"),
        ({"name": "模" * 101}, "name", "At most 100"),
        ({"as_of": "2026-07-01"}, "as_of", "YYYY-MM-DD"),
    ],
)
def test_bad_requests_name_the_field(town, demo_sets, bureau, overrides, field, fragment):
    with pytest.raises(ValidationFailed) as refused:
        _start(bureau, town, demo_sets, **overrides)
    assert field in refused.value.details, refused.value.details
    assert fragment in " ".join(refused.value.details[field])
    assert not Simulation.objects.exists()


@pytest.mark.django_db
def test_who_may_simulate_and_where(town, demo_sets, bureau, officer):
    with pytest.raises(PermissionDenied):
        _start(officer, town, demo_sets)
    other = make_place("370503", "河口区", PlaceLevel.DISTRICT, town.city)
    with pytest.raises(NotFound):  # a place outside the bureau's jurisdiction
        _start(bureau, town, demo_sets, place_id=other.pk)
    stranger = make_user("stranger", Role.CIVIL_AFFAIRS, [other])
    with pytest.raises(NotFound):  # a policy it cannot read
        _start(stranger, town, demo_sets, place_id=other.pk)
    simulation = _start(bureau, town, demo_sets)
    with pytest.raises(NotFound):
        simulations.simulation_get(stranger, simulation.pk)


@pytest.mark.django_db
def test_a_dead_worker_is_marked_failed(town, demo_sets, bureau):
    simulation = _start(bureau, town, demo_sets)
    Simulation.objects.filter(pk=simulation.pk).update(
        state=SimulationState.RUNNING, heartbeat_at=dt.datetime(2026, 6, 15, 1, tzinfo=dt.UTC)
    )
    assert simulations.simulations_fail_stale() == 1
    simulation.refresh_from_db()
    assert simulation.state == SimulationState.FAILED and "Start it again" in simulation.failure


# --- through the worker, the pages and the API -------------------------------------------------


def run_worker() -> None:
    call_command("db_worker", batch=True, no_startup_delay=True, reload=False, verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_page_to_result_through_the_worker(
    client, town, bureau, registry, django_capture_on_commit_callbacks
):
    urban, _rural = ensure_demo_policies(town.district)
    version = urban.versions.get()
    client.force_login(bureau)
    form = client.get(reverse("assistance:simulation_new"), {"version": version.pk})
    assert form.status_code == 200
    body = form.content.decode()
    assert 'name="standard"' in body and 'value="800"' in body
    # The form as the browser sends it back, prefilled; then the one figure changed.
    data = {"version": version.pk}
    for field in form.context["form"]:
        value = field.value()
        if value is True:
            data[field.html_name] = "on"
        elif value is not False and value is not None:
            data[field.html_name] = value.pk if hasattr(value, "pk") else str(value)
    data |= {"name": "<script>alert(1)</script>", "place": town.district.pk, "standard": "850"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("assistance:simulation_new"), data)
    assert response.status_code == 302, response.context["form"].errors
    simulation = Simulation.objects.get()
    assert simulation.changes == {"standard": "850"}
    waiting = client.get(response.url).content.decode()
    assert 'hx-trigger="every 2s"' in waiting and "&lt;script&gt;" in waiting
    run_worker()
    poll = client.get(f"{response.url}?status=1", headers={"HX-Request": "true"})
    assert poll.status_code == 204 and poll["HX-Refresh"] == "true"
    page = client.get(response.url).content.decode()
    assert town.street.name in page and 'id="chart"' in page and "130.00" in page
    assert "<script>alert" not in page
    export = client.get(reverse("assistance:simulation_export", args=[simulation.pk]))
    sheet = load_workbook(io.BytesIO(b"".join(export.streaming_content))).active
    cells = [c for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    assert "'<script>alert(1)</script>" in cells or "<script>alert(1)</script>" in cells
    assert Decimal("180.00") in cells


@pytest.mark.django_db(transaction=True)
def test_the_api_starts_follows_and_reads_a_simulation(
    client, town, bureau, officer, registry, django_capture_on_commit_callbacks
):
    from linli.core.services import api_token_issue

    urban, _rural = ensure_demo_policies(town.district)
    _, key = api_token_issue(actor=None, user=bureau, name="bench")
    headers = {"Authorization": f"Bearer {key}", "Accept-Language": "en"}
    payload = {
        "policy_version_id": urban.versions.get().pk,
        "changes": {"standard": "850"},
        "place_id": town.district.pk,
        "as_of": "2026-07-01",
        "name": "850",
    }
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            "/api/v1/assistance/simulations",
            payload,
            content_type="application/json",
            headers=headers,
        )
    assert started.status_code == 202, started.content
    body = started.json()
    assert body["state"] == "queued" and body["registration"] == "urban"
    early = client.get(f"/api/v1/assistance/simulations/{body['id']}/result", headers=headers)
    assert early.status_code == 409
    run_worker()
    status = client.get(f"/api/v1/assistance/simulations/{body['id']}", headers=headers).json()
    assert status["state"] == "done" and status["percent"] == 100
    result = client.get(
        f"/api/v1/assistance/simulations/{body['id']}/result", headers=headers
    ).json()
    assert result["totals"]["budget_change"] == "180.00"
    assert result["totals"]["newly_eligible_households"] == 1
    bad = client.post(
        "/api/v1/assistance/simulations",
        payload | {"changes": {"standard": "abc"}},
        content_type="application/json",
        headers=headers,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "standard"
    _, officer_key = api_token_issue(actor=None, user=officer, name="officer")
    refused = client.post(
        "/api/v1/assistance/simulations",
        payload,
        content_type="application/json",
        headers={"Authorization": f"Bearer {officer_key}"},
    )
    assert refused.status_code == 403


@pytest.mark.django_db
def test_pages_refuse_who_may_not_simulate(client, town, demo_sets, bureau, officer):
    client.force_login(officer)
    assert client.get(reverse("assistance:simulations")).status_code == 403
    assert client.get(reverse("assistance:simulation_new")).status_code == 403
    simulation = _start(bureau, town, demo_sets)
    assert (
        client.get(reverse("assistance:simulation_detail", args=[simulation.pk])).status_code == 403
    )
    client.force_login(bureau)
    listing = client.get(reverse("assistance:simulations")).content.decode()
    assert "城市低保标准 850" in listing
    assert (
        client.get(reverse("assistance:simulation_export", args=[simulation.pk])).status_code == 409
    )
