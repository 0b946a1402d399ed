"""Screening pages and API: start a round, follow its progress, read its report; the rules
list and a new version from a date; permissions and bad input."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from linli.monitoring.models import RiskRule, ScreeningRound
from linli.monitoring.screening import round_run

from .fixtures_screening import *  # noqa: F403  (the fixtures)
from .fixtures_screening import AS_OF, household, person, record

pytestmark = pytest.mark.django_db

TODAY = dt.datetime(2026, 6, 30, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(TODAY, tick=True):
        yield


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def api(client):
    from linli.core.services import api_token_issue

    def as_(user):
        _, key = api_token_issue(actor=None, user=user, name="t")
        return {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_ACCEPT_LANGUAGE": "en"}

    return as_


def poor(building):
    h = household(building)
    record(person(h), "business", 300)
    return h


def test_round_pages_start_poll_and_report(
    english, town, policies, rules, screener, django_capture_on_commit_callbacks
):
    poor(town.building)
    english.force_login(screener)
    listing = english.get(reverse("monitoring:rounds"))
    assert listing.status_code == 200 and listing.context["form"] is not None
    with django_capture_on_commit_callbacks(execute=False):
        response = english.post(
            reverse("monitoring:rounds"), {"place": town.district.pk, "as_of": "2026-06-30"}
        )
    screening_round = ScreeningRound.objects.get()
    detail_url = reverse("monitoring:round_detail", args=[screening_round.pk])
    assert response.status_code == 302 and response["Location"] == detail_url
    page = english.get(detail_url).content.decode()
    assert "hx-get" in page and "<progress" in page
    poll = english.get(detail_url + "?status=1", HTTP_HX_REQUEST="true")
    assert poll.status_code == 200 and "round-status" in poll.content.decode()
    again = english.post(
        reverse("monitoring:rounds"), {"place": town.district.pk, "as_of": "2026-06-30"}
    )
    assert "already running" in again.content.decode()
    round_run(round_id=screening_round.pk)
    poll = english.get(detail_url + "?status=1", HTTP_HX_REQUEST="true")
    assert poll.status_code == 204 and poll["HX-Refresh"] == "true"
    page = english.get(detail_url).content.decode()
    assert "Income near or below the minimum" in page and "文汇街道" in page
    assert "<progress" not in page


def test_grid_worker_sees_no_start_form(english, town, grid_worker, rules):
    english.force_login(grid_worker)
    response = english.get(reverse("monitoring:rounds"))
    assert response.status_code == 200 and response.context["form"] is None
    assert english.get(reverse("monitoring:rules")).context["form"] is None


def test_rules_page_adds_a_version(english, town, rules, screener):
    english.force_login(screener)
    page = english.get(reverse("monitoring:rules") + "?code=marginal-income")
    assert page.status_code == 200 and page.context["form"] is not None
    assert "multiple = 1.5" in page.content.decode()
    form = {
        "code": "marginal-income",
        "valid_from": "2026-09-01",
        "parameters": '{"multiple": "1.3"}',
        "severity": "3",
        "template": "Per-capita income {per_capita} yuan is below {multiple} × ({bound} yuan).",
        "template_zh": "人均收入{per_capita}元，低于低保标准{multiple}倍（{bound}元）",
    }
    bad = english.post(reverse("monitoring:rules"), form | {"template": "{nonsense}"})
    assert "does not compute" in bad.content.decode()
    bad = english.post(reverse("monitoring:rules"), form | {"parameters": "{"})
    assert "JSON" in bad.content.decode()
    saved = english.post(reverse("monitoring:rules"), form)
    assert saved.status_code == 302
    versions = list(RiskRule.objects.filter(code="marginal-income").order_by("valid_from"))
    assert [v.valid_to for v in versions] == [dt.date(2026, 8, 31), None]
    assert versions[1].parameters == {"multiple": "1.3", "quiet_days": 90}
    assert versions[1].translations["zh-hans"].startswith("人均收入")


def test_api_rounds_and_rules(client, api, town, policies, rules, screener, grid_worker):
    poor(town.building)
    as_screener = api(screener)
    body = {"place_id": town.street.pk, "as_of": "2026-06-30"}
    started = client.post(
        "/api/v1/monitoring/screening-rounds", body, content_type="application/json", **as_screener
    )
    assert started.status_code == 202, started.content
    round_id = started.json()["id"]
    refused = client.post(
        "/api/v1/monitoring/screening-rounds", body, content_type="application/json", **as_screener
    )
    assert refused.status_code == 409 and "already running" in refused.json()["detail"]
    early = client.get(f"/api/v1/monitoring/screening-rounds/{round_id}/report", **as_screener)
    assert early.status_code == 409
    round_run(round_id=round_id)
    status = client.get(f"/api/v1/monitoring/screening-rounds/{round_id}", **as_screener).json()
    assert status["state"] == "done" and status["percent"] == 100
    report = client.get(
        f"/api/v1/monitoring/screening-rounds/{round_id}/report", **as_screener
    ).json()
    assert report["opened"] == 1 and report["households"] == 1
    assert {"code": "marginal-income"}.items() <= report["by_rule"][0].items()
    assert report["by_street"][0]["name"] == "文汇街道"
    listed = client.get("/api/v1/monitoring/screening-rounds", **as_screener).json()
    assert [row["id"] for row in listed["items"]] == [round_id]

    rules_listed = client.get("/api/v1/monitoring/risk-rules", **as_screener).json()
    assert len(rules_listed) == 11
    as_worker = api(grid_worker)
    version = {"code": "elderly-alone", "valid_from": "2026-08-01", "parameters": {"age": 75}}
    assert (
        client.post(
            "/api/v1/monitoring/risk-rules", version, content_type="application/json", **as_worker
        ).status_code
        == 403
    )
    added = client.post(
        "/api/v1/monitoring/risk-rules", version, content_type="application/json", **as_screener
    )
    assert added.status_code == 201, added.content
    assert added.json()["parameters"] == {"age": 75, "grade": 2, "quiet_days": 90}
    past = client.post(
        "/api/v1/monitoring/risk-rules",
        version | {"valid_from": "2026-07-01"},
        content_type="application/json",
        **as_screener,
    )
    assert past.status_code == 422 and "must start after" in past.json()["detail"]
    bad = client.post(
        "/api/v1/monitoring/risk-rules",
        version | {"valid_from": "2026-09-01", "parameters": {"age": "old"}},
        content_type="application/json",
        **as_screener,
    )
    assert bad.status_code == 422 and "age" in str(bad.json()["errors"])
    assert AS_OF  # the rounds above screen as of the fixtures' date
