"""The API of the assistance facts under /api/v1/people/persons/{id}/…: the account number
masked in every answer, its full view logged, supporters elsewhere masked, errors naming
their field."""

import datetime as dt

import pytest
import time_machine

from linli.core.models import AuditAction, AuditEntry
from linli.core.services import api_token_issue
from linli.people import services
from linli.people.models import BankAccount

FULL = "6222021234567890"
MASKED = "6222********7890"


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def api(client):
    class Api:
        def __init__(self, user):
            _, key = api_token_issue(actor=None, user=user, name="test")
            self.headers = {"Authorization": f"Bearer {key}", "Accept-Language": "en"}

        def get(self, url, **params):
            return client.get("/api/v1/people" + url, params, headers=self.headers)

        def post(self, url, body=None):
            return client.post(
                "/api/v1/people" + url,
                body or {},
                content_type="application/json",
                headers=self.headers,
            )

    return Api


def test_bank_account_is_masked_in_every_answer_and_its_full_view_is_logged(
    api, people, grid_worker, auditor
):
    me = api(grid_worker)
    base = f"/persons/{people.head.id}"
    assert me.get(base + "/bank-account").status_code == 404
    created = me.post(
        base + "/bank-account",
        {"bank": "工商银行", "account_number": "6222 0212 3456 7890", "holder_name": "张大山"},
    )
    assert created.status_code == 201, created.content
    answers = [
        created,
        me.get(base + "/bank-account"),
        me.get(base + "/bank-accounts"),
        me.post(
            base + "/bank-account",
            {"bank": "农业银行", "account_number": "6228480000001234", "holder_name": "张大山"},
        ),
        me.get(base + "/bank-accounts"),
    ]
    for answer in answers:
        assert answer.status_code in (200, 201)
        assert FULL not in answer.content.decode()
    assert created.json()["account_number_masked"] == MASKED
    history = answers[-1].json()
    assert [a["account_number_masked"] for a in history] == ["6228********1234", MASKED]
    assert history[0]["voided_at"] is None and history[1]["voided_at"] is not None

    old_id = created.json()["id"]
    revealed = me.post(f"/bank-accounts/{old_id}/reveal")
    assert revealed.status_code == 200 and revealed.json()["account_number"] == FULL
    entry = AuditEntry.objects.get(action=AuditAction.REVEAL)
    assert (entry.actor, entry.object_type, entry.object_id) == (
        grid_worker,
        "people.bankaccount",
        str(old_id),
    )
    assert FULL not in str(entry.changes) + entry.object_label
    assert api(auditor).post(f"/bank-accounts/{old_id}/reveal").status_code == 403
    assert AuditEntry.objects.filter(action=AuditAction.REVEAL).count() == 1


def test_bank_account_refusals_name_the_field(api, people, grid_worker, neighbour):
    me = api(grid_worker)
    url = f"/persons/{people.head.id}/bank-account"
    bad = me.post(url, {"bank": "工行", "account_number": "62-22", "holder_name": "张"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "account_number"
    hostile = me.post(url, {"bank": "工行", "account_number": "622202", "holder_name": "张\u0007"})
    assert hostile.status_code == 422
    assert hostile.json()["errors"][0]["field"] == "holder_name"
    other = api(neighbour).post(
        url, {"bank": "工行", "account_number": "622202", "holder_name": "张"}
    )
    assert other.status_code == 404
    assert not BankAccount.objects.exists()


def test_supporters_elsewhere_come_back_masked_without_their_id(api, people, grid_worker):
    me = api(grid_worker)
    url = f"/persons/{people.head.id}/supporters"
    created = me.post(
        url,
        {
            "relation": "child",
            "able_to_support": False,
            "assessment": "无收入",
            "supporter_id_number": people.other_child.id_number,
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["supporter_name"] == "李*川" and body["supporter_person_id"] is None
    assert body["in_registry"] is True
    named = me.post(url, {"relation": "spouse", "able_to_support": True, "supporter_name": "王芳"})
    assert named.status_code == 201
    listed = me.get(url)
    text = listed.content.decode()
    assert people.other_child.name not in text and people.other_child.id_number not in text
    assert str(people.other_child.id) not in [str(s["supporter_person_id"]) for s in listed.json()]
    assert [s["supporter_name"] for s in listed.json()] == ["李*川", "王芳"]
    unknown = me.post(
        url, {"relation": "child", "able_to_support": True, "supporter_id_number": "123"}
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "supporter_id_number"
    voided = me.post(f"/supporters/{body['id']}/void", {"reason": "录错"})
    assert voided.status_code == 200 and voided.json()["voided_at"]
    assert [s["supporter_name"] for s in me.get(url).json()] == ["王芳"]
    assert len(me.get(url, include_void="true").json()) == 2


def test_illnesses_self_care_death_and_capacity(api, people, grid_worker):
    me = api(grid_worker)
    base = f"/persons/{people.head.id}"
    illness = me.post(
        base + "/illnesses", {"illness": "尿毒症", "diagnosed_on": "2025-03-01", "hospital": ""}
    )
    assert illness.status_code == 201
    assert me.get(base + "/illnesses").json()[0]["illness"] == "尿毒症"
    future = me.post(base + "/illnesses", {"illness": "x", "diagnosed_on": "2026-06-16"})
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "diagnosed_on"
    assert me.post(f"/illnesses/{illness.json()['id']}/void", {"reason": "误录"}).status_code == 200
    assert me.get(base + "/illnesses").json() == []

    items = {
        "eating": True,
        "dressing": False,
        "bed_transfer": False,
        "toileting": False,
        "indoor_walking": False,
        "bathing": True,
    }
    care = me.post(base + "/self-care", {"assessed_on": "2026-05-01", "assessor": "王", **items})
    assert care.status_code == 201
    assert (care.json()["items_not_managed"], care.json()["level"]) == (4, "dependent")
    assert me.get(base + "/self-care").json()[0]["id"] == care.json()["id"]

    assert me.get(base + "/work-capacity").json() == {
        "person_id": people.head.id,
        "work_capacity": "",
    }
    capacity = me.post(base + "/work-capacity", {"work_capacity": "none"})
    assert capacity.json()["work_capacity"] == "none"
    assert me.post(base + "/work-capacity", {"work_capacity": None}).json()["work_capacity"] == ""

    early = me.post(base + "/death", {"died_on": "1900-01-01"})
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "died_on"
    died = me.post(base + "/death", {"died_on": "2026-06-10"})
    assert died.json() == {
        "person_id": people.head.id,
        "status": "deceased",
        "died_on": "2026-06-10",
    }
    person = me.get(base).json()
    assert (person["status"], person["died_on"]) == ("deceased", "2026-06-10")


def test_finance_records_take_the_new_kinds_and_the_flag(api, people, grid_worker):
    me = api(grid_worker)
    url = f"/persons/{people.head.id}/finances"
    body = {"category": "income", "amount": "2100.00", "valid_from": "2026-03-01"}
    wage = me.post(url, {**body, "kind": "wage", "new_employment": True})
    assert wage.status_code == 201 and wage.json()["new_employment"] is True
    pension = me.post(url, {**body, "kind": "basic_pension"})
    assert pension.status_code == 201 and pension.json()["new_employment"] is False
    refused = me.post(url, {**body, "kind": "merit_award", "new_employment": True})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "new_employment"


def test_readers_outside_get_not_found(api, people, grid_worker, neighbour):
    services.serious_illness_record(
        actor=grid_worker, person_id=people.head.id, illness="x", diagnosed_on=dt.date(2025, 1, 1)
    )
    them = api(neighbour)
    for path in ("illnesses", "self-care", "supporters", "bank-account", "death", "work-capacity"):
        assert them.get(f"/persons/{people.head.id}/{path}").status_code == 404
