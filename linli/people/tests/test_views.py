"""Registry pages: lists, search by POST, details, forms with inline errors, the full view."""

import datetime as dt

import pytest
from django.urls import reverse

from linli.core.models import AuditAction, AuditEntry
from linli.core.testing.factories import make_id_number
from linli.people.models import FinancialRecord, Household, Person


def test_person_list_masks_personal_data_and_hides_the_neighbour(client, grid_worker, people):
    client.force_login(grid_worker)
    html = client.get(reverse("people:persons")).content.decode()
    assert people.head.name in html
    assert people.other_head.name not in html
    assert people.head.id_number not in html
    assert people.head.id_masked in html
    assert "138****8000" in html and "13800138000" not in html


def test_person_search_is_posted_and_filters_by_name_id_ending_and_tag(client, admin, people):
    client.force_login(admin)
    url = reverse("people:persons")
    by_name = client.post(url, {"name": "李", "status": "active"}, headers={"HX-Request": "true"})
    body = by_name.content.decode()
    assert people.other_head.name in body and people.head.name not in body
    assert "<html" not in body  # htmx gets only the results

    ending = people.child.id_number[-6:]
    body = client.post(url, {"id_ending": ending, "status": "active"}).content.decode()
    assert people.child.name in body and people.head.name not in body

    body = client.post(url, {"tag": "elderly", "status": "active"}).content.decode()
    assert people.head.name in body and people.child.name not in body


def test_person_search_rejects_a_malformed_id_ending_with_a_message(client, admin, people):
    client.force_login(admin)
    body = client.post(reverse("people:persons"), {"id_ending": "12ab"}).content.decode()
    assert "Digits only" in body or "只能" in body
    assert people.head.name not in body


def test_person_list_paginates(client, admin, town, people):
    from linli.people import services

    for i in range(55):
        services.person_create(
            actor=admin,
            household_id=people.household.id,
            relation="other",
            name=f"王{i:02d}",
            id_number=make_id_number(birth=dt.date(1990, 1, 1) + dt.timedelta(days=i)),
        )
    client.force_login(admin)
    url = reverse("people:persons")
    first = client.post(url, {"name": "王", "status": "active"}).content.decode()
    assert "王00" in first and "王50" not in first
    second = client.post(url, {"name": "王", "status": "active", "page": "2"}).content.decode()
    assert "王50" in second and "王00" not in second


def test_person_list_query_count_is_pinned(client, admin, people, django_assert_max_num_queries):
    client.force_login(admin)
    with django_assert_max_num_queries(12):
        client.post(reverse("people:persons"), {"name": "张", "status": "active"})


def test_person_detail_is_masked_until_revealed_and_the_reveal_is_logged(
    client, grid_worker, people
):
    client.force_login(grid_worker)
    url = reverse("people:person_detail", args=[people.head.id])
    html = client.get(url).content.decode()
    assert people.head.id_number not in html and people.head.id_masked in html
    assert people.child.name in html  # household member
    before = AuditEntry.objects.filter(action=AuditAction.REVEAL).count()
    revealed = client.post(reverse("people:person_reveal", args=[people.head.id])).content.decode()
    assert people.head.id_number in revealed and "13800138000" in revealed
    entry = AuditEntry.objects.filter(action=AuditAction.REVEAL).latest("id")
    assert AuditEntry.objects.filter(action=AuditAction.REVEAL).count() == before + 1
    assert entry.actor == grid_worker and entry.object_id == str(people.head.id)


def test_reveal_needs_the_role(client, auditor, people):
    client.force_login(auditor)  # auditors read the log, they do not open ID numbers
    response = client.post(reverse("people:person_reveal", args=[people.head.id]))
    assert response.status_code == 403
    assert people.head.id_number not in response.content.decode()


def test_person_detail_query_count_is_pinned(client, admin, people, django_assert_max_num_queries):
    client.force_login(admin)
    with django_assert_max_num_queries(14):
        assert client.get(reverse("people:person_detail", args=[people.head.id])).status_code == 200


def test_person_edit_shows_errors_inline_and_keeps_the_record(client, grid_worker, people):
    client.force_login(grid_worker)
    url = reverse("people:person_edit", args=[people.child.id])
    form = client.get(url).content.decode()
    assert people.child.id_number not in form and "13800138000" not in form
    bad = people.child.id_number[:-1] + ("0" if people.child.id_number[-1] != "0" else "1")
    response = client.post(
        url,
        {"relation": "child", "name": "张小川", "id_number": bad, "phone": "12345"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="id_id_number_errors"' in body and 'id="id_phone_errors"' in body
    person = Person.objects.get(pk=people.child.pk)
    assert person.id_number == people.child.id_number and person.phone == ""


def test_person_edit_saves_keeps_unchanged_id_and_redirects(client, grid_worker, people):
    client.force_login(grid_worker)
    url = reverse("people:person_edit", args=[people.head.id])
    response = client.post(
        url,
        {"relation": "head", "name": "张大山", "id_number": "", "phone": "", "veteran": "on"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("people:person_detail", args=[people.head.id])
    person = Person.objects.get(pk=people.head.pk)
    assert person.veteran and person.id_number == people.head.id_number
    assert person.phone == "13800138000"  # empty means keep
    assert AuditEntry.objects.for_object(person).filter(action="update").exists()


def test_new_member_with_a_duplicate_id_is_refused_on_the_field(client, grid_worker, people):
    client.force_login(grid_worker)
    url = reverse("people:person_new", args=[people.household.id])
    count = Person.objects.count()
    body = client.post(
        url, {"relation": "spouse", "name": "王芳", "id_number": people.head.id_number}
    ).content.decode()
    assert 'id="id_id_number_errors"' in body
    assert Person.objects.count() == count


def test_new_member_is_created(client, grid_worker, people):
    client.force_login(grid_worker)
    number = make_id_number(birth=dt.date(1952, 2, 2), sex="F")
    response = client.post(
        reverse("people:person_new", args=[people.household.id]),
        {"relation": "spouse", "name": "王芳", "id_number": number, "phone": "0546-8221234"},
    )
    person = Person.objects.get(id_number=number)
    assert response.status_code == 302 and person.household == people.household
    assert person.birth_date == dt.date(1952, 2, 2) and person.sex == "F"


def test_id_check_reads_birth_date_or_names_the_problem(client, grid_worker, people):
    client.force_login(grid_worker)
    url = reverse("people:check_id_number")
    good = make_id_number(birth=dt.date(1948, 8, 8))
    assert "1948-08-08" in client.post(url, {"id_number": good}).content.decode()
    bad = client.post(url, {"id_number": good[:-1] + ("1" if good[-1] != "1" else "2")})
    assert 'class="errorlist"' in bad.content.decode()


def test_status_change_and_finance_records_from_the_detail_page(client, grid_worker, people):
    client.force_login(grid_worker)
    response = client.post(
        reverse("people:finance_new", args=[people.head.id]),
        {
            "category": "income",
            "kind": "transfer",
            "amount": "1234.56",
            "valid_from": "2026-01-01",
        },
    )
    assert response.status_code == 302
    record = FinancialRecord.objects.get(person=people.head)
    assert str(record.amount) == "1234.56"
    refused = client.post(reverse("people:finance_void", args=[record.id]), {"reason": " "})
    assert refused.status_code == 422
    client.post(reverse("people:finance_void", args=[record.id]), {"reason": "录入错误"})
    record.refresh_from_db()
    assert record.voided_at is not None and record.void_reason == "录入错误"
    detail = client.get(reverse("people:person_detail", args=[people.head.id])).content.decode()
    assert '<span class="muted">作废原因</span>' in detail  # the record's history is shown
    client.post(reverse("people:person_status", args=[people.child.id]), {"status": "moved_out"})
    assert Person.objects.get(pk=people.child.pk).status == "moved_out"


def test_finance_form_errors_come_back_inline(client, grid_worker, people):
    client.force_login(grid_worker)
    body = client.post(
        reverse("people:finance_new", args=[people.head.id]),
        {"category": "asset", "kind": "wage", "amount": "-5", "valid_from": "2026-13-01"},
    ).content.decode()
    assert 'id="id_amount_errors"' in body and 'id="id_valid_from_errors"' in body
    assert not FinancialRecord.objects.filter(person=people.head).exists()


def test_household_pages_create_edit_and_show_history(client, grid_worker, town, people):
    client.force_login(grid_worker)
    new = reverse("people:household_new")
    form = client.get(new).content.decode()
    assert town.building.code in form and town.other_building.code not in form
    refused = client.post(
        new,
        {
            "number": "H9",
            "address": "x",
            "registration": "urban",
            "building": town.other_building.id,
        },
    )
    assert refused.status_code == 200 and not Household.objects.filter(number="H9").exists()
    client.post(
        new,
        {
            "number": "H9",
            "address": "和平路 9 号",
            "registration": "rural",
            "building": town.building.id,
        },
    )
    household = Household.objects.get(number="H9")
    client.post(
        reverse("people:household_edit", args=[household.id]),
        {"address": "和平路 10 号", "registration": "rural", "building": town.building.id},
    )
    html = client.get(reverse("people:household_detail", args=[household.id])).content.decode()
    assert "和平路 10 号" in html and "和平路 9 号" in html  # the history shows the change


@pytest.mark.parametrize("name", ["people:persons", "people:households", "people:household_new"])
def test_pages_need_a_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_resident_cannot_open_staff_lists(client, town, people):
    from linli.core.roles import Role
    from linli.core.testing.factories import make_user

    resident = make_user("resident", Role.RESIDENT, [])
    client.force_login(resident)
    assert client.get(reverse("people:persons")).status_code == 403
    assert client.get(reverse("people:person_detail", args=[people.head.id])).status_code == 403
