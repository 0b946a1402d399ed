"""Excel over the API with a token: the import template and exports of a POSTed search."""

import io

import pytest
from openpyxl import load_workbook

from linli.core.models import AuditAction, AuditEntry
from linli.core.roles import Role
from linli.core.services import api_token_issue
from linli.core.testing.factories import make_user

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def as_user(client):
    def headers(user, language="en") -> dict[str, str]:
        _, key = api_token_issue(actor=None, user=user, name="excel")
        return {"Authorization": f"Bearer {key}", "Accept-Language": language}

    return headers


def workbook_rows(response) -> list[list]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == XLSX
    content = b"".join(response.streaming_content)
    sheet = load_workbook(io.BytesIO(content)).active
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_person_export_is_masked_scoped_and_audited(client, grid_worker, people, as_user):
    response = client.post(
        "/api/v1/people/exports/persons",
        {},
        content_type="application/json",
        headers=as_user(grid_worker),
    )
    rows = workbook_rows(response)
    flat = str(rows)
    assert rows[0][:4] == ["Household number", "Relation to householder", "Name", "ID number"]
    assert sorted(r[2] for r in rows[1:]) == sorted([people.head.name, people.child.name])
    assert people.head.id_masked in flat and people.head.id_number not in flat
    assert "138****8000" in flat and "13800138000" not in flat
    assert people.other_head.name not in flat  # the neighbour's grid
    entry = AuditEntry.objects.get(action=AuditAction.EXPORT)
    assert entry.actor == grid_worker and entry.changes["rows"] == 2
    assert entry.changes["full"] is False


def test_full_export_needs_the_role(client, town, grid_worker, people, as_user):
    refused = client.post(
        "/api/v1/people/exports/persons",
        {"full": True},
        content_type="application/json",
        headers=as_user(grid_worker),
    )
    assert refused.status_code == 403
    assert not AuditEntry.objects.filter(action=AuditAction.EXPORT).exists()
    officer = make_user("civil", Role.CIVIL_AFFAIRS, [town.district])
    response = client.post(
        "/api/v1/people/exports/persons",
        {"full": True, "name": "张大"},
        content_type="application/json",
        headers=as_user(officer),
    )
    rows = workbook_rows(response)
    assert [(r[2], r[3], r[4]) for r in rows[1:]] == [
        (people.head.name, people.head.id_number, "13800138000")
    ]
    entry = AuditEntry.objects.get(action=AuditAction.EXPORT)
    assert entry.changes["full"] is True and entry.changes["filters"]["name"] == "张大"


def test_household_export_follows_the_search(client, street_officer, people, as_user):
    response = client.post(
        "/api/v1/people/exports/households",
        {"number": "H000"},
        content_type="application/json",
        headers=as_user(street_officer),
    )
    # H0002 matches too, but lies in the other street.
    assert [r[0] for r in workbook_rows(response)[1:]] == ["H0001"]
    assert AuditEntry.objects.get(action=AuditAction.EXPORT).changes["rows"] == 1


def test_export_refuses_roles_without_it_and_bad_filters(client, town, grid_worker, as_user):
    handler = make_user("dept", Role.DEPARTMENT_HANDLER, [town.district])
    response = client.post(
        "/api/v1/people/exports/persons",
        {},
        content_type="application/json",
        headers=as_user(handler),
    )
    assert response.status_code == 403
    bad = client.post(
        "/api/v1/people/exports/persons",
        {"id_ending": "12a4"},
        content_type="application/json",
        headers=as_user(grid_worker),
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "id_ending"
    assert not AuditEntry.objects.filter(action=AuditAction.EXPORT).exists()


def test_the_template_is_in_the_callers_language_for_importers_only(
    client, town, grid_worker, street_officer, as_user
):
    english = client.get("/api/v1/people/import-template", headers=as_user(street_officer))
    assert english.status_code == 200 and english["Content-Type"] == XLSX
    book = load_workbook(io.BytesIO(b"".join(english.streaming_content)))
    assert book.sheetnames == [
        "Instructions",
        "Households",
        "Persons",
        "Incomes, assets and expenditure",
        "lists",  # hidden: the list of kinds, too long to write into the validation itself
    ]
    assert book["lists"].sheet_state == "hidden"
    assert book["Persons"]["D1"].value == "ID number *"
    chinese = client.get(
        "/api/v1/people/import-template", headers=as_user(street_officer, "zh-hans")
    )
    book = load_workbook(io.BytesIO(b"".join(chinese.streaming_content)))
    assert book.sheetnames[1:3] == ["住户", "人员"]
    refused = client.get("/api/v1/people/import-template", headers=as_user(grid_worker))
    assert refused.status_code == 403
