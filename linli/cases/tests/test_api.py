"""The cases API: intake (anonymous too), the loop through one POST per transition, lists and
filters, jurisdiction, photos over HTTP, and every kind of bad input in the app's error shape."""

import datetime as dt
import io
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone
from PIL import ExifTags, Image

from linli.cases import services
from linli.cases.models import Case, CaseEvent, CasePhoto, CaseState, Tier, WarningLevel
from linli.core.services import api_token_issue

from .conftest import HERE, THERE
from .test_photos import GPS, image_bytes

API = "/api/v1/cases"


@pytest.fixture
def as_(actors):
    """as_(user).post(path, body) — a client with the user's API token."""

    class Caller:
        def __init__(self, user):
            _, key = api_token_issue(actor=None, user=user, name="test")
            self.headers = {"Authorization": f"Bearer {key}", "Accept-Language": "en"}
            self.client = Client()

        def get(self, path, data=None):
            return self.client.get(API + path, data or {}, headers=self.headers)

        def post(self, path, body=None, headers=None):
            return self.client.post(
                API + path,
                body or {},
                content_type="application/json",
                headers={**self.headers, **(headers or {})},
            )

        def upload(self, path, data, **extra):
            return self.client.post(API + path, data, headers=self.headers, **extra)

    return Caller


def report_body(**more):
    return {
        "category": "SJ0101",
        "description": "路边有一堆垃圾",
        "lat": HERE[0],
        "lng": HERE[1],
        **more,
    }


def error_fields(response) -> list[str]:
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}, body
    return [e["field"] for e in body["errors"]]


def test_the_whole_loop_through_the_api(actors, as_):
    resident, grid, cgj = as_(actors.resident), as_(actors.grid), as_(actors.cgj)
    response = resident.post("", report_body())
    assert response.status_code == 201, response.content
    case = response.json()
    assert (case["state"], case["category"], case["is_replay"]) == ("reported", "SJ0101", False)
    case_id = case["id"]

    assert grid.post(f"/{case_id}/register").json()["state"] == "registered"
    assert grid.post(f"/{case_id}/dispatch", {}).json()["state"] == "dispatched"
    assert cgj.post(f"/{case_id}/accept").json()["handler_id"] == actors.cgj.pk
    handled = cgj.post(f"/{case_id}/handled", {"evidence": "已清运"})
    assert handled.json()["state"] == "handled"
    assert grid.post(f"/{case_id}/verify", {"passed": True}).json()["state"] == "verified"
    assert grid.post(f"/{case_id}/close", {}).json()["close_reason"] == "fixed"
    rated = resident.post(f"/{case_id}/rate", {"rating": 5, "comment": "很快"})
    assert (rated.json()["state"], rated.json()["rating"]) == ("rated", 5)

    detail = grid.get(f"/{case_id}").json()
    assert [e["action"] for e in detail["timeline"]] == [
        "report",
        "register",
        "dispatch",
        "accept",
        "report_handled",
        "verify",
        "close",
        "rate",
    ]
    assert detail["timeline"][4]["note"] == "已清运"
    assert detail["actions"] == [] and detail["photos"] == []
    # The resident sees their own case, the phone of nobody.
    assert resident.get(f"/{case_id}").status_code == 200


def test_rejection_escalation_whistle_and_report_in(actors, taxonomy, as_):
    grid, operator, swj = as_(actors.grid), as_(actors.operator), as_(actors.swj)
    first = grid.post("", report_body(description="垃圾一")).json()["id"]
    refused = grid.post(f"/{first}/reject", {"reason": ""})
    assert refused.status_code == 422 and error_fields(refused) == ["reason"]
    assert grid.post(f"/{first}/reject", {"reason": "重复上报"}).json()["state"] == "rejected"

    case_id = grid.post("", report_body(code="SJ0304", description="违建")).json()["id"]
    grid.post(f"/{case_id}/register")
    assert grid.post(f"/{case_id}/escalate", {"reason": "网格解决不了"}).json()["tier"] == 4
    Case.objects.filter(pk=case_id).update(tier=Tier.DISTRICT)
    body = {
        "kind": "coordination",
        "lead_department_id": taxonomy.dept["CGJ"].pk,
        "co_department_ids": [taxonomy.dept["SWJ"].pk],
        "note": "联合执法",
    }
    bad = operator.post(f"/{case_id}/whistle", {**body, "kind": "loud"})
    assert bad.status_code == 422 and error_fields(bad) == ["kind"]
    whistled = operator.post(f"/{case_id}/whistle", body)
    assert whistled.status_code == 200, whistled.content
    assert whistled.json()["department_id"] == taxonomy.dept["CGJ"].pk
    assert swj.post(f"/{case_id}/report-in", {"note": "已到"}).status_code == 200
    again = swj.post(f"/{case_id}/report-in", {})
    assert again.status_code == 409 and again.json()["code"] == "already_reported_in"


def test_duplicates_are_offered_then_merged(actors, as_):
    grid = as_(actors.grid)
    first = grid.post("", report_body(description="垃圾一")).json()["id"]
    second = grid.post("", report_body(description="垃圾二", lat=HERE[0] + 0.0001)).json()["id"]
    grid.post("", report_body(category="SJ0304", description="别的事"))  # another category

    candidates = grid.get(f"/{second}/duplicates").json()
    assert [c["id"] for c in candidates] == [first] and 0 < candidates[0]["distance_m"] < 20
    merged = grid.post(f"/{second}/merge", {"into_case_id": first}).json()
    assert (merged["state"], merged["close_reason"], merged["merged_into_id"]) == (
        "closed_other",
        "duplicate",
        first,
    )
    assert grid.post(f"/{first}/merge", {"into_case_id": first}).status_code == 422


def test_anonymous_reports_where_the_category_allows_them(client, town, taxonomy):
    def post(body, **headers):
        return client.post(
            API, body, content_type="application/json", headers={"Accept-Language": "en", **headers}
        )

    response = post(report_body(reporter_phone="13800138000"))
    assert response.status_code == 201, response.content
    assert response.json()["reporter_phone_masked"] == "138****8000"
    assert Case.objects.get(pk=response.json()["id"]).reporter is None

    no_phone = post(report_body())
    assert no_phone.status_code == 422 and error_fields(no_phone) == ["reporter_phone"]
    dispute = post(report_body(category="MD0101", reporter_phone="13800138000"))
    assert dispute.status_code == 403 and "anonymously" in dispute.json()["detail"]
    # A token that does not authenticate is refused, not taken for an anonymous report.
    bad_token = post(report_body(reporter_phone="13800138000"), Authorization="Bearer ll_nope")
    assert bad_token.status_code == 401
    # Reading stays signed-in only.
    assert client.get(API).status_code == 401
    assert client.get(f"{API}/{response.json()['id']}").status_code == 401
    assert Case.objects.count() == 1


def test_signed_in_pages_report_through_the_session_with_csrf(actors):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(actors.resident)
    body = report_body()
    refused = strict.post(API, body, content_type="application/json")
    assert refused.status_code == 403 and not Case.objects.exists()  # no CSRF token
    lax = Client()
    lax.force_login(actors.resident)
    response = lax.post(API, body, content_type="application/json")
    assert response.status_code == 201
    assert Case.objects.get().reporter == actors.resident


def test_a_resent_report_counts_once(actors, as_):
    resident = as_(actors.resident)
    first = resident.post("", report_body(), headers={"Idempotency-Key": "k-1"})
    again = resident.post("", report_body(), headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["is_replay"] is True
    by_field = resident.post("", report_body(idempotency_key="k-1"))
    assert by_field.status_code == 200 and by_field.json()["id"] == first.json()["id"]
    other = resident.post("", report_body(description="别的"), headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert Case.objects.count() == 1
    assert CaseEvent.objects.filter(action="report").count() == 1


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"category": "XX9999"}, "category"),
        ({"category": "SJ01"}, "category"),  # a major class is not reportable
        ({"lat": 10.0, "lng": 10.0}, "location"),  # outside every grid
        ({"lat": None, "lng": None, "address": "和平路 1 号"}, "location"),
        ({"lat": 95.0}, "location"),
        ({"lat": "north"}, "lat"),
        ({"description": "x" * 5000}, "description"),
        ({"description": "   "}, "description"),
        ({"reporter_phone": "12"}, "reporter_phone"),
        ({"idempotency_key": "k" * 65}, "idempotency_key"),
        ({"source": "pigeon"}, "source"),
    ],
)
def test_bad_reports_are_refused_with_the_field_to_fix(actors, as_, changes, field):
    response = as_(actors.resident).post("", report_body(**changes))
    assert response.status_code == 422, response.content
    assert error_fields(response) == [field]
    assert not Case.objects.exists()


def test_bad_requests_are_refused_in_the_one_error_shape(actors, as_):
    grid = as_(actors.grid)
    missing = grid.post("", {"description": "无分类"})
    assert missing.status_code == 422 and error_fields(missing) == ["category"]
    not_json = grid.client.post(API, "{oops", content_type="application/json", headers=grid.headers)
    assert not_json.status_code == 400 and error_fields(not_json) == ["body"]
    assert not_json.json()["code"] == "invalid_json"
    assert grid.get("/notanumber").status_code in (404, 422)
    unknown_filter = grid.get("", {"category": "XX"})
    assert unknown_filter.status_code == 422 and error_fields(unknown_filter) == ["category"]


def test_markup_is_stored_and_returned_as_text(actors, as_):
    resident = as_(actors.resident)
    text = '<script>alert("x")</script><b onmouseover=alert(1)>垃圾</b>'
    response = resident.post("", report_body(description=text, address="<img src=x>"))
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json; charset=utf-8"
    detail = resident.get(f"/{response.json()['id']}").json()
    assert (detail["description"], detail["address"]) == (text, "<img src=x>")
    assert Case.objects.get().description == text


def test_only_the_reporter_rates(actors, report, as_):
    case = report()
    for step in (
        lambda: services.case_register(actor=actors.grid, case_id=case.pk),
        lambda: services.case_close(
            actor=actors.grid, case_id=case.pk, reason="not_our_remit", note="非本辖区"
        ),
    ):
        step()
    grid = as_(actors.grid).post(f"/{case.pk}/rate", {"rating": 1})
    assert grid.status_code == 403 and "reported this case" in grid.json()["detail"]
    # Another resident does not even see it.
    assert as_(actors.other_resident).post(f"/{case.pk}/rate", {"rating": 1}).status_code == 404
    bad = as_(actors.resident).post(f"/{case.pk}/rate", {"rating": 6})
    assert bad.status_code == 422 and error_fields(bad) == ["rating"]
    case.refresh_from_db()
    assert (case.state, case.rating) == (CaseState.CLOSED_OTHER, None)


def test_outside_the_jurisdiction_is_404_everywhere(actors, report, as_):
    case = report(point=THERE)  # the neighbour's grid
    photo_case = report()
    grid = as_(actors.grid)
    for response in (
        grid.get(f"/{case.pk}"),
        grid.get(f"/{case.pk}/duplicates"),
        grid.post(f"/{case.pk}/register"),
        grid.post(f"/{case.pk}/reject", {"reason": "x"}),
        grid.post(f"/{case.pk}/merge", {"into_case_id": photo_case.pk}),
        grid.post(f"/{photo_case.pk}/merge", {"into_case_id": case.pk}),
        grid.upload(f"/{case.pk}/photos", {"file": SimpleUploadedFile("a.jpg", image_bytes())}),
        grid.get(f"/{case.pk}/photos/1"),
        grid.get("/999999"),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["code"] == "not_found"
    assert Case.objects.get(pk=case.pk).state == CaseState.REPORTED
    assert as_(actors.neighbour).get(f"/{case.pk}").status_code == 200


def test_lists_filter_and_page_within_the_jurisdiction(town, actors, report, as_):
    mine = report()
    other_category = report(code="SJ0304")
    theirs = report(point=THERE)
    services.case_register(actor=actors.grid, case_id=mine.pk)
    Case.objects.filter(pk=other_category.pk).update(
        warning=WarningLevel.RED, stage_deadline=timezone.now() - dt.timedelta(hours=1)
    )
    grid = as_(actors.grid)

    def ids(**query):
        response = grid.get("", query)
        assert response.status_code == 200, response.content
        return {c["id"] for c in response.json()["items"]}

    assert ids() == {mine.pk, other_category.pk}
    assert ids(state="registered") == {mine.pk}
    assert ids(category="SJ0101") == {mine.pk}
    assert ids(category="SJ03") == {other_category.pk}  # a major class takes its minors
    assert ids(overdue=True) == {other_category.pk}
    assert ids(place_id=town.grid.pk) == {mine.pk, other_category.pk}
    assert ids(place_id=town.other_grid.pk) == set()
    assert ids(place_id=999999) == set()
    page = grid.get("", {"limit": 1}).json()
    assert page["count"] == 2 and len(page["items"]) == 1
    assert grid.get("", {"state": "lost"}).status_code == 422
    assert as_(actors.neighbour).get("").json()["count"] == 1
    assert as_(actors.resident).get("").json()["count"] == 3  # the reporter of all three
    assert as_(actors.other_resident).get("").json()["count"] == 0
    assert theirs.pk not in ids()


def test_photos_over_http(actors, report, as_):
    case = report()
    resident = as_(actors.resident)
    response = resident.upload(
        f"/{case.pk}/photos", {"file": SimpleUploadedFile("IMG_0001.jpg", image_bytes())}
    )
    assert response.status_code == 201, response.content
    photo_id = response.json()["id"]

    served = as_(actors.grid).get(f"/{case.pk}/photos/{photo_id}")
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    content = b"".join(served.streaming_content)
    with Image.open(io.BytesIO(content)) as image:
        assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    original = CasePhoto.objects.get(pk=photo_id).original.read()
    with Image.open(io.BytesIO(original)) as image:
        assert dict(image.getexif().get_ifd(ExifTags.IFD.GPSInfo)) == GPS
    assert [p["id"] for p in resident.get(f"/{case.pk}").json()["photos"]] == [photo_id]

    other_case = report(description="另一件")
    assert resident.get(f"/{other_case.pk}/photos/{photo_id}").status_code == 404
    assert as_(actors.other_resident).get(f"/{case.pk}/photos/{photo_id}").status_code == 404


def test_photo_uploads_that_are_refused(actors, report, as_):
    case = report()
    resident = as_(actors.resident)
    fake = resident.upload(
        f"/{case.pk}/photos", {"file": SimpleUploadedFile("photo.jpg", b"MZ\x90\x00 not an image")}
    )
    assert fake.status_code == 422 and error_fields(fake) == ["file"]
    assert "not a photo" in fake.json()["detail"]

    missing = resident.upload(f"/{case.pk}/photos", {})
    assert missing.status_code == 422 and error_fields(missing) == ["file"]

    # A 50 MB photo: over the upload limit, its body is not received (core/uploads.py), and
    # the answer names the size rather than a missing file.
    huge = resident.upload(
        f"/{case.pk}/photos",
        {"file": SimpleUploadedFile("huge.jpg", b"\xff\xd8" + b"\0" * (50 * 1024 * 1024))},
    )
    assert huge.status_code == 422 and error_fields(huge) == ["file"]
    assert "The photo is 50.0 MB; the largest accepted is 10 MB." in huge.json()["detail"]

    # Between the photo limit and the upload limit the body arrives and is still refused.
    big = resident.upload(
        f"/{case.pk}/photos",
        {"file": SimpleUploadedFile("big.jpg", b"\xff\xd8" + b"\0" * (11 * 1024 * 1024))},
    )
    assert big.status_code == 422 and "largest accepted is 10 MB" in big.json()["detail"]
    assert not CasePhoto.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_handlers_accepting_at_once_exactly_one_wins(actors, report, as_):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    case = report()
    services.case_register(actor=actors.grid, case_id=case.pk)
    services.case_dispatch(actor=actors.grid, case_id=case.pk)
    callers = [as_(actors.cgj), as_(actors.cgj2)]
    barrier = threading.Barrier(2)
    statuses = [None, None]

    def run(i):
        from django.db import connection as thread_connection

        barrier.wait()
        try:
            statuses[i] = callers[i].post(f"/{case.pk}/accept").status_code
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 409]
    case.refresh_from_db()
    assert case.state == CaseState.IN_HAND
    assert CaseEvent.objects.filter(case=case, action="accept").count() == 1
