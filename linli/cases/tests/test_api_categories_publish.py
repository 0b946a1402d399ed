"""The case API's category list, marking a case public, and the sources a report may name."""

import datetime as dt

import pytest
from django.test import Client

from linli.cases import services
from linli.cases.models import Case, Source
from linli.core.errors import PermissionDenied
from linli.core.models import AuditEntry
from linli.core.services import api_token_issue

from .conftest import HERE

API = "/api/v1/cases"


def _headers(user) -> dict:
    _, key = api_token_issue(actor=None, user=user, name="test")
    return {"Authorization": f"Bearer {key}", "Accept-Language": "en"}


def test_anyone_may_list_the_categories(taxonomy):
    response = Client().get(f"{API}/categories")
    assert response.status_code == 200
    by_code = {c["code"]: c for c in response.json()}
    minor = taxonomy.cat["SJ0101"]
    assert by_code["SJ0101"] == {
        "code": "SJ0101",
        "name": minor.name,
        "name_en": minor.name_en,
        "kind": minor.kind,
        "major": minor.parent.code,
        "anonymous_allowed": minor.anonymous_allowed,
        "priority": minor.priority,
    }
    assert by_code[minor.parent.code]["major"] is None
    # Codes from Open311 and from this list are the same.
    open311 = Client().get("/open311/v2/services.json").json()
    minors = {c for c, item in by_code.items() if item["major"] is not None}
    assert {s["service_code"] for s in open311} <= minors


def test_an_inactive_category_is_not_listed(taxonomy):
    minor = taxonomy.cat["SJ0101"]
    minor.is_active = False
    minor.save()
    codes = {c["code"] for c in Client().get(f"{API}/categories").json()}
    assert "SJ0101" not in codes and minor.parent.code in codes


def test_staff_publish_a_case_through_the_api(actors, report):
    case = report()
    grid = Client(headers=_headers(actors.grid))
    response = grid.post(
        f"{API}/{case.pk}/publish", {"public": True}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["is_public"] is True
    assert Case.objects.get(pk=case.pk).is_public
    entry = AuditEntry.objects.filter(object_id=str(case.pk)).latest("id")
    assert entry.changes["is_public"] == [False, True]
    resident = Client(headers=_headers(actors.resident))
    refused = resident.post(
        f"{API}/{case.pk}/publish", {"public": False}, content_type="application/json"
    )
    assert refused.status_code in (403, 404)
    assert Case.objects.get(pk=case.pk).is_public


def test_staff_cannot_file_a_report_as_open311(actors, taxonomy):
    grid = Client(headers=_headers(actors.grid))
    body = {
        "category": "SJ0101",
        "description": "井盖丢了",
        "lat": HERE[0],
        "lng": HERE[1],
        "source": "open311",
    }
    response = grid.post(API, body, content_type="application/json")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["source"]
    assert not Case.objects.exists()
    # The service says no as well, whoever calls it.
    with pytest.raises(PermissionDenied):
        services.case_report(
            actor=actors.grid,
            category_id=taxonomy.cat["SJ0101"].pk,
            description="井盖丢了",
            lat=HERE[0],
            lng=HERE[1],
            source=Source.OPEN311,
        )
    assert not Case.objects.exists()


@pytest.mark.parametrize("start, end", [("9999-12-01", "9999-12-31"), ("0001-01-01", "0001-01-31")])
def test_statistics_of_year_9999_or_1_are_refused_not_a_crash(client, actors, start, end):
    from django.urls import reverse

    from linli.cases.statistics import case_statistics
    from linli.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        case_statistics(
            actor=actors.street,
            start=dt.date.fromisoformat(start),
            end=dt.date.fromisoformat(end),
        )
    assert refused.value.details == {"start": ["Choose a day between 1900 and 2999."]}
    client.force_login(actors.street)
    page = client.get(
        reverse("cases:statistics"),
        {"start": start, "end": end, "grouping": "street"},
        headers={"Accept-Language": "en"},
    )
    assert page.status_code in (200, 422)
    assert "Choose a day between 1900 and 2999." in page.content.decode()
