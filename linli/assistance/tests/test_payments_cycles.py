"""Payment cycles: generation, maker-checker approval, bank file, return file, retries."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from openpyxl import Workbook, load_workbook

from linli.assistance import payments
from linli.assistance.models import (
    BankReturn,
    CycleState,
    Payment,
    PaymentCycle,
    PaymentStatus,
    Recovery,
)
from linli.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry

from .fixtures_payments import *  # noqa: F403  (the fixtures)
from .fixtures_payments import (
    MONTH,
    answer_all,
    bank_file_rows,
    make_benefit,
    make_recipient,
    make_recovery,
    return_csv,
    start_and_generate,
    through_export,
)

pytestmark = pytest.mark.django_db
APRIL = dt.date(2026, 4, 1)


def paid_to(cycle) -> dict[int, Decimal]:
    return {p.recipient_id: p.amount for p in cycle.payments.all()}


# --- start ------------------------------------------------------------------------------------


def test_start_checks_role_month_street_and_duplicates(town, people):
    with pytest.raises(PermissionDenied):
        payments.cycle_start(
            actor=people.viewer, program="minimum_living", street_id=town.street.pk, month=MONTH
        )
    with pytest.raises(ValidationFailed) as exc:
        payments.cycle_start(
            actor=people.maker,
            program="minimum_living",
            street_id=town.street.pk,
            month=dt.date(2026, 3, 5),
        )
    assert "month" in exc.value.details
    with pytest.raises(ValidationFailed) as exc:
        payments.cycle_start(
            actor=people.maker, program="marginal", street_id=town.street.pk, month=MONTH
        )
    assert "program" in exc.value.details
    with pytest.raises(ValidationFailed):  # two months ahead
        payments.cycle_start(
            actor=people.maker,
            program="minimum_living",
            street_id=town.street.pk,
            month=dt.date(2026, 5, 1),
        )
    with pytest.raises(NotFound):  # the other street is outside the jurisdiction
        payments.cycle_start(
            actor=people.maker,
            program="minimum_living",
            street_id=town.other_street.pk,
            month=MONTH,
        )
    with pytest.raises(NotFound):  # a community is not a street
        payments.cycle_start(
            actor=people.maker, program="minimum_living", street_id=town.community.pk, month=MONTH
        )
    payments.cycle_start(
        actor=people.maker, program="minimum_living", street_id=town.street.pk, month=MONTH
    )
    with pytest.raises(Conflict) as exc:
        payments.cycle_start(
            actor=people.checker, program="minimum_living", street_id=town.street.pk, month=MONTH
        )
    assert "already has a cycle" in exc.value.message


# --- generation -------------------------------------------------------------------------------


def test_generation_pays_running_benefits_only(town, people):
    a, b = people.buildings
    active = make_benefit(make_recipient(a), amount="812.50")
    phasing = make_benefit(
        make_recipient(b), amount="300.00", status="phasing_out", phase_out_until=MONTH
    )
    phased_out = make_benefit(
        make_recipient(a), status="phasing_out", phase_out_until=dt.date(2026, 2, 1)
    )
    suspended = make_benefit(make_recipient(a), status="suspended")
    stopped = make_benefit(make_recipient(a), status="stopped")
    not_yet = make_benefit(make_recipient(b), start=APRIL)
    ended = make_benefit(make_recipient(b), end=dt.date(2026, 2, 1))
    ends_now = make_benefit(make_recipient(b), amount="100.00", end=MONTH)
    other_program = make_benefit(make_recipient(a), program="extreme_poverty")
    elsewhere = make_benefit(make_recipient(town.other_building))

    cycle = start_and_generate(people.maker, town.street)

    assert cycle.state == CycleState.REVIEW
    paid = paid_to(cycle)
    assert paid == {
        active.recipient_id: Decimal("812.50"),
        phasing.recipient_id: Decimal("300.00"),
        ends_now.recipient_id: Decimal("100.00"),
    }
    for left_out in (phased_out, suspended, stopped, not_yet, ended, other_program, elsewhere):
        assert left_out.recipient_id not in paid
    assert (cycle.payment_count, cycle.total_amount) == (3, Decimal("1212.50"))
    assert cycle.processed == cycle.total == 3
    payment = cycle.payments.get(recipient=active.recipient)
    assert payment.account_number.startswith("6222") and payment.holder_name
    assert payment.place_path == active.place_path


def test_payment_without_account_is_generated_and_flagged(town, people):
    make_benefit(make_recipient(town.building, account=None))
    make_benefit(make_recipient(people.buildings[1]))
    cycle = start_and_generate(people.maker, town.street)
    totals = payments.cycle_totals_by_community(actor=people.maker, cycle=cycle)
    assert [(t.name, t.count, t.without_account) for t in totals] == [
        (town.community.name, 1, 1),
        (people.communities[1].name, 1, 0),
    ]
    flagged = payments.cycle_payments(
        actor=people.maker, cycle=cycle, filters=payments.PaymentFilter(without_account=True)
    )
    assert flagged.count() == 1


def test_recovery_is_withheld_up_to_the_entitlement(town, people):
    small = make_benefit(make_recipient(town.building), amount="800.00")
    make_recovery(small, "1000.00", recovered="700.00")  # 300 still open
    large = make_benefit(make_recipient(town.building), amount="500.00")
    make_recovery(large, "2000.00")
    cycle = start_and_generate(people.maker, town.street)
    by_recipient = {p.recipient_id: p for p in cycle.payments.all()}
    p_small, p_large = by_recipient[small.recipient_id], by_recipient[large.recipient_id]
    assert (p_small.entitlement, p_small.recovery_deducted, p_small.amount) == (
        Decimal("800.00"),
        Decimal("300.00"),
        Decimal("500.00"),
    )
    assert (p_large.recovery_deducted, p_large.amount) == (Decimal("500.00"), Decimal("0.00"))
    # Nothing is booked before the bank says the money went out.
    assert Recovery.objects.get(benefit=small).recovered == Decimal("700.00")


def test_the_constraint_forbids_paying_twice(town, people):
    make_benefit(make_recipient(town.building))
    cycle = start_and_generate(people.maker, town.street)
    payment = cycle.payments.get()
    payment.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        payment.save()


def test_generation_stopped_midway_and_resumed_pays_each_once(town, people, monkeypatch):
    for building in people.buildings:
        for _ in range(3):
            make_benefit(make_recipient(building))
    cycle = payments.cycle_start(
        actor=people.maker, program="minimum_living", street_id=town.street.pk, month=MONTH
    )
    real_insert = payments._insert_chunk
    calls = []

    def crash_on_second_community(sql, params):
        calls.append(params.get("low"))
        if len([c for c in calls if c]) == 2:
            raise RuntimeError("worker killed")
        return real_insert(sql, params)

    monkeypatch.setattr(payments, "CHUNK_BENEFITS", 1)  # a chunk per community
    monkeypatch.setattr(payments, "_insert_chunk", crash_on_second_community)
    cycle = payments.cycle_generate(cycle_id=cycle.pk)
    assert cycle.state == CycleState.FAILED and cycle.failure
    assert cycle.payments.count() == 3  # the first community only
    assert cycle.processed == 3 and cycle.total == 6
    monkeypatch.setattr(payments, "_insert_chunk", real_insert)

    assert payments.available_actions(people.maker, cycle) == ["resume"]
    payments.cycle_resume(actor=people.maker, cycle_id=cycle.pk)
    cycle = payments.cycle_generate(cycle_id=cycle.pk)
    assert cycle.state == CycleState.REVIEW
    assert cycle.payments.count() == 6 == cycle.payment_count
    # Run again as a second, late worker would: nothing changes.
    PaymentCycle.objects.filter(pk=cycle.pk).update(state=CycleState.GENERATING)
    cycle = payments.cycle_generate(cycle_id=cycle.pk)
    assert cycle.payments.count() == 6


def test_a_killed_worker_is_marked_failed_by_the_periodic_job(town, people):
    make_benefit(make_recipient(town.building))
    cycle = payments.cycle_start(
        actor=people.maker, program="minimum_living", street_id=town.street.pk, month=MONTH
    )
    PaymentCycle.objects.filter(pk=cycle.pk).update(
        heartbeat_at=dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.UTC)
    )
    assert payments.cycles_fail_stale() == 1
    cycle.refresh_from_db()
    assert cycle.state == CycleState.FAILED and "resume" in cycle.failure


def test_grants_pay_each_household_or_person_at_the_policy_amount(town, people):
    urban = make_recipient(town.building, members=3)
    make_benefit(urban, persons_covered=3)
    rural = make_recipient(people.buildings[1], registration="rural", members=2)
    make_benefit(rural, persons_covered=2, program="extreme_poverty")
    make_benefit(make_recipient(town.building), status="suspended")

    heating = start_and_generate(people.maker, town.street, program="heating")
    assert paid_to(heating) == {urban.pk: Decimal("1000.00"), rural.pk: Decimal("800.00")}
    one_off = start_and_generate(people.maker, town.street, program="one_off")
    assert paid_to(one_off) == {urban.pk: Decimal("900.00"), rural.pk: Decimal("400.00")}
    price = start_and_generate(people.maker, town.street, program="price_subsidy")
    assert price.payment_count == 0  # the demo CPI rise is below the trigger


def test_heating_is_paid_once_per_household(town, people):
    person = make_recipient(town.building, members=2)
    make_benefit(person, persons_covered=2)
    member = person.household.members.exclude(pk=person.pk).get()
    make_benefit(member, program="extreme_poverty")
    cycle = start_and_generate(people.maker, town.street, program="heating")
    assert cycle.payments.count() == 1


# --- approval ---------------------------------------------------------------------------------


def test_the_preparer_cannot_approve(town, people):
    make_benefit(make_recipient(town.building))
    checker_cycle = start_and_generate(people.checker, town.street)
    assert "approve" not in payments.available_actions(people.checker, checker_cycle)
    with pytest.raises(PermissionDenied) as exc:
        payments.cycle_approve(actor=people.checker, cycle_id=checker_cycle.pk)
    assert "another officer" in exc.value.message
    checker_cycle.refresh_from_db()
    assert checker_cycle.state == CycleState.REVIEW
    # The database refuses it as well, whatever code writes the row.
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentCycle.objects.filter(pk=checker_cycle.pk).update(approved_by=people.checker)


def test_approval_needs_the_checkers_role_and_the_review_state(town, people):
    make_benefit(make_recipient(town.building))
    cycle = start_and_generate(people.maker, town.street)
    with pytest.raises(PermissionDenied):
        payments.cycle_approve(actor=people.colleague, cycle_id=cycle.pk)
    with pytest.raises(NotFound):  # the street officer of another street does not see it
        payments.cycle_approve(actor=people.outsider, cycle_id=cycle.pk)
    assert payments.available_actions(people.checker, cycle) == ["approve"]
    payments.cycle_approve(actor=people.checker, cycle_id=cycle.pk)
    with pytest.raises(Conflict):
        payments.cycle_approve(actor=people.checker2, cycle_id=cycle.pk)
    cycle.refresh_from_db()
    assert (cycle.state, cycle.approved_by) == (CycleState.APPROVED, people.checker)
    assert AuditEntry.objects.filter(object_id=str(cycle.pk), actor=people.checker).exists()


# --- bank file --------------------------------------------------------------------------------


def test_bank_file_totals_checksum_and_audit(town, people):
    make_benefit(make_recipient(town.building, name="张三"), amount="812.50")
    make_benefit(make_recipient(town.building, name="=HYPERLINK(1)"), amount="300.00")
    make_benefit(make_recipient(town.building, account=None))
    cycle, bank_file = through_export(people, town.street)
    assert cycle.state == CycleState.EXPORTED
    lines = list(csv.reader(io.StringIO(bank_file.content.decode("utf-8-sig"))))
    header, body, total, digest = lines[0], lines[1:-2], lines[-2], lines[-1]
    assert header == ["Account number", "Account holder", "Amount (yuan)"]
    assert len(body) == 2  # the payment without an account is not in the file
    assert total == ["Total", "2", "1112.50"]
    names = {row[1] for row in body}
    assert "'=HYPERLINK(1)" in names  # a formula stays text in a spreadsheet
    expected = hashlib.sha256(
        "".join(
            f"{p.account_number},{p.holder_name},{p.amount:.2f}\n"
            for p in cycle.payments.exclude(account_number="").order_by("account_number")
        ).encode()
    ).hexdigest()
    assert digest == ["SHA-256", expected, ""]
    assert bank_file.name.endswith(f"-{expected[:12]}.csv")
    entry = AuditEntry.objects.get(object_id=str(cycle.pk), action="export")
    assert entry.changes["sha256"] == expected and entry.changes["rows"] == 2
    assert entry.actor == people.maker

    xlsx = payments.cycle_export(actor=people.maker, cycle_id=cycle.pk, file_format="xlsx")
    assert xlsx.sha256 == expected
    ws = load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[-2] == ("Total", 2, "1112.50")
    assert all(isinstance(r[0], str) for r in rows[1:-2])  # account numbers as text
    assert AuditEntry.objects.filter(object_id=str(cycle.pk), action="export").count() == 2


def test_bank_file_is_refused_before_approval_and_to_viewers(town, people):
    make_benefit(make_recipient(town.building))
    cycle = start_and_generate(people.maker, town.street)
    with pytest.raises(Conflict):
        payments.cycle_export(actor=people.maker, cycle_id=cycle.pk, file_format="csv")
    payments.cycle_approve(actor=people.checker, cycle_id=cycle.pk)
    with pytest.raises(NotFound):
        payments.cycle_export(actor=people.viewer, cycle_id=cycle.pk, file_format="csv")
    with pytest.raises(ValidationFailed):
        payments.cycle_export(actor=people.maker, cycle_id=cycle.pk, file_format="pdf")


def test_one_row_per_account_sums_an_arrear_with_the_month(town, people):
    person = make_recipient(town.building)
    make_benefit(person, amount="800.00", start=dt.date(2026, 2, 1))
    february, bank_file = through_export(people, town.street, month=dt.date(2026, 2, 1))
    account = person.bank_accounts.get().account_number
    payments.bank_return_import(
        actor=people.maker,
        cycle_id=february.pk,
        uploaded_file=return_csv(answer_all(bank_file, failed={account: "账户冻结"})),
    )
    march, bank_file = through_export(people, town.street)
    assert bank_file_rows(bank_file) == [[account, person.name, "1600.00"]]
    assert sorted(p.month for p in march.payments.all()) == [dt.date(2026, 2, 1), MONTH]


# --- return file ------------------------------------------------------------------------------


def test_valid_return_marks_paid_and_failed_and_failed_are_retried_once(town, people):
    ok = make_recipient(town.building)
    bad = make_recipient(town.building)
    none = make_recipient(town.building, account=None)
    for person in (ok, bad, none):
        make_benefit(person)
    withheld = make_benefit(make_recipient(town.building), amount="600.00")
    recovery = make_recovery(withheld, "100.00")
    cycle, bank_file = through_export(people, town.street)
    bad_account = bad.bank_accounts.get().account_number
    result = payments.bank_return_import(
        actor=people.maker,
        cycle_id=cycle.pk,
        uploaded_file=return_csv(answer_all(bank_file, failed={bad_account: "户名不符"})),
    )
    assert result.accepted and (result.paid, result.failed) == (2, 2)
    cycle.refresh_from_db()
    assert cycle.state == CycleState.RECONCILED
    statuses = {p.recipient_id: (p.status, p.failure_reason) for p in cycle.payments.all()}
    assert statuses[ok.pk] == (PaymentStatus.PAID, "")
    assert statuses[bad.pk] == (PaymentStatus.FAILED, "户名不符")
    assert statuses[none.pk] == (PaymentStatus.FAILED, "No bank account on record")
    recovery.refresh_from_db()
    assert recovery.recovered == Decimal("100.00")  # booked when paid

    # A second import of the same cycle is refused.
    with pytest.raises(Conflict):
        payments.bank_return_import(
            actor=people.maker, cycle_id=cycle.pk, uploaded_file=return_csv(answer_all(bank_file))
        )

    # April: the two failed March payments come again beside April's; nobody twice.
    BankAccount = type(ok.bank_accounts.get())
    BankAccount.objects.create(
        person=none, bank="农业银行", account_number="6228480000000001", holder_name=none.name
    )
    april = start_and_generate(people.maker, town.street, month=APRIL)
    months = sorted((p.recipient_id, p.month) for p in april.payments.all())
    assert (bad.pk, MONTH) in months and (none.pk, MONTH) in months
    assert (ok.pk, MONTH) not in months
    assert len(months) == 4 + 2
    retry = april.payments.get(recipient=none, month=MONTH)
    assert retry.account_number == "6228480000000001"
    assert april.payments.get(recipient=withheld.recipient, month=APRIL).recovery_deducted == 0
    # May retries nothing of March again (the retries are pending, not failed).
    for person, month in ((bad, MONTH), (none, MONTH)):
        assert (
            Payment.objects.filter(recipient=person, program="minimum_living", month=month)
            .exclude(status=PaymentStatus.FAILED)
            .count()
            == 1
        )


def _refused(cycle, people, rows, **kwargs):
    with pytest.raises(payments.BankReturnRefused) as exc:
        payments.bank_return_import(
            actor=people.maker, cycle_id=cycle.pk, uploaded_file=return_csv(rows, **kwargs)
        )
    return exc.value


def test_return_with_unknown_duplicate_changed_and_missing_rows_is_refused(town, people):
    persons = [make_recipient(town.building) for _ in range(4)]
    for person in persons:
        make_benefit(person)
    cycle, bank_file = through_export(people, town.street)
    rows = answer_all(bank_file)
    first, second, third, _fourth = rows
    bad_rows = [
        first,
        first,  # duplicate
        (second[0], second[1], "900.00", "成功", ""),  # changed amount
        ("6222999999999999999", "陌生人", "800.00", "成功", ""),  # unknown account
        (third[0], third[1], third[2], "maybe", ""),  # not a result
    ]  # the fourth row is missing
    error = _refused(cycle, people, bad_rows)
    problems = error.problems
    by_row = {(p["row"], p["column"]): p["message"] for p in problems}
    assert "appears again (first in row 2)" in by_row[(3, "A")]
    assert "bank file says 800.00, this row 900.00" in by_row[(4, "C")]
    assert "is not in this cycle's bank file" in by_row[(5, "A")]
    assert "6222" in by_row[(5, "A")] and "6222999999999999999" not in by_row[(5, "A")]
    assert "paid" in by_row[(6, "D")]
    missing = [p for p in problems if p["row"] is None]
    assert len(missing) == 1 and "has no row in the return file" in missing[0]["message"]
    assert "nothing was marked" in error.message
    # Nothing changed; the refused file is kept with its problems and audited.
    cycle.refresh_from_db()
    assert cycle.state == CycleState.EXPORTED
    assert not cycle.payments.exclude(status=PaymentStatus.PENDING).exists()
    kept = BankReturn.objects.get(cycle=cycle)
    assert not kept.accepted and kept.errors == problems
    assert AuditEntry.objects.filter(object_id=str(cycle.pk), action="import").exists()
    # The corrected file is then accepted.
    payments.bank_return_import(
        actor=people.maker, cycle_id=cycle.pk, uploaded_file=return_csv(rows)
    )
    assert not cycle.payments.filter(status=PaymentStatus.PENDING).exists()


def test_return_file_problems_of_the_whole_file(town, people, settings):
    make_benefit(make_recipient(town.building))
    cycle, bank_file = through_export(people, town.street)

    def refused_with(upload) -> str:
        with pytest.raises(ValidationFailed) as exc:
            payments.bank_return_import(actor=people.maker, cycle_id=cycle.pk, uploaded_file=upload)
        return exc.value.message

    assert "header row lacks" in refused_with(
        return_csv(answer_all(bank_file), header="account,name,amount")
    )
    assert ".xlsx or .csv" in refused_with(SimpleUploadedFile("r.pdf", b"%PDF-1.4"))
    assert "empty" in refused_with(SimpleUploadedFile("r.csv", b"\n\n"))
    assert "Excel" in refused_with(SimpleUploadedFile("r.xlsx", b"not a zip"))
    settings.LINLI_MAX_UPLOAD_BYTES = 10
    assert "largest accepted" in refused_with(return_csv(answer_all(bank_file)))
    settings.LINLI_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
    assert not BankReturn.objects.exists()
    assert cycle.payments.filter(status=PaymentStatus.PENDING).count() == 1


def test_zip_bomb_return_is_refused_before_unpacking(town, people, tmp_path):
    import zipfile

    make_benefit(make_recipient(town.building))
    cycle, _bank_file = through_export(people, town.street)
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (20 * 1024 * 1024))
    with pytest.raises(ValidationFailed) as exc:
        payments.bank_return_import(
            actor=people.maker,
            cycle_id=cycle.pk,
            uploaded_file=SimpleUploadedFile("bomb.xlsx", bomb.read_bytes()),
        )
    assert "compressed" in exc.value.message


def test_excel_return_with_hostile_text(town, people):
    person = make_recipient(town.building, name="<b>王五</b>")
    make_benefit(person)
    cycle, bank_file = through_export(people, town.street)
    ((account, name, amount),) = bank_file_rows(bank_file)
    wb = Workbook()
    ws = wb.active
    ws.append(["Account number", "Account holder", "Amount (yuan)", "Result", "Reason"])
    ws.append([account, name, float(amount), "failed", "账户\x7f冻结"])
    out = io.BytesIO()
    wb.save(out)
    upload = SimpleUploadedFile("return.xlsx", out.getvalue())
    with pytest.raises(payments.BankReturnRefused) as exc:
        payments.bank_return_import(actor=people.maker, cycle_id=cycle.pk, uploaded_file=upload)
    assert exc.value.problems[0]["column"] == "E"
    assert "U+007F" in exc.value.problems[0]["message"]

    ws.delete_rows(2)
    ws.append([account, name, float(amount), "failed", "账户冻结"])
    out = io.BytesIO()
    wb.save(out)
    payments.bank_return_import(
        actor=people.maker,
        cycle_id=cycle.pk,
        uploaded_file=SimpleUploadedFile("return.xlsx", out.getvalue()),
    )
    payment = cycle.payments.get()
    assert (payment.status, payment.failure_reason) == (PaymentStatus.FAILED, "账户冻结")


def test_account_stored_as_a_number_is_explained(town, people):
    make_benefit(make_recipient(town.building))
    cycle, bank_file = through_export(people, town.street)
    ((account, name, amount),) = bank_file_rows(bank_file)
    wb = Workbook()
    ws = wb.active
    ws.append(["账号", "户名", "金额", "结果", "原因"])
    ws.append([float(account), name, amount, "成功", ""])
    out = io.BytesIO()
    wb.save(out)
    with pytest.raises(payments.BankReturnRefused) as exc:
        payments.bank_return_import(
            actor=people.maker,
            cycle_id=cycle.pk,
            uploaded_file=SimpleUploadedFile("r.xlsx", out.getvalue()),
        )
    assert "format it as text" in exc.value.problems[0]["message"]
