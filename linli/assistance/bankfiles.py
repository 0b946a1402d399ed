"""Bank files of a payment cycle (代发文件) and the bank's return files (回盘文件).

The bank file has one row per account: the sum of the cycle's payments into it (a recipient
owed this month and an arrear gets one transfer). Columns: account, name (the account
holder's), amount in yuan with two decimals. Below the rows, a total row (the row count and the
total amount) and a checksum row: the SHA-256 of the rows as the UTF-8 text
`account,name,amount\\n` per row in file order. The first 12 hex digits of that checksum are
also in the file name, so a file renamed or edited by hand is told apart from the one issued.
The same content goes out as Excel (openpyxl) and CSV (UTF-8 with BOM, which Excel and WPS
open with the Chinese names intact).

The return file has the columns account, name, amount, result (paid or failed) and reason,
with a header row in English or Chinese; the total and checksum rows may be left in. Reading
it finds what is wrong with the file as a whole (kind, size, archive bombs, headers); checking
its rows against the bank file finds every row's problem with its row and column.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from linli.core.errors import ValidationFailed
from linli.core.text import control_character, excel_safe
from linli.people.models import mask_account_number
from linli.people.spreadsheets import NotAWorkbook, open_workbook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
FORMATS = {"xlsx": XLSX, "csv": CSV}
CENT = Decimal("0.01")
MAX_TEXT = 200

# Column keys of the two files, with the heading each is written (and read) under.
COLUMN_LABELS: dict[str, Any] = {
    "account": gettext_lazy("Account number"),
    "name": gettext_lazy("Account holder"),
    "amount": gettext_lazy("Amount (yuan)"),
    "result": gettext_lazy("Result"),
    "reason": gettext_lazy("Reason"),
}
BANK_COLUMNS = ("account", "name", "amount")
RETURN_COLUMNS = ("account", "name", "amount", "result", "reason")
TOTAL_LABEL = gettext_lazy("Total")
CHECKSUM_LABEL = "SHA-256"
LANGUAGES = ("zh-hans", "en")

# Headings banks use besides ours.
HEADING_ALIASES = {
    "account": {"account", "账号", "帐号", "卡号", "收款账号", "银行账号"},
    "name": {"name", "户名", "姓名", "收款人", "账户名"},
    "amount": {"amount", "金额", "金额（元）", "金额(元)", "代发金额"},
    "result": {"result", "结果", "状态", "处理结果"},
    "reason": {"reason", "原因", "失败原因", "备注"},
}
RESULT_WORDS = {
    "paid": {"paid", "success", "succeeded", "ok", "成功", "已支付", "已入账", "入账成功"},
    "failed": {"failed", "failure", "fail", "失败", "入账失败", "退回"},
}


def _in_every_language(text: Any) -> set[str]:
    out = set()
    for language in LANGUAGES:
        with translation.override(language):
            out.add(str(text).strip().lower())
    return out


def _headings() -> dict[str, set[str]]:
    return {
        key: {a.lower() for a in HEADING_ALIASES[key]} | _in_every_language(COLUMN_LABELS[key])
        for key in RETURN_COLUMNS
    }


def _footer_words() -> set[str]:
    return _in_every_language(TOTAL_LABEL) | {CHECKSUM_LABEL.lower(), "合计", "total"}


# --- the bank file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BankRow:
    account: str
    name: str
    amount: Decimal

    def canonical(self) -> str:
        return f"{self.account},{self.name},{self.amount:.2f}\n"


@dataclass(frozen=True)
class BankFile:
    name: str
    content: bytes
    content_type: str
    rows: int
    total: Decimal
    sha256: str


def checksum(rows: Iterable[BankRow]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row.canonical().encode())
    return digest.hexdigest()


def _footer(rows: list[BankRow], digest: str) -> list[list[Any]]:
    total = sum((r.amount for r in rows), Decimal("0"))
    return [[str(TOTAL_LABEL), len(rows), f"{total:.2f}"], [CHECKSUM_LABEL, digest, ""]]


def write(rows: list[BankRow], *, file_format: str, stem: str) -> BankFile:
    """The bank file of these rows as Excel or CSV, named `<stem>-<checksum prefix>.<ext>`."""
    digest = checksum(rows)
    header = [str(COLUMN_LABELS[key]) for key in BANK_COLUMNS]
    body = [[r.account, r.name, f"{r.amount:.2f}"] for r in rows]
    lines = [header, *body, *_footer(rows, digest)]
    if file_format == "xlsx":
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(str(_("Bank file")))
        for line in lines:
            # Accounts and amounts go in as text: Excel would round a 19-digit account number.
            ws.append([excel_safe(value) for value in line])
        out = io.BytesIO()
        wb.save(out)
        content = out.getvalue()
    elif file_format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for line in lines:
            writer.writerow([_csv_safe(value) for value in line])
        content = ("\ufeff" + out.getvalue()).encode()
    else:
        raise ValidationFailed(
            _("Choose Excel (xlsx) or CSV."), details={"file_format": [_("Unknown format.")]}
        )
    return BankFile(
        name=f"{stem}-{digest[:12]}.{file_format}",
        content=content,
        content_type=FORMATS[file_format],
        rows=len(rows),
        total=sum((r.amount for r in rows), Decimal("0")),
        sha256=digest,
    )


def _csv_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula is kept as text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not _is_amount(value):
        return "'" + value
    return value


def _is_amount(value: str) -> bool:
    try:
        Decimal(value)
    except InvalidOperation:
        return False
    return True


# --- reading a return file -------------------------------------------------------------------


@dataclass
class ReturnRow:
    row: int
    values: dict[str, str]
    columns: dict[str, str]  # key → column letter
    account_was_number: bool = False


@dataclass
class RowProblem:
    row: int | None
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class ReturnCheck:
    """Outcome of checking a return file: accounts paid and failed (with the bank's reason),
    and every problem found; a file with any problem is refused whole."""

    paid: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)

    def add(self, row: int | None, column: str, message: str) -> None:
        self.problems.append(RowProblem(row, column, message))


def file_problem(message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"file": [message]})


def _cell_text(value: Any) -> tuple[str, bool]:
    """(text, was it a number too long to be exact) of a cell."""
    if value is None:
        return "", False
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, float):
        if value.is_integer():
            # Past 15 digits a spreadsheet number has lost the account number's last digits.
            return str(int(value)), abs(value) >= 10**15
        return repr(value), False
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(), False
    return str(value).strip(), False


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB 18030, which Chinese banks' systems still write."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise file_problem(_("This file is neither UTF-8 nor GB 18030 text. Save it as CSV (UTF-8)."))


def _raw_rows(path: str, name: str) -> Iterator[list[Any]]:
    if name.lower().endswith(".xlsx"):
        try:
            wb = open_workbook(path)
        except NotAWorkbook as exc:
            raise file_problem(str(exc)) from None
        try:
            ws = wb.worksheets[0] if wb.worksheets else None
            if ws is None:
                return
            yield from (list(r) for r in ws.iter_rows(values_only=True))
        finally:
            wb.close()
        return
    with open(path, "rb") as handle:
        text = _decode(handle.read())
    if "\x00" in text:
        raise file_problem(_("This file is not a CSV text file. Save it as CSV (UTF-8)."))
    try:
        yield from csv.reader(io.StringIO(text, newline=""))
    except csv.Error:
        raise file_problem(_("This CSV file could not be read; save it again as CSV.")) from None


def read_return(path: str, name: str) -> list[ReturnRow]:
    """The rows of a return file with their row numbers (the header is row 1)."""
    headings = _headings()
    footer = _footer_words()
    iterator = enumerate(_raw_rows(path, name), start=1)
    header: list[Any] | None = None
    for _number, raw in iterator:
        if any(_cell_text(c)[0] for c in raw):
            header = raw
            break
    if header is None:
        raise file_problem(_("The return file is empty."))
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        text = _cell_text(cell)[0].lower()
        for key, words in headings.items():
            if text in words and key not in positions:
                positions[key] = index
    missing = [str(COLUMN_LABELS[k]) for k in RETURN_COLUMNS if k not in positions]
    if missing:
        raise file_problem(
            _(
                "The header row lacks the columns %(columns)s. The return file needs the "
                "columns account number, account holder, amount, result and reason."
            )
            % {"columns": "、".join(missing)}
        )
    rows: list[ReturnRow] = []
    for number, raw in iterator:
        cells = {key: _cell_text(raw[i] if i < len(raw) else None) for key, i in positions.items()}
        values = {key: text for key, (text, _wide) in cells.items()}
        if not any(values.values()):
            continue
        if values["account"].lower() in footer:
            continue
        rows.append(
            ReturnRow(
                row=number,
                values=values,
                columns={key: get_column_letter(i + 1) for key, i in positions.items()},
                account_was_number=cells["account"][1],
            )
        )
    return rows


def _amount(text: str) -> Decimal | None:
    cleaned = text.replace(",", "").replace("，", "").replace("¥", "").replace("￥", "").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.quantize(CENT) or value < 0:
        return None
    return value.quantize(CENT)


def _result(text: str) -> str | None:
    word = text.strip().lower()
    for result, words in RESULT_WORDS.items():
        if word in words:
            return result
    return None


def check_return(rows: list[ReturnRow], expected: dict[str, BankRow]) -> ReturnCheck:
    """Every row against the bank file: each account once, known, with its amount; every
    account of the bank file answered."""
    check = ReturnCheck()
    seen: dict[str, int] = {}
    for r in rows:
        v, col = r.values, r.columns
        for key in RETURN_COLUMNS:
            char = control_character(v[key])
            if char is not None:
                check.add(
                    r.row,
                    col[key],
                    _("Invisible control character (U+%(code)04X); remove it.")
                    % {"code": ord(char)},
                )
        account = v["account"]
        if not account:
            check.add(r.row, col["account"], _("The account number is missing."))
            continue
        if len(account) > 40 or len(v["name"]) > MAX_TEXT or len(v["reason"]) > MAX_TEXT:
            check.add(r.row, col["account"], _("This row's text is too long for a bank row."))
            continue
        masked = mask_account_number(account)
        if account in seen:
            check.add(
                r.row,
                col["account"],
                _("Account %(account)s appears again (first in row %(first)d); each account "
                  "has one row.") % {"account": masked, "first": seen[account]},
            )  # fmt: skip
            continue
        seen[account] = r.row
        bank_row = expected.get(account)
        if bank_row is None:
            message = _("Account %(account)s is not in this cycle's bank file.") % {
                "account": masked
            }
            if r.account_was_number:
                message += " " + _(
                    "The column was stored as a number and lost digits: format it as text."
                )
            check.add(r.row, col["account"], message)
            continue
        amount = _amount(v["amount"])
        if amount is None:
            check.add(
                r.row,
                col["amount"],
                _("“%(text)s” is not an amount in yuan (e.g. 812.50).") % {"text": v["amount"]},
            )
        elif amount != bank_row.amount:
            check.add(
                r.row,
                col["amount"],
                _("The amount was changed: the bank file says %(sent)s, this row %(returned)s.")
                % {"sent": f"{bank_row.amount:.2f}", "returned": f"{amount:.2f}"},
            )
        if v["name"] and v["name"] != bank_row.name:
            check.add(
                r.row,
                col["name"],
                _("The account holder differs from the bank file's for this account."),
            )
        result = _result(v["result"])
        if result is None:
            check.add(
                r.row,
                col["result"],
                _("Say “paid” or “failed” (成功 or 失败), not “%(text)s”.") % {"text": v["result"]},
            )
        elif result == "paid":
            check.paid.append(account)
        else:
            check.failed[account] = v["reason"] or _("Failed at the bank (no reason given)")
    for account, bank_row in expected.items():
        if account not in seen:
            check.add(
                None,
                str(COLUMN_LABELS["account"]),
                _("Account %(account)s (%(amount)s) of the bank file has no row in the return "
                  "file.") % {"account": mask_account_number(account),
                              "amount": f"{bank_row.amount:.2f}"},
            )  # fmt: skip
    return check
