"""The person page's sections for assistance facts: shown masked and escaped, htmx forms that
come back with refusals next to their fields, voids refused beside their button, the bank
account's logged full view."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from linli.core.models import AuditAction, AuditEntry
from linli.people import services
from linli.people.models import BankAccount, FinancialRecord, LegalSupporter, Person, SeriousIllness

HTMX = {"HX-Request": "true", "Accept-Language": "en"}
EN = {"Accept-Language": "en"}


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC), tick=False):
        yield


def detail(client, person) -> str:
    response = client.get(reverse("people:person_detail", args=[person.id]), headers=EN)
    assert response.status_code == 200
    return response.content.decode()


def test_sections_show_each_fact_masked_and_escaped(client, grid_worker, people):
    head = people.head
    services.person_set_work_capacity(actor=grid_worker, person_id=head.id, work_capacity="none")
    services.serious_illness_record(
        actor=grid_worker,
        person_id=head.id,
        illness="<script>alert('x')</script>",
        diagnosed_on=dt.date(2025, 1, 1),
    )
    services.self_care_assessment_record(
        actor=grid_worker,
        person_id=head.id,
        assessed_on=dt.date(2026, 5, 1),
        assessor="王医生",
        eating=True,
        dressing=True,
        bed_transfer=True,
        toileting=False,
        indoor_walking=True,
        bathing=False,
    )
    services.legal_supporter_add(
        actor=grid_worker,
        person_id=head.id,
        relation="child",
        able_to_support=True,
        supporter_id_number=people.other_child.id_number,
    )
    services.bank_account_set(
        actor=grid_worker,
        person_id=head.id,
        bank="工商银行",
        account_number="6222021234567890",
        holder_name="<b>张大山</b>",
    )
    client.force_login(grid_worker)
    html = detail(client, head)
    assert "Unable to work" in html
    assert (
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html and "<script>alert" not in html
    )
    assert "Partly unable to care for oneself" in html and "using the toilet, bathing" in html
    # The supporter registered elsewhere: masked name, no link, nothing else of theirs.
    assert "李*川" in html and people.other_child.name not in html
    assert reverse("people:person_detail", args=[people.other_child.id]) not in html
    assert people.other_child.id_number not in html and people.other_child.id_masked not in html
    assert "6222********7890" in html and "6222021234567890" not in html
    assert "&lt;b&gt;张大山&lt;/b&gt;" in html
    assert 'id="reveal-account"' in html


def test_date_of_death_is_shown(client, grid_worker, people):
    services.person_record_death(
        actor=grid_worker, person_id=people.head.id, died_on=dt.date(2026, 6, 1)
    )
    client.force_login(grid_worker)
    assert 'id="died-on">2026-06-01' in detail(client, people.head)


def test_readers_see_no_forms(client, auditor, people):
    client.force_login(auditor)
    html = detail(client, people.head)
    assert "Facts for social assistance" in html
    assert 'id="illness-form"' not in html and 'id="bank-form"' not in html


def test_each_add_form_renders_with_its_own_field_ids(client, grid_worker, people):
    client.force_login(grid_worker)
    html = detail(client, people.head)
    for form_id in ("capacity", "death", "illness", "selfcare", "supporter", "bank"):
        assert f'id="{form_id}-form"' in html
    for field_id in ("id_illness-diagnosed_on", "id_selfcare-bathing", "id_bank-account_number"):
        assert html.count(f'id="{field_id}"') == 1


def test_illness_form_refuses_a_future_date_next_to_the_field(client, grid_worker, people):
    client.force_login(grid_worker)
    url = reverse("people:illness_new", args=[people.head.id])
    response = client.post(
        url,
        {"illness-illness": "肺癌", "illness-diagnosed_on": "2026-07-01"},
        headers=HTMX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="illness-form"' in body and 'id="id_illness-diagnosed_on_errors"' in body
    assert "future" in body
    assert not SeriousIllness.objects.exists()
    saved = client.post(
        url, {"illness-illness": "肺癌", "illness-diagnosed_on": "2026-01-01"}, headers=HTMX
    )
    assert saved.status_code == 204
    assert saved["HX-Redirect"] == reverse("people:person_detail", args=[people.head.id])
    assert SeriousIllness.objects.get().illness == "肺癌"


def test_supporter_form_refuses_an_unknown_id_number_on_its_field(client, grid_worker, people):
    client.force_login(grid_worker)
    response = client.post(
        reverse("people:supporter_new", args=[people.head.id]),
        {
            "supporter-relation": "child",
            "supporter-supporter_id_number": people.head.id_number,
            "supporter-able_to_support": "1",
        },
        headers=HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_supporter-supporter_id_number_errors"' in body and "own supporter" in body
    assert not LegalSupporter.objects.exists()


def test_bank_form_refuses_letters_and_saves_digits(client, grid_worker, people):
    client.force_login(grid_worker)
    url = reverse("people:bank_account_set", args=[people.head.id])
    values = {"bank-bank": "工商银行", "bank-holder_name": "张大山"}
    bad = client.post(url, {**values, "bank-account_number": "6222abc"}, headers=HTMX)
    assert bad.status_code == 200
    assert 'id="id_bank-account_number_errors"' in bad.content.decode()
    good = client.post(url, {**values, "bank-account_number": "6222 0212 3456"}, headers=HTMX)
    assert good.status_code == 204
    assert BankAccount.objects.get().account_number == "622202123456"
    again = client.post(url, {**values, "bank-account_number": "622202123456"}, headers=HTMX)
    assert "already the one" in again.content.decode()


def test_death_and_capacity_forms(client, grid_worker, people):
    client.force_login(grid_worker)
    future = client.post(
        reverse("people:death_record", args=[people.head.id]),
        {"death-died_on": "2026-06-16"},
        headers=HTMX,
    )
    assert future.status_code == 200 and 'id="id_death-died_on_errors"' in future.content.decode()
    done = client.post(
        reverse("people:death_record", args=[people.head.id]),
        {"death-died_on": "2026-06-14"},
        headers=HTMX,
    )
    assert done.status_code == 204
    capacity = client.post(
        reverse("people:work_capacity_set", args=[people.child.id]),
        {"capacity-work_capacity": "partial"},
        headers=HTMX,
    )
    assert capacity.status_code == 204
    assert Person.objects.get(pk=people.head.pk).died_on == dt.date(2026, 6, 14)
    assert Person.objects.get(pk=people.child.pk).work_capacity == "partial"


def test_void_is_refused_beside_its_button_and_then_done(client, grid_worker, people):
    fact = services.serious_illness_record(
        actor=grid_worker,
        person_id=people.head.id,
        illness="肺癌",
        diagnosed_on=dt.date(2025, 1, 1),
    )
    client.force_login(grid_worker)
    html = detail(client, people.head)
    box = f"error-illness-{fact.id}"
    assert f'hx-target="#{box}"' in html and f'id="{box}"' in html
    url = reverse("people:illness_void", args=[fact.id])
    refused = client.post(url, {"reason": ""}, headers={**HTMX, "HX-Target": box})
    assert refused.status_code == 422
    assert refused["HX-Retarget"] == f"#{box}"
    done = client.post(url, {"reason": "录错"}, headers={**HTMX, "HX-Target": box})
    assert done.status_code == 204
    again = client.post(url, {"reason": "录错"}, headers={**HTMX, "HX-Target": box})
    assert again.status_code == 409 and again["HX-Retarget"] == f"#{box}"
    assert SeriousIllness.objects.get().voided_at is not None


def test_neighbours_cannot_post_to_these_forms(client, neighbour, people):
    client.force_login(neighbour)
    response = client.post(
        reverse("people:illness_new", args=[people.head.id]),
        {"illness-illness": "x", "illness-diagnosed_on": "2026-01-01"},
        headers=HTMX,
    )
    assert response.status_code == 404
    assert not SeriousIllness.objects.exists()


def test_bank_account_full_view_is_logged_and_needs_the_role(client, grid_worker, auditor, people):
    fact = services.bank_account_set(
        actor=grid_worker,
        person_id=people.head.id,
        bank="工商银行",
        account_number="6222021234567890",
        holder_name="张大山",
    )
    url = reverse("people:bank_account_reveal", args=[fact.id])
    client.force_login(auditor)
    assert client.post(url, headers=HTMX).status_code == 403
    assert 'id="reveal-account"' not in detail(client, people.head)
    client.force_login(grid_worker)
    body = client.post(url, headers=HTMX).content.decode()
    assert "6222021234567890" in body
    entry = AuditEntry.objects.get(action=AuditAction.REVEAL)
    assert (entry.actor, entry.object_id) == (grid_worker, str(fact.id))


def test_finance_form_offers_the_new_kinds_and_the_new_employment_flag(client, grid_worker, people):
    client.force_login(grid_worker)
    html = detail(client, people.head)
    for kind in ("basic_pension", "elderly_allowance", "scholarship", "social_insurance"):
        assert f'value="{kind}"' in html
    assert 'name="new_employment"' in html
    url = reverse("people:finance_new", args=[people.head.id])
    values = {
        "category": "income",
        "amount": "2100",
        "valid_from": "2026-03-01",
        "new_employment": "on",
    }
    refused = client.post(url, {**values, "kind": "scholarship"}, headers=HTMX)
    assert refused.status_code == 200
    assert 'id="id_new_employment_errors"' in refused.content.decode()
    saved = client.post(url, {**values, "kind": "wage"}, headers=HTMX)
    assert saved.status_code == 204
    assert FinancialRecord.objects.get().new_employment


def test_detail_query_count_stays_flat_with_facts(
    client, admin, people, django_assert_max_num_queries
):
    for i in range(5):
        services.legal_supporter_add(
            actor=admin,
            person_id=people.head.id,
            relation="child",
            able_to_support=True,
            supporter_name=f"张{i}",
        )
        services.serious_illness_record(
            actor=admin,
            person_id=people.head.id,
            illness=f"病{i}",
            diagnosed_on=dt.date(2025, 1, 1),
        )
    services.legal_supporter_add(
        actor=admin,
        person_id=people.head.id,
        relation="child",
        able_to_support=True,
        supporter_id_number=people.other_child.id_number,
    )
    client.force_login(admin)
    with django_assert_max_num_queries(20):
        detail(client, people.head)
