"""Hardship signals (风险信号): collected from the capabilities' providers, recorded by in-process
feeders, and imported from external files (hospital bills, utility arrears, school-fee waivers,
unemployment registrations).

- `signals_collect()` — the periodic job (signals_tasks.py): asks every registered provider
  (linli.core.risk_signals; `<app>/risk_signals.py` modules, found at start-up) for what arose
  since its last window and stores it in batches, idempotent by key.
- `signal_record(...)` — one signal from a feeder in this process, idempotent by key.
- `signal_import_start(...)` / `signal_import_run(...)` — an Excel (.xlsx) or CSV (UTF-8 or
  GB18030) file checked row by row in the worker, the registry import's way: every problem
  with sheet, row, column and reason; all or nothing; the same file twice adds nothing (a row's
  key is a hash of ID number, kind, date and amount).
- `signals_for(actor, ...)` — the list, scoped to the actor's jurisdiction.

Every stored key is "<source>:<key>": a provider's keys cannot collide with another's.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from linli.core import risk_signals
from linli.core.audit import record
from linli.core.context import acting_from
from linli.core.errors import NotFound, PermissionDenied, ValidationFailed
from linli.core.masking import mask_id_number
from linli.core.models import AuditAction, User
from linli.core.roles import Perm
from linli.core.scoping import under_any
from linli.core.text import control_character, control_character_message, strip_invisible
from linli.people.idnumbers import InvalidIdNumber, parse_id_number
from linli.people.models import Household, Person, jurisdiction_path
from linli.people.spreadsheets import NotAWorkbook, open_workbook

from .models import ImportState, Signal, SignalFeed, SignalImport, SignalKind, SignalSource

logger = logging.getLogger(__name__)

BATCH = 1000
# A provider's next window starts this long before the previous one ended: a row committed a
# little after the moment it carries is still read (its key makes reading it twice harmless).
OVERLAP = dt.timedelta(hours=1)
KEY_LENGTH = 120
MAX_AMOUNT = Decimal("999999999999.99")
MAX_ROWS = 100_000
STALE_AFTER = dt.timedelta(minutes=15)


# --- storing ----------------------------------------------------------------------------------


def full_key(source: str, key: str) -> str:
    """The stored key: "<source>:<key>", hashed when it would be longer than the column."""
    stored = f"{source}:{key}"
    if len(stored) <= KEY_LENGTH:
        return stored
    return f"{source}:{hashlib.sha256(key.encode()).hexdigest()}"


def _usable(source: str, row: tuple) -> risk_signals.RiskSignal | None:
    try:
        signal = risk_signals.RiskSignal(*row)
    except TypeError:
        logger.warning("signal from %s skipped: not a 7-field tuple", source)
        return None
    problem = None
    if not signal.household_id:
        problem = "no household"
    elif signal.kind not in SignalKind.values:
        problem = f"unknown kind {signal.kind!r}"
    elif signal.amount is not None and Decimal(signal.amount) < 0:
        problem = "negative amount"
    elif not signal.key:
        problem = "no key"
    elif not isinstance(signal.occurred_on, dt.date):
        problem = "no date"
    if problem:
        logger.warning("signal %s from %s skipped: %s", signal.key, source, problem)
        return None
    return signal


def _store_batch(source: str, batch: list[risk_signals.RiskSignal]) -> int:
    """Three queries for up to BATCH signals: their households' places, the keys already
    stored, the insert. Returns how many were new."""
    keyed = {full_key(source, s.key): s for s in batch}
    paths = dict(
        Household.objects.filter(pk__in={s.household_id for s in batch}).values_list(
            "pk", "place_path"
        )
    )
    present = set(Signal.objects.filter(key__in=list(keyed)).values_list("key", flat=True))
    now = timezone.now()
    rows = [
        Signal(
            household_id=s.household_id,
            person_id=s.person_id,
            source=source,
            kind=s.kind,
            occurred_on=s.occurred_on,
            amount=s.amount,
            details=s.details or {},
            key=key,
            created_at=now,
            place_path=paths[s.household_id],
        )
        for key, s in keyed.items()
        if key not in present and s.household_id in paths
    ]
    Signal.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
    return len(rows)


def _store(source: str, signals: Iterable[tuple]) -> int:
    added, batch = 0, []
    for row in signals:
        signal = _usable(source, row)
        if signal is None:
            continue
        batch.append(signal)
        if len(batch) == BATCH:
            added += _store_batch(source, batch)
            batch = []
    if batch:
        added += _store_batch(source, batch)
    return added


def signals_collect(
    *, now: dt.datetime | None = None, providers: list[risk_signals.Provider] | None = None
) -> dict[str, int]:
    """Collect every provider's signals since its last window; returns {provider: added}.
    Each provider in its own transaction, its window row locked: two runners at once read a
    window once (the second waits, then starts where the first ended)."""
    now = now or timezone.now()
    added: dict[str, int] = {}
    for provider in providers if providers is not None else risk_signals.providers():
        if provider.name not in SignalSource.values:
            logger.error("signal provider %r is not a SignalSource value: skipped", provider.name)
            continue
        with transaction.atomic():
            SignalFeed.objects.get_or_create(name=provider.name)
            feed = SignalFeed.objects.select_for_update().get(name=provider.name)
            since = feed.collected_until - OVERLAP if feed.collected_until else None
            until = max(now, feed.collected_until or now)
            count = _store(provider.name, provider.signals(since, until))
            feed.collected_until, feed.collected_at, feed.added = until, timezone.now(), count
            feed.save(update_fields=["collected_until", "collected_at", "added"])
        added[provider.name] = count
    return added


def signal_record(
    *,
    source: str,
    household_id: int,
    kind: str,
    occurred_on: dt.date,
    key: str,
    person_id: int | None = None,
    amount: Decimal | None = None,
    details: dict[str, Any] | None = None,
) -> Signal:
    """Record one signal from a feeder in this process; the same key again returns the signal
    stored first, unchanged."""
    if source not in SignalSource.values:
        raise ValidationFailed(
            _("Unknown signal source %(source)s.") % {"source": source},
            details={
                "source": [
                    _("Use one of: %(values)s.") % {"values": ", ".join(SignalSource.values)}
                ]
            },
        )
    if kind not in SignalKind.values:
        raise ValidationFailed(
            _("Unknown signal kind %(kind)s.") % {"kind": kind},
            details={
                "kind": [_("Use one of: %(values)s.") % {"values": ", ".join(SignalKind.values)}]
            },
        )
    if not key:
        raise ValidationFailed(_("A signal needs a key."), details={"key": [_("Required.")]})
    if amount is not None and Decimal(amount) < 0:
        message = _("An amount cannot be negative.")
        raise ValidationFailed(message, details={"amount": [message]})
    stored_key = full_key(source, key)
    existing = Signal.objects.filter(key=stored_key).first()
    if existing is not None:
        return existing
    try:
        household = Household.objects.get(pk=household_id)
    except (Household.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("No such household.")) from None
    signal = Signal(
        household=household,
        person_id=person_id,
        source=source,
        kind=kind,
        occurred_on=occurred_on,
        amount=amount,
        details=details or {},
        key=stored_key,
    )
    try:
        with transaction.atomic():
            signal.save()
    except IntegrityError:
        # The same signal stored by a racing feeder a moment ago.
        existing = Signal.objects.filter(key=stored_key).first()
        if existing is None:
            raise
        return existing
    return signal


# --- reading ----------------------------------------------------------------------------------


def signals_for(
    actor: User,
    *,
    kind: str = "",
    source: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    household: str = "",
) -> QuerySet[Signal]:
    """The signals of the actor's jurisdiction, newest first, filtered."""
    rows = Signal.objects.restrict(actor, "view").select_related("household", "person")
    if kind:
        rows = rows.filter(kind=kind)
    if source:
        rows = rows.filter(source=source)
    if date_from:
        rows = rows.filter(occurred_on__gte=date_from)
    if date_to:
        rows = rows.filter(occurred_on__lte=date_to)
    if household:
        rows = rows.filter(household__number=household.strip())
    return rows


def signal_imports(actor: User) -> QuerySet[SignalImport]:
    return SignalImport.objects.restrict(actor)


def signal_import_get(actor: User, import_id: Any) -> SignalImport:
    return SignalImport.objects.get_for(actor, import_id)


# --- the file layout --------------------------------------------------------------------------

IMPORTABLE_KINDS = (
    SignalKind.HOSPITAL_BILL,
    SignalKind.UTILITY_ARREARS,
    SignalKind.SCHOOL_FEE_WAIVER,
    SignalKind.UNEMPLOYMENT,
)
# What bureaus' own exports call the kinds, besides the labels in either language.
KIND_ALIASES = {
    "大额医疗费用": SignalKind.HOSPITAL_BILL,
    "医疗费用": SignalKind.HOSPITAL_BILL,
    "住院费用": SignalKind.HOSPITAL_BILL,
    "水电气欠费": SignalKind.UTILITY_ARREARS,
    "欠费": SignalKind.UTILITY_ARREARS,
    "学费减免": SignalKind.SCHOOL_FEE_WAIVER,
    "失业登记": SignalKind.UNEMPLOYMENT,
    "失业": SignalKind.UNEMPLOYMENT,
}
LANGUAGES = ("zh-hans", "en")
SHEET_LABEL = gettext_lazy("Signals")


@dataclass(frozen=True)
class Column:
    key: str
    label: Any
    required: bool = False
    aliases: tuple[str, ...] = ()
    width: int = 16


COLUMNS = (
    Column(
        "id_number",
        gettext_lazy("ID number"),
        required=True,
        aliases=("身份证号码", "公民身份号码", "身份证"),
        width=22,
    ),
    Column("kind", gettext_lazy("kind"), required=True, aliases=("类型", "信号类型"), width=22),
    Column("date", gettext_lazy("date"), required=True, aliases=("日期", "发生日期")),
    Column("amount", gettext_lazy("amount (yuan)"), aliases=("amount", "金额", "金额（元）")),
    Column(
        "issued_by",
        gettext_lazy("issued by"),
        aliases=("source", "来源", "出具单位", "数据来源"),
        width=24,
    ),
    Column("note", gettext_lazy("note"), aliases=("备注",), width=30),
)
MAX_LENGTH = {"issued_by": 100, "note": 200}
DATE_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[T ].*)?$")


def _in_every_language(text: Any) -> set[str]:
    out = set()
    for language in LANGUAGES:
        with translation.override(language):
            out.add(str(text).strip().lower())
    return out


def _header_lookup() -> dict[str, Column]:
    lookup = {}
    for column in COLUMNS:
        for text in {*_in_every_language(column.label), column.key, *column.aliases}:
            lookup[text.lower()] = column
    return lookup


def _kind_lookup() -> dict[str, str]:
    lookup = {alias.lower(): str(kind) for alias, kind in KIND_ALIASES.items()}
    for kind in IMPORTABLE_KINDS:
        lookup[kind.value] = kind.value
        for text in _in_every_language(kind.label):
            lookup[text] = kind.value
    return lookup


def template_workbook() -> bytes:
    """The empty file to fill in: instructions, and the signals sheet with a list of kinds."""
    wb = Workbook()
    guide = wb.active
    guide.title = _("Instructions")
    for line in (
        _("One row per signal on the signals sheet; keep the header row."),
        _("Columns marked * are required."),
        _("ID number: of a person registered in your jurisdiction; type it as text."),
        _(
            "Kind: one of the list (hospital bill, utility arrears, school-fee waiver, "
            "unemployment registration)."
        ),
        _("Date: when it happened, as 2026-01-31; not in the future."),
        _("Amount: in yuan, not negative, two decimals at most; may be empty."),
        _(
            "If any row is bad nothing is loaded: every problem is listed with its row and "
            "column. Importing the same rows again adds nothing."
        ),
        _("A CSV file with the same columns is accepted too (UTF-8 or GB18030)."),
    ):
        guide.append([line])
    guide.column_dimensions["A"].width = 90
    ws = wb.create_sheet(str(SHEET_LABEL))
    ws.append([str(c.label) + (" *" if c.required else "") for c in COLUMNS])
    for index, column in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = column.width
    ws.column_dimensions["A"].number_format = "@"
    ws.freeze_panes = "A2"
    labels = ",".join(str(kind.label) for kind in IMPORTABLE_KINDS)
    validation = DataValidation(type="list", formula1=f'"{labels}"', allow_blank=True)
    validation.add("B2:B100000")
    ws.add_data_validation(validation)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- reading a file ---------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _decode_csv(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark) or GB18030, as Excel and WPS save CSV."""
    if b"\x00" in data:
        raise NotAWorkbook(
            _("This file is not a CSV text file nor an Excel workbook. Save it as .xlsx or .csv.")
        )
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise NotAWorkbook(
        _("This CSV file is neither UTF-8 nor GB18030 text. Save it again as CSV (UTF-8).")
    )


def _csv_rows(text: str) -> list[list[str]]:
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    try:
        return list(csv.reader(io.StringIO(text, newline=""), dialect))
    except csv.Error:
        raise NotAWorkbook(
            _("This file could not be read as CSV. Save it again as CSV (UTF-8) or .xlsx.")
        ) from None


def is_csv(name: str) -> bool:
    return name.lower().endswith(".csv")


def _file_kind_problem(name: str) -> str | None:
    if not name.lower().endswith((".xlsx", ".csv")):
        return _("Upload an Excel workbook (.xlsx) or a CSV file (.csv).")
    return None


@contextmanager
def opened_rows(path: str, name: str) -> Iterator[tuple[str, Iterator[tuple], int]]:
    """(sheet name for messages, iterator over the rows' cell values, rows below the header);
    raises NotAWorkbook with the reason a file is not a readable spreadsheet."""
    if is_csv(name):
        if zipfile.is_zipfile(path):
            raise NotAWorkbook(
                _(
                    "This file is an Excel workbook named .csv: rename it to .xlsx or save it as "
                    "CSV."
                )
            )
        rows = _csv_rows(_decode_csv(Path(path).read_bytes()))
        yield "CSV", iter([tuple(r) for r in rows]), max(0, len(rows) - 1)
        return
    wb = open_workbook(path)
    try:
        titles = _in_every_language(SHEET_LABEL)
        sheet = next((ws for ws in wb.worksheets if ws.title.strip().lower() in titles), None)
        if sheet is None and len(wb.worksheets) == 1:
            sheet = wb.worksheets[0]
        if sheet is None:
            raise NotAWorkbook(
                _("The workbook has no sheet named “%(name)s”: use the downloaded template.")
                % {"name": SHEET_LABEL}
            )
        yield sheet.title, sheet.iter_rows(values_only=True), max(0, (sheet.max_row or 1) - 1)
    finally:
        wb.close()


# --- checking ---------------------------------------------------------------------------------


@dataclass
class Plan:
    """What a checked file would load, and everything wrong with it."""

    sheet: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    checked: int = 0
    elsewhere: list[dict[str, Any]] = field(default_factory=list)

    def add_error(self, row: int, column: str, message: str) -> None:
        self.errors.append(
            {"sheet": self.sheet, "row": row, "column": column, "message": str(message)}
        )


def _ref(index: int, column: Column | None, header: str = "") -> str:
    label = str(column.label) if column else header
    return f"{get_column_letter(index + 1)} ({label})" if label else get_column_letter(index + 1)


def _header(plan: Plan, header: tuple) -> dict[str, int] | None:
    """{column key: index} from the header row, or None (with errors) when it is wrong."""
    lookup = _header_lookup()
    positions: dict[str, int] = {}
    ok = True
    for index, value in enumerate(header):
        text = _cell_text(value)
        if not text:
            continue
        column = lookup.get(text.rstrip(" *").strip().lower())
        if column is None:
            plan.add_error(
                1,
                _ref(index, None, text[:40]),
                _("“%(text)s” is not a column of the template; the columns are: %(columns)s.")
                % {"text": text[:40], "columns": ", ".join(str(c.label) for c in COLUMNS)},
            )
            ok = False
        elif column.key in positions:
            plan.add_error(
                1,
                _ref(index, column),
                _("This column repeats column %(letter)s.")
                % {"letter": get_column_letter(positions[column.key] + 1)},
            )
            ok = False
        else:
            positions[column.key] = index
    for column in COLUMNS:
        if column.required and column.key not in positions:
            plan.add_error(
                1,
                str(column.label),
                _("The column “%(label)s” is missing: use the downloaded template.")
                % {"label": column.label},
            )
            ok = False
    return positions if ok else None


def _date(text: str, today: dt.date) -> tuple[dt.date | None, str | None]:
    match = DATE_RE.match(text)
    if match:
        try:
            day = dt.date(*(int(part) for part in match.groups()))
        except ValueError:
            day = None
        if day is not None and day.year >= 1900:
            if day > today:
                return None, _("This date is in the future: a signal is something that happened.")
            return day, None
    return None, _("“%(text)s” is not a date: write it as 2026-01-31.") % {"text": text[:40]}


def _amount(text: str) -> tuple[Decimal | None, str | None]:
    try:
        amount = Decimal(text.replace(",", "").replace("，", "").replace("¥", "").strip())
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        return None, _("Give the amount as a number of yuan, e.g. 1200.50.")
    if amount < 0:
        return None, _("An amount cannot be negative.")
    # Before quantize: a number of 28 digits or more cannot be quantized (InvalidOperation).
    if amount > MAX_AMOUNT:
        return None, _("This amount is too large.")
    if amount != amount.quantize(Decimal("0.01")):
        return None, _("Give the amount to the fen: two decimals at most.")
    return amount.quantize(Decimal("0.01")), None


def row_key(id_number: str, kind: str, occurred_on: dt.date, amount: Decimal | None) -> str:
    """The stored key of an imported row: the same person, kind, date and amount are one
    signal however often they are imported."""
    amount_text = f"{amount:.2f}" if amount is not None else ""
    digest = hashlib.sha256(
        f"{id_number}|{kind}|{occurred_on.isoformat()}|{amount_text}".encode()
    ).hexdigest()
    return full_key(SignalSource.EXTERNAL, digest)


def check_rows(
    sheet: str,
    rows: Iterator[tuple],
    *,
    actor: User,
    today: dt.date,
    progress: Callable[[int], None] | None = None,
    every: int = 500,
) -> Plan:
    """Check every row; nothing is written. Reports all problems, not the first."""
    plan = Plan(sheet=sheet)
    header = next(rows, None)
    if header is None or not any(_cell_text(v) for v in header):
        plan.add_error(1, "", _("The file is empty: fill in the downloaded template."))
        return plan
    positions = _header(plan, header)
    if positions is None:
        return plan
    kinds = _kind_lookup()
    by_key = {c.key: c for c in COLUMNS}
    refs = {key: _ref(index, by_key[key]) for key, index in positions.items()}
    seen: dict[str, int] = {}
    candidates: list[dict[str, Any]] = []
    for number, values in enumerate(rows, start=2):
        texts = {
            key: _cell_text(values[i] if i < len(values) else None) for key, i in positions.items()
        }
        if not any(texts.values()):
            continue
        plan.checked += 1
        if progress and plan.checked % every == 0:
            progress(plan.checked)
        if plan.checked > MAX_ROWS:
            plan.add_error(
                number,
                "",
                _("A file holds at most %(n)s rows: split it over several files.")
                % {"n": MAX_ROWS},
            )
            break
        ok = True
        for key, text in texts.items():
            char = control_character(text)
            if char is not None:
                plan.add_error(
                    number, refs[key], control_character_message(str(by_key[key].label), char)
                )
                ok = False
        if not ok:
            continue
        for column in COLUMNS:
            if column.required and not texts.get(column.key):
                plan.add_error(number, refs[column.key], _("This cell is required."))
                ok = False
        item: dict[str, Any] = {"row": number}
        if texts["id_number"]:
            try:
                item["id_number"], _birth, _sex = parse_id_number(texts["id_number"])
            except InvalidIdNumber as exc:
                plan.add_error(number, refs["id_number"], str(exc))
                ok = False
        if texts["kind"]:
            item["kind"] = kinds.get(texts["kind"].lower())
            if item["kind"] is None:
                plan.add_error(
                    number,
                    refs["kind"],
                    _("“%(text)s” is not one of: %(choices)s.")
                    % {
                        "text": texts["kind"][:40],
                        "choices": ", ".join(str(k.label) for k in IMPORTABLE_KINDS),
                    },
                )
                ok = False
        if texts["date"]:
            item["occurred_on"], problem = _date(texts["date"], today)
            if problem:
                plan.add_error(number, refs["date"], problem)
                ok = False
        item["amount"] = None
        if texts.get("amount"):
            item["amount"], problem = _amount(texts["amount"])
            if problem:
                plan.add_error(number, refs["amount"], problem)
                ok = False
        for key, limit in MAX_LENGTH.items():
            item[key] = strip_invisible(texts.get(key, ""))
            if len(item[key]) > limit:
                plan.add_error(number, refs[key], _("Use at most %(n)d characters.") % {"n": limit})
                ok = False
        if not ok:
            continue
        item["key"] = row_key(item["id_number"], item["kind"], item["occurred_on"], item["amount"])
        if item["key"] in seen:
            plan.add_error(
                number,
                refs["id_number"],
                _("This signal repeats row %(row)s (same ID number, kind, date and amount).")
                % {"row": seen[item["key"]]},
            )
            continue
        seen[item["key"]] = number
        candidates.append(item)
    if progress:
        progress(plan.checked)
    _check_persons(plan, candidates, actor, refs["id_number"])
    return plan


def _check_persons(plan: Plan, candidates: list[dict], actor: User, ref: str) -> None:
    """Each row's person, registered in the importer's jurisdiction and in a household. One
    answer for "registered elsewhere" and "registered nowhere": no oracle of ID numbers."""
    numbers = sorted({c["id_number"] for c in candidates})
    scope = Person.objects.all()
    if not actor.sees_everything:
        scope = scope.filter(under_any(actor.scope_paths))
    found: dict[str, tuple] = {}
    elsewhere: set[str] = set()
    for start in range(0, len(numbers), 2000):
        chunk = numbers[start : start + 2000]
        for row in scope.filter(id_number__in=chunk).values_list("id_number", "id", "household_id"):
            found[row[0]] = row
        if len(found) < start + len(chunk):
            missing = [n for n in chunk if n not in found]
            elsewhere |= set(
                Person.objects.filter(id_number__in=missing).values_list("id_number", flat=True)
            )
    for item in candidates:
        person = found.get(item["id_number"])
        if person is None:
            if item["id_number"] in elsewhere:
                plan.elsewhere.append(
                    {"row": item["row"], "id_number": mask_id_number(item["id_number"])}
                )
            plan.add_error(
                item["row"], ref, _("No person with this ID number in your jurisdiction.")
            )
            continue
        if person[2] is None:
            plan.add_error(
                item["row"],
                ref,
                _("This person belongs to no household: add them to one in the registry first."),
            )
            continue
        item["person_id"], item["household_id"] = person[1], person[2]
        plan.rows.append(item)


# --- the import -------------------------------------------------------------------------------


def upload_too_large_error(size: int) -> ValidationFailed:
    message = _("The file is %(size).1f MB; the largest accepted is %(limit).0f MB.") % {
        "size": size / (1024 * 1024),
        "limit": settings.LINLI_MAX_UPLOAD_BYTES / (1024 * 1024),
    }
    return ValidationFailed(message, details={"file": [message]})


@transaction.atomic
def signal_import_start(*, actor: User, uploaded_file: UploadedFile) -> SignalImport:
    """Accept an external-signal file and queue its check; a file that cannot be read as a
    spreadsheet is refused here, with the reason."""
    if not actor.has_perm_code(Perm.MONITORING_IMPORT):
        raise PermissionDenied()
    if uploaded_file is None:
        message = _("Attach the Excel or CSV file.")
        raise ValidationFailed(message, details={"file": [message]})
    if uploaded_file.size > settings.LINLI_MAX_UPLOAD_BYTES:
        raise upload_too_large_error(uploaded_file.size)
    name = Path(uploaded_file.name or "").name[:200]
    problem = _file_kind_problem(name)
    if problem:
        raise ValidationFailed(problem, details={"file": [problem]})
    job = SignalImport(
        created_by=actor,
        original_name=name,
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )
    job.file.save(name, uploaded_file, save=False)
    try:
        with opened_rows(job.file.path, name) as (_sheet, _rows, total):
            pass
    except NotAWorkbook as exc:
        job.file.delete(save=False)
        raise ValidationFailed(str(exc), details={"file": [str(exc)]}) from None
    job.total_rows = total
    job.save()
    from .signals_tasks import signal_import_run_task

    transaction.on_commit(lambda: signal_import_run_task.enqueue(job.pk))
    return job


def _progress(job_id: int, **fields) -> None:
    # Outside the load's transaction: the page polling the import sees it at once.
    SignalImport.objects.filter(pk=job_id).update(heartbeat_at=timezone.now(), **fields)


def signal_import_run(*, import_id: int) -> SignalImport:
    """Check and load one queued import. Idempotent: an import already claimed is left alone."""
    claimed = SignalImport.objects.filter(pk=import_id, state=ImportState.QUEUED).update(
        state=ImportState.CHECKING, heartbeat_at=timezone.now()
    )
    job = SignalImport.objects.select_related("created_by").get(pk=import_id)
    if not claimed:
        return job
    with acting_from(f"signal-import:{job.pk}"), translation.override(job.language):
        try:
            _run(job)
        except Exception:
            logger.exception("signal import %s failed", job.pk)
            _progress(
                job.pk,
                state=ImportState.FAILED,
                failure=_("The import stopped on an unexpected error; nothing was loaded."),
                loaded=0,
                finished_at=timezone.now(),
            )
    job.refresh_from_db()
    return job


def _run(job: SignalImport) -> None:
    actor = job.created_by
    try:
        with opened_rows(job.file.path, job.original_name) as (sheet, rows, total):
            _progress(job.pk, total_rows=total)
            plan = check_rows(
                sheet,
                rows,
                actor=actor,
                today=timezone.localdate(),
                progress=lambda n: _progress(job.pk, processed_rows=n),
            )
    except NotAWorkbook as exc:
        _progress(
            job.pk,
            state=ImportState.REJECTED,
            errors=[{"sheet": "", "row": 0, "column": "", "message": str(exc)}],
            finished_at=timezone.now(),
        )
        return
    if plan.elsewhere:
        # ID numbers found outside the importer's jurisdiction are logged, as in the registry.
        record(
            actor=actor,
            action=AuditAction.IMPORT,
            instance=job,
            label=job.original_name,
            place_path=jurisdiction_path(actor),
            changes={"registered_elsewhere": plan.elsewhere},
        )
    _progress(job.pk, processed_rows=plan.checked, errors=plan.errors)
    if plan.errors:
        _progress(job.pk, state=ImportState.REJECTED, finished_at=timezone.now())
        return
    loaded, present = _load(job, plan)
    _progress(
        job.pk,
        state=ImportState.DONE,
        loaded=loaded,
        already_present=present,
        finished_at=timezone.now(),
    )


@transaction.atomic
def _load(job: SignalImport, plan: Plan) -> tuple[int, int]:
    """Every row in one transaction; rows imported before are counted, not added."""
    now = timezone.now()
    paths = {}
    household_ids = sorted({r["household_id"] for r in plan.rows})
    for start in range(0, len(household_ids), 2000):
        paths.update(
            Household.objects.filter(pk__in=household_ids[start : start + 2000]).values_list(
                "pk", "place_path"
            )
        )
    keys = [r["key"] for r in plan.rows]
    present: set[str] = set()
    for start in range(0, len(keys), 2000):
        present |= set(
            Signal.objects.filter(key__in=keys[start : start + 2000]).values_list("key", flat=True)
        )
    new = [
        Signal(
            household_id=r["household_id"],
            person_id=r["person_id"],
            source=SignalSource.EXTERNAL,
            kind=r["kind"],
            occurred_on=r["occurred_on"],
            amount=r["amount"],
            details={
                k: v
                for k, v in (
                    ("issued_by", r["issued_by"]),
                    ("note", r["note"]),
                    ("import", job.pk),
                    ("row", r["row"]),
                )
                if v
            },
            key=r["key"],
            created_at=now,
            place_path=paths[r["household_id"]],
        )
        for r in plan.rows
        if r["key"] not in present
    ]
    Signal.objects.bulk_create(new, batch_size=BATCH, ignore_conflicts=True)
    actor = job.created_by
    record(
        actor=actor,
        action=AuditAction.IMPORT,
        instance=job,
        label=job.original_name,
        place_path=jurisdiction_path(actor),
        changes={"signals": len(new), "already_present": len(present), "rows": len(plan.rows)},
    )
    return len(new), len(present)


def signal_imports_fail_stale(*, now: dt.datetime | None = None) -> int:
    """Mark failed the imports left checking by a worker that died: nothing of theirs was
    loaded (the load is one transaction). Returns how many."""
    now = now or timezone.now()
    cutoff = now - STALE_AFTER
    failed = 0
    for job in SignalImport.objects.filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff),
        state=ImportState.CHECKING,
    ):
        with translation.override(job.language):
            failure = _(
                "The import stopped: the worker running it was interrupted. Nothing was loaded; "
                "upload the file again."
            )
        failed += SignalImport.objects.filter(
            pk=job.pk, state=job.state, heartbeat_at=job.heartbeat_at
        ).update(state=ImportState.FAILED, failure=failure, loaded=0, finished_at=now)
    return failed
