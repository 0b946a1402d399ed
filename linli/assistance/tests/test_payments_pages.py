"""Payment cycle pages and API: what each role is offered, refusals where pressed, downloads,
uploads with every problem by row."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from linli.assistance import payments
from linli.assistance.models import CycleState, PaymentCycle, PaymentStatus

from .fixtures_payments import *  # noqa: F403  (the fixtures)
from .fixtures_payments import (
    MONTH,
    answer_all,
    make_benefit,
    make_recipient,
    return_csv,
    start_and_generate,
)

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return login


def test_cycles_page_starts_a_cycle_and_refuses_a_duplicate(town, people, as_user):
    client = as_user(people.maker)
    page = client.get(reverse("assistance:cycles"))
    assert page.status_code == 200 and "start-program" in page.content.decode()
    data = {"start-program": "minimum_living", "start-street": town.street.pk,
            "start-month": "2026-03"}  # fmt: skip
    response = client.post(reverse("assistance:cycles"), data)
    cycle = PaymentCycle.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("assistance:cycle_detail", args=[cycle.pk])
    again = client.post(reverse("assistance:cycles"), data)
    assert "already has a cycle" in again.content.decode()
    listed = client.get(reverse("assistance:cycles"), {"state": "generating"})
    assert reverse("assistance:cycle_detail", args=[cycle.pk]) in listed.content.decode()


def test_viewer_sees_no_start_form_and_cannot_post(town, people, as_user):
    client = as_user(people.checker)
    client.force_login(people.viewer)
    page = client.get(reverse("assistance:cycles"))
    assert page.status_code == 200 and "start-program" not in page.content.decode()
    response = client.post(
        reverse("assistance:cycles"),
        {
            "start-program": "minimum_living",
            "start-street": town.street.pk,
            "start-month": "2026-03",
        },
    )
    assert response.status_code == 404
    assert not PaymentCycle.objects.exists()


def test_progress_is_polled_while_generating(town, people, as_user):
    make_benefit(make_recipient(town.building))
    cycle = payments.cycle_start(
        actor=people.maker, program="minimum_living", street_id=town.street.pk, month=MONTH
    )
    client = as_user(people.maker)
    url = reverse("assistance:cycle_detail", args=[cycle.pk])
    body = client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in body and "<progress" in body
    payments.cycle_generate(cycle_id=cycle.pk)
    partial = client.get(url, HTTP_HX_TARGET="cycle-progress", **HTMX)
    assert partial["HX-Refresh"] == "true" and "every 2s" not in partial.content.decode()


def test_approve_is_offered_to_the_checker_only_and_refused_where_pressed(town, people, as_user):
    make_benefit(make_recipient(town.building, name="<script>x</script>"))
    cycle = start_and_generate(people.checker, town.street)  # a checker prepared it
    url = reverse("assistance:cycle_detail", args=[cycle.pk])
    client = as_user(people.checker)
    body = client.get(url).content.decode()
    assert 'value="approve"' not in body and 'id="maker-checker"' in body
    assert "<script>x</script>" not in body and "&lt;script&gt;" in body
    pressed = client.post(
        reverse("assistance:cycle_act", args=[cycle.pk]),
        {"action": "approve"},
        HTTP_HX_TARGET="error-approve",
        **HTMX,
    )
    assert pressed.status_code == 403 and pressed["HX-Retarget"] == "#error-approve"
    assert "another officer must approve it" in pressed.content.decode()

    client.force_login(people.maker)  # a street officer may not approve at all
    assert 'value="approve"' not in client.get(url).content.decode()
    client.force_login(people.checker2)
    body = client.get(url).content.decode()
    assert 'value="approve"' in body and 'id="maker-checker"' not in body
    done = client.post(
        reverse("assistance:cycle_act", args=[cycle.pk]), {"action": "approve"}, **HTMX
    )
    assert done.status_code == 204 and done["HX-Redirect"] == url
    cycle.refresh_from_db()
    assert (cycle.state, cycle.approved_by) == (CycleState.APPROVED, people.checker2)


def test_bank_file_download_and_return_upload_with_problems(town, people, as_user):
    for _ in range(2):
        make_benefit(make_recipient(town.building))
    cycle = start_and_generate(people.maker, town.street)
    payments.cycle_approve(actor=people.checker, cycle_id=cycle.pk)
    client = as_user(people.maker)
    url = reverse("assistance:cycle_detail", args=[cycle.pk])
    assert 'id="bank-file"' in client.get(url).content.decode()
    download = client.post(
        reverse("assistance:cycle_export", args=[cycle.pk]), {"file_format": "csv"}
    )
    assert download.status_code == 200
    assert (
        "attachment" in download["Content-Disposition"]
        and ".csv" in download["Content-Disposition"]
    )
    bank_file = payments.cycle_export(actor=people.maker, cycle_id=cycle.pk, file_format="csv")
    rows = answer_all(bank_file)
    bad = [rows[0], rows[0]]
    refused = client.post(
        reverse("assistance:cycle_return", args=[cycle.pk]),
        {"file": return_csv(bad)},
        HTTP_HX_TARGET="error-return",
        **HTMX,
    )
    body = refused.content.decode()
    assert refused.status_code == 422
    assert 'id="return-problems"' in body and "appears again" in body and "has no row" in body
    detail = client.get(url).content.decode()
    assert "Refused: 2 problems" in detail
    accepted = client.post(
        reverse("assistance:cycle_return", args=[cycle.pk]), {"file": return_csv(rows)}, **HTMX
    )
    assert accepted.status_code == 204
    assert not cycle.payments.filter(status=PaymentStatus.PENDING).exists()


def test_outsider_gets_404_everywhere(town, people, as_user):
    make_benefit(make_recipient(town.building))
    cycle = start_and_generate(people.maker, town.street)
    client = as_user(people.outsider)
    assert client.get(reverse("assistance:cycle_detail", args=[cycle.pk])).status_code == 404
    assert (
        client.post(
            reverse("assistance:cycle_act", args=[cycle.pk]), {"action": "approve"}
        ).status_code
        == 404
    )
    assert client.get(f"/api/v1/assistance/payment-cycles/{cycle.pk}").status_code == 404


# --- API --------------------------------------------------------------------------------------


def test_api_cycle_through_reconciliation(town, people, as_user):
    make_benefit(make_recipient(town.building), amount="812.50")
    make_benefit(make_recipient(town.building, account=None))
    client = as_user(people.maker)
    started = client.post(
        "/api/v1/assistance/payment-cycles",
        {"program": "minimum_living", "street_id": town.street.pk, "month": "2026-03-01"},
        content_type="application/json",
    )
    assert started.status_code == 201, started.content
    cycle_id = started.json()["id"]
    assert started.json()["state"] == "generating"
    payments.cycle_generate(cycle_id=cycle_id)
    detail = client.get(f"/api/v1/assistance/payment-cycles/{cycle_id}").json()
    assert detail["state"] == "review" and detail["actions"] == []
    assert detail["communities"][0]["without_account"] == 1
    listed = client.get(f"/api/v1/assistance/payment-cycles/{cycle_id}/payments").json()
    assert listed["count"] == 2
    assert all("*" in p["account_masked"] or p["account_masked"] == "" for p in listed["items"])
    refused = client.post(f"/api/v1/assistance/payment-cycles/{cycle_id}/approve")
    assert refused.status_code == 403  # a street officer does not approve payments

    client.force_login(people.checker)
    assert client.get(f"/api/v1/assistance/payment-cycles/{cycle_id}").json()["actions"] == [
        "approve"
    ]
    approved = client.post(f"/api/v1/assistance/payment-cycles/{cycle_id}/approve")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"

    client.force_login(people.maker)
    exported = client.post(
        f"/api/v1/assistance/payment-cycles/{cycle_id}/bank-file",
        {"file_format": "csv"},
        content_type="application/json",
    )
    assert exported.status_code == 200
    content = b"".join(exported.streaming_content).decode("utf-8-sig")
    account, name, amount = content.splitlines()[1].split(",")
    bad = client.post(
        f"/api/v1/assistance/payment-cycles/{cycle_id}/return",
        {"file": return_csv([(account, name, "900.00", "成功", "")])},
    )
    assert bad.status_code == 422
    assert any("900.00" in e["message"] for e in bad.json()["errors"])
    good = client.post(
        f"/api/v1/assistance/payment-cycles/{cycle_id}/return",
        {"file": return_csv([(account, name, amount, "成功", "")])},
    )
    assert good.status_code == 200 and good.json()["accepted"]
    assert good.json()["paid"] == 1 and good.json()["failed"] == 1
    missing = client.post(f"/api/v1/assistance/payment-cycles/{cycle_id}/return")
    assert missing.status_code in (409, 422)


def test_api_refuses_bad_input(town, people, as_user):
    client = as_user(people.maker)
    bad_month = client.post(
        "/api/v1/assistance/payment-cycles",
        {"program": "minimum_living", "street_id": town.street.pk, "month": "2026-03-15"},
        content_type="application/json",
    )
    assert bad_month.status_code == 422
    assert bad_month.json()["errors"][0]["field"] == "month"
    unknown = client.post(
        "/api/v1/assistance/payment-cycles",
        {"program": "temporary", "street_id": town.street.pk, "month": "2026-03-01"},
        content_type="application/json",
    )
    assert unknown.status_code == 422
    upload = SimpleUploadedFile("x.csv", b"a,b\n")
    assert (
        client.post("/api/v1/assistance/payment-cycles/999999/return", {"file": upload}).status_code
        == 404
    )
