"""Input hygiene of the registry: control characters refused on every free-text field (and
escaped in exports of text stored before), invisible-only names, full-width ID digits, no
person without a household, and exports audited under the exporter's jurisdiction."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from linli.core.errors import ValidationFailed
from linli.core.models import AuditAction, AuditEntry
from linli.core.roles import Role
from linli.core.services import api_token_issue
from linli.core.testing.factories import make_id_number, make_user
from linli.people import exports, imports, selectors, services, spreadsheets
from linli.people.models import Household, ImportStatus, Person


def _refused(call, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as exc:
        call(**kwargs)
    return exc.value.details


def test_control_characters_are_refused_in_every_free_text_field_naming_it(
    people, town, grid_worker
):
    details = _refused(
        services.household_create,
        actor=grid_worker,
        number="H9\x00",
        address="和平路\x07 1 号",
        building_id=town.building.id,
    )
    assert details["address"] == [
        "Address contains an invisible control character (U+0007); remove it."
    ]
    assert "Household number" in details["number"][0] and "U+0000" in details["number"][0]
    details = _refused(
        services.household_update,
        actor=grid_worker,
        household_id=people.household.id,
        address="和平路\r\n2 号",
    )
    assert "U+000D" in details["address"][0]
    for field, value in (
        ("name", "王\x1b五"),
        ("phone", "1390000\x0b0000"),
        ("id_number", people.child.id_number[:10] + "\x7f"),
    ):
        details = _refused(
            services.person_update, actor=grid_worker, person_id=people.child.id, **{field: value}
        )
        assert list(details) == [field] and "invisible control character" in details[field][0]
    details = _refused(
        services.financial_record_create,
        actor=grid_worker,
        person_id=people.child.id,
        category="income",
        kind="wage",
        amount=Decimal("1"),
        valid_from=dt.date(2026, 1, 1),
        note="工资\x08",
    )
    assert details["note"][0].startswith("Note contains")
    record = services.financial_record_create(
        actor=grid_worker,
        person_id=people.child.id,
        category="income",
        kind="wage",
        amount=Decimal("1"),
        valid_from=dt.date(2026, 1, 1),
    )
    details = _refused(
        services.financial_record_void, actor=grid_worker, record_id=record.id, reason="错\x01"
    )
    assert "U+0001" in details["void_reason"][0]
    assert Household.objects.get(pk=people.household.pk).address == people.household.address


def test_a_name_of_spaces_or_zero_width_characters_is_not_a_name(people, grid_worker):
    for name in ("\u200b", " \u3000 ", "\u200d\ufeff\u2060"):
        details = _refused(
            services.person_update, actor=grid_worker, person_id=people.child.id, name=name
        )
        assert details["name"] == [
            "Enter the name: spaces or invisible characters alone are not a name."
        ]
    person = services.person_update(
        actor=grid_worker, person_id=people.child.id, name="\u200b张小川\u3000"
    )
    assert person.name == "张小川"


def test_exports_escape_control_characters_stored_before_they_were_refused(people, grid_worker):
    Household.objects.filter(pk=people.household.pk).update(address="和平路\x07\x01 1 号")
    Person.objects.filter(pk=people.head.pk).update(name="张\x1b大山")
    _name, content = exports.persons_export(actor=grid_worker, filters=selectors.PersonFilter())
    rows = list(load_workbook(content).active.iter_rows(values_only=True))
    assert "张␛大山" in [r[2] for r in rows]
    assert "和平路␇␁ 1 号" in [r[14] for r in rows]
    _name, content = exports.households_export(
        actor=grid_worker, filters=selectors.HouseholdFilter()
    )
    rows = list(load_workbook(content).active.iter_rows(values_only=True))
    assert rows[1][1] == "和平路␇␁ 1 号"


@pytest.mark.django_db(transaction=True)
def test_the_import_reports_control_characters_and_invisible_names_and_loads_nothing_of_them(
    town,
):
    importer = make_user("importer", Role.COMMUNITY_WORKER, [town.community])
    wb = load_workbook(io.BytesIO(spreadsheets.template_workbook()))
    # A cell's XML holds no other control characters than these (Alt+Enter, a pasted tab).
    wb.worksheets[1].append(["H1", "和平路\n1 号", town.building.code])
    wb.worksheets[1].append(["H2", "和平路 2 号", town.building.code])
    wb.worksheets[2].append(["H2", "户主", "\u200b\u200b", make_id_number()])
    wb.worksheets[2].append(["H2", "配偶", "赵\t二", make_id_number(sex="F")])
    wb.worksheets[2].append(["H2", "子女", "赵三", make_id_number(birth=dt.date(2000, 1, 1))])
    out = io.BytesIO()
    wb.save(out)
    job = imports.import_job_create(
        actor=importer, upload=SimpleUploadedFile("p.xlsx", out.getvalue()), mode="good_rows"
    )
    job = imports.import_job_run(job_id=job.pk)
    assert job.status == ImportStatus.DONE
    assert (job.households_created, job.persons_created) == (1, 1)
    problems = {(e["sheet"], e["row"], e["column"][0]): e["message"] for e in job.errors}
    assert problems == {
        ("Households", 2, "B"): "Address contains an invisible control character (U+000A); "
        "remove it.",
        ("Persons", 2, "C"): "Enter the name: spaces or invisible characters alone are not a name.",
        ("Persons", 3, "C"): "Name contains an invisible control character (U+0009); remove it.",
    }
    assert list(Person.objects.values_list("name", flat=True)) == ["赵三"]


def test_a_person_cannot_be_taken_out_of_every_household(client, people, grid_worker, admin):
    details = _refused(
        services.person_update, actor=grid_worker, person_id=people.child.id, household_id=None
    )
    assert details == {"household_id": ["Required."]}
    _, key = api_token_issue(actor=None, user=grid_worker, name="t")
    response = client.patch(
        f"/api/v1/people/persons/{people.child.id}",
        {"household_id": None},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", "Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "household_id", "message": "Required."}]
    assert Person.objects.get(pk=people.child.pk).household_id == people.household.id
    assert not AuditEntry.objects.filter(
        object_id=str(people.child.id), action=AuditAction.UPDATE
    ).exists()
    # Administrators, who see persons without a household, still may (as on creation).
    moved = services.person_update(actor=admin, person_id=people.child.id, household_id=None)
    assert moved.household_id is None and moved.place_path == ""


def test_full_width_id_digits_search_the_page_as_the_api(client, people, grid_worker):
    ending = people.child.id_number[-4:]
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c.lower() for c in ending)
    client.force_login(grid_worker)
    body = client.post(reverse("people:persons"), {"id_ending": full_width}).content.decode()
    assert people.child.name in body and people.head.name not in body
    _, key = api_token_issue(actor=None, user=grid_worker, name="t")
    found = client.post(
        "/api/v1/people/persons/search",
        {"id_ending": full_width},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert [p["id"] for p in found.json()["items"]] == [people.child.id]


def test_an_export_is_audited_under_the_exporters_jurisdiction_not_the_place_asked_for(
    town, people, grid_worker
):
    exports.persons_export(
        actor=grid_worker, filters=selectors.PersonFilter(place_id=town.other_grid.id)
    )
    entry = AuditEntry.objects.get(action=AuditAction.EXPORT)
    assert entry.place_path == town.grid.path
    other_auditor = make_user("other_auditor", Role.AUDITOR, [town.other_street])
    own_auditor = make_user("own_auditor", Role.AUDITOR, [town.street])
    assert not AuditEntry.objects.restrict(other_auditor).filter(pk=entry.pk).exists()
    assert AuditEntry.objects.restrict(own_auditor).filter(pk=entry.pk).exists()
    # Bound to two grids of different streets: filed under the district holding both.
    both = make_user("both", Role.GRID_WORKER, [town.grid, town.other_grid])
    exports.households_export(actor=both, filters=selectors.HouseholdFilter())
    assert AuditEntry.objects.filter(actor=both).get().place_path == town.district.path
