"""Login, the home page of each role, display mode and the audit log page."""

import datetime as dt

from django.urls import reverse

from linli.core.roles import Role
from linli.core.testing.factories import make_user


def test_login_then_home_shows_the_jurisdiction(client, town, people):
    user = make_user("gw2", Role.GRID_WORKER, [town.grid])
    user.set_password("a-long-password")
    user.save()
    response = client.post(
        reverse("login"), {"username": "gw2", "password": "a-long-password"}, follow=True
    )
    html = response.content.decode()
    assert response.status_code == 200 and town.grid.name in html
    assert people.other_household.number not in html


def test_wrong_password_is_a_clear_refusal(client, town):
    make_user("gw3", Role.GRID_WORKER, [town.grid])
    response = client.post(reverse("login"), {"username": "gw3", "password": "nope"})
    assert response.status_code == 200 and 'role="alert"' in response.content.decode()


def test_each_role_gets_a_menu_of_what_it_may_do(client, grid_worker, auditor, town):
    client.force_login(grid_worker)
    html = client.get(reverse("home")).content.decode()
    assert reverse("people:persons") in html and reverse("audit") not in html
    client.force_login(auditor)
    html = client.get(reverse("home")).content.decode()
    assert reverse("audit") in html


def test_resident_home_shows_their_household_masked(client, town, people):
    resident = make_user("res", Role.RESIDENT, [])
    people.head.account = resident
    people.head.save()
    client.force_login(resident)
    html = client.get(reverse("home")).content.decode()
    assert people.child.name in html and people.child.id_masked in html
    assert people.child.id_number not in html and people.other_head.name not in html


def test_elder_mode_and_language_switch(client, grid_worker):
    client.force_login(grid_worker)
    client.post(reverse("elder_mode"), {"next": "/"})
    assert 'class="elder"' in client.get(reverse("home")).content.decode()
    assert client.post(reverse("elder_mode"), {"next": "https://evil.example/"})["Location"] == "/"
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "Log out" in client.get(reverse("home")).content.decode()


def test_audit_page_searches_within_the_jurisdiction(client, auditor, street_officer, people):
    client.force_login(auditor)
    html = client.get(reverse("audit")).content.decode()
    assert '<span class="muted">人员</span>' in html  # the record type, by name
    today = dt.date.today().isoformat()
    body = client.post(
        reverse("audit"),
        {"object_type": "people.household", "date_from": today},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert '<span class="muted">住户</span>' in body
    assert '<span class="muted">人员</span>' not in body
    bad = client.post(reverse("audit"), {"date_from": "2026-02-02", "date_to": "2026-01-01"})
    assert 'id="id_date_to_errors"' in bad.content.decode()
    client.force_login(street_officer)
    assert client.get(reverse("audit")).status_code == 403
