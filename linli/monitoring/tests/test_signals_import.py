"""External-signal files (Excel or CSV): the happy path, every kind of bad input reported with
sheet, row, column and reason and nothing loaded, the same file twice, jurisdiction without an
oracle of ID numbers, files that are not spreadsheets."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linli.core.errors import NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry
from linli.core.testing.factories import make_id_number
from linli.monitoring import signals
from linli.monitoring.models import ImportState, Signal, SignalImport

from .fixtures_signals import *  # noqa: F403  (the fixtures)
from .fixtures_signals import TODAY, csv_bytes, import_now, upload, xlsx

pytestmark = pytest.mark.usefixtures("frozen")


def test_template_round_trip_loads_every_row(people, importer):
    job = import_now(
        importer,
        xlsx(
            [
                (people.head.id_number, "Hospital bill", "2026-05-03", 18000, "市人民医院", "住院"),
                (people.child.id_number, "unemployment", dt.date(2026, 4, 1), None, "人社局", ""),
                (people.head.id_number, "UTILITY ARREARS", "2026/6/1", "1,234.50", "", ""),
            ]
        ),
    )
    assert job.state == ImportState.DONE, job.errors
    assert (job.loaded, job.already_present, job.errors) == (3, 0, [])
    bill = Signal.objects.get(kind="hospital_bill")
    assert bill.source == "external" and bill.household_id == people.household.pk
    assert bill.person_id == people.head.pk and bill.amount == Decimal("18000.00")
    assert bill.occurred_on == dt.date(2026, 5, 3)
    assert bill.details == {"issued_by": "市人民医院", "note": "住院", "import": job.pk, "row": 2}
    assert bill.place_path == people.household.place_path
    assert Signal.objects.get(kind="utility_arrears").amount == Decimal("1234.50")
    assert Signal.objects.get(kind="unemployment").amount is None
    entry = AuditEntry.objects.get(object_type="monitoring.signalimport", object_id=str(job.pk))
    assert entry.changes["signals"] == 3


def test_the_same_file_twice_adds_nothing(people, importer):
    content = xlsx([(people.head.id_number, "hospital_bill", "2026-05-03", "18000", "", "")])
    first = import_now(importer, content)
    # The same row with its amount written differently is the same signal.
    again = import_now(
        importer, xlsx([(people.head.id_number, "hospital_bill", "2026-05-03", "18000.00", "", "")])
    )
    assert (first.loaded, again.loaded, again.already_present) == (1, 0, 1)
    assert again.state == ImportState.DONE
    assert Signal.objects.count() == 1


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_csv_in_utf8_or_gb18030_with_chinese_headers(people, importer, encoding):
    content = csv_bytes(
        [
            (people.head.id_number, "大额医疗费用", "2026-05-03", "500"),
            (people.child.id_number, "学费减免", "2026-03-01", ""),
        ],
        encoding=encoding,
        header=("身份证号码", "类型", "日期", "金额"),
    )
    job = import_now(importer, content, name="医院.csv")
    assert job.state == ImportState.DONE, job.errors
    assert job.loaded == 2
    assert set(Signal.objects.values_list("kind", flat=True)) == {
        "hospital_bill",
        "school_fee_waiver",
    }


def _errors(job) -> dict[tuple[int, str], str]:
    return {(e["row"], e["column"].split(" ")[0]): e["message"] for e in job.errors}


def test_every_bad_row_is_reported_and_nothing_loaded(people, importer):
    unknown = make_id_number(birth=dt.date(1970, 1, 1), sequence=321)
    rows = [
        (people.head.id_number, "hospital_bill", "2026-05-03", "100", "", ""),  # 2: good
        (unknown, "hospital_bill", "2026-05-03", "100", "", ""),  # 3: unknown ID number
        (people.other_head.id_number, "hospital_bill", "2026-05-03", "100", "", ""),  # 4
        ("110105194912310021", "hospital_bill", "2026-05-03", "", "", ""),  # 5: bad check digit
        (people.head.id_number, "hospital_bill", "2026-05-03", "100.00", "", ""),  # 6: repeat
        (people.child.id_number, "hospital_bill", "2026-05-03", "-5", "", ""),  # 7: negative
        (people.child.id_number, "utility_arrears", "2026-06-16", "5", "", ""),  # 8: future
        (people.child.id_number, "lottery win", "2026-05-03", "5", "", ""),  # 9: kind
        (people.child.id_number, "", "", "5", "", ""),  # 10: required kind and date
        (people.child.id_number, "unemployment", "2026-02-30", "", "", ""),  # 11: no such day
        (people.child.id_number, "unemployment", "2026-05-01", "abc", "", ""),  # 12: amount
        (people.child.id_number, "unemployment", "2026-05-02", "1.005", "", ""),  # 13: fen
        (people.child.id_number, "unemployment", "2026-05-03", "", "x" * 101, ""),  # 14
    ]
    job = import_now(importer, xlsx(rows))
    assert job.state == ImportState.REJECTED
    assert job.loaded == 0 and Signal.objects.count() == 0
    errors = _errors(job)
    assert all(e["sheet"] == "Signals" for e in job.errors)
    no_person = "No person with this ID number in your jurisdiction."
    assert errors[(3, "A")] == no_person
    assert errors[(4, "A")] == no_person  # outside the jurisdiction: the same words
    assert errors[(5, "A")] != no_person
    assert errors[(6, "A")].startswith("This signal repeats row 2")
    assert errors[(7, "D")] == "An amount cannot be negative."
    assert "future" in errors[(8, "C")]
    assert errors[(9, "B")].startswith("“lottery win” is not one of: Hospital bill")
    assert errors[(10, "B")] == errors[(10, "C")] == "This cell is required."
    assert "not a date" in errors[(11, "C")]
    assert "number of yuan" in errors[(12, "D")]
    assert "two decimals" in errors[(13, "D")]
    assert "100 characters" in errors[(14, "E")]
    assert (2, "A") not in errors
    assert job.errors[0]["column"] == "A (ID number)"
    # The outside ID number is logged (masked), as in the registry import.
    entry = AuditEntry.objects.get(object_type="monitoring.signalimport")
    logged = entry.changes["registered_elsewhere"]
    assert logged == [{"row": 4, "id_number": logged[0]["id_number"]}]
    assert people.other_head.id_number not in str(entry.changes)


def test_control_characters_are_refused(people, importer):
    content = csv_bytes(
        [(people.head.id_number, "hospital_bill", "2026-05-03", "1", "医院\x07")],
        header=("ID number", "kind", "date", "amount (yuan)", "issued by"),
    )
    job = import_now(importer, content, name="a.csv")
    assert job.state == ImportState.REJECTED
    assert "U+0007" in _errors(job)[(2, "E")]
    assert job.errors[0]["sheet"] == "CSV"


def test_wrong_columns_are_named(people, importer):
    job = import_now(
        importer,
        xlsx(
            [(people.head.id_number, "hospital_bill", "2026-05-03")],
            header=["ID number", "what", "kind", "kind"],
        ),
    )
    assert job.state == ImportState.REJECTED and Signal.objects.count() == 0
    messages = {(e["row"], e["column"].lower()): e["message"] for e in job.errors}
    assert messages[(1, "b (what)")].startswith("“what” is not a column of the template")
    assert messages[(1, "d (kind)")] == "This column repeats column C."
    assert "“date” is missing" in messages[(1, "date")].lower()


def test_empty_file_and_missing_sheet(importer):
    job = import_now(importer, csv_bytes([], header=()), name="empty.csv")
    assert job.state == ImportState.REJECTED
    assert "empty" in job.errors[0]["message"]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("signals.xlsx", b"%PDF-1.4 not a workbook", "not an Excel workbook"),
        ("signals.csv", b"id\x00number\n", "not a CSV"),
        ("signals.csv", "身份证号码,类型\n".encode("utf-16"), "not a CSV"),
        ("signals.pdf", b"whatever", "Excel workbook (.xlsx) or a CSV"),
    ],
)
def test_a_file_that_is_not_a_spreadsheet_is_refused(importer, name, content, words):
    with pytest.raises(ValidationFailed) as refused:
        signals.signal_import_start(actor=importer, uploaded_file=upload(content, name))
    assert words in refused.value.message
    assert "file" in refused.value.details
    assert SignalImport.objects.count() == 0


def test_a_workbook_named_csv_is_refused(importer, people):
    content = xlsx([(people.head.id_number, "hospital_bill", "2026-05-03")])
    with pytest.raises(ValidationFailed) as refused:
        signals.signal_import_start(actor=importer, uploaded_file=upload(content, "x.csv"))
    assert "rename it to .xlsx" in refused.value.message


def test_a_zip_bomb_is_refused(importer):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (4 * 1024 * 1024))
    with pytest.raises(ValidationFailed) as refused:
        signals.signal_import_start(actor=importer, uploaded_file=upload(out.getvalue()))
    assert "compressed" in refused.value.message


def test_an_oversized_upload_is_refused(importer, settings):
    settings.LINLI_MAX_UPLOAD_BYTES = 100
    with pytest.raises(ValidationFailed) as refused:
        signals.signal_import_start(actor=importer, uploaded_file=upload(b"x" * 200, "a.csv"))
    assert "largest accepted" in refused.value.message


def test_a_text_file_that_is_not_a_table_reports_its_columns(importer):
    job = import_now(importer, "随便写的一段话\n第二行\n".encode(), name="notes.csv")
    assert job.state == ImportState.REJECTED
    assert any("is not a column" in e["message"] for e in job.errors)


def test_only_importers_import_and_see_their_own_imports(people, importer, grid_worker, town):
    from linli.core.roles import Role
    from linli.core.testing.factories import make_user

    content = xlsx([(people.head.id_number, "hospital_bill", "2026-05-03")])
    with pytest.raises(PermissionDenied):
        signals.signal_import_start(actor=grid_worker, uploaded_file=upload(content))
    job = import_now(importer, content)
    other = make_user("otherofficer", Role.STREET_OFFICER, [town.other_street])
    with pytest.raises(NotFound):
        signals.signal_import_get(other, job.pk)
    assert signals.signal_import_get(importer, job.pk) == job


def test_a_district_importer_reaches_both_streets(people, town):
    from linli.core.roles import Role
    from linli.core.testing.factories import make_user

    bureau = make_user("bureau", Role.CIVIL_AFFAIRS, [town.district])
    job = import_now(
        bureau,
        xlsx(
            [
                (people.head.id_number, "hospital_bill", "2026-05-03"),
                (people.other_head.id_number, "hospital_bill", "2026-05-03"),
            ]
        ),
    )
    assert job.state == ImportState.DONE and job.loaded == 2


def test_a_crash_while_loading_loads_nothing(people, importer, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(signals, "record", broken)
    job = import_now(importer, xlsx([(people.head.id_number, "hospital_bill", "2026-05-03")]))
    assert job.state == ImportState.FAILED and "nothing was loaded" in job.failure
    assert Signal.objects.count() == 0


def test_a_claimed_import_is_not_run_twice(people, importer):
    job = import_now(importer, xlsx([(people.head.id_number, "hospital_bill", "2026-05-03")]))
    assert signals.signal_import_run(import_id=job.pk).loaded == 1
    assert Signal.objects.count() == 1


def test_stale_imports_are_failed(importer, frozen):
    job = SignalImport.objects.create(
        created_by=importer, original_name="a.csv", state=ImportState.CHECKING
    )
    SignalImport.objects.filter(pk=job.pk).update(heartbeat_at=signals.timezone.now())
    assert signals.signal_imports_fail_stale() == 0
    frozen.shift(dt.timedelta(minutes=20))
    assert signals.signal_imports_fail_stale() == 1
    job.refresh_from_db()
    assert job.state == ImportState.FAILED and job.failure


def test_today_is_not_the_future(people, importer):
    job = import_now(importer, xlsx([(people.head.id_number, "hospital_bill", TODAY)]))
    assert job.state == ImportState.DONE


# --- hostile cells ----------------------------------------------------------------------------

cell = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(min_value=dt.date(1, 1, 1)),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.lists(cell, min_size=0, max_size=8), max_size=6))
def test_any_cells_are_checked_never_crash(people, importer, rows):
    header = ("ID number", "kind", "date", "amount (yuan)", "issued by", "note")
    plan = signals.check_rows("S", iter([header, *map(tuple, rows)]), actor=importer, today=TODAY)
    for error in plan.errors:
        assert error["row"] >= 2 and error["column"] and error["message"]
    for good in plan.rows:
        assert good["occurred_on"] <= TODAY
        assert good["amount"] is None or good["amount"] >= 0


@given(amount=st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False))
def test_the_key_ignores_how_an_amount_is_written(amount):
    day = dt.date(2026, 1, 2)
    written = [str(amount), f"{amount:.2f}", f"{amount:,.2f}"]
    keys = set()
    for text in written:
        parsed, problem = signals._amount(text)
        assert problem is None
        keys.add(signals.row_key("110105194912310021", "hospital_bill", day, parsed))
    assert len(keys) == 1
