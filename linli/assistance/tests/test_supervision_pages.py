"""The supervision and statistics pages and API: who may open what, refusals shown where the
button was pressed, the run started in the background, the Excel export."""

import io
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from openpyxl import load_workbook

from linli.assistance import supervision
from linli.assistance.models import Finding, FindingState, StaffRelative, SupervisionRun

from .fixtures_supervision import fast_passwords, mid_june_2026, month, staff, world

__all__ = ["fast_passwords", "mid_june_2026", "staff", "world"]

API = "/api/v1/assistance"


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return login


@pytest.fixture
def found(world, town):
    """A finding in each street (amounts out of line), with a payment each."""
    _h1, (a,) = world.household(name="<i>钱</i>多多")
    _h2, (b,) = world.household(name="冯某某", building=town.other_building)
    ba = world.benefit(a, amount="900.00")
    bb = world.benefit(b, amount="900.00")
    world.pay(ba, month(5))
    world.pay(bb, month(5))
    supervision.supervision_run(actor=None, place_path="")
    mine = Finding.objects.get(place_path__startswith=town.street.path)
    theirs = Finding.objects.get(place_path__startswith=town.other_street.path)
    return mine, theirs


# --- findings pages -----------------------------------------------------------------------------


def test_findings_page_lists_the_jurisdictions_findings_with_filters(found, staff, as_user):
    mine, theirs = found
    client = as_user(staff.civil)
    page = client.get(reverse("assistance:findings")).content.decode()
    assert reverse("assistance:finding_detail", args=[mine.id]) in page
    assert reverse("assistance:finding_detail", args=[theirs.id]) in page
    assert "&lt;********多" in page and "<i>" not in page  # masked, and text, not markup
    assert 'action="/assistance/supervision/run/"' in page
    filtered = client.get(
        reverse("assistance:findings"), {"kind": "shared_account", "state": "open"}
    ).content.decode()
    assert reverse("assistance:finding_detail", args=[mine.id]) not in filtered


def test_a_street_officer_sees_their_streets_findings_and_no_run_button(found, staff, as_user):
    mine, theirs = found
    client = as_user(staff.street)
    page = client.get(reverse("assistance:findings")).content.decode()
    assert reverse("assistance:finding_detail", args=[mine.id]) in page
    assert reverse("assistance:finding_detail", args=[theirs.id]) not in page
    assert "supervision/run/" not in page
    detail = client.get(reverse("assistance:finding_detail", args=[mine.id]))
    assert detail.status_code == 200 and "error-resolve" not in detail.content.decode()
    assert client.get(reverse("assistance:finding_detail", args=[theirs.id])).status_code == 404
    assert client.post(reverse("assistance:supervision_run")).status_code == 403


@pytest.mark.parametrize("who", ["community", "resident"])
def test_others_may_not_open_findings(found, staff, as_user, who):
    mine, _theirs = found
    client = as_user(getattr(staff, who))
    assert client.get(reverse("assistance:findings")).status_code == 403
    assert client.get(reverse("assistance:finding_detail", args=[mine.id])).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(found, client):
    response = client.get(reverse("assistance:findings"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_detail_links_its_records_and_resolves_through_htmx(found, staff, as_user):
    mine, _theirs = found
    client = as_user(staff.civil)
    url = reverse("assistance:finding_detail", args=[mine.id])
    page = client.get(url).content.decode()
    person_id = mine.records["persons"][0]
    assert reverse("people:person_detail", args=[person_id]) in page
    assert reverse("assistance:benefit_detail", args=[mine.records["benefits"][0]]) in page
    assert 'hx-target="#error-resolve"' in page
    resolve = reverse("assistance:finding_resolve", args=[mine.id])
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "error-resolve"}
    missing = client.post(resolve, {"state": "confirmed"}, **htmx)
    assert missing.status_code == 422 and missing["HX-Retarget"] == "#error-resolve"
    done = client.post(resolve, {"state": "explained", "resolution": "补发差额"}, **htmx)
    assert done.status_code == 204 and done["HX-Redirect"] == url
    mine.refresh_from_db()
    assert mine.state == FindingState.EXPLAINED
    again = as_user(staff.civil2).post(resolve, {"state": "confirmed", "resolution": "x"}, **htmx)
    assert again.status_code == 409 and again["HX-Retarget"] == "#error-resolve"
    assert "already resolved" in again.content.decode()
    assert "error-resolve" not in client.get(url).content.decode()  # no form once resolved


def test_the_run_button_starts_the_checks_in_the_background(
    world, staff, as_user, town, django_capture_on_commit_callbacks
):
    client = as_user(staff.street_civil)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("assistance:supervision_run"), {"place": ""})
    assert response.status_code == 302
    run = SupervisionRun.objects.get()
    assert (run.place_path, run.requested_by, run.state) == (
        town.street.path,
        staff.street_civil,
        "queued",
    )
    status = client.get(reverse("assistance:supervision_run_status", args=[run.id]))
    assert 'hx-trigger="every 2s"' in status.content.decode()
    refused = client.post(
        reverse("assistance:supervision_run"),
        {"place": ""},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="error-run",
    )
    assert refused.status_code == 409 and refused["HX-Retarget"] == "#error-run"
    outside = client.post(reverse("assistance:supervision_run"), {"place": town.other_street.id})
    assert outside.status_code == 422  # not a choice of hers
    supervision.supervision_run_execute(run_id=run.id)
    finished = client.get(reverse("assistance:supervision_run_status", args=[run.id]))
    assert "every 2s" not in finished.content.decode()
    assert (
        as_user(staff.other_street)
        .get(reverse("assistance:supervision_run_status", args=[run.id]))
        .status_code
        == 404
    )


# --- staff relatives page -----------------------------------------------------------------------


def test_staff_declare_and_withdraw_relatives_on_their_page(world, staff, as_user):
    _h, (person,) = world.household(name="卫某某")
    client = as_user(staff.community)
    url = reverse("assistance:staff_relatives")
    wrong = client.post(url, {"name": "卫某", "id_number": person.id_number, "relation": "父亲"})
    assert wrong.status_code == 200 and "No registered person" in wrong.content.decode()
    done = client.post(url, {"name": "卫某某", "id_number": person.id_number, "relation": "父亲"})
    assert done.status_code == 302
    declared = StaffRelative.objects.get()
    page = client.get(url).content.decode()
    assert "卫*某" in page and person.id_number not in page
    remove = reverse("assistance:staff_relative_remove", args=[declared.id])
    other = as_user(staff.street).post(
        remove, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"error-remove-{declared.id}"
    )
    assert other.status_code == 404 and other["HX-Retarget"] == f"#error-remove-{declared.id}"
    assert as_user(staff.community).post(remove).status_code == 302
    assert not StaffRelative.objects.exists()
    assert as_user(staff.resident).get(url).status_code == 403


# --- statistics pages ---------------------------------------------------------------------------


def test_statistics_page_draws_charts_from_json_and_exports_the_tables(found, staff, as_user):
    client = as_user(staff.civil)
    page = client.get(reverse("assistance:statistics"), {"start": "2026-04", "end": "2026-05"})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="chart-data"' in html and "assistancestats.js" in html
    assert "1800.00" in html  # May: 900 in each street
    export = client.get(
        reverse("assistance:statistics_export"), {"start": "2026-04", "end": "2026-05"}
    )
    assert export.status_code == 200 and "attachment" in export["Content-Disposition"]
    book = load_workbook(io.BytesIO(b"".join(export.streaming_content)))
    total = list(book["Payments by month"].iter_rows(values_only=True))[-1]
    assert Decimal(str(total[5])) == Decimal("1800.00")


def test_statistics_refusals(staff, as_user):
    client = as_user(staff.civil)
    bad = client.get(reverse("assistance:statistics"), {"start": "2026-05", "end": "2026-04"})
    assert bad.status_code == 200 and "The end is before the start." in bad.content.decode()
    export = client.get(reverse("assistance:statistics_export"), {"start": "x", "end": "2026-04"})
    assert export.status_code == 422
    assert as_user(staff.resident).get(reverse("assistance:statistics")).status_code == 403


# --- API ----------------------------------------------------------------------------------------


def test_api_findings_are_scoped(found, staff, as_user):
    mine, theirs = found
    listed = as_user(staff.civil).get(f"{API}/findings").json()
    assert listed["count"] == 2
    street = as_user(staff.street)
    (only,) = street.get(f"{API}/findings").json()["items"]
    assert only["id"] == mine.id and "钱" not in only["summary"]
    assert street.get(f"{API}/findings/{theirs.id}").status_code == 404
    assert as_user(staff.community).get(f"{API}/findings").status_code == 403
    assert as_user(staff.civil).get(f"{API}/findings", {"kind": "bogus"}).status_code == 422


def test_api_resolve_run_and_refusals(found, staff, as_user, django_capture_on_commit_callbacks):
    mine, _theirs = found
    client = as_user(staff.civil)
    url = f"{API}/findings/{mine.id}/resolve"
    bad = client.post(url, {"state": "open", "resolution": "x"}, content_type="application/json")
    assert bad.status_code == 422
    ok = client.post(
        url, {"state": "confirmed", "resolution": "已追回"}, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["state"] == "confirmed"
    again = client.post(
        url, {"state": "explained", "resolution": "x"}, content_type="application/json"
    )
    assert again.status_code == 409
    street = as_user(staff.street)
    assert (
        street.post(
            url, {"state": "explained", "resolution": "x"}, content_type="application/json"
        ).status_code
        == 403
    )
    client = as_user(staff.civil)
    with django_capture_on_commit_callbacks(execute=True):
        run = client.post(f"{API}/supervision/runs", {}, content_type="application/json")
    assert run.status_code == 202 and run.json()["state"] == "queued"
    assert client.get(f"{API}/supervision/runs/{run.json()['id']}").status_code == 200


def test_api_staff_relatives(world, staff, as_user):
    _h, (person,) = world.household(name="蒋某某")
    client = as_user(staff.community)
    body = {"name": "蒋某某", "id_number": person.id_number, "relation": "配偶"}
    created = client.post(f"{API}/staff-relatives", body, content_type="application/json")
    assert created.status_code == 201
    assert created.json()["person_name"] == "蒋*某"
    assert person.id_number not in created.content.decode()
    assert client.get(f"{API}/staff-relatives").json()["count"] == 1
    duplicate = client.post(f"{API}/staff-relatives", body, content_type="application/json")
    assert duplicate.status_code == 409
    relative_id = created.json()["id"]
    assert as_user(staff.street).delete(f"{API}/staff-relatives/{relative_id}").status_code == 404
    assert (
        as_user(staff.community).delete(f"{API}/staff-relatives/{relative_id}").status_code == 204
    )


def test_api_statistics(found, staff, as_user):
    client = as_user(staff.street)
    answer = client.get(f"{API}/statistics", {"start": "2026-05", "end": "2026-05"})
    assert answer.status_code == 200
    (line,) = answer.json()["monthly"]
    assert (line["month"], Decimal(line["amount"])) == ("2026-05", Decimal("900.00"))
    assert (
        client.get(f"{API}/statistics", {"start": "2026-13", "end": "2026-05"}).status_code == 422
    )
    assert (
        client.get(f"{API}/statistics", {"start": "2026-05", "end": "2026-01"}).status_code == 422
    )
