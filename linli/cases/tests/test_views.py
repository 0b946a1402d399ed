"""Case pages: report with a pin, queues with counts, the case page and its actions."""

from django.urls import reverse

from linli.cases.models import Case, CaseState

from .conftest import HERE, THERE


def test_a_resident_reports_with_the_pin_and_a_resend_counts_once(client, town, actors, taxonomy):
    client.force_login(actors.resident)
    form = client.get(reverse("cases:report")).content.decode()
    assert 'id="map-data"' in form and 'id="id_category"' in form
    data = {
        "category": taxonomy.cat["SJ0101"].pk,
        "description": "路边有一堆垃圾",
        "lat": HERE[0],
        "lng": HERE[1],
        "idempotency_key": "k-1",
    }
    first = client.post(reverse("cases:report"), data)
    again = client.post(reverse("cases:report"), data)
    case = Case.objects.get()
    assert first["Location"] == again["Location"] == reverse("cases:detail", args=[case.pk])
    assert case.reporter == actors.resident and case.grid == town.grid


def test_a_report_without_a_place_or_outside_every_grid_is_refused_inline(client, actors, taxonomy):
    client.force_login(actors.resident)
    data = {"category": taxonomy.cat["SJ0101"].pk, "description": "x", "idempotency_key": "k"}
    body = client.post(reverse("cases:report"), data).content.decode()
    assert 'class="errorlist"' in body or "alert-error" in body
    far = client.post(reverse("cases:report"), {**data, "lat": 10.0, "lng": 10.0})
    assert far.status_code == 200 and not Case.objects.exists()


def test_the_case_page_offers_only_what_the_table_allows_and_actions_work(client, actors, report):
    case = report()
    client.force_login(actors.grid)
    html = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert 'value="register"' in html and 'value="accept"' not in html
    response = client.post(reverse("cases:act", args=[case.pk]), {"action": "register"})
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).state == CaseState.REGISTERED
    wrong = client.post(reverse("cases:act", args=[case.pk]), {"action": "register"})
    assert wrong.status_code == 409
    html = client.get(
        reverse("cases:detail", args=[case.pk]), headers={"Accept-Language": "en"}
    ).content.decode()
    assert "Register → Registered" in html  # the timeline, in words


def test_an_action_with_missing_fields_names_them(client, actors, report):
    case = report()
    client.force_login(actors.grid)
    response = client.post(
        reverse("cases:act", args=[case.pk]),
        {"action": "reject", "reject-reason": ""},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reason"
    assert Case.objects.get(pk=case.pk).state == CaseState.REPORTED


def test_the_neighbours_case_is_a_404_and_queues_are_scoped(client, actors, report):
    mine, theirs = report(), report(point=THERE)
    client.force_login(actors.grid)
    assert client.get(reverse("cases:detail", args=[theirs.pk])).status_code == 404
    html = client.get(reverse("cases:queue")).content.decode()
    assert mine.number in html and theirs.number not in html
    act = client.post(reverse("cases:act", args=[theirs.pk]), {"action": "register"})
    assert act.status_code == 404


def test_queue_counts_for_the_command_centre(client, actors, report):
    report(), report(point=THERE)
    client.force_login(actors.operator)
    html = client.get(reverse("cases:queue")).content.decode()
    assert "<b>2</b>" in html


def test_a_duplicate_is_merged_on_its_page_by_the_other_case_number(client, actors, report):
    first = report()
    second = report(description="同一堆垃圾")
    client.force_login(actors.grid)
    act = reverse("cases:act", args=[second.pk])
    missing = client.post(
        act, {"action": "merge", "merge-into_number": "19990101000000"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert missing.status_code == 422
    assert "No case with this number in your jurisdiction." in missing.content.decode()
    merged = client.post(act, {"action": "merge", "merge-into_number": f" {first.number} "})
    assert merged.status_code == 302
    second.refresh_from_db()
    assert (second.state, second.merged_into_id) == (CaseState.CLOSED_OTHER, first.pk)
