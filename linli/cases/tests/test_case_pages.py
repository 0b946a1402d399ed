"""The case page on day one of a street office: steps no one took (the sweep, seeded history),
the whistle and its report-ins, the resident's own reports, photos before and after handling,
grids named with their community, and no inline styles."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from linli.cases import photos, services
from linli.cases.models import Case, CaseEvent, CasePhoto, CaseState, PhotoStage, Tier
from linli.cases.sweep import run_sweep
from linli.core.errors import Conflict
from linli.core.roles import Role
from linli.core.testing.factories import make_user

from .conftest import HERE, loop
from .test_api import as_  # noqa: F401  (the API caller fixture)
from .test_photos import image_bytes

# A Tuesday morning, inside working hours.
NOW = dt.datetime(2026, 3, 3, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
H = dt.timedelta(hours=1)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def page(client, user, case) -> str:
    client.force_login(user)
    response = client.get(
        reverse("cases:detail", args=[case.pk]), headers={"Accept-Language": "en"}
    )
    assert response.status_code == 200
    return response.content.decode()


def photo(name="photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(gps=False), content_type="image/jpeg")


def test_steps_no_one_took_show_as_the_system(client, clock, actors, report):
    case = report()
    # Seeded history writes steps without an actor; so does the overdue sweep.
    CaseEvent.objects.create(
        case=case, action="register", from_state="reported", to_state="reported"
    )
    Case.objects.filter(pk=case.pk).update(stage_warn_at=NOW - 2 * H, stage_deadline=NOW - H)
    run_sweep(NOW)
    html = page(client, actors.grid, case)
    timeline = html[html.index('id="timeline"') :]
    assert timeline.count("<td>System</td>") == 2
    assert "Escalated: Grid → Community" in timeline  # where the sweep sent it


def test_the_whistle_shows_every_department_its_report_in_and_the_escalations(
    client,
    clock,
    actors,
    report,
    taxonomy,
    as_,  # noqa: F811
):
    case = report(code="SJ0304")
    services.case_register(actor=actors.grid, case_id=case.pk)
    for actor in (actors.grid, actors.community, actors.street):
        services.case_escalate(actor=actor, case_id=case.pk, reason="需要上级协调")
    services.case_whistle(
        actor=actors.operator,
        case_id=case.pk,
        kind="coordination",  # report in within 2 working hours
        lead_department_id=taxonomy.dept["CGJ"].pk,
        co_department_ids=[taxonomy.dept["SWJ"].pk, taxonomy.dept["ZJJ"].pk],
    )
    services.case_report_in(actor=actors.swj, case_id=case.pk, note="已到场")
    clock.move_to(NOW + 3 * H)  # the lead and the ZJJ have not reported in
    services.case_report_in(actor=actors.zjj, case_id=case.pk)  # late

    html = page(client, actors.operator, case)
    whistle = html[html.index('id="whistle"') : html.index("</table>", html.index('id="whistle"'))]
    rows = re.findall(r"<tr( class=\"late\")?>\s*(<td.*?)</tr>", whistle, re.S)
    by_department = {re.search(r"<td[^>]*>(.*?)</td>", row).group(1): late for late, row in rows}
    assert by_department == {
        "城市管理局": ' class="late"',
        "水务局": "",
        "住房和城乡建设局": ' class="late"',
    }
    assert "Lead" in rows[0][1] and "Report-in overdue" in rows[0][1]
    assert "Co-handler" in rows[1][1] and "swj1" in rows[1][1] and "2026-03-03 10:00" in rows[1][1]
    timeline = html[html.index('id="timeline"') :]
    assert (
        "Lead department: 城市管理局; co-handling departments: 水务局、住房和城乡建设局" in timeline
    )
    assert "水务局 reported in" in timeline and "住房和城乡建设局 reported in (late)" in timeline
    for path in ("Grid → Community", "Community → Street", "Street → District"):
        assert f"Escalated: {path}" in timeline

    detail = as_(actors.operator).get(f"/{case.pk}").json()
    summons = detail["whistle"]["summons"]
    assert [(s["department"], s["is_lead"], s["late"]) for s in summons] == [
        ("城市管理局", True, True),
        ("水务局", False, False),
        ("住房和城乡建设局", False, True),
    ]
    assert summons[1]["reported_in_by"] == "swj1" and summons[0]["reported_in_at"] is None
    assert as_(actors.operator).get(f"/{report().pk}").json()["whistle"] is None


def test_a_resident_gets_the_case_number_and_follows_it_in_my_reports(client, actors, taxonomy):
    client.force_login(actors.resident)
    data = {
        "category": taxonomy.cat["SJ0101"].pk,
        "description": "路边有一堆垃圾",
        "lat": HERE[0],
        "lng": HERE[1],
        "idempotency_key": "k-mine",
        "photos": [photo()],
    }
    response = client.post(
        reverse("cases:report"), data, headers={"Accept-Language": "en"}, follow=True
    )
    case = Case.objects.get()
    html = response.content.decode()
    assert f"your report was received as case {case.number}" in html
    assert '<dd id="next-step">Waiting to be registered by the grid or community.</dd>' in html
    # The way back leads to the resident's own list, not to the queues they may not open.
    crumb = re.search(r'<div class="crumbs"><a href="([^"]+)">', html).group(1)
    assert crumb == reverse("cases:mine")
    assert client.get(reverse("cases:queue")).status_code == 403
    mine = client.get(crumb, headers={"Accept-Language": "en"}).content.decode()
    assert case.number in mine and "Waiting to be registered" in mine
    assert CasePhoto.objects.get().stage == PhotoStage.BEFORE

    loop(actors, case)
    mine = client.get(crumb, headers={"Accept-Language": "en"}).content.decode()
    assert "Your turn: rate how it was handled." in mine
    other = make_user("resident3", Role.RESIDENT)
    client.force_login(other)
    assert case.number not in client.get(crumb).content.decode()


def test_no_photos_are_added_to_a_closed_case(client, actors, report):
    case = loop(actors, report())
    html = page(client, actors.resident, case)
    assert reverse("cases:photo_add", args=[case.pk]) not in html
    with pytest.raises(Conflict, match="no longer"):
        photos.case_photo_add(actor=actors.resident, case_id=case.pk, upload=photo())
    response = client.post(
        reverse("cases:photo_add", args=[case.pk]),
        {"photos": [photo()]},
        headers={"HX-Request": "true", "HX-Target": "photo-error"},
    )
    assert response.status_code == 409 and response["HX-Retarget"] == "#photo-error"
    assert not CasePhoto.objects.exists()


def test_the_handler_adds_after_photos_with_the_handling_result(client, actors, report):
    case = report()
    photos.case_photos_add(actor=actors.resident, case_id=case.pk, uploads=[photo()])
    services.case_register(actor=actors.grid, case_id=case.pk)
    services.case_dispatch(actor=actors.grid, case_id=case.pk)
    services.case_accept(actor=actors.cgj, case_id=case.pk)
    html = page(client, actors.cgj, case)
    handled_form = html[html.index('value="report_handled"') - 400 :]
    assert 'enctype="multipart/form-data"' in handled_form[:600]
    assert 'name="report_handled-photos"' in html
    response = client.post(
        reverse("cases:act", args=[case.pk]),
        {
            "action": "report_handled",
            "report_handled-evidence": "已清运",
            "report_handled-photos": [photo("a.jpg"), photo("b.jpg")],
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == CaseState.HANDLED
    stages = list(CasePhoto.objects.order_by("id").values_list("stage", "uploaded_by__username"))
    assert stages == [("before", "resident"), ("after", "cgj1"), ("after", "cgj1")]
    # Photos added later, once handled, show the result too.
    photos.case_photos_add(actor=actors.grid, case_id=case.pk, uploads=[photo()])
    assert CasePhoto.objects.latest("id").stage == PhotoStage.AFTER
    html = page(client, actors.cgj, case)
    assert html.index("Before handling") < html.index("After handling")


def test_a_refused_photo_leaves_the_case_as_it_was(client, actors, report):
    case = report()
    services.case_register(actor=actors.grid, case_id=case.pk)
    services.case_dispatch(actor=actors.grid, case_id=case.pk)
    services.case_accept(actor=actors.cgj, case_id=case.pk)
    client.force_login(actors.cgj)
    bad = SimpleUploadedFile("x.jpg", b"not a photo", content_type="image/jpeg")
    response = client.post(
        reverse("cases:act", args=[case.pk]),
        {
            "action": "report_handled",
            "report_handled-evidence": "已清运",
            "report_handled-photos": [bad],
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422
    case.refresh_from_db()
    assert case.state == CaseState.IN_HAND and not CasePhoto.objects.exists()


def test_the_queue_names_each_grid_with_its_community_and_pages_carry_no_inline_style(
    client, actors, report, year
):
    client.force_login(actors.operator)
    queue = client.get(reverse("cases:queue")).content.decode()
    closed = client.get(reverse("cases:queue") + "?queue=closed").content.decode()
    assert "银座社区 › 银座一网格" in queue and "黄河社区 › 黄河一网格" in closed
    case = year["late"]
    Case.objects.filter(pk=case.pk).update(warning=2, tier=Tier.GRID)
    for url in (
        reverse("cases:queue") + "?queue=overdue",
        reverse("cases:detail", args=[case.pk]),
        reverse("cases:map"),
        reverse("cases:statistics") + "?start=2020-01-01&end=2030-12-31&grouping=grid",
    ):
        html = client.get(url).content.decode()
        assert "style=" not in html, url
    assert 'class="tag warn-2"' in client.get(reverse("cases:queue")).content.decode()


def test_the_api_labels_photos_before_or_after(actors, report, as_):  # noqa: F811
    case = report()
    grid = as_(actors.grid)
    shown = grid.upload(f"/{case.pk}/photos", {"file": photo()})
    assert shown.status_code == 201 and shown.json()["stage"] == "before"
    after = grid.upload(f"/{case.pk}/photos", {"file": photo(), "stage": "after"})
    assert after.status_code == 201 and after.json()["stage"] == "after"
    wrong = grid.upload(f"/{case.pk}/photos", {"file": photo(), "stage": "during"})
    assert wrong.status_code == 422 and "stage" in wrong.content.decode()
    stages = [p["stage"] for p in grid.get(f"/{case.pk}").json()["photos"]]
    assert stages == ["before", "after"]


def test_who_registers_cases_makes_one_public_from_its_page(client, actors, report):
    case = report()
    assert "Make public" not in page(client, actors.resident, case)  # the reporter
    assert "Make public" in page(client, actors.grid, case)
    response = client.post(reverse("cases:publish", args=[case.pk]), {"public": "1"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.is_public
    assert "Withdraw from public view" in page(client, actors.grid, case)
    client.post(reverse("cases:publish", args=[case.pk]), {"public": "0"})
    case.refresh_from_db()
    assert not case.is_public


def test_a_handler_cannot_make_a_case_public(client, actors, report):
    case = report()
    services.case_register(actor=actors.grid, case_id=case.pk)
    client.force_login(actors.resident)
    response = client.post(
        reverse("cases:publish", args=[case.pk]), {"public": "1"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 403
    case.refresh_from_db()
    assert not case.is_public
