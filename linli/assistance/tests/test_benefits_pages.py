"""Benefit pages and API: the recipients list (searched by POST, names masked, Excel), the
benefit page offering exactly what the service accepts with refusals where pressed, the review
queue with overdue in red, and the API's reads, actions, reviews and repayments."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from linli.assistance import benefits
from linli.assistance.models import Benefit, BenefitStatus, Recovery, Review, ReviewKind
from linli.core.models import AuditEntry
from linli.core.services import api_token_issue

from .fixtures_benefits import *  # noqa: F403  (the fixtures)

pytestmark = pytest.mark.django_db
API = "/api/v1/assistance"
EN = {"Accept-Language": "en"}


def page(client, user, url, **kwargs):
    client.force_login(user)
    return client.get(url, headers=EN, **kwargs)


# --- recipients --------------------------------------------------------------------------------


def test_recipients_list_is_scoped_masked_and_searched_by_post(client, home, staff):
    html = page(client, staff.street, reverse("assistance:benefits")).content.decode()
    assert home.household.number in html and home.other_household.number not in html
    assert home.head.name not in html  # masked
    assert home.head.name[0] + "*" in html
    found = client.post(
        reverse("assistance:benefits"),
        {"search": home.head.name[:2], "status": "running"},
        headers={"HX-Request": "true", **EN},
    )
    body = found.content.decode()
    assert found.status_code == 200 and body.startswith('<div id="results">')
    assert home.household.number in body
    none = client.post(reverse("assistance:benefits"), {"search": "不存在", "status": ""})
    assert home.household.number not in none.content.decode()


def test_recipients_export_is_masked_and_logged(client, home, staff):
    client.force_login(staff.bureau)
    response = client.post(reverse("assistance:benefits_export"), {"status": "running"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 3  # heading and both streets' benefits (the bureau sees the district)
    assert home.head.name not in {cell for row in rows for cell in row}
    entry = AuditEntry.objects.get(action="export", object_type="assistance.benefit")
    assert entry.changes["rows"] == 2


def test_pages_need_the_view_permission(client, home, staff):
    assert page(client, staff.resident, reverse("assistance:benefits")).status_code == 403
    assert page(client, staff.resident, reverse("assistance:reviews")).status_code == 403
    client.logout()
    assert client.get(reverse("assistance:benefits")).status_code == 302


# --- the benefit page --------------------------------------------------------------------------


def test_benefit_page_offers_the_street_its_actions_and_the_grid_none(client, home, staff):
    url = reverse("assistance:benefit_detail", args=[home.benefit.pk])
    html = page(client, staff.street, url).content.decode()
    assert 'value="suspend"' in html and 'value="stop"' in html and 'value="resume"' not in html
    assert "hx-confirm=" in html  # stopping asks first
    assert "1600.00" in html
    grid = page(client, staff.grid, url).content.decode()
    assert 'value="suspend"' not in grid and "1600.00" in grid


def test_actions_on_the_page_and_refusals_where_pressed(client, home, staff):
    client.force_login(staff.street)
    act = reverse("assistance:benefit_act", args=[home.benefit.pk])
    done = client.post(act, {"action": "suspend", "suspend-reason": "外出"})
    assert done.status_code == 302
    assert Benefit.objects.get(pk=home.benefit.pk).status == BenefitStatus.SUSPENDED
    again = client.post(
        act,
        {"action": "suspend", "suspend-reason": "再次"},
        headers={"HX-Request": "true", "HX-Target": "error-suspend", **EN},
    )
    assert again.status_code == 409
    assert "not possible now" in again.content.decode()
    missing = client.post(
        act, {"action": "stop", "stop-reason": ""}, headers={"Accept": "application/json"}
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "reason"
    unknown = client.post(act, {"action": "delete"})
    assert unknown.status_code == 404
    hx = client.post(act, {"action": "stop", "stop-reason": "迁出"}, headers={"HX-Request": "true"})
    assert hx.status_code == 204 and hx["HX-Redirect"].endswith(f"/{home.benefit.pk}/")


def test_the_grid_is_refused_and_the_neighbour_gets_404(client, home, staff):
    act = reverse("assistance:benefit_act", args=[home.benefit.pk])
    client.force_login(staff.grid)
    assert client.post(act, {"action": "stop", "stop-reason": "x"}).status_code == 403
    client.force_login(staff.neighbour)
    url = reverse("assistance:benefit_detail", args=[home.benefit.pk])
    assert client.get(url).status_code == 404
    assert client.post(act, {"action": "stop", "stop-reason": "x"}).status_code == 404
    assert Benefit.objects.get(pk=home.benefit.pk).status == BenefitStatus.ACTIVE


def test_reviews_are_completed_and_repayments_recorded_on_the_page(client, home, staff):
    review = Review.objects.create(
        benefit=home.benefit, kind=ReviewKind.PERIODIC, due_on=dt.date(2026, 3, 1)
    )
    recovery = Recovery.objects.create(benefit=home.benefit, amount=Decimal("300"), reason="多发")
    benefits.mark_overdue_reviews()
    url = reverse("assistance:benefit_detail", args=[home.benefit.pk])
    html = page(client, staff.street, url).content.decode()
    assert f'id="review-{review.pk}" class="late"' in html
    assert "warn-2" in html
    complete = reverse("assistance:review_complete", args=[review.pk])
    response = client.post(complete, {f"r{review.pk}-outcome": "unchanged",
                                      f"r{review.pk}-note": "<b>入户</b>"})  # fmt: skip
    assert response.status_code == 302
    html = page(client, staff.street, url).content.decode()
    assert "&lt;b&gt;入户&lt;/b&gt;" in html  # markup shown as text
    repay = reverse("assistance:recovery_repay", args=[recovery.pk])
    too_much = client.post(
        repay, {f"p{recovery.pk}-amount": "300.01"},
        headers={"HX-Request": "true", "HX-Target": f"error-recovery-{recovery.pk}", **EN},
    )  # fmt: skip
    assert too_much.status_code == 422 and "still owed" in too_much.content.decode()
    assert client.post(repay, {f"p{recovery.pk}-amount": "300"}).status_code == 302
    recovery.refresh_from_db()
    assert recovery.recovered == recovery.amount


def test_review_queue_shows_overdue_red_within_the_jurisdiction(client, home, staff):
    Review.objects.create(benefit=home.benefit, kind=ReviewKind.DEATH, due_on=dt.date(2026, 3, 1))
    Review.objects.create(
        benefit=home.other_benefit, kind=ReviewKind.PERIODIC, due_on=dt.date(2026, 3, 1)
    )
    benefits.mark_overdue_reviews()
    html = page(client, staff.community, reverse("assistance:reviews") + "?queue=overdue")
    body = html.content.decode()
    assert home.household.number in body and home.other_household.number not in body
    assert 'class="late"' in body and "<b>1</b>" in body


# --- API ---------------------------------------------------------------------------------------


class Caller:
    def __init__(self, user):
        _, key = api_token_issue(actor=None, user=user, name="test")
        self.headers = {"Authorization": f"Bearer {key}", **EN}
        self.client = Client()

    def get(self, path, data=None):
        return self.client.get(API + path, data or {}, headers=self.headers)

    def post(self, path, body=None):
        return self.client.post(
            API + path, body or {}, content_type="application/json", headers=self.headers
        )


def test_api_lists_details_and_acts(home, staff):
    street = Caller(staff.street)
    listed = street.get("/benefits", {"status": "running"}).json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == home.benefit.pk
    assert listed["items"][0]["recipient_masked"] != home.head.name
    found = street.post("/benefits/search", {"search": home.household.number}).json()
    assert found["count"] == 1
    detail = street.get(f"/benefits/{home.benefit.pk}").json()
    assert detail["actions"] == ["suspend", "stop", "change_amount"]
    assert detail["monthly_amount"] == "1600.00"
    suspended = street.post(f"/benefits/{home.benefit.pk}/suspend", {"reason": "外出"})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    wrong = street.post(f"/benefits/{home.benefit.pk}/suspend", {"reason": "外出"})
    assert wrong.status_code == 409 and wrong.json()["code"] == "wrong_status"
    long = street.post(f"/benefits/{home.benefit.pk}/stop", {"reason": "x" * 201})
    assert long.status_code == 422
    assert street.post(f"/benefits/{home.benefit.pk}/stop", {"reason": "迁出"}).status_code == 200


def test_api_refusals_and_the_jurisdiction(home, staff):
    grid, neighbour = Caller(staff.grid), Caller(staff.neighbour)
    assert grid.get(f"/benefits/{home.benefit.pk}").json()["actions"] == []
    assert grid.post(f"/benefits/{home.benefit.pk}/stop", {"reason": "x"}).status_code == 403
    assert neighbour.get(f"/benefits/{home.benefit.pk}").status_code == 404
    refused = neighbour.post(f"/benefits/{home.benefit.pk}/stop", {"reason": "x"})
    assert refused.status_code == 404
    assert neighbour.get("/benefits").json()["count"] == 1
    assert Caller(staff.resident).get("/benefits").json()["count"] == 0
    assert grid.get("/benefits/99999999").status_code == 404
    assert grid.get("/benefits", {"status": "nonsense"}).status_code == 422


def test_api_reviews_and_recoveries(home, staff):
    review = Review.objects.create(
        benefit=home.benefit, kind=ReviewKind.PERIODIC, due_on=dt.date(2026, 3, 1)
    )
    recovery = Recovery.objects.create(benefit=home.benefit, amount=Decimal("300"), reason="多发")
    benefits.mark_overdue_reviews()
    community, street = Caller(staff.community), Caller(staff.street)
    queue = community.get("/reviews", {"queue": "overdue"}).json()
    assert queue["count"] == 1 and queue["items"][0]["overdue"] is True
    refused = community.post(f"/reviews/{review.pk}/complete", {"outcome": "stopped", "note": "x"})
    assert refused.status_code == 403
    bad = community.post(f"/reviews/{review.pk}/complete", {"outcome": "nonsense"})
    assert bad.status_code == 422
    done = community.post(f"/reviews/{review.pk}/complete", {"outcome": "unchanged"})
    assert done.status_code == 200 and done.json()["state"] == "done"
    assert (
        Caller(staff.neighbour)
        .post(f"/reviews/{review.pk}/complete", {"outcome": "unchanged"})
        .status_code
        == 404
    )
    assert street.get("/recoveries", {"open": True}).json()["count"] == 1
    over = street.post(f"/recoveries/{recovery.pk}/repay", {"amount": "300.01"})
    assert over.status_code == 422 and over.json()["errors"][0]["field"] == "amount"
    fen = street.post(f"/recoveries/{recovery.pk}/repay", {"amount": "1.001"})
    assert fen.status_code == 422
    paid = street.post(f"/recoveries/{recovery.pk}/repay", {"amount": "300"})
    assert paid.status_code == 200 and paid.json()["outstanding"] == "0.00"
    assert street.get("/recoveries", {"open": True}).json()["count"] == 0
    assert (
        Caller(staff.grid).post(f"/recoveries/{recovery.pk}/repay", {"amount": "1"}).status_code
        == 403
    )


def test_every_benefits_route_answers_404_for_the_neighbours_records(client, home, staff):
    """The scope walk of core, for this area's routes (targets: benefit_id, review_id,
    recovery_id of the neighbouring street)."""
    review = Review.objects.create(
        benefit=home.other_benefit, kind=ReviewKind.PERIODIC, due_on=dt.date(2026, 4, 1)
    )
    recovery = Recovery.objects.create(benefit=home.other_benefit, amount=Decimal("9"), reason="x")
    ids = {"benefit_id": home.other_benefit.pk, "review_id": review.pk,
           "recovery_id": recovery.pk}  # fmt: skip
    from linli.assistance.pages.benefits import urlpatterns

    client.force_login(staff.street)
    for pattern in urlpatterns:
        route = str(pattern.pattern)
        if "<" not in route:
            continue
        url = "/assistance/" + route
        for name, value in ids.items():
            url = url.replace(f"<int:{name}>", str(value))
        for method in (client.get, client.post):
            assert method(url).status_code in (404, 405), url
    caller = Caller(staff.street)
    for path, body in (
        (f"/benefits/{home.other_benefit.pk}", None),
        (f"/benefits/{home.other_benefit.pk}/suspend", {"reason": "x"}),
        (f"/benefits/{home.other_benefit.pk}/resume", {"reason": "x"}),
        (f"/benefits/{home.other_benefit.pk}/stop", {"reason": "x"}),
        (f"/benefits/{home.other_benefit.pk}/reassess", {"reason": "x"}),
        (f"/reviews/{review.pk}/complete", {"outcome": "unchanged"}),
        (f"/recoveries/{recovery.pk}/repay", {"amount": "1"}),
    ):
        response = caller.get(path) if body is None else caller.post(path, body)
        assert response.status_code == 404, path
    assert Benefit.objects.get(pk=home.other_benefit.pk).status == BenefitStatus.ACTIVE
    assert not Review.objects.filter(state="done").exists()


def test_the_decisions_trace_is_read_on_the_benefit_page(client, home, staff, policy, town):
    from .fixtures_benefits import make_benefit, make_household

    household, (person, _child) = make_household(town.building)
    benefit = make_benefit(household, person, policy, credit_route=True)
    found = benefits.benefit_reassessment(actor=staff.street, benefit_id=benefit.pk)
    benefit.application.assessment = found.assessment.as_json()
    benefit.application.save()
    html = page(client, staff.street, reverse("assistance:benefit_detail", args=[benefit.pk]))
    body = html.content.decode()
    assert 'id="trace"' in body and "Members counted: 2." in body
    api = Caller(staff.street).get(f"/benefits/{benefit.pk}").json()
    assert "Members counted: 2." in api["decision_trace"]
