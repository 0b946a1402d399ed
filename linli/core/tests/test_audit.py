"""The audit log speaks people's language: record types, field names, choice labels and
related rows by name, in the reader's language, and still after the record changed."""

import datetime as dt

import time_machine
from django.urls import reverse
from django.utils import translation

from linli.core.audit import ChangeRow, readable
from linli.core.models import AuditAction, AuditEntry
from linli.people import services
from linli.people.models import Person

NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def _latest(instance) -> AuditEntry:
    return AuditEntry.objects.for_object(instance).select_related("actor").first()


def test_a_change_reads_with_field_names_choice_labels_and_place_names(admin, town, people):
    services.household_update(
        actor=admin,
        household_id=people.household.id,
        building_id=town.other_building.id,
        registration="rural",
    )
    entry = _latest(people.household)
    then = town.other_building.name
    # Renamed afterwards: the entry still names the building as it was called then.
    town.other_building.name = "改名楼"
    town.other_building.save()
    shown = readable(entry)
    assert shown.type == "Household" and shown.actor == "admin"
    assert ChangeRow("Building", then, town.building.name) in shown.rows
    assert ChangeRow("Registration", "Rural", "Urban") in shown.rows
    with translation.override("zh-hans"):
        chinese = readable(entry)
    assert chinese.type == "住户"
    assert ChangeRow("户籍性质", "农村", "城镇") in chinese.rows


def test_sensitive_values_stay_masked_and_a_create_has_no_before(admin, people):
    entry = AuditEntry.objects.for_object(people.head).get(action=AuditAction.CREATE)
    rows = {row.label: row for row in readable(entry).rows}
    assert rows["Phone"] == ChangeRow("Phone", "138****8000")
    assert people.head.id_number not in rows["ID number"].after
    assert rows["Relation to householder"].after == "Householder"
    assert rows["Household"].after == people.household.number
    # A new record lists what was filled in, not every empty field and unticked box.
    assert "Veteran" not in rows and "Disability category" not in rows


def test_a_full_view_reads_as_a_view(admin, people):
    services.person_reveal(actor=admin, person_id=people.head.id)
    entry = _latest(people.head)
    shown = readable(entry)
    assert shown.viewed == ["ID number", "Phone"] and shown.rows == []
    with translation.override("zh-hans"):
        assert readable(entry).viewed == ["身份证号", "电话"]


def test_entries_written_before_labels_were_stored_read_through_the_model(db):
    # As the overdue sweep writes them, in SQL: raw values, no labels.
    entry = AuditEntry.objects.create(
        actor_label="system",
        action=AuditAction.UPDATE,
        object_type="cases.case",
        object_id="1453",
        object_label="2026112000001453",
        changes={"warning": [0, 2], "tier": [5, 4], "grid": [3, 4]},
    )
    shown = readable(entry)
    assert shown.type == "Case" and shown.actor == "System"
    assert shown.rows == [  # in the model's order of fields
        ChangeRow("Grid", "#4", "#3"),  # no label was stored: ids, marked as such
        ChangeRow("Tier", "Community", "Grid"),
        ChangeRow("Warning", "Red: overdue", "On time"),
    ]


def test_an_entry_of_a_model_that_no_longer_exists_reads_from_its_stored_labels(db):
    entry = AuditEntry.objects.create(
        actor_label="someone",
        action=AuditAction.UPDATE,
        object_type="gone.thing",
        object_id="7",
        object_label="A thing",
        changes={"state": ["a", "b"], "rows": 3},
        labels={
            "type": "case",
            "fields": {"state": "state"},
            "values": {"state": [None, "Closed"]},
        },
    )
    shown = readable(entry)
    assert shown.type == "Case"
    assert shown.rows == [ChangeRow("State", "Closed", "a"), ChangeRow("Rows", "3")]
    with translation.override("zh-hans"):
        assert readable(entry).rows[0] == ChangeRow("状态", "已结案", "a")


def test_the_audit_page_shows_names_not_model_ids(client, auditor, admin, people):
    with time_machine.travel(NOW, tick=False):
        services.person_reveal(actor=admin, person_id=people.head.id)
        Person.objects.filter(pk=people.head.pk).update(name="改名")
        client.force_login(auditor)
        client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
        page = client.post(reverse("audit"), {"object_type": "people.person"}).content.decode()
    html = page.split('id="results"')[1]
    assert "people.person" not in html and "#" + str(people.head.pk) not in html
    assert "人员" in html and "查看完整信息" in html and "身份证号, 电话" in html
    assert '<td data-label="操作" class="nowrap">' in html
    assert people.head.id_number not in html and "改名" not in html
