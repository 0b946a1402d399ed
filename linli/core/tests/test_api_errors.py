"""Every answer of the JSON API is JSON in the one error shape: validation with every problem
at once, bodies that are not JSON, numbers and dates out of range, unknown paths and methods,
and a bug's 500."""

import pytest
from django.test import Client, RequestFactory

from linli.api import api
from linli.core.roles import Role
from linli.core.services import api_token_issue
from linli.core.testing.factories import make_user

HUGE = 2**63


@pytest.fixture
def call(town):
    """call(method, path, body=None, **extra) as the city's administrator, in English."""
    admin = make_user("apiadmin", Role.ADMIN, [town.city])
    _, key = api_token_issue(actor=None, user=admin, name="test")
    client = Client(headers={"Authorization": f"Bearer {key}", "Accept-Language": "en"})

    def request(method, path, body=None, content_type="application/json", **extra):
        send = getattr(client, method)
        if method == "get":
            return send("/api/v1" + path, body or {}, **extra)
        return send("/api/v1" + path, body, content_type=content_type, **extra)

    return request


def fields(response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_a_validation_failure_names_every_problem_at_once(call, people):
    response = call(
        "post",
        "/people/persons",
        {"relation": "cousin", "name": "", "disability_grade": 9, "household_id": "x"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert set(fields(response)) == {
        "relation",
        "name",
        "id_number",
        "disability_grade",
        "household_id",
    }
    for field in fields(response):
        assert f"{field}: " in body["detail"]
    by_field = {e["field"]: e["message"] for e in body["errors"]}
    assert by_field["id_number"] == "This field is required."
    assert by_field["disability_grade"] == "Must be at most 4."


def test_problems_in_the_query_and_the_body_come_together(call, people):
    response = call("post", "/people/persons/search?limit=0", {"id_ending": "abc"})
    assert response.status_code == 422
    assert set(fields(response)) == {"limit", "id_ending"}


def test_bodies_that_are_not_json_are_refused_with_415(call, people):
    form = call(
        "post", "/people/households/search", "number=H1", "application/x-www-form-urlencoded"
    )
    assert form.status_code == 415
    assert form.json()["code"] == "unsupported_media_type"
    assert fields(form) == ["Content-Type"]
    plain = call("patch", f"/people/households/{people.household.id}", '{"address": "x"}', "")
    assert plain.status_code == 415
    # JSON under a +json type is JSON.
    merge = call(
        "post", "/people/households/search", '{"number": "H"}', "application/merge-patch+json"
    )
    assert merge.status_code == 200


def test_a_json_body_must_be_an_object(call, people):
    for body in ("[null, null]", "3", '"text"'):
        response = call("post", "/people/persons/search", body)
        assert response.status_code == 422, body
        assert fields(response) == ["body"]
    broken = call("post", "/people/persons/search", '{"name": ')
    assert broken.status_code == 400
    assert broken.json()["code"] == "invalid_json"
    assert "line 1" in broken.json()["detail"]


@pytest.mark.parametrize(
    "path, params, field",
    [
        ("/places", {"offset": HUGE}, "offset"),
        ("/places", {"parent_id": HUGE}, "parent_id"),
        (f"/places/{HUGE}", {}, "place_id"),
        (f"/cases/{HUGE}", {}, "case_id"),
        (f"/people/persons/{HUGE}/finances", {}, "person_id"),
        ("/people/persons", {"household_id": HUGE * 4}, "household_id"),
        ("/cases", {"offset": HUGE}, "offset"),
        ("/cases/statistics", {"start": "9999-01-01", "end": "9999-12-31"}, "start"),
        ("/cases/statistics", {"start": "0001-01-01", "end": "2026-01-01"}, "start"),
        ("/audit", {"date_to": "0"}, "date_to"),
        ("/audit", {"date_from": "0001-01-01"}, "date_from"),
    ],
)
def test_numbers_and_dates_out_of_range_are_422(call, path, params, field):
    response = call("get", path, params)
    assert response.status_code == 422, response.content
    assert field in fields(response)


def test_ids_and_dates_out_of_range_in_a_body_are_422(call, people):
    response = call(
        "post",
        f"/people/persons/{people.head.id}/finances",
        {"category": "income", "kind": "wage", "amount": "1", "valid_from": "0001-01-01"},
    )
    assert response.status_code == 422
    assert fields(response) == ["valid_from"]
    response = call(
        "post", "/people/households", {"number": "H9", "address": "x", "building_id": HUGE}
    )
    assert response.status_code == 422
    assert fields(response) == ["building_id"]


def test_unknown_paths_and_methods_answer_json(call):
    missing = call("get", "/no/such/thing")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    wrong = call("delete", "/me")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"
    assert wrong["Allow"] == "GET"


def test_a_bug_is_a_logged_500_in_the_error_shape(caplog, db):
    """The handler every exception nothing else caught reaches (a bug cannot be provoked on
    purpose through a correct route)."""
    request = RequestFactory().get("/api/v1/me")
    response = api.on_exception(request, RuntimeError("boom"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert b'"code": "server_error"' in response.content
    assert "boom" not in response.content.decode()
    [record] = [r for r in caplog.records if r.name == "linli.core.api"]
    assert record.exc_info[1].args == ("boom",)


def test_the_openapi_document_states_auth_and_media_type_statuses(client):
    document = client.get("/api/v1/openapi.json").json()
    report = document["paths"]["/api/v1/cases"]["post"]
    assert {} in report["security"]  # anonymous reports
    assert "415" in report["responses"]
    assert "401" in report["responses"]  # a token sent that is not valid
    me = document["paths"]["/api/v1/me"]["get"]
    assert "401" in me["responses"] and "415" not in me["responses"]
    persons = document["paths"]["/api/v1/people/persons/{person_id}"]["get"]
    [param] = persons["parameters"]
    assert param["schema"]["maximum"] == HUGE - 1


def test_a_nul_character_is_a_field_error_not_a_database_error(call, people):
    """PostgreSQL cannot compare text holding NUL: the query would fail there with a 500."""
    found = call("get", "/people/persons", {"name": "张\x00"})
    assert found.status_code == 422
    searched = call("post", "/people/persons/search", {"name": "张", "address": "a\x00b"})
    assert searched.status_code == 422
    assert fields(searched) == ["address"]
    assert "U+0000" in searched.json()["detail"]


@pytest.mark.parametrize("path", ["/people/persons", "/people/households"])
def test_a_missing_place_narrows_a_list_to_nothing(call, people, path):
    response = call("get", path, {"place_id": 987654321})
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert call("get", path).json()["items"]  # the same list without the filter has rows
