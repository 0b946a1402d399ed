"""Key-household pages and API: the list with per-grid counts and Excel export, a record with
its follow-up and release forms (htmx, refusals where pressed), adding from an alert; the API's
list, add, follow-up (resent: 200, nothing doubled), release and counts per grid."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from linli.core.models import AuditEntry
from linli.monitoring import keys
from linli.monitoring.models import FollowUp, KeyHousehold

from .fixtures_keys import *  # noqa: F403  (the fixtures)
from .fixtures_keys import TODAY, make_alert

pytestmark = pytest.mark.usefixtures("clock")
EN = {"Accept-Language": "en"}
HX = {"HX-Request": "true", **EN}


def add(actor, household, **extra):
    return keys.key_household_add(
        actor=actor, household_id=household.pk, reason=extra.pop("reason", "独居老人"), **extra
    )


def test_list_counts_per_grid_and_export(english, staff, homes):
    add(staff.community, homes.mine)
    late = add(staff.community, homes.second)
    KeyHousehold.objects.filter(pk=late.pk).update(next_follow_up_on=TODAY - dt.timedelta(days=2))
    english.force_login(staff.street)
    html = english.get(reverse("monitoring:keys")).content.decode()
    assert homes.mine.number in html and homes.second.number in html
    assert homes.other.number not in html
    assert 'id="count-open">2<' in html and 'id="count-overdue">1<' in html
    assert "银座一网格" in html and 'class="late"' in html
    overdue = english.get(reverse("monitoring:keys"), {"state": "overdue"}).content.decode()
    assert homes.second.number in overdue and homes.mine.number not in overdue

    answer = english.post(reverse("monitoring:keys_export"), {"state": "open"})
    assert answer.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(answer.streaming_content))).active
    rows = list(sheet.values)
    assert rows[0][0].lower() == "household number" and len(rows) == 3
    assert {r[0] for r in rows[1:]} == {homes.mine.number, homes.second.number}
    assert AuditEntry.objects.filter(
        action="export", object_type="monitoring.keyhousehold"
    ).exists()


def test_detail_follow_up_and_release_on_the_page(english, staff, homes):
    key = add(staff.community, homes.mine)
    url = reverse("monitoring:key_detail", args=[key.pk])
    english.force_login(staff.grid)
    html = english.get(url).content.decode()
    assert "Record a follow-up" in html and "Reason for release" not in html
    token = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html).group(1)
    post = reverse("monitoring:key_follow_up", args=[key.pk])
    body = {"done_on": TODAY.isoformat(), "note": "电话回访", "idempotency_key": token}
    done = english.post(post, body, headers=HX)
    assert done.status_code == 204 and done["HX-Redirect"].endswith(url)
    again = english.post(post, body, headers=HX)  # sent twice on a bad connection
    assert again.status_code == 204 and FollowUp.objects.count() == 1
    future = english.post(
        post,
        {**body, "done_on": "2026-02-05", "idempotency_key": token + "x"},
        headers={**HX, "HX-Target": "error-follow-up"},
    )
    assert future.status_code == 422 and "future" in future.content.decode()
    html = english.get(url).content.decode()
    assert "电话回访" in html and "2026-02-28" in html

    english.force_login(staff.community)
    html = english.get(url).content.decode()
    assert "hx-confirm" in html and "Reason for release" in html
    release = reverse("monitoring:key_release", args=[key.pk])
    blank = english.post(release, {"reason": ""}, headers={**HX, "HX-Target": "error-release"})
    assert blank.status_code == 422
    assert english.post(release, {"reason": "已脱困"}, headers=HX).status_code == 204
    again = english.post(release, {"reason": "再次"}, headers={**HX, "HX-Target": "error-release"})
    assert again.status_code == 409 and "already released" in again.content.decode()
    html = english.get(url).content.decode()
    assert "已脱困" in html and "Record a follow-up" not in html


def test_the_grid_worker_may_not_release_and_the_neighbour_sees_nothing(english, staff, homes):
    key = add(staff.community, homes.mine)
    english.force_login(staff.grid)
    refused = english.post(
        reverse("monitoring:key_release", args=[key.pk]),
        {"reason": "x"},
        headers={**HX, "HX-Target": "error-release"},
    )
    assert refused.status_code == 403
    english.force_login(staff.neighbour)
    assert english.get(reverse("monitoring:key_detail", args=[key.pk])).status_code == 404
    assert english.get(reverse("monitoring:key_new")).status_code == 403


def test_add_from_an_alert(english, staff, homes, rule):
    alert = make_alert(homes.mine, rule)
    english.force_login(staff.community)
    url = reverse("monitoring:key_new") + f"?alert={alert.pk}"
    html = english.get(url).content.decode()
    assert homes.mine.number in html and alert.explanation in html
    done = english.post(
        reverse("monitoring:key_new"),
        {
            "household": homes.mine.number,
            "reason": alert.explanation,
            "follow_up_months": "3",
            "alert": alert.pk,
        },
        headers=HX,
    )
    assert done.status_code == 204
    key = KeyHousehold.objects.get()
    assert key.alert == alert and key.follow_up_months == 3
    assert done["HX-Redirect"].endswith(reverse("monitoring:key_detail", args=[key.pk]))
    # Opened again, the page says so; adding again is refused where pressed.
    assert "already a key household" in english.get(url).content.decode()
    twice = english.post(
        reverse("monitoring:key_new"),
        {"household": homes.mine.number, "reason": "x", "follow_up_months": "1"},
        headers={**HX, "HX-Target": "error-new"},
    )
    assert twice.status_code == 409
    unknown = english.post(
        reverse("monitoring:key_new"),
        {"household": homes.other.number, "reason": "x", "follow_up_months": "1"},
        headers={**HX, "HX-Target": "error-new"},
    )
    assert unknown.status_code == 422 and "No household" in unknown.content.decode()
    outside = make_alert(homes.other, rule)
    assert english.get(reverse("monitoring:key_new") + f"?alert={outside.pk}").status_code == 404
    assert english.get(reverse("monitoring:key_new") + "?household=x").status_code == 404


def test_the_api(api_as, staff, homes, rule):
    community, grid = api_as(staff.community), api_as(staff.grid)
    alert = make_alert(homes.mine, rule)
    answer = community.post(
        "/key-households",
        {"household_id": homes.mine.pk, "reason": "边缘户", "alert_id": alert.pk},
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    pk = body["id"]
    assert body["next_follow_up_on"] == "2026-02-28" and body["actions"] == [
        "follow_up",
        "release",
    ]
    twice = community.post("/key-households", {"household_id": homes.mine.pk, "reason": "x"})
    assert twice.status_code == 409 and twice.json()["code"] == "already_key"
    assert (
        grid.post("/key-households", {"household_id": homes.second.pk, "reason": "x"}).status_code
        == 403
    )
    bad = community.post(
        "/key-households", {"household_id": homes.second.pk, "reason": "x", "follow_up_months": 0}
    )
    assert bad.status_code == 422

    follow = {"done_on": "2026-01-31", "note": "上门", "idempotency_key": "0f3c2a9e-key-1"}
    first = grid.post(f"/key-households/{pk}/follow-ups", follow)
    assert first.status_code == 201, first.json()
    again = grid.post(f"/key-households/{pk}/follow-ups", follow)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert FollowUp.objects.count() == 1
    assert grid.get(f"/key-households/{pk}").json()["follow_ups"][0]["note"] == "上门"

    listed = grid.get("/key-households").json()
    assert listed["count"] == 1 and listed["items"][0]["household_number"] == homes.mine.number
    assert grid.get("/key-households", {"number": "K\x00"}).status_code == 422
    assert not keys.key_household_list(actor=staff.grid, filters=keys.KeyFilter(number="K\x00"))
    assert grid.get("/key-households", {"number": homes.mine.number[:3]}).json()["count"] == 1
    assert api_as(staff.neighbour).get(f"/key-households/{pk}").status_code == 404
    grids = community.get("/key-households/grids").json()
    assert grids == [
        {
            "grid_id": homes.mine.building.parent_id,
            "grid_name": "银座一网格",
            "community_name": "银座社区",
            "open": 1,
            "due_soon": 0,
            "overdue": 0,
            "released": 0,
        }
    ]

    assert community.post(f"/key-households/{pk}/release", {"reason": ""}).status_code == 422
    released = community.post(f"/key-households/{pk}/release", {"reason": "已脱困"})
    assert released.status_code == 200 and released.json()["released_on"] == "2026-01-31"
    assert released.json()["actions"] == []
    assert community.get("/key-households", {"state": "released"}).json()["count"] == 1
    assert community.post(f"/key-households/{pk}/release", {"reason": "x"}).status_code == 409
