"""The applications API: submit, list by queue and filter, the detail with its assessment and
offered actions, one POST for every action, visits with photos; errors in the app's shape."""

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from linli.assistance.models import Application, Benefit
from linli.assistance.transitions import available_actions

from .fixtures_applications import *  # noqa: F403  (the fixtures)
from .fixtures_applications import MONDAY

pytestmark = pytest.mark.usefixtures("clock", "policy")


def jpeg(size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 100, 50)).save(out, "JPEG")
    return out.getvalue()


def test_the_whole_minimum_living_path_through_the_api(as_, staff, homes, clock):
    resident, street, community, bureau = (
        as_(staff.resident),
        as_(staff.street),
        as_(staff.community),
        as_(staff.bureau),
    )
    answer = resident.post(
        "/applications", {"household_id": homes.poor.pk, "program": "minimum_living"}
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    pk = body["id"]
    assert body["channel"] == "online" and body["state"] == "submitted"
    assert body["assessment"]["results"]["minimum_living"]["eligible"] is True
    assert body["explanation"] and body["actions"] == ["withdraw"]
    assert body["applicant_masked"] == "张*山"

    assert street.get(f"/applications/{pk}/actions").json() == ["accept", "withdraw"]
    assert street.post(f"/applications/{pk}/act", {"action": "accept"}).status_code == 200
    answer = community.upload(
        f"/applications/{pk}/visits",
        {
            "visitors": "李四、王五",
            "findings": "家中确实困难",
            "visited_on": "2026-03-02",
            "files": [
                SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg"),
                SimpleUploadedFile("b.jpg", jpeg(), "image/jpeg"),
            ],
        },
    )
    assert answer.status_code == 201, answer.json()
    visits = community.get(f"/applications/{pk}/visits").json()
    assert [p["id"] for p in visits[0]["photos"]] == [1, 2]
    photos = f"/applications/{pk}/visits/{visits[0]['id']}/photos"
    photo = community.get(f"{photos}/2")
    assert photo.status_code == 200 and photo["Content-Type"] == "image/jpeg"
    assert community.get(f"{photos}/3").status_code == 404
    assert community.get(f"{photos}/0").status_code == 422

    assert street.post(f"/applications/{pk}/act", {"action": "start_notice"}).status_code == 200
    answer = street.post(f"/applications/{pk}/act", {"action": "end_notice"})
    assert answer.status_code == 409 and answer.json()["code"] == "notice_running"
    clock.move_to(MONDAY + dt.timedelta(days=7))
    assert street.post(f"/applications/{pk}/act", {"action": "end_notice"}).status_code == 200
    answer = street.post(f"/applications/{pk}/act", {"action": "approve"})
    assert answer.status_code == 403 and "District tier" in answer.json()["detail"]
    answer = bureau.post(f"/applications/{pk}/act", {"action": "approve", "note": "符合"})
    assert answer.status_code == 200, answer.json()
    assert answer.json()["state"] == "approved"
    assert Benefit.objects.filter(application_id=pk).exists()


def test_lists_by_queue_and_filter(as_, staff, homes):
    community = as_(staff.community)
    for household, program in ((homes.poor, "minimum_living"), (homes.marginal, "marginal")):
        assert (
            community.post(
                "/applications", {"household_id": household.pk, "program": program}
            ).status_code
            == 201
        )
    street = as_(staff.street)
    assert street.get("/applications", {"queue": "to_accept"}).json()["count"] == 2
    assert street.get("/applications", {"program": "marginal"}).json()["count"] == 1
    found = street.get("/applications", {"q": homes.marginal.number}).json()
    assert [i["household_number"] for i in found["items"]] == [homes.marginal.number]
    assert street.get("/applications", {"q": "张"}).json()["count"] == 1
    assert street.get("/applications", {"q": "张*山"}).json()["count"] == 1
    assert as_(staff.other_street).get("/applications").json()["count"] == 0
    assert as_(staff.grid).get("/applications", {"queue": "to_accept"}).json()["count"] == 0
    assert street.get("/applications", {"queue": "nonsense"}).status_code == 422


def test_the_api_offers_what_the_service_accepts(as_, staff, homes):
    pk = (
        as_(staff.community)
        .post("/applications", {"household_id": homes.poor.pk, "program": "minimum_living"})
        .json()["id"]
    )
    application = Application.objects.get(pk=pk)
    for user in (staff.grid, staff.street, staff.bureau, staff.auditor, staff.resident):
        detail = as_(user).get(f"/applications/{pk}").json()
        assert detail["actions"] == available_actions(application, user)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"household_id": None, "program": "minimum_living"}, 422, "household_id"),
        ({"household_id": 0, "program": "minimum_living"}, 422, "household_id"),
        ({"household_id": "x", "program": "minimum_living"}, 422, "household_id"),
        ({"program": "heating"}, 422, "program"),
        ({"program": "temporary", "temporary_kind": "emergency"}, 422, "requested_amount"),
        (
            {"program": "temporary", "temporary_kind": "emergency", "requested_amount": "abc"},
            422,
            "requested_amount",
        ),
        ({"program": "minimum_living", "reason": "\x00困难"}, 422, "reason"),
        ({"program": "minimum_living", "channel": "online"}, 422, "channel"),
    ],
)
def test_bad_submissions(as_, staff, homes, body, status, field):
    body = {"household_id": homes.poor.pk, **body}
    if body["household_id"] is None:
        del body["household_id"]
    answer = as_(staff.community).post("/applications", body)
    assert answer.status_code == status, answer.json()
    assert field in {e["field"].split(".")[-1] for e in answer.json()["errors"]} or field in str(
        answer.json()
    )


def test_applying_twice_is_a_409(as_, staff, homes):
    body = {"household_id": homes.poor.pk, "program": "minimum_living"}
    assert as_(staff.community).post("/applications", body).status_code == 201
    answer = as_(staff.resident).post("/applications", body)
    assert answer.status_code == 409
    assert "already has an open application" in answer.json()["detail"]


def test_acting_outside_the_jurisdiction_is_404_whatever_the_body(as_, staff, homes):
    pk = (
        as_(staff.community)
        .post("/applications", {"household_id": homes.poor.pk, "program": "minimum_living"})
        .json()["id"]
    )
    other = as_(staff.other_street)
    assert other.get(f"/applications/{pk}").status_code == 404
    assert other.post(f"/applications/{pk}/act", {"action": "accept"}).status_code == 404
    assert other.post(f"/applications/{pk}/act", {"action": "bogus"}).status_code in (404, 422)
    assert as_(staff.other_resident).get(f"/applications/{pk}").status_code == 404


def test_an_action_with_a_field_it_does_not_take_is_refused(as_, staff, homes):
    pk = (
        as_(staff.community)
        .post("/applications", {"household_id": homes.poor.pk, "program": "minimum_living"})
        .json()["id"]
    )
    answer = as_(staff.street).post(f"/applications/{pk}/act", {"action": "accept", "note": "x"})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "note"


def test_a_file_that_is_not_a_photo_is_refused_and_nothing_recorded(as_, staff, homes):
    community = as_(staff.community)
    pk = community.post(
        "/applications", {"household_id": homes.poor.pk, "program": "minimum_living"}
    ).json()["id"]
    as_(staff.street).post(f"/applications/{pk}/act", {"action": "accept"})
    answer = community.upload(
        f"/applications/{pk}/visits",
        {
            "visitors": "李四",
            "findings": "困难",
            "files": [SimpleUploadedFile("x.jpg", b"<html>not a photo</html>", "image/jpeg")],
        },
    )
    assert answer.status_code == 422 and "not a photo" in answer.json()["detail"]
    assert Application.objects.get(pk=pk).state == "accepted"


def test_the_openapi_document_lists_the_routes(as_, staff):
    from django.test import Client

    document = Client().get("/api/v1/openapi.json").json()
    paths = document["paths"]
    for route in (
        "/api/v1/assistance/applications",
        "/api/v1/assistance/applications/{application_id}",
        "/api/v1/assistance/applications/{application_id}/act",
        "/api/v1/assistance/applications/{application_id}/actions",
        "/api/v1/assistance/applications/{application_id}/visits",
    ):
        assert route in paths
