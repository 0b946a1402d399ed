"""Signal pages and API: the list with filters and pagination (scoped), the template, the
upload form, an import's progress and row errors (htmx-polled), the same through the API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from linli.monitoring import signals
from linli.monitoring.models import ImportState, Signal, SignalImport

from .fixtures_signals import *  # noqa: F403  (the fixtures)
from .fixtures_signals import upload, xlsx

pytestmark = pytest.mark.usefixtures("frozen")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def api():
    from linli.core.services import api_token_issue

    def as_(user):
        _, key = api_token_issue(actor=None, user=user, name="t")
        return {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_ACCEPT_LANGUAGE": "en"}

    return as_


@pytest.fixture
def planted(people):
    for i in range(60):
        signals.signal_record(
            source="external",
            household_id=people.household.pk,
            kind="hospital_bill" if i % 2 else "utility_arrears",
            occurred_on=dt.date(2026, 1, 1) + dt.timedelta(days=i),
            key=f"p{i}",
            person_id=people.head.pk,
            amount=Decimal(i),
        )
    signals.signal_record(
        source="external",
        household_id=people.other_household.pk,
        kind="unemployment",
        occurred_on=dt.date(2026, 1, 1),
        key="other",
    )


def test_list_is_scoped_filtered_and_paginated(english, grid_worker, planted):
    english.force_login(grid_worker)
    page = english.get(reverse("monitoring:signals")).content.decode()
    assert "60 signals." in page and "Page 1 of 2" in page
    assert "H0001" in page and "H0002" not in page
    assert "张*山" in page and "张大山" not in page  # names masked
    filtered = english.get(
        reverse("monitoring:signals"), {"kind": "hospital_bill", "date_from": "2026-02-01"}
    ).content.decode()
    assert "Hospital bill" in filtered and "15 signals." in filtered
    second = english.get(reverse("monitoring:signals"), {"page": 2}).content.decode()
    assert "Page 2 of 2" in second
    # The grid worker may see but not import.
    assert reverse("monitoring:signal_import_new") not in page
    assert english.get(reverse("monitoring:signal_import_new")).status_code == 403
    assert english.get(reverse("monitoring:signal_template")).status_code == 403


def test_bad_filters_show_everything_not_an_error(english, grid_worker, planted):
    english.force_login(grid_worker)
    response = english.get(reverse("monitoring:signals"), {"date_from": "not-a-date", "page": "x"})
    assert response.status_code == 200


def test_upload_page_to_detail_with_row_errors(english, importer, people):
    english.force_login(importer)
    template = english.get(reverse("monitoring:signal_template"))
    assert template.status_code == 200 and template["Content-Type"] == XLSX
    content = xlsx(
        [
            (people.head.id_number, "hospital_bill", "2026-05-03", "-1"),
            (people.other_head.id_number, "hospital_bill", "2026-05-03", "1"),
        ]
    )
    response = english.post(
        reverse("monitoring:signal_import_new"), {"file": upload(content)}, follow=False
    )
    assert response.status_code == 302
    job = SignalImport.objects.get()
    assert response["Location"] == reverse("monitoring:signal_import_detail", args=[job.pk])
    # Before the worker runs: polling.
    waiting = english.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in waiting
    signals.signal_import_run(import_id=job.pk)
    partial = english.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in partial and "<html" not in partial
    assert "Nothing was loaded" in partial
    assert "An amount cannot be negative." in partial
    assert "No person with this ID number in your jurisdiction." in partial
    assert Signal.objects.count() == 0


def test_upload_page_refuses_a_non_spreadsheet(english, importer):
    english.force_login(importer)
    response = english.post(
        reverse("monitoring:signal_import_new"), {"file": upload(b"hello", "a.docx")}
    )
    assert response.status_code == 200
    assert "Excel workbook (.xlsx) or a CSV file" in response.content.decode()
    assert SignalImport.objects.count() == 0


def test_someone_elses_import_is_not_found(english, importer, street_officer, people):
    job = signals.signal_import_start(
        actor=importer,
        uploaded_file=upload(xlsx([(people.head.id_number, "hospital_bill", "2026-05-03")])),
    )
    english.force_login(street_officer)
    assert english.get(reverse("monitoring:signal_import_detail", args=[job.pk])).status_code == 404


def test_api_list_upload_status_and_template(client, api, importer, grid_worker, people, planted):
    as_importer, as_grid = api(importer), api(grid_worker)
    listed = client.get("/api/v1/monitoring/signals?kind=hospital_bill&limit=5", **as_grid)
    assert listed.status_code == 200
    body = listed.json()
    assert body["count"] == 30 and len(body["items"]) == 5
    item = body["items"][0]
    assert item["household_number"] == "H0001" and item["person_name"] == "张*山"
    assert item["kind_label"] == "Hospital bill"
    assert client.get("/api/v1/monitoring/signal-template", **as_grid).status_code == 403
    template = client.get("/api/v1/monitoring/signal-template", **as_importer)
    assert template.status_code == 200 and template["Content-Type"] == XLSX

    content = xlsx(
        [
            (people.head.id_number, "unemployment", "2026-05-03"),
            (people.child.id_number, "school_fee_waiver", "2026-05-04", "800"),
        ]
    )
    created = client.post(
        "/api/v1/monitoring/signal-imports", {"file": upload(content)}, **as_importer
    )
    assert created.status_code == 202, created.content
    job_id = created.json()["id"]
    assert created.json()["state"] == ImportState.QUEUED
    signals.signal_import_run(import_id=job_id)
    status = client.get(f"/api/v1/monitoring/signal-imports/{job_id}", **as_importer).json()
    assert (status["state"], status["loaded"], status["error_count"]) == ("done", 2, 0)
    assert status["percent"] == 100
    refused = client.post(
        "/api/v1/monitoring/signal-imports", {"file": upload(b"\x00\x01", "a.csv")}, **as_importer
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "file"
    missing = client.post("/api/v1/monitoring/signal-imports", {}, **as_importer)
    assert missing.status_code == 422
    assert (
        client.post(
            "/api/v1/monitoring/signal-imports", {"file": upload(content)}, **as_grid
        ).status_code
        == 403
    )


def test_api_status_pages_the_row_errors(client, api, importer, people):
    rows = [(people.head.id_number, "hospital_bill", "2026-05-03", f"-{i}") for i in range(1, 6)]
    job = signals.signal_import_start(actor=importer, uploaded_file=upload(xlsx(rows)))
    signals.signal_import_run(import_id=job.pk)
    status = client.get(
        f"/api/v1/monitoring/signal-imports/{job.pk}?errors_offset=1&errors_limit=2",
        **api(importer),
    ).json()
    assert status["state"] == "rejected" and status["error_count"] == 5
    assert [e["row"] for e in status["errors"]] == [3, 4]
    assert status["errors"][0]["column"].startswith("D")
