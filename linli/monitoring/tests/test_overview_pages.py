"""The alerts and overview pages and API: every role that may look renders them, the
neighbour's alert is a 404, exports open in openpyxl, the map JSON carries no personal data,
the dismissal answers refusals where the button was pressed, and the pages stay CSP-clean."""

from __future__ import annotations

import io
import json

import pytest
from django.conf import settings
from django.urls import reverse
from openpyxl import load_workbook

from linli.core.models import AuditAction, AuditEntry
from linli.monitoring.models import Alert, AlertState

from .fixtures_overview import *  # noqa: F403  (the fixtures)

pytestmark = pytest.mark.django_db

API = "/api/v1/monitoring"
ROLES = ["grid_worker", "community_worker", "street_officer", "civil_affairs", "auditor"]


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return login


def csp_clean(response) -> None:
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    body = response.content.decode()
    assert "<script>" not in body
    assert " style=" not in body


@pytest.mark.parametrize("role", ROLES)
def test_pages_render_for_every_role(world, as_user, request, role):
    client = as_user(request.getfixturevalue(role))
    for url in (
        reverse("monitoring:alerts"),
        reverse("monitoring:alert_detail", args=[world.a1.pk]),
        reverse("monitoring:overview"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        csp_clean(response)
    response = client.get(reverse("monitoring:overview_export"))
    assert response.status_code == 200
    load_workbook(io.BytesIO(b"".join(response.streaming_content)))


def test_alerts_page_filters_and_masks(world, as_user, street_officer):
    client = as_user(street_officer)
    body = client.get(reverse("monitoring:alerts")).content.decode()
    assert world.h1.number in body and world.h4.number in body
    assert world.h3.number not in body  # resolved: the default shows open alerts
    assert "张*丰" in body and "张三丰" not in body
    assert world.h5.number not in body
    body = client.get(
        reverse("monitoring:alerts"), {"rule": "ov-care", "state": ""}
    ).content.decode()
    assert world.h2.number in body and world.h1.number not in body
    body = client.get(
        reverse("monitoring:alerts"), {"building": world.building2.pk, "state": "active"}
    ).content.decode()
    assert world.h4.number in body and world.h1.number not in body


def test_alerts_page_refuses_bad_filters(world, as_user, street_officer):
    client = as_user(street_officer)
    assert client.get(reverse("monitoring:alerts"), {"severity": "9"}).status_code == 422
    # A place of the neighbour's is not among the choices.
    response = client.get(reverse("monitoring:alerts"), {"place": world.town.other_street.pk})
    assert response.status_code == 422
    response = client.get(reverse("monitoring:alerts"), {"building": world.town.other_building.pk})
    assert response.status_code == 404


def test_alerts_page_paginates(world, as_user, civil_affairs):
    from .fixtures_overview import make_alert, make_household

    for i in range(55):
        make_alert(make_household(world.building2, f"测{i}"), world.income, {"per_capita": "1"})
    client = as_user(civil_affairs)
    first = client.get(reverse("monitoring:alerts")).content.decode()
    assert "Page 1 of 2" in first
    second = client.get(reverse("monitoring:alerts"), {"page": "2"})
    assert second.status_code == 200 and "Page 2 of 2" in second.content.decode()


def test_neighbours_alert_is_404(world, as_user, neighbour):
    client = as_user(neighbour)
    assert client.get(reverse("monitoring:alert_detail", args=[world.a1.pk])).status_code == 404
    assert client.get(f"{API}/alerts/{world.a1.pk}").status_code == 404
    body = client.get(reverse("monitoring:alerts")).content.decode()
    assert world.h1.number not in body


def test_alert_page_shows_explanation_figures_visits(world, as_user, grid_worker):
    body = (
        as_user(grid_worker)
        .get(reverse("monitoring:alert_detail", args=[world.a2.pk]))
        .content.decode()
    )
    assert "A person aged 84 lives alone." in body
    assert "Age" in body and "84" in body
    assert "无人在家" in body
    assert "Assistance application 4242" in body
    assert "version in force from 2026-01-01" in body
    assert 'id="dismiss' not in body  # grid workers do not dismiss


def test_alert_page_in_chinese(world, client, grid_worker):
    client.force_login(grid_worker)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    body = client.get(reverse("monitoring:alert_detail", args=[world.a1.pk])).content.decode()
    assert "人均收入612.00元" in body


def test_dismiss_through_the_page(world, as_user, community_worker):
    client = as_user(community_worker)
    url = reverse("monitoring:alert_dismiss", args=[world.a1.pk])
    detail = client.get(reverse("monitoring:alert_detail", args=[world.a1.pk])).content.decode()
    assert url in detail
    response = client.post(url, {"reason": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    response = client.post(url, {"reason": "误报：已核实收入"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert Alert.objects.get(pk=world.a1.pk).state == AlertState.DISMISSED
    response = client.post(url, {"reason": "again"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 409


def test_dismiss_refused_to_grid_worker(world, as_user, grid_worker):
    url = reverse("monitoring:alert_dismiss", args=[world.a1.pk])
    assert as_user(grid_worker).post(url, {"reason": "x"}).status_code == 403


def test_alerts_export_page(world, as_user, street_officer):
    response = as_user(street_officer).get(reverse("monitoring:alerts_export"), {"state": ""})
    assert response.status_code == 200
    ws = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = list(ws.iter_rows(values_only=True))
    assert len(rows) == 1 + 5
    assert "张三丰" not in json.dumps(rows, ensure_ascii=False, default=str)
    assert AuditEntry.objects.filter(action=AuditAction.EXPORT).count() == 1


def test_overview_page_drill_down_map_and_chart(world, as_user, civil_affairs):
    client = as_user(civil_affairs)
    body = client.get(reverse("monitoring:overview")).content.decode()
    assert f"?place={world.town.street.pk}" in body  # drill-down link
    assert 'id="chart-data"' in body and 'id="map-data"' in body
    assert "monitoringmap.js" in body and "monitoringchart.js" in body
    body = client.get(reverse("monitoring:overview"), {"place": world.town.grid.pk})
    assert body.status_code == 200
    text = body.content.decode()
    assert "1号楼" in text
    start = text.index(">", text.index('id="map-data"')) + 1
    data = json.loads(text[start : text.index("</script>", start)])
    assert data["buildings"]["features"][0]["properties"]["count"] == 3
    assert world.h1.number not in json.dumps(data, ensure_ascii=False)


def test_overview_page_refuses_the_neighbours_place(world, as_user, street_officer):
    response = as_user(street_officer).get(
        reverse("monitoring:overview"), {"place": world.town.other_street.pk}
    )
    assert response.status_code == 422


# --- API ----------------------------------------------------------------------------------------


def test_api_alert_list_and_filters(world, as_user, street_officer):
    client = as_user(street_officer)
    data = client.get(f"{API}/alerts").json()
    assert data["count"] == 5
    data = client.get(f"{API}/alerts", {"state": "active", "severity": 2}).json()
    assert {i["household_number"] for i in data["items"]} == {world.h1.number, world.h4.number}
    assert client.get(f"{API}/alerts", {"severity": 7}).status_code == 422
    assert client.get(f"{API}/alerts", {"state": "nonsense"}).status_code == 422
    assert client.get(f"{API}/alerts", {"place_id": world.town.other_street.pk}).status_code == 404


def test_api_alert_detail(world, as_user, grid_worker):
    data = as_user(grid_worker).get(f"{API}/alerts/{world.a2.pk}").json()
    assert data["explanation"] == "A person aged 84 lives alone."
    assert data["householder"] == "张*丰"
    assert data["rule"]["code"] == "ov-elderly"
    assert {f["name"] for f in data["figures"]} == {"age", "situation"}
    record = data["visits"][0]["records"][0]
    assert record["referral"] == {"application": 4242}
    assert data["key_household_id"] == world.key1.pk


def test_api_dismiss(world, as_user, community_worker, grid_worker):
    url = f"{API}/alerts/{world.a5.pk}/dismiss"
    assert (
        as_user(grid_worker).post(url, {"reason": "x"}, content_type="application/json").status_code
        == 403
    )
    client = as_user(community_worker)
    response = client.post(url, {"reason": "已入住养老院"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["state"] == "dismissed"
    again = client.post(url, {"reason": "x"}, content_type="application/json")
    assert again.status_code == 409
    assert again.json()["code"]


def test_api_overview_counts(world, as_user, civil_affairs):
    data = as_user(civil_affairs).get(f"{API}/overview").json()
    assert data["total"]["open_alerts"] == 5
    assert data["total"]["by_severity"] == {"2": 2, "3": 2, "4": 1}
    assert data["total"]["visits_overdue"] == 1
    street = next(r for r in data["rows"] if r["place_id"] == world.town.street.pk)
    assert street["by_rule"] == {"ov-income": 1, "ov-care": 1, "ov-elderly": 2}
    assert data["rules"]["ov-income"]


def test_api_map_has_no_personal_data(world, as_user, civil_affairs):
    response = as_user(civil_affairs).get(f"{API}/alerts-map")
    assert response.status_code == 200
    data = response.json()
    assert data["type"] == "FeatureCollection"
    assert data["total"] == 5 and data["unlocated"] == 1
    text = json.dumps(data, ensure_ascii=False)
    for h in (world.h1, world.h2, world.h4, world.h5):
        assert h.number not in text and h.address not in text
    for surname in ("张", "王", "钱", "李"):
        assert surname not in text


def test_api_exports(world, as_user, street_officer):
    client = as_user(street_officer)
    response = client.get(f"{API}/alerts-export", {"state": "active"})
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(b"".join(response.streaming_content))).active.values)
    assert len(rows) == 1 + 4
    response = client.get(f"{API}/overview-export")
    assert response.status_code == 200
    total = list(load_workbook(io.BytesIO(b"".join(response.streaming_content))).active.values)
    assert total[-1][2] == 4


def test_api_refuses_roles_without_monitoring(world, client, town):
    from linli.core.roles import Role
    from linli.core.testing.factories import make_user

    client.force_login(make_user("handler", Role.DEPARTMENT_HANDLER, [town.district]))
    assert client.get(f"{API}/alerts").status_code == 403
    assert client.get(f"{API}/overview").status_code == 403
    assert client.get(reverse("monitoring:overview")).status_code == 403


def test_alert_page_links_to_key_households(world, as_user, community_worker):
    client = as_user(community_worker)
    body = client.get(reverse("monitoring:alert_detail", args=[world.a3.pk])).content.decode()
    assert f"{reverse('monitoring:key_new')}?alert={world.a3.pk}" in body
    body = client.get(reverse("monitoring:alert_detail", args=[world.a1.pk])).content.decode()
    assert 'id="key-household"' in body
    assert reverse("monitoring:key_detail", args=[world.key1.pk]) in body
    assert "?alert=" not in body  # already a key household: nothing to add
