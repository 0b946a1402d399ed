"""ID numbers registered elsewhere: one neutral answer, every hit audited, and a transfer
request (迁入申请) the holding office accepts or declines."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from linli.core.errors import NotFound
from linli.core.models import AuditEntry
from linli.core.roles import Role
from linli.core.services import api_token_issue
from linli.core.testing.factories import make_id_number, make_user
from linli.people import imports, selectors, services, spreadsheets
from linli.people.models import FinancialRecord, ImportStatus, Person, TransferRequest

ANSWER = "A person with this ID number is already registered."


def _add(actor, household, id_number, relation="child"):
    return services.person_create(
        actor=actor, household_id=household.id, relation=relation, name="王五", id_number=id_number
    )


def test_inside_or_outside_the_answer_is_the_same_but_only_inside_names_the_record(
    people, grid_worker
):
    with pytest.raises(services.AlreadyRegistered) as inside:
        _add(grid_worker, people.household, people.child.id_number)
    with pytest.raises(services.AlreadyRegistered) as outside:
        _add(grid_worker, people.household, people.other_child.id_number)
    assert inside.value.as_dict() == outside.value.as_dict()
    assert inside.value.message == ANSWER
    assert (inside.value.person_id, outside.value.person_id) == (people.child.id, None)
    assert not TransferRequest.objects.filter(person=people.child).exists()


def test_every_outside_hit_is_audited_where_the_person_is_held(people, grid_worker, neighbour):
    for _attempt in range(2):
        with pytest.raises(services.AlreadyRegistered):
            _add(grid_worker, people.household, people.other_child.id_number)
    request = TransferRequest.objects.get()
    assert (request.person, request.household, request.requested_by, request.hits) == (
        people.other_child,
        people.household,
        grid_worker,
        2,
    )
    entries = AuditEntry.objects.for_object(request).order_by("id")
    assert [e.action for e in entries] == ["create", "update"]
    assert all(e.actor == grid_worker for e in entries)
    assert {e.place_path for e in entries} == {people.other_child.place_path}
    assert entries[1].changes["hits"] == [1, 2]
    assert not Person.objects.filter(name="王五").exists()


def test_editing_to_a_number_held_elsewhere_is_answered_and_filed_the_same_way(people, grid_worker):
    with pytest.raises(services.AlreadyRegistered) as refused:
        services.person_update(
            actor=grid_worker, person_id=people.child.id, id_number=people.other_head.id_number
        )
    assert refused.value.person_id is None
    assert TransferRequest.objects.get().household == people.household
    people.child.refresh_from_db()
    assert people.child.id_number != people.other_head.id_number


def test_the_holding_office_accepts_through_the_api_and_the_person_moves(
    client, people, admin, grid_worker, neighbour
):
    record = services.financial_record_create(
        actor=admin,
        person_id=people.other_child.id,
        category="income",
        kind="wage",
        amount=Decimal("900.00"),
        valid_from=dt.date(2026, 1, 1),
    )
    with pytest.raises(services.AlreadyRegistered):
        _add(grid_worker, people.household, people.other_child.id_number, relation="spouse")
    request = TransferRequest.objects.get()

    def headers(user):
        return {"Authorization": f"Bearer {api_token_issue(actor=None, user=user, name='t')[1]}"}

    # The asking office reads its request, not where the person is; it cannot answer it.
    sent = client.get("/api/v1/people/transfers/sent", headers=headers(grid_worker)).json()
    assert [t["id"] for t in sent["items"]] == [request.id]
    assert set(sent["items"][0]) == {
        "id",
        "state",
        "id_number_masked",
        "household_id",
        "created_at",
        "decided_at",
        "decline_reason",
    }
    answerable = client.get("/api/v1/people/transfers/to-answer", headers=headers(grid_worker))
    assert answerable.json()["items"] == []
    url = f"/api/v1/people/transfers/{request.id}/accept"
    assert client.post(url, headers=headers(grid_worker)).status_code == 404

    listed = client.get("/api/v1/people/transfers/to-answer", headers=headers(neighbour)).json()
    assert [t["household_number"] for t in listed["items"]] == [people.household.number]
    accepted = client.post(url, headers=headers(neighbour))
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["state"] == "accepted"

    moved = Person.objects.get(pk=people.other_child.pk)
    assert (moved.household, moved.relation) == (people.household, "spouse")
    assert moved.place_path == people.household.place_path
    assert FinancialRecord.objects.get(pk=record.pk).place_path == people.household.place_path
    assert Person.objects.restrict(grid_worker).filter(pk=moved.pk).exists()
    moved_entry = AuditEntry.objects.for_object(moved).filter(action="update").get()
    assert moved_entry.actor == neighbour and "household" in moved_entry.changes
    again = client.post(url, headers={**headers(neighbour), "Accept-Language": "en"})
    assert again.status_code == 409 and "already been answered" in again.json()["detail"]


def test_decline_needs_a_reason_and_the_asking_office_reads_it(
    client, people, grid_worker, neighbour
):
    with pytest.raises(services.AlreadyRegistered):
        _add(grid_worker, people.household, people.other_head.id_number)
    request = TransferRequest.objects.get()
    with pytest.raises(NotFound):
        services.transfer_request_decline(actor=grid_worker, request_id=request.id, reason="x")

    client.force_login(neighbour)
    page = client.get(reverse("people:transfers"), headers={"Accept-Language": "en"})
    assert people.other_head.name in page.content.decode()
    url = reverse("people:transfer_decline", args=[request.id])
    assert client.post(url, {"reason": " "}).status_code == 422
    assert client.post(url, {"reason": "本人未迁出"}).status_code == 302
    request.refresh_from_db()
    assert (request.state, request.decided_by, request.decline_reason) == (
        "declined",
        neighbour,
        "本人未迁出",
    )

    client.force_login(grid_worker)
    body = client.get(reverse("people:transfers")).content.decode()
    assert "本人未迁出" in body and request.id_masked in body
    for where in (people.other_head.name, people.other_household.number, "黄河"):
        assert where not in body


def test_the_form_links_to_the_record_inside_and_to_the_requests_outside(
    client, people, grid_worker
):
    client.force_login(grid_worker)
    url = reverse("people:person_new", args=[people.household.id])
    data = {"relation": "child", "name": "王五"}
    inside = client.post(url, {**data, "id_number": people.child.id_number}).content.decode()
    outside = client.post(url, {**data, "id_number": people.other_child.id_number})
    outside = outside.content.decode()
    assert reverse("people:person_detail", args=[people.child.id]) in inside
    assert reverse("people:transfers") in outside
    assert reverse("people:person_detail", args=[people.other_child.id]) not in outside
    assert 'id="id_id_number_errors"' in inside and 'id="id_id_number_errors"' in outside


@pytest.mark.django_db(transaction=True)
def test_the_import_flags_outside_numbers_in_the_same_words_and_audits_them(town, people):
    importer = make_user("importer", Role.COMMUNITY_WORKER, [town.community])
    wb = load_workbook(io.BytesIO(spreadsheets.template_workbook()))
    wb.worksheets[2].append(["H0001", "子女", "王五", people.other_child.id_number])
    wb.worksheets[2].append(["H0001", "子女", "王六", people.child.id_number])
    wb.worksheets[2].append(["H0001", "子女", "王七", make_id_number(birth=dt.date(1990, 1, 1))])
    out = io.BytesIO()
    wb.save(out)
    job = imports.import_job_create(
        actor=importer, upload=SimpleUploadedFile("p.xlsx", out.getvalue()), mode="good_rows"
    )
    job = imports.import_job_run(job_id=job.pk)
    assert job.status == ImportStatus.DONE and job.persons_created == 1
    messages = {e["row"]: e["message"] for e in job.errors}
    assert messages == {2: ANSWER, 3: ANSWER}
    logged = AuditEntry.objects.get(object_id=str(job.pk), changes__has_key="registered_elsewhere")
    assert logged.changes["registered_elsewhere"] == [
        {"row": 2, "id_number": people.other_child.id_masked}
    ]
    assert logged.place_path == town.community.path
    assert selectors.transfer_requests_sent(importer).count() == 0
