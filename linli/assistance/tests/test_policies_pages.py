"""Policy pages and API: who reads and who edits, the history with what each version changed,
the prefilled form with refusals beside the field they name, schedule import by API, lookup,
and the OpenAPI document."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from linli.assistance.models import PolicyVersion
from linli.core.roles import Role
from linli.core.testing.factories import make_place, make_user
from linli.places.models import PlaceLevel

from .fixtures_policies import *  # noqa: F403  (the fixtures)

pytestmark = pytest.mark.django_db

TODAY = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(TODAY, tick=True):
        yield


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    return client


def _prefilled(response) -> dict:
    """The version form as the browser sends it back unchanged."""
    data = {}
    for field in response.context["form"]:
        value = field.value()
        if value is True:
            data[field.html_name] = "on"
        elif value is not False and value is not None:
            data[field.html_name] = str(value)
    return data


def test_readers_read_and_editors_edit(english, town, demo_sets, officer, bureau):
    urban, _rural = demo_sets
    english.force_login(officer)
    listing = english.get(reverse("assistance:policies"))
    assert listing.status_code == 200 and urban.name in listing.content.decode()
    assert listing.context["form"] is None
    detail = english.get(reverse("assistance:policy_detail", args=[urban.pk])).content.decode()
    assert "Minimum living standard" in detail and "800" in detail
    assert "Add a version" not in detail
    new = reverse("assistance:policy_version_new", args=[urban.pk])
    assert english.get(new).status_code == 403
    assert english.post(reverse("assistance:policies"), {"name": "x"}).status_code == 403
    stranger = make_user(
        "stranger",
        Role.CIVIL_AFFAIRS,
        [make_place("370503", "河口区", PlaceLevel.DISTRICT, town.city)],
    )
    english.force_login(stranger)
    assert english.get(reverse("assistance:policy_detail", args=[urban.pk])).status_code == 404
    assert english.get(new).status_code == 404
    english.force_login(bureau)
    assert (
        "Add a version"
        in english.get(reverse("assistance:policy_detail", args=[urban.pk])).content.decode()
    )


def test_the_form_is_prefilled_and_refusals_sit_beside_their_field(english, demo_sets, bureau):
    urban, _rural = demo_sets
    english.force_login(bureau)
    url = reverse("assistance:policy_version_new", args=[urban.pk])
    form = english.get(url)
    data = _prefilled(form)
    assert data["standard"] == "800" and data["kind__wage"] == "counted"
    assert data["valid_from"] == "2026-07-01"

    refused = english.post(url, data | {"standard": "-3", "valid_from": "2026-07-01"})
    assert refused.status_code == 200
    assert refused.context["form"].errors["standard"]
    refused = english.post(url, data | {"valid_from": "2026-06-01"})
    assert "has not passed" in refused.context["form"].errors["valid_from"][0]
    page = refused.content.decode()
    assert 'id="id_valid_from_errors"' in page

    saved = english.post(
        url,
        data
        | {
            "standard": "850",
            "kind__basic_pension": "counted",
            "note": "<img src=x onerror=alert(1)>",
        },
    )
    assert saved.status_code == 302
    version = PolicyVersion.objects.get(policy_set=urban, valid_from=dt.date(2026, 7, 1))
    assert version.params.standard == 850 and "basic_pension" in version.params.counted_income_kinds
    detail = english.get(saved.url).content.decode()
    assert "&lt;img src=x" in detail and "<img src=x" not in detail
    # The history shows what changed: the standard and the basic pension's treatment.
    history = english.get(saved.url).context["history"]
    assert [c.field for c in history[0]["changes"]] == [
        "standard",
        "counted_income_kinds",
        "exempt_income_kinds",
    ]


def test_a_new_policy_from_the_list_page(english, town, bureau):
    english.force_login(bureau)
    response = english.post(
        reverse("assistance:policies"),
        {"name": "东营区农村", "registration": "rural", "locality": town.district.pk},
    )
    assert response.status_code == 302
    again = english.post(
        reverse("assistance:policies"),
        {"name": "again", "registration": "rural", "locality": town.district.pk},
    )
    assert again.status_code == 409


# --- API ---------------------------------------------------------------------------------------


@pytest.fixture
def api(client):
    from linli.core.services import api_token_issue

    def as_(user):
        _, key = api_token_issue(actor=None, user=user, name="t")
        return {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_ACCEPT_LANGUAGE": "en"}

    return as_


def test_the_api_reads_adds_imports_and_looks_up(client, api, town, demo_sets, bureau, officer):
    urban, rural = demo_sets
    as_bureau, as_officer = api(bureau), api(officer)
    listed = client.get("/api/v1/assistance/policies", **as_officer).json()
    assert {row["id"] for row in listed["items"]} == {urban.pk, rural.pk}
    detail = client.get(f"/api/v1/assistance/policies/{urban.pk}", **as_officer).json()
    assert detail["may_edit"] is False and detail["versions"][0]["parameters"]["standard"] == "800"

    parameters = detail["versions"][0]["parameters"] | {"standard": "850.00"}
    body = {"valid_from": "2026-07-01", "parameters": parameters, "note": "上调"}
    url = f"/api/v1/assistance/policies/{urban.pk}/versions"
    refused = client.post(url, body, content_type="application/json", **as_officer)
    assert refused.status_code == 403
    bad = client.post(
        url,
        body | {"parameters": parameters | {"standard": "lots"}},
        content_type="application/json",
        **as_bureau,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "standard"
    added = client.post(url, body, content_type="application/json", **as_bureau)
    assert added.status_code == 201, added.content
    assert added.json()["changed"] == [
        {
            "field": "standard",
            "label": "Minimum living standard",
            "before": "800",
            "after": "850.00",
        }
    ]

    lookup = client.get(
        "/api/v1/assistance/policies/lookup",
        {"place_id": town.building.pk, "registration": "urban", "on": "2026-07-01"},
        **as_officer,
    ).json()
    assert lookup["id"] == added.json()["id"]
    assert lookup["changed"] == added.json()["changed"]  # from the version before it
    missing = client.get(
        "/api/v1/assistance/policies/lookup",
        {"place_id": town.building.pk, "registration": "urban", "on": "2025-01-01"},
        **as_officer,
    )
    assert missing.status_code == 422 and missing.json()["code"] == "no_policy"

    created = client.post(
        "/api/v1/assistance/policies",
        {"locality_id": town.city.pk, "registration": "urban", "name": "市"},
        content_type="application/json",
        **as_bureau,
    )
    assert created.status_code == 404  # the city is above the bureau's district
    city_bureau = api(make_user("city", Role.CIVIL_AFFAIRS, [town.city]))
    created = client.post(
        "/api/v1/assistance/policies",
        {"locality_id": town.city.pk, "registration": "urban", "name": "市"},
        content_type="application/json",
        **city_bureau,
    )
    assert created.status_code == 201
    schedule = f"/api/v1/assistance/policies/{created.json()['id']}/schedule"
    gap = client.post(
        schedule,
        {
            "versions": [
                {"valid_from": "2025-01-01", "valid_to": "2025-06-30", "parameters": parameters},
                {"valid_from": "2025-08-01", "parameters": parameters},
            ]
        },
        content_type="application/json",
        **city_bureau,
    )
    assert gap.status_code == 422 and gap.json()["errors"][0]["field"] == "versions[2]"
    loaded = client.post(
        schedule,
        {
            "versions": [
                {"valid_from": "2025-01-01", "valid_to": "2025-07-31", "parameters": parameters},
                {"valid_from": "2025-08-01", "parameters": parameters},
            ]
        },
        content_type="application/json",
        **city_bureau,
    )
    assert loaded.status_code == 201 and len(loaded.json()) == 2


def test_the_openapi_document_describes_policies_and_simulations(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/assistance/policies",
        "/api/v1/assistance/policies/{policy_set_id}/versions",
        "/api/v1/assistance/policies/{policy_set_id}/schedule",
        "/api/v1/assistance/policies/lookup",
        "/api/v1/assistance/simulations",
        "/api/v1/assistance/simulations/{simulation_id}/result",
    ):
        assert path in paths, path
