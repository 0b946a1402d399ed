"""Application pages: the queue with filters and warnings, the application with its actions
(refusals shown where pressed), the staff's entry form, the resident's own form, the public
notice (no login, names masked, no ID numbers), the workbench's counts."""

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from linli.assistance.models import Application, InvestigationVisit
from linli.core.workbench import provider_of

from .fixtures_applications import *  # noqa: F403  (the fixtures)
from .fixtures_applications import MONDAY, act, investigate, submit

pytestmark = pytest.mark.usefixtures("clock", "policy")
HTMX = {"HX-Request": "true"}


def client_for(user) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def test_the_queue_shows_what_waits_with_warnings(staff, homes, clock):
    late = submit(staff.community, homes.poor)
    act(staff.street, late, "accept")
    submit(staff.community, homes.marginal, program="marginal")
    clock.move_to(MONDAY + dt.timedelta(days=2))  # Wednesday: the investigation due tomorrow
    page = client_for(staff.community).get(reverse("assistance:applications"))
    assert page.status_code == 200
    html = page.content.decode()
    assert homes.poor.number in html and "warn-1" in html
    clock.move_to(MONDAY + dt.timedelta(days=4))  # Friday: overdue
    html = client_for(staff.community).get(reverse("assistance:applications")).content.decode()
    assert "warn-2" in html
    # The street's queue "to accept" holds the marginal one only.
    html = (
        client_for(staff.street)
        .get(reverse("assistance:applications"), {"queue": "to_accept"})
        .content.decode()
    )
    assert homes.marginal.number in html and homes.poor.number not in html
    html = (
        client_for(staff.street)
        .get(reverse("assistance:applications"), {"queue": "", "q": homes.poor.number})
        .content.decode()
    )
    assert homes.poor.number in html and homes.marginal.number not in html
    # Filters that make no sense are ignored, not a crash.
    bad = client_for(staff.street).get(
        reverse("assistance:applications"), {"queue": "x", "place": "abc", "page": "-3"}
    )
    assert bad.status_code == 200


def test_the_detail_offers_the_actions_and_shows_refusals_where_pressed(staff, homes, clock):
    application = submit(staff.community, homes.poor)
    url = reverse("assistance:application_detail", args=[application.pk])
    html = client_for(staff.street).get(url).content.decode()
    assert 'name="action" value="accept"' in html
    assert 'value="approve"' not in html
    assert "hx-confirm" in html  # withdrawal asks first
    act_url = reverse("assistance:application_act", args=[application.pk])
    answer = client_for(staff.street).post(act_url, {"action": "accept"}, headers=HTMX)
    assert answer.status_code == 204 and answer["HX-Redirect"] == url
    # Pressed twice (a second tab): the refusal goes into that action's own box.
    answer = client_for(staff.street).post(
        act_url, {"action": "accept"}, headers={**HTMX, "HX-Target": "error-accept"}
    )
    assert answer.status_code == 409 and answer["HX-Retarget"] == "#error-accept"
    assert "not possible now" in answer.content.decode()
    # A missing field of the form is named.
    answer = client_for(staff.community).post(
        act_url,
        {"action": "investigate", "investigate-visited_on": "2026-03-02"},
        headers={**HTMX, "HX-Target": "error-investigate"},
    )
    assert answer.status_code == 422


def test_the_investigation_with_photos_from_the_page(staff, homes):
    application = submit(staff.community, homes.poor)
    act(staff.street, application, "accept")
    out = io.BytesIO()
    Image.new("RGB", (30, 20), (0, 128, 0)).save(out, "PNG")
    answer = client_for(staff.community).post(
        reverse("assistance:application_act", args=[application.pk]),
        {
            "action": "investigate",
            "investigate-visited_on": "2026-03-02",
            "investigate-visitors": "李四",
            "investigate-findings": "<b>家中</b>困难",
            "investigate-photos": [SimpleUploadedFile("p.png", out.getvalue(), "image/png")],
        },
    )
    assert answer.status_code == 302
    visit = InvestigationVisit.objects.get(application=application)
    assert len(visit.photos) == 1
    detail = client_for(staff.street).get(
        reverse("assistance:application_detail", args=[application.pk])
    )
    html = detail.content.decode()
    assert "&lt;b&gt;家中&lt;/b&gt;困难" in html  # text, not markup
    photo_url = reverse("assistance:visit_photo", args=[application.pk, visit.pk, 1])
    assert photo_url in html
    assert client_for(staff.street).get(photo_url)["Content-Type"] == "image/png"
    assert client_for(staff.other_street).get(photo_url).status_code == 404


def test_the_rejection_page_gives_the_trace_as_the_reason(staff, homes, clock):
    application = submit(staff.community, homes.rich)
    act(staff.street, application, "accept")
    investigate(staff.community, application)
    act(staff.street, application, "start_notice")
    clock.move_to(MONDAY + dt.timedelta(days=7))
    act(staff.street, application, "end_notice")
    act(staff.bureau, application, "reject")
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(staff.auditor)
    html = client.get(
        reverse("assistance:application_detail", args=[application.pk])
    ).content.decode()
    assert "Why the application was rejected" in html
    assert "Not eligible" in html
    assert 'id="history"' in html


def test_staff_enter_an_application_by_household_number(staff, homes):
    client = client_for(staff.grid)
    url = reverse("assistance:application_new")
    page = client.get(url, {"household_number": homes.poor.number})
    assert page.status_code == 200 and "张大山" in page.content.decode()
    assert "No such household" in client.get(url, {"household_number": "NOPE"}).content.decode()
    answer = client.post(
        url,
        {
            "household_number": homes.poor.number,
            "program": "minimum_living",
            "channel": "grid_worker",
            "consent_note": "",
        },
    )
    assert answer.status_code == 200 and "consented" in answer.content.decode()
    answer = client.post(
        url,
        {
            "household_number": homes.poor.number,
            "program": "minimum_living",
            "channel": "grid_worker",
            "consent_note": "本人签字同意",
        },
    )
    assert answer.status_code == 302
    application = Application.objects.get()
    assert application.proxy_id == staff.grid.pk


def test_a_resident_applies_online_and_follows_it(staff, homes):
    client = client_for(staff.resident)
    answer = client.post(reverse("assistance:apply"), {"program": "minimum_living"})
    assert answer.status_code == 302
    application = Application.objects.get()
    assert application.channel == "online"
    html = client.get(reverse("assistance:apply")).content.decode()
    assert "Minimum living guarantee" in html
    # The queue is for staff; the resident sees their own application and may withdraw it.
    assert client.get(reverse("assistance:applications")).status_code == 403
    html = client.get(
        reverse("assistance:application_detail", args=[application.pk])
    ).content.decode()
    assert 'value="withdraw"' in html and 'id="history"' not in html
    # Applying twice: the constraint's message on the form.
    answer = client.post(reverse("assistance:apply"), {"program": "minimum_living"})
    assert "already has an open application" in answer.content.decode()
    # Staff pages are not theirs.
    assert client.get(reverse("assistance:application_new")).status_code == 404


def test_the_public_notice_needs_no_login_and_masks_names(staff, homes, town):
    application = submit(staff.community, homes.poor)
    act(staff.street, application, "accept")
    investigate(staff.community, application)
    act(staff.street, application, "start_notice")
    not_yet = submit(staff.community, homes.alone, program="extreme_poverty")
    html = Client().get(reverse("assistance:notice", args=[town.community.pk])).content.decode()
    head = homes.poor_members[0]
    assert "张*山" in html
    assert head.name not in html
    assert head.id_number not in html and head.id_number[-4:] not in html
    assert homes.poor.number not in html and homes.poor.address not in html
    assert "赵*汉" not in html and not_yet.household.number not in html  # not in notice
    # The other community's page lists none; a place that is not a community is not found.
    html = (
        Client().get(reverse("assistance:notice", args=[town.other_community.pk])).content.decode()
    )
    assert "张*山" not in html
    assert Client().get(reverse("assistance:notice", args=[town.street.pk])).status_code == 404
    assert Client().get("/assistance/notice/99999999999999999999/").status_code == 404


def test_the_workbench_counts_what_waits(staff, homes, clock):
    application = submit(staff.community, homes.poor)
    provider = provider_of("assistance.to_accept")
    street = {c.key: c.count for c in provider.todos(staff.street)}
    assert street["assistance.to_accept"] == 1
    assert "assistance.to_decide" in street
    community = {c.key: c.count for c in provider.todos(staff.community)}
    assert "assistance.to_accept" not in community
    assert {c.key: c.count for c in provider.started(staff.community)} == {"assistance.entered": 1}
    act(staff.street, application, "accept")
    clock.move_to(MONDAY + dt.timedelta(days=4))
    community = {c.key: c.count for c in provider.todos(staff.community)}
    assert community["assistance.overdue"] == 1
    listing = provider.listing(staff.community, "assistance.overdue")
    row = listing.row(listing.queryset.get())
    assert row.warning == 2 and homes.poor.number in row.title
    figures = provider.figures(staff.street, 0, staff.street.scope_paths[0])
    assert [f.value for f in figures] == [0, 1, 1]  # recipients, open, overdue
    assert provider.todos(staff.resident) == []
    assert provider.started(staff.resident)[0].count == 1  # their household's
