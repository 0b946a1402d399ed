"""Incomes in Excel: the template's optional sheet of incomes, assets and expenditure knows
the finer kinds; files made before it existed still load; the person export writes the
records back in the same layout."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from openpyxl import load_workbook

from linli.core.models import AuditEntry
from linli.core.roles import Role
from linli.core.testing.factories import make_id_number, make_user
from linli.people import exports, imports, selectors, services, spreadsheets
from linli.people.models import FinancialRecord, Household, ImportStatus, Person


@pytest.fixture
def importer(town):
    return make_user("importer", Role.COMMUNITY_WORKER, [town.community])


def template(*, old: bool = False):
    """The downloaded template; `old`: as it was before the incomes sheet (two data sheets)."""
    wb = load_workbook(io.BytesIO(spreadsheets.template_workbook()))
    if old:
        for title in (spreadsheets.sheet_title(spreadsheets.FINANCES), spreadsheets.LISTS_SHEET):
            del wb[title]
    return wb


def filled(wb, households=(), persons=(), finances=()) -> bytes:
    data = {
        spreadsheets.HOUSEHOLDS: households,
        spreadsheets.PERSONS: persons,
        spreadsheets.FINANCES: finances,
    }
    for sheet, rows in data.items():
        for row in rows:
            wb[spreadsheets.sheet_title(sheet)].append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def check(actor, content: bytes) -> spreadsheets.Plan:
    return spreadsheets.check_workbook(load_workbook(io.BytesIO(content)), actor=actor)


def household_rows(town):
    head = make_id_number(birth=dt.date(1950, 1, 1))
    return (
        head,
        [("H100", "和平路 1 号", town.building.code, "城镇")],
        [
            ("H100", "户主", "赵一", head, "", "", "", "", "", "", "", ""),
        ],
    )


def test_the_template_lists_every_kind_and_keeps_long_lists_off_the_validation(town):
    wb = template()
    sheet = wb[spreadsheets.sheet_title(spreadsheets.FINANCES)]
    headers = [c.value.lower() for c in sheet[1]]
    assert headers == [
        "id number *",
        "category",
        "kind *",
        "amount (yuan) *",
        "from *",
        "to",
        "new employment",
        "note",
    ]
    lists = wb[spreadsheets.LISTS_SHEET]
    assert lists.sheet_state == "hidden"
    kinds = [row[0] for row in lists.iter_rows(values_only=True)]
    assert "Basic pension" in kinds and "Scholarship or student grant" in kinds
    assert len(kinds) == 20
    formulas = [v.formula1 for v in sheet.data_validations.dataValidation]
    assert all(len(f) <= 255 for f in formulas)
    assert any(f.startswith("lists!") for f in formulas)


def test_an_old_file_without_the_incomes_sheet_is_checked_as_before(town, importer):
    _head, households, persons = household_rows(town)
    content = filled(template(old=True), households, persons)
    assert len(load_workbook(io.BytesIO(content)).sheetnames) == 3
    plan = check(importer, content)
    assert plan.errors == [] and len(plan.persons) == 1 and plan.finances == []


def test_incomes_of_old_and_new_kinds_are_checked(town, importer, people):
    head, households, persons = household_rows(town)
    registered = people.head.id_number  # in the importer's community
    elsewhere = people.other_head.id_number
    content = filled(
        template(),
        households,
        persons,
        [
            # kinds by label in either language, or by stored value; the category may be empty
            (head, "收入", "工资性收入", 2100, "2026-03-01", "", "是", "新工作"),
            (head, "", "Basic pension", "180.5", dt.datetime(2026, 1, 1), "", "", ""),
            (registered, "income", "scholarship", "1,000.00", "2025/9/1", "2026/6/30", "", ""),
            (registered, "", "Savings", 50000, "2026-01-01", "", "", ""),
            # bad rows
            (registered, "资产", "Basic pension", 1, "2026-01-01", "", "", ""),  # 6: category
            (registered, "", "lottery", 1, "2026-01-01", "", "", ""),  # 7: unknown kind
            (registered, "", "wage", -5, "2026-01-01", "", "", ""),  # 8: negative
            (registered, "", "wage", "1.005", "2026-01-01", "", "", ""),  # 9: below the fen
            (registered, "", "wage", "abc", "2026-01-01", "", "", ""),  # 10: not a number
            (registered, "", "wage", 1, "2026-02-30", "", "", ""),  # 11: no such day
            (registered, "", "wage", 1, "2026-03-01", "2026-02-01", "", ""),  # 12: ordered
            (registered, "", "scholarship", 1, "2026-01-01", "", "Yes", ""),  # 13: flag
            (elsewhere, "", "wage", 1, "2026-01-01", "", "", ""),  # 14: not in the jurisdiction
            (make_id_number(), "", "wage", 1, "2026-01-01", "", "", ""),  # 15: nowhere
            (registered, "", "wage", 1, "2026-01-01", "", "", "<script>x</script>"),  # 16: text
            (registered, "", "wage", 1, "2026-01-01", "", "", "<b>" * 100),  # 17: too long
            (registered, "", "wage", "1" + "0" * 30, "2026-01-01", "", "", ""),  # 18: huge
        ],
    )
    plan = check(importer, content)
    title = spreadsheets.sheet_title(spreadsheets.FINANCES)
    found = {(e.row, e.column.split(" ")[0]) for e in plan.errors if e.sheet == title}
    assert found == {
        (6, "B"),
        (7, "C"),
        (8, "D"),
        (9, "D"),
        (10, "D"),
        (11, "E"),
        (12, "F"),
        (13, "G"),
        (14, "A"),
        (15, "A"),
        (17, "H"),
        (18, "D"),
    }
    # The same words for "registered elsewhere" and "registered nowhere".
    messages = {e.row: e.message for e in plan.errors if e.sheet == title}
    assert messages[14] == messages[15]
    good = [(r["kind"], r["category"], r["amount"], r["new_employment"]) for r in plan.finances]
    assert good == [
        ("wage", "income", Decimal("2100.00"), True),
        ("basic_pension", "income", Decimal("180.50"), False),
        ("scholarship", "income", Decimal("1000.00"), False),
        ("savings", "asset", Decimal("50000.00"), False),
        ("wage", "income", Decimal("1.00"), False),
    ]
    assert plan.finances[4]["note"] == "<script>x</script>"
    assert plan.finances[2]["valid_to"] == dt.date(2026, 6, 30)


def test_a_record_of_a_bad_person_row_says_so(town, importer):
    bad = make_id_number(birth=dt.date(1950, 1, 1))
    content = filled(
        template(),
        [("H100", "和平路 1 号", town.building.code, "城镇")],
        [("H100", "表亲", "赵一", bad, "", "", "", "", "", "", "", "")],  # unknown relation
        [(bad, "", "wage", 1, "2026-01-01", "", "", "")],
    )
    plan = check(importer, content)
    title = spreadsheets.sheet_title(spreadsheets.FINANCES)
    [error] = [e for e in plan.errors if e.sheet == title]
    assert "persons sheet has errors" in error.message


@pytest.mark.django_db(transaction=True)
def test_incomes_load_with_their_people_audited_and_old_files_still_load(
    town, importer, people, django_capture_on_commit_callbacks
):
    head, households, persons = household_rows(town)

    def run(content):
        with django_capture_on_commit_callbacks(execute=True):
            job = imports.import_job_create(
                actor=importer,
                upload=SimpleUploadedFile("people.xlsx", content),
                mode="all_or_nothing",
            )
        call_command("db_worker", batch=True, no_startup_delay=True, reload=False, verbosity=0)
        job.refresh_from_db()
        return job

    job = run(
        filled(
            template(),
            households,
            persons,
            [
                (head, "", "Wages", 2100, "2026-03-01", "", "Yes", ""),
                (people.head.id_number, "", "elderly_allowance", 100, "2026-01-01", "", "", ""),
            ],
        )
    )
    assert job.status == ImportStatus.DONE, job.errors
    new_head = Person.objects.get(id_number=head)
    wage = FinancialRecord.objects.get(person=new_head)
    assert (wage.kind, wage.amount, wage.new_employment) == ("wage", Decimal("2100.00"), True)
    assert wage.household == new_head.household and wage.place_path == new_head.place_path
    allowance = FinancialRecord.objects.get(person=people.head)
    assert allowance.place_path == people.head.place_path
    assert allowance.household_id == people.household.id
    created = AuditEntry.objects.filter(
        action="create", source=f"import:{job.pk}", object_type="people.financialrecord"
    )
    assert created.count() == 2
    summary = AuditEntry.objects.get(action="import", object_id=str(job.pk))
    assert summary.changes["finances"] == 2

    _old_head, old_households, old_persons = household_rows(town)
    old_households = [("H101", *old_households[0][1:])]
    old_persons = [("H101", *old_persons[0][1:])]
    old = run(filled(template(old=True), old_households, old_persons))
    assert old.status == ImportStatus.DONE, old.errors
    assert (old.households_created, old.persons_created) == (1, 1)
    assert Household.objects.filter(number="H101").exists()


def test_the_person_export_writes_records_back_in_the_import_layout(people, grid_worker):
    for kind, amount in (("basic_pension", "180.50"), ("wage", "2100.00")):
        services.financial_record_create(
            actor=grid_worker,
            person_id=people.head.id,
            category="income",
            kind=kind,
            amount=Decimal(amount),
            valid_from=dt.date(2026, 1, 1),
            new_employment=kind == "wage",
        )
    services.financial_record_create(
        actor=grid_worker,
        person_id=people.child.id,
        category="expenditure",
        kind="medical",
        amount=Decimal("900"),
        valid_from=dt.date(2026, 1, 1),
    )
    _name, content = exports.persons_export(
        actor=grid_worker, filters=selectors.PersonFilter(status="active")
    )
    book = load_workbook(content)
    sheet = book[spreadsheets.sheet_title(spreadsheets.FINANCES)]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:8] == tuple(str(c.label) for c in spreadsheets.FINANCE_COLUMNS)
    body = {(r[2], r[3], r[6]) for r in rows[1:]}
    assert body == {("Basic pension", 180.5, "No"), ("Wages", 2100, "Yes"), ("Medical", 900, "No")}
    assert all(r[0] in (people.head.id_masked, people.child.id_masked) for r in rows[1:])
    assert people.other_head.name not in str(rows)
