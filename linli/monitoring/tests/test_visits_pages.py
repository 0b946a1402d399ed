"""Home-visit pages and API: the phone list sorted by deadline with its colours, the visit page
(masked householder, explanation, the record form with its idempotency key, outcome fields by
htmx, the position button's static script), recording through the form and the API (JSON and
multipart with photos), resent forms stored once, and refusals with their messages."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from linli.monitoring import alerts as alert_services
from linli.monitoring.models import HomeVisit, Severity, VisitRecord
from linli.people.models import Person

from .fixtures_visits import *  # noqa: F403  (the fixtures)
from .fixtures_visits import NOW, make_alert, make_visit

pytestmark = pytest.mark.usefixtures("clock")
HTMX = {"HX-Request": "true", "Accept-Language": "en"}
EN = {"Accept-Language": "en"}


@pytest.fixture
def world(town, homes, rules, staff):
    late = make_visit(
        make_alert(homes.mine, rules[Severity.HIGH]),
        town.grid,
        staff.grid,
        due_at=NOW - dt.timedelta(hours=2),
    )
    soon = make_visit(
        make_alert(homes.second, rules[Severity.HIGH]),
        town.grid,
        staff.grid,
        due_at=NOW + dt.timedelta(hours=3),
    )
    escalated = make_visit(
        make_alert(homes.second, rules[Severity.LOW], state="visiting"),
        town.grid,
        staff.grid,
        state="escalated",
    )
    other = make_visit(make_alert(homes.other, rules[Severity.HIGH]), town.other_grid, None)
    return type("World", (), {"late": late, "soon": soon, "escalated": escalated, "other": other})


def test_the_grid_worker_s_list_by_deadline_with_colours(client, world, staff, homes):
    client.force_login(staff.grid)
    page = client.get(reverse("monitoring:visits"), headers=EN).content.decode()
    assert page.index(homes.mine.number) < page.index(homes.second.number)
    assert 'class="late"' in page and "warn-2" in page and "warn-1" in page
    assert homes.other.number not in page
    assert "escalated" not in page.lower().split("<main>")[1].split("</nav>")[0]


def test_the_community_sees_its_queue_with_escalated_visits(client, world, staff, homes):
    client.force_login(staff.community)
    page = client.get(reverse("monitoring:visits") + "?show=escalated", headers=EN)
    body = page.content.decode()
    assert page.status_code == 200
    assert reverse("monitoring:visit_detail", args=[world.escalated.pk]) in body
    assert reverse("monitoring:visit_detail", args=[world.late.pk]) not in body


def test_the_visit_page(client, world, staff, homes):
    client.force_login(staff.grid)
    response = client.get(reverse("monitoring:visit_detail", args=[world.late.pk]), headers=EN)
    body = response.content.decode()
    assert response.status_code == 200
    head = Person.objects.get(household=homes.mine)
    assert head.id_number not in body and head.name not in body
    assert head.id_number[-4:] in body  # masked: the last four kept
    assert "per-capita income 500" in body
    assert re.search(r'name="idempotency_key" value="[0-9a-f]{32}"', body)
    assert "linli/visitlocate.js" in body
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body)  # no inline script
    assert 'hx-get="' + reverse("monitoring:visit_outcome_fields", args=[world.late.pk]) in body
    # Each showing makes a new key.
    again = client.get(reverse("monitoring:visit_detail", args=[world.late.pk]), headers=EN)
    key = re.compile(r'name="idempotency_key" value="([0-9a-f]{32})"')
    assert key.search(body).group(1) != key.search(again.content.decode()).group(1)


def test_outcome_fields_come_by_htmx(client, world, staff, taxonomy):
    client.force_login(staff.grid)
    url = reverse("monitoring:visit_outcome_fields", args=[world.late.pk])
    service = client.get(url, {"outcome": "refer_service"}, headers=HTMX).content.decode()
    assert 'name="category_id"' in service and 'name="service"' in service
    assistance = client.get(url, {"outcome": "refer_assistance"}, headers=HTMX).content.decode()
    assert 'name="program"' in assistance and 'value="minimum_living" selected' in assistance
    unreachable = client.get(url, {"outcome": "unreachable"}, headers=HTMX).content.decode()
    assert "after 3 tries" in unreachable


def _form(**more) -> dict:
    return {
        "idempotency_key": "f" * 32,
        "visited_at": (NOW - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "outcome": "no_risk",
        "met": "户主",
        "findings": "无风险",
        **more,
    }


def _photo() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "blue").save(out, "PNG")
    return SimpleUploadedFile("p.png", out.getvalue(), content_type="image/png")


def test_recording_through_the_form_and_resending_it(client, world, staff):
    client.force_login(staff.grid)
    url = reverse("monitoring:visit_record", args=[world.late.pk])
    first = client.post(url, _form(photos=[_photo()], lat="37.0", lng="118.0"), headers=HTMX)
    assert first.status_code == 204
    assert first["HX-Redirect"] == reverse("monitoring:visit_detail", args=[world.late.pk])
    again = client.post(url, _form(), headers=HTMX)
    assert again.status_code == 204
    stored = VisitRecord.objects.get()
    assert len(stored.photos) == 1 and stored.lat == 37.0
    page = client.get(first["HX-Redirect"], headers=EN).content.decode()
    assert "already stored" in page and "photo 1" in page
    photo = reverse("monitoring:visit_photo", args=[world.late.pk, stored.pk, 1])
    assert client.get(photo).status_code == 200


def test_a_service_referral_through_the_form(client, world, staff):
    client.force_login(staff.grid)
    url = reverse("monitoring:visit_record", args=[world.late.pk])
    response = client.post(
        url, _form(outcome="refer_service", service="残联康复", met="户主"), headers=HTMX
    )
    assert response.status_code == 204
    assert VisitRecord.objects.get().referral == {"service": "残联康复"}


def test_refusals_show_their_message(client, world, staff):
    client.force_login(staff.grid)
    url = reverse("monitoring:visit_record", args=[world.late.pk])
    bad = client.post(url, _form(lat="95", lng="118"), headers=HTMX)
    assert bad.status_code == 422 and "latitude" in bad.content.decode().lower()
    alert_services.alert_dismiss(actor=staff.community, alert_id=world.late.alert_id, reason="误报")
    closed = client.post(url, _form(), headers=HTMX)
    assert closed.status_code == 409 and "already closed" in closed.content.decode()
    assert not VisitRecord.objects.exists()
    page = client.get(reverse("monitoring:visit_detail", args=[world.late.pk]), headers=EN)
    assert 'id="no-form"' in page.content.decode()


def test_outside_the_jurisdiction_and_without_the_role(client, world, staff):
    client.force_login(staff.grid)
    assert client.get(reverse("monitoring:visit_detail", args=[world.other.pk])).status_code == 404
    url = reverse("monitoring:visit_record", args=[world.other.pk])
    assert client.post(url, _form(), headers=HTMX).status_code == 404
    client.force_login(staff.resident)
    assert client.get(reverse("monitoring:visits")).status_code == 403
    client.force_login(staff.auditor)
    assert client.get(reverse("monitoring:visit_detail", args=[world.late.pk])).status_code == 200
    assert (
        client.post(
            reverse("monitoring:visit_record", args=[world.late.pk]), _form(), headers=HTMX
        ).status_code
        == 403
    )
    client.logout()
    assert client.get(reverse("monitoring:visits")).status_code == 302


# --- API ----------------------------------------------------------------------------------------


def _body(**more) -> dict:
    return {
        "idempotency_key": "api-key-0001",
        "visited_at": (NOW - dt.timedelta(hours=1)).isoformat(),
        "met": "户主",
        "findings": "无风险",
        "outcome": "no_risk",
        **more,
    }


def test_api_list_detail_and_record(api_as, world, staff, homes):
    caller = api_as(staff.grid)
    listed = caller.get("/visits").json()
    assert [v["id"] for v in listed["items"]] == [world.late.pk, world.soon.pk]
    assert listed["items"][0]["overdue"] and listed["items"][1]["due_soon"]
    detail = caller.get(f"/visits/{world.late.pk}").json()
    assert detail["may_record"] and detail["household"]["head_id_number"].count("*") >= 8
    assert detail["figures"][0]["name"] == "per_capita"
    first = caller.post(f"/visits/{world.late.pk}/records", _body())
    assert first.status_code == 201
    again = caller.post(f"/visits/{world.late.pk}/records", _body())
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    closed = caller.post(f"/visits/{world.late.pk}/records", _body(idempotency_key="api-key-2"))
    assert closed.status_code == 409 and closed.json()["code"] == "alert_closed"
    assert caller.get(f"/visits/{world.other.pk}").status_code == 404


def test_api_refuses_bad_input(api_as, world, staff):
    caller = api_as(staff.grid)
    url = f"/visits/{world.late.pk}/records"
    assert caller.post(url, _body(lat=91, lng=0)).status_code == 422
    assert caller.post(url, _body(outcome="perhaps")).status_code == 422
    assert caller.post(url, _body(idempotency_key="x")).status_code == 422
    response = caller.post(url, _body(outcome="refer_service"))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "category_id"
    assert not VisitRecord.objects.exists()


def test_api_multipart_with_photos(api_as, world, staff):
    caller = api_as(staff.grid)
    data = {
        **_body(outcome="unreachable", met=""),
        "photos": [_photo(), _photo()],
    }
    response = caller.upload(f"/visits/{world.late.pk}/records/multipart", data)
    assert response.status_code == 201, response.content
    record = response.json()
    assert len(record["photos"]) == 2
    photo = caller.get(f"/visits/{world.late.pk}/records/{record['id']}/photos/2")
    assert photo.status_code == 200 and photo["Content-Type"] == "image/png"
    world.late.refresh_from_db()
    assert world.late.attempts == 1 and HomeVisit.objects.get(pk=world.late.pk).state == "pending"
