"""The Excel layout of households and persons (批量导入模板), and checking an uploaded file.

One definition of the columns serves the template, the import and the export. Headers are
written in the active language; on import a header may be in Chinese or English, and choice
cells may hold either the stored value or its label in either language.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from linli.core.masking import mask_id_number
from linli.core.models import User
from linli.core.text import control_character, control_character_message, strip_invisible
from linli.places.selectors import buildings_by_code

from .idnumbers import InvalidIdNumber, normalise_phone, parse_id_number, phone_problem
from .models import (
    KINDS_BY_CATEGORY,
    NAME_INVISIBLE,
    DisabilityCategory,
    FinanceCategory,
    FinanceKind,
    Household,
    Person,
    Registration,
    Relation,
)

HOUSEHOLDS = "households"
PERSONS = "persons"
# Optional: files made from the template before it had this sheet load as they always did.
FINANCES = "finances"
LANGUAGES = ("zh-hans", "en")
LEFT_BEHIND_AGE = 16


@dataclass(frozen=True)
class Column:
    key: str
    label: Any  # lazy translation
    required: bool = False
    choices: tuple[tuple[str, Any], ...] = ()
    boolean: bool = False
    width: int = 14


YES_NO = (("1", gettext_lazy("Yes")), ("0", gettext_lazy("No")))

HOUSEHOLD_COLUMNS = (
    Column("number", gettext_lazy("household number"), required=True),
    Column("address", gettext_lazy("address"), required=True, width=30),
    Column("building_code", gettext_lazy("building code"), required=True, width=20),
    Column("registration", gettext_lazy("registration"), choices=tuple(Registration.choices)),
)
PERSON_COLUMNS = (
    Column("household_number", gettext_lazy("household number"), required=True),
    Column(
        "relation",
        gettext_lazy("relation to householder"),
        required=True,
        choices=tuple(Relation.choices),
    ),
    Column("name", pgettext_lazy("person", "name"), required=True),
    Column("id_number", gettext_lazy("ID number"), required=True, width=22),
    Column("phone", gettext_lazy("phone"), width=16),
    Column("living_alone", gettext_lazy("living alone"), boolean=True),
    Column(
        "disability_category",
        gettext_lazy("disability category"),
        choices=tuple(DisabilityCategory.choices),
    ),
    Column(
        "disability_grade",
        gettext_lazy("disability grade"),
        choices=tuple((str(i), str(i)) for i in range(1, 5)),
    ),
    Column("party_member", gettext_lazy("party member"), boolean=True),
    Column("veteran", gettext_lazy("veteran"), boolean=True),
    Column("left_behind_child", gettext_lazy("left-behind child"), boolean=True),
    Column("chronic_illness", gettext_lazy("chronic illness"), boolean=True),
)
# One row per dated income, asset or rigid expenditure of a person (the person page's records).
# The kind says the category; the category column may be left empty.
FINANCE_COLUMNS = (
    Column("id_number", gettext_lazy("ID number"), required=True, width=22),
    Column("category", gettext_lazy("category"), choices=tuple(FinanceCategory.choices)),
    Column(
        "kind", gettext_lazy("kind"), required=True, choices=tuple(FinanceKind.choices), width=24
    ),
    Column("amount", gettext_lazy("amount (yuan)"), required=True),
    Column("valid_from", gettext_lazy("from"), required=True),
    Column("valid_to", gettext_lazy("to")),
    Column("new_employment", gettext_lazy("new employment"), boolean=True),
    Column("note", gettext_lazy("note"), width=30),
)
SHEETS = {HOUSEHOLDS: HOUSEHOLD_COLUMNS, PERSONS: PERSON_COLUMNS, FINANCES: FINANCE_COLUMNS}
CATEGORY_OF_KIND = {
    kind: category for category, kinds in KINDS_BY_CATEGORY.items() for kind in kinds
}
# Excel refuses a list validation written out longer than this; longer lists go on a sheet.
INLINE_LIST_LIMIT = 250
LISTS_SHEET = "lists"


def sheet_title(sheet: str) -> str:
    return str(sheet_title_lazy(sheet))


def _in_every_language(text: Any) -> set[str]:
    out = set()
    for language in LANGUAGES:
        with translation.override(language):
            out.add(str(text).strip().lower())
    return out


def _choice_lookup(column: Column) -> dict[str, str]:
    """Cell text (value or label, either language, any case) → stored value."""
    pairs = YES_NO if column.boolean else column.choices
    lookup = {}
    for value, label in pairs:
        lookup[value.lower()] = value
        for text in _in_every_language(label):
            lookup[text] = value
    if column.boolean:
        lookup.update({"y": "1", "n": "0", "true": "1", "false": "0", "是": "1", "否": "0"})
    return lookup


# --- the template ------------------------------------------------------------------------------


def _write_header(ws, columns: tuple[Column, ...]) -> None:
    ws.append([str(c.label) + (" *" if c.required else "") for c in columns])
    for index, column in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = column.width
    ws.freeze_panes = "A2"


def template_workbook() -> bytes:
    """An empty workbook to fill in, with choice lists and an instructions sheet."""
    wb = Workbook()
    guide = wb.active
    guide.title = _("Instructions")
    for line in (
        _("Fill in the households sheet and the persons sheet; keep the header rows."),
        _("Columns marked * are required. Every person names the number of their household."),
        _("A household may be in this file or already registered in your jurisdiction."),
        _("Building codes are the codes of buildings in your jurisdiction (see Places)."),
        _("ID numbers: 18 characters, checked by their last character; type them as text."),
        _("Yes/no columns: Yes or No (empty means No)."),
        _("You choose on upload: load nothing if any row is bad, or load the good rows."),
        _(
            "The incomes, assets and expenditure sheet is optional: one row per record, naming "
            "the person by ID number (in this file or registered in your jurisdiction). Income "
            "amounts are per month; dates as YYYY-MM-DD."
        ),
    ):
        guide.append([line])
    guide.column_dimensions["A"].width = 90
    lists = None
    for sheet, columns in SHEETS.items():
        ws = wb.create_sheet(sheet_title(sheet))
        _write_header(ws, columns)
        for index, column in enumerate(columns, start=1):
            letter = get_column_letter(index)
            if column.key in ("id_number", "phone", "number", "household_number"):
                # Text columns: Excel keeps all 18 digits and leading zeros.
                ws.column_dimensions[letter].number_format = "@"
            pairs = YES_NO if column.boolean else column.choices
            if not pairs:
                continue
            labels = [str(label) for _value, label in pairs]
            formula = '"' + ",".join(labels) + '"'
            if len(formula) > INLINE_LIST_LIMIT:
                # The kinds of income and assets: listed on a hidden sheet instead.
                if lists is None:
                    lists = wb.create_sheet(LISTS_SHEET)
                    lists.sheet_state = "hidden"
                list_column = get_column_letter(lists.max_column + (lists.max_row > 1))
                for row, label in enumerate(labels, start=1):
                    lists[f"{list_column}{row}"] = label
                formula = f"{LISTS_SHEET}!${list_column}$1:${list_column}${len(labels)}"
            validation = DataValidation(type="list", formula1=formula, allow_blank=True)
            validation.add(f"{letter}2:{letter}100000")
            ws.add_data_validation(validation)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# --- reading an upload -------------------------------------------------------------------------


class NotAWorkbook(Exception):
    """The upload cannot be read as an .xlsx workbook; the message says why."""


# An .xlsx is a zip archive. Its parts are checked before openpyxl unpacks any of them, so a
# small file that inflates to gigabytes (a "zip bomb") is refused instead of filling memory.
# The sizes checked are the ones the archive declares; Python's zipfile never inflates a member
# beyond its declared size, so a lying header cannot get past them. A real sheet of 100,000
# rows unpacks to ~40 MB at a ratio of 10–30.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_RATIO = 100
MAX_MEMBERS = 1000
RATIO_FROM_BYTES = 1024 * 1024  # tiny parts may compress oddly well; only sizable ones count


def check_archive(path: str) -> None:
    """Refuse an archive too large, too many-parted or too compressed once unpacked."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise NotAWorkbook(
            _("This file has %(count)s parts; an Excel workbook has far fewer. Save it as .xlsx.")
            % {"count": len(members)}
        )
    total = sum(m.file_size for m in members)
    if total > MAX_UNPACKED_BYTES:
        raise NotAWorkbook(
            _(
                "This file unpacks to %(size)d MB; at most %(limit)d MB is accepted. Split the "
                "rows over several files."
            )
            % {"size": total // (1024 * 1024), "limit": MAX_UNPACKED_BYTES // (1024 * 1024)}
        )
    for member in members:
        if member.file_size > RATIO_FROM_BYTES and (
            member.file_size > MAX_RATIO * max(member.compress_size, 1)
        ):
            raise NotAWorkbook(
                _(
                    "This file is compressed %(ratio)d times over; no workbook of real rows is. "
                    "Save it again as .xlsx from Excel or WPS."
                )
                % {"ratio": member.file_size // max(member.compress_size, 1)}
            )


def open_workbook(path: str):
    """Open read-only, or say plainly why the file is not an Excel workbook."""
    if not zipfile.is_zipfile(path):
        raise NotAWorkbook(_("This file is not an Excel workbook (.xlsx). Save it as .xlsx."))
    try:
        check_archive(path)
    except zipfile.BadZipFile:
        raise NotAWorkbook(
            _("This file could not be read as an Excel workbook (.xlsx). Save it again as .xlsx.")
        ) from None
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged or foreign zip
        raise NotAWorkbook(
            _("This file could not be read as an Excel workbook (.xlsx). Save it again as .xlsx.")
        ) from None


def _find_sheet(wb, sheet: str):
    names = _in_every_language(sheet_title_lazy(sheet)) | {sheet}
    for ws in wb.worksheets:
        if ws.title.strip().lower() in names:
            return ws
    return None


def sheet_title_lazy(sheet: str):
    return {
        HOUSEHOLDS: gettext_lazy("Households"),
        PERSONS: gettext_lazy("Persons"),
        FINANCES: gettext_lazy("Incomes, assets and expenditure"),
    }[sheet]


@dataclass
class RowError:
    sheet: str
    row: int
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "message": self.message,
        }


@dataclass
class Plan:
    """What a checked file would load, and everything wrong with it."""

    households: list[dict[str, Any]] = field(default_factory=list)
    persons: list[dict[str, Any]] = field(default_factory=list)
    finances: list[dict[str, Any]] = field(default_factory=list)
    # Every well-formed ID number of the persons sheet, good row or bad: a record naming one
    # whose row is bad is told so, not that the person is unknown.
    person_ids_in_file: set[str] = field(default_factory=set)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0
    bad_rows: set[tuple[str, int]] = field(default_factory=set)
    # {"row", "id_number" (masked)} of ID numbers registered outside the jurisdiction: audited.
    registered_elsewhere: list[dict[str, Any]] = field(default_factory=list)

    def add_error(self, sheet: str, row: int, column: str, message: str) -> None:
        self.errors.append(RowError(sheet_title(sheet), row, column, message))
        self.bad_rows.add((sheet, row))


def count_rows(wb) -> int:
    total = 0
    for sheet in SHEETS:
        ws = _find_sheet(wb, sheet)
        if ws is not None and ws.max_row:
            total += max(0, ws.max_row - 1)
    return total


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


def _rows(ws, sheet: str, plan: Plan) -> Iterator[tuple[int, dict[str, str], dict[str, str]]]:
    """(row number, {key: text}, {key: column reference}) for each non-empty row."""
    columns = SHEETS[sheet]
    iterator = ws.iter_rows(values_only=True)
    header = next(iterator, None) or ()
    refs = {}
    for index, column in enumerate(columns):
        letter = get_column_letter(index + 1)
        refs[column.key] = f"{letter} ({column.label})"
        found = _cell_text(header[index] if index < len(header) else None)
        if found.rstrip(" *").lower() not in _in_every_language(column.label):
            plan.add_error(
                sheet,
                1,
                refs[column.key],
                _("This header should read “%(label)s”: use the downloaded template.")
                % {"label": column.label},
            )
    if any(e.row == 1 and e.sheet == sheet_title(sheet) for e in plan.errors):
        return
    for number, values in enumerate(iterator, start=2):
        texts = [_cell_text(v) for v in values[: len(columns)]]
        if not any(texts):
            continue
        texts += [""] * (len(columns) - len(texts))
        data = {c.key: t for c, t in zip(columns, texts, strict=True)}
        refused = False
        for column in columns:
            char = control_character(data[column.key])
            if char is not None:
                message = control_character_message(str(column.label), char)
                plan.add_error(sheet, number, refs[column.key], message)
                refused = True
        if not refused:
            yield number, data, refs


def check_workbook(
    wb, *, actor: User, progress: Callable[[int], None] | None = None, every: int = 500
) -> Plan:
    """Check every row of both sheets; nothing is written. Reports all errors, not the first."""
    plan = Plan()
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        plan.rows = done
        if progress and done % every == 0:
            progress(done)

    households_ws, persons_ws = _find_sheet(wb, HOUSEHOLDS), _find_sheet(wb, PERSONS)
    finances_ws = _find_sheet(wb, FINANCES)
    if households_ws is None and persons_ws is None and finances_ws is None:
        plan.add_error(
            HOUSEHOLDS,
            1,
            "",
            _("The workbook has neither a households nor a persons sheet: use the template."),
        )
        return plan
    file_households = _check_households(households_ws, actor, plan, tick) if households_ws else {}
    if persons_ws is not None:
        _check_persons(persons_ws, actor, plan, tick, file_households)
    if finances_ws is not None:
        _check_finances(finances_ws, actor, plan, tick)
    if progress:
        progress(done)
    return plan


def _required(plan: Plan, sheet: str, row: int, data: dict, refs: dict, columns) -> bool:
    ok = True
    for column in columns:
        if column.required and not data[column.key]:
            plan.add_error(sheet, row, refs[column.key], _("This cell is required."))
            ok = False
    return ok


def _choice(plan, sheet, row, refs, column: Column, text: str, lookups: dict) -> str | None:
    if not text:
        return "" if not column.boolean else "0"
    value = lookups[column.key].get(text.lower())
    if value is None:
        pairs = YES_NO if column.boolean else column.choices
        plan.add_error(
            sheet,
            row,
            refs[column.key],
            _("“%(text)s” is not one of: %(choices)s.")
            % {"text": text[:40], "choices": ", ".join(str(label) for _v, label in pairs)},
        )
    return value


def _check_households(ws, actor: User, plan: Plan, tick) -> dict[str, int]:
    """Returns {household number: row} of the good household rows."""
    lookups = {c.key: _choice_lookup(c) for c in HOUSEHOLD_COLUMNS if c.choices or c.boolean}
    rows = list(_rows(ws, HOUSEHOLDS, plan))
    # One query for every building the sheet names; outside the jurisdiction is unknown.
    buildings = buildings_by_code(actor, (d["building_code"] for _r, d, _refs in rows))
    seen: dict[str, int] = {}
    candidates: list[tuple[int, dict, dict]] = []
    for row, data, refs in rows:
        tick()
        ok = _required(plan, HOUSEHOLDS, row, data, refs, HOUSEHOLD_COLUMNS)
        number = data["number"]
        if number and len(number) > 32:
            plan.add_error(HOUSEHOLDS, row, refs["number"], _("Use at most 32 characters."))
            ok = False
        elif number in seen:
            plan.add_error(
                HOUSEHOLDS,
                row,
                refs["number"],
                _("Household number repeated: it is already on row %(row)s.")
                % {"row": seen[number]},
            )
            ok = False
        elif number:
            seen[number] = row
        if len(data["address"]) > 200:
            plan.add_error(HOUSEHOLDS, row, refs["address"], _("Use at most 200 characters."))
            ok = False
        building = buildings.get(data["building_code"])
        if data["building_code"] and building is None:
            plan.add_error(
                HOUSEHOLDS,
                row,
                refs["building_code"],
                _("No building with code %(code)s in your jurisdiction.")
                % {"code": data["building_code"][:40]},
            )
            ok = False
        registration = _choice(
            plan,
            HOUSEHOLDS,
            row,
            refs,
            HOUSEHOLD_COLUMNS[3],
            data["registration"],
            lookups,
        )
        if registration is None:
            ok = False
        if ok:
            candidates.append(
                (
                    row,
                    refs,
                    {
                        "number": number,
                        "address": data["address"],
                        "building": building,
                        "registration": registration or Registration.URBAN,
                        "row": row,
                    },
                )
            )
    existing = set(
        Household.objects.filter(number__in=[c[2]["number"] for c in candidates]).values_list(
            "number", flat=True
        )
    )
    good: dict[str, int] = {}
    for row, refs, household in candidates:
        if household["number"] in existing:
            plan.add_error(
                HOUSEHOLDS, row, refs["number"], _("A household with this number already exists.")
            )
            continue
        plan.households.append(household)
        good[household["number"]] = row
    return good


def _check_persons(ws, actor: User, plan: Plan, tick, file_households: dict[str, int]) -> None:
    lookups = {c.key: _choice_lookup(c) for c in PERSON_COLUMNS if c.choices or c.boolean}
    by_key = {c.key: c for c in PERSON_COLUMNS}
    seen_ids: dict[str, int] = {}
    heads: dict[str, int] = {}
    candidates: list[tuple[int, dict, dict]] = []
    for row, data, refs in _rows(ws, PERSONS, plan):
        tick()
        ok = _required(plan, PERSONS, row, data, refs, PERSON_COLUMNS)
        person: dict[str, Any] = {"row": row, "household_number": data["household_number"]}
        relation = _choice(plan, PERSONS, row, refs, by_key["relation"], data["relation"], lookups)
        ok = ok and relation is not None
        person["relation"] = relation
        name = strip_invisible(data["name"])
        if data["name"] and not name:
            plan.add_error(PERSONS, row, refs["name"], str(NAME_INVISIBLE))
            ok = False
        elif len(name) > 50:
            plan.add_error(PERSONS, row, refs["name"], _("Use at most 50 characters."))
            ok = False
        person["name"] = name
        if data["id_number"]:
            try:
                number, birth, sex = parse_id_number(data["id_number"])
            except InvalidIdNumber as exc:
                plan.add_error(PERSONS, row, refs["id_number"], str(exc))
                ok = False
            else:
                plan.person_ids_in_file.add(number)
                if number in seen_ids:
                    plan.add_error(
                        PERSONS,
                        row,
                        refs["id_number"],
                        _("This ID number is repeated: it is already on row %(row)s.")
                        % {"row": seen_ids[number]},
                    )
                    ok = False
                else:
                    seen_ids[number] = row
                person.update(id_number=number, birth_date=birth, sex=sex)
        phone = normalise_phone(data["phone"])
        problem = phone_problem(phone)
        if problem:
            plan.add_error(PERSONS, row, refs["phone"], problem)
            ok = False
        person["phone"] = phone
        for key in (
            "living_alone",
            "party_member",
            "veteran",
            "left_behind_child",
            "chronic_illness",
        ):
            value = _choice(plan, PERSONS, row, refs, by_key[key], data[key], lookups)
            ok = ok and value is not None
            person[key] = value == "1"
        category = _choice(
            plan,
            PERSONS,
            row,
            refs,
            by_key["disability_category"],
            data["disability_category"],
            lookups,
        )
        grade = _choice(
            plan,
            PERSONS,
            row,
            refs,
            by_key["disability_grade"],
            data["disability_grade"],
            lookups,
        )
        if category is None or grade is None:
            ok = False
        elif bool(category) != bool(grade):
            missing = "disability_grade" if category else "disability_category"
            plan.add_error(
                PERSONS,
                row,
                refs[missing],
                _("A disability needs both a category and a grade (1–4)."),
            )
            ok = False
        person["disability_category"] = category or ""
        person["disability_grade"] = int(grade) if grade else None
        if person["left_behind_child"] and "birth_date" in person:
            today = dt.date.today()
            birth = person["birth_date"]
            age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
            if age >= LEFT_BEHIND_AGE:
                plan.add_error(
                    PERSONS,
                    row,
                    refs["left_behind_child"],
                    _("Only children under 16 are left-behind children."),
                )
                ok = False
        number = data["household_number"]
        if relation == Relation.HEAD and number:
            if number in heads:
                plan.add_error(
                    PERSONS,
                    row,
                    refs["relation"],
                    _("This household already has a householder on row %(row)s.")
                    % {"row": heads[number]},
                )
                ok = False
            else:
                heads[number] = row
        if ok:
            candidates.append((row, refs, person))
    _check_against_database(actor, plan, candidates, file_households)


def _check_against_database(actor, plan, candidates, file_households) -> None:
    """Duplicates already registered, and households neither in the file nor in scope."""
    numbers = {p["household_number"] for _r, _refs, p in candidates} - set(file_households)
    existing = {
        h.number: h for h in Household.objects.restrict(actor, "change").filter(number__in=numbers)
    }
    existing_heads = set(
        Person.objects.filter(
            household__in=existing.values(), relation=Relation.HEAD, status="active"
        ).values_list("household__number", flat=True)
    )
    ids = [p["id_number"] for _r, _refs, p in candidates]
    registered: set[str] = set()
    for start in range(0, len(ids), 2000):
        registered |= set(
            Person.objects.filter(id_number__in=ids[start : start + 2000]).values_list(
                "id_number", flat=True
            )
        )
    visible: set[str] = set()
    for start in range(0, len(ids), 2000):
        visible |= set(
            Person.objects.restrict(actor)
            .filter(id_number__in=ids[start : start + 2000])
            .values_list("id_number", flat=True)
        )
    known_numbers = set(file_households) | set(existing)
    for row, refs, person in candidates:
        number = person["household_number"]
        ok = True
        if person["id_number"] in registered:
            # The same words wherever the person is registered (see services.AlreadyRegistered).
            if person["id_number"] not in visible:
                plan.registered_elsewhere.append(
                    {"row": row, "id_number": mask_id_number(person["id_number"])}
                )
            plan.add_error(
                PERSONS,
                row,
                refs["id_number"],
                _("A person with this ID number is already registered."),
            )
            ok = False
        if number not in known_numbers:
            plan.add_error(
                PERSONS,
                row,
                refs["household_number"],
                _(
                    "Household %(number)s is neither a good row of the households sheet nor "
                    "registered in your jurisdiction."
                )
                % {"number": number[:32]},
            )
            ok = False
        elif number in existing:
            person["household"] = existing[number]
            if person["relation"] == Relation.HEAD and number in existing_heads:
                plan.add_error(
                    PERSONS, row, refs["relation"], _("This household already has a householder.")
                )
                ok = False
        if ok:
            plan.persons.append(person)


# --- incomes, assets and expenditure ----------------------------------------------------------

DATE_RE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?$")
MAX_AMOUNT = Decimal("999999999999.99")
MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)


def _date(plan, row, refs, key: str, text: str) -> dt.date | None:
    """A date as Excel stores it (read as YYYY-MM-DD) or as typed: 2026-01-05, 2026/1/5."""
    match = DATE_RE.match(text)
    if match:
        try:
            day = dt.date(*(int(part) for part in match.groups()))
        except ValueError:
            day = None
        if day is not None and MIN_DATE <= day <= MAX_DATE:
            return day
    plan.add_error(
        FINANCES,
        row,
        refs[key],
        _("“%(text)s” is not a date: write it as 2026-01-31.") % {"text": text[:40]},
    )
    return None


def _amount(plan, row, refs, text: str) -> Decimal | None:
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        plan.add_error(
            FINANCES, row, refs["amount"], _("Give the amount as a number of yuan, e.g. 1200.50.")
        )
        return None
    if amount < 0:
        plan.add_error(FINANCES, row, refs["amount"], _("An amount cannot be negative."))
        return None
    # The size first: quantizing a number of 28 digits or more raises InvalidOperation.
    if amount > MAX_AMOUNT:
        plan.add_error(FINANCES, row, refs["amount"], _("This amount is too large."))
        return None
    if amount != amount.quantize(Decimal("0.01")):
        plan.add_error(
            FINANCES, row, refs["amount"], _("Give the amount to the fen: two decimals at most.")
        )
        return None
    return amount.quantize(Decimal("0.01"))


def _check_finances(ws, actor: User, plan: Plan, tick) -> None:
    lookups = {c.key: _choice_lookup(c) for c in FINANCE_COLUMNS if c.choices or c.boolean}
    by_key = {c.key: c for c in FINANCE_COLUMNS}
    candidates: list[tuple[int, dict, dict]] = []
    for row, data, refs in _rows(ws, FINANCES, plan):
        tick()
        ok = _required(plan, FINANCES, row, data, refs, FINANCE_COLUMNS)
        record: dict[str, Any] = {"row": row}
        if data["id_number"]:
            try:
                record["id_number"], _birth, _sex = parse_id_number(data["id_number"])
            except InvalidIdNumber as exc:
                plan.add_error(FINANCES, row, refs["id_number"], str(exc))
                ok = False
        kind = _choice(plan, FINANCES, row, refs, by_key["kind"], data["kind"], lookups)
        category = _choice(plan, FINANCES, row, refs, by_key["category"], data["category"], lookups)
        if kind is None or category is None:
            ok = False
        elif kind:
            if category and category != CATEGORY_OF_KIND[kind]:
                plan.add_error(
                    FINANCES,
                    row,
                    refs["category"],
                    _("%(kind)s is a kind of %(category)s: correct the category or leave it empty.")
                    % {
                        "kind": FinanceKind(kind).label,
                        "category": FinanceCategory(CATEGORY_OF_KIND[kind]).label,
                    },
                )
                ok = False
            record.update(kind=kind, category=CATEGORY_OF_KIND[kind])
        if data["amount"]:
            record["amount"] = _amount(plan, row, refs, data["amount"])
            ok = ok and record["amount"] is not None
        for key in ("valid_from", "valid_to"):
            record[key] = _date(plan, row, refs, key, data[key]) if data[key] else None
            ok = ok and (record[key] is not None or not data[key])
        if (
            record["valid_from"]
            and record["valid_to"]
            and record["valid_to"] < record["valid_from"]
        ):
            plan.add_error(
                FINANCES, row, refs["valid_to"], _("The end date cannot be before the start date.")
            )
            ok = False
        new_employment = _choice(
            plan, FINANCES, row, refs, by_key["new_employment"], data["new_employment"], lookups
        )
        record["new_employment"] = new_employment == "1"
        ok = ok and new_employment is not None
        if record["new_employment"] and kind and kind != FinanceKind.WAGE:
            plan.add_error(
                FINANCES,
                row,
                refs["new_employment"],
                _("Only wages can be marked as new employment."),
            )
            ok = False
        record["note"] = strip_invisible(data["note"])
        if len(record["note"]) > 200:
            plan.add_error(FINANCES, row, refs["note"], _("Use at most 200 characters."))
            ok = False
        if ok:
            candidates.append((row, refs, record))
    _check_finance_persons(actor, plan, candidates)


def _check_finance_persons(actor: User, plan: Plan, candidates) -> None:
    """Each record's person: a good row of the persons sheet, or registered in the jurisdiction.
    One answer for "elsewhere" and "nowhere", as for a new person's ID number."""
    loading = {p["id_number"] for p in plan.persons}
    wanted = [r["id_number"] for _row, _refs, r in candidates if r["id_number"] not in loading]
    registered: dict[str, Person] = {}
    for start in range(0, len(wanted), 2000):
        for person in Person.objects.restrict(actor, "change").filter(
            id_number__in=wanted[start : start + 2000]
        ):
            registered[person.id_number] = person
    for row, refs, record in candidates:
        number = record["id_number"]
        if number in registered:
            record["person"] = registered[number]
        elif number not in loading:
            message = (
                _("This person's row in the persons sheet has errors, so they are not loaded.")
                if number in plan.person_ids_in_file
                else _("No person with this ID number in this file or in your jurisdiction.")
            )
            plan.add_error(FINANCES, row, refs["id_number"], message)
            continue
        plan.finances.append(record)
