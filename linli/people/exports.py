"""Excel export of a filtered list (导出): masked unless the role may see more; always logged."""

from __future__ import annotations

import dataclasses
import tempfile
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from openpyxl import Workbook

from linli.core.audit import record
from linli.core.errors import PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.roles import Perm
from linli.core.text import excel_safe

from . import selectors, spreadsheets
from .models import FinancialRecord, Household, Person, jurisdiction_path


def _check(actor: User, full: bool, count: int) -> None:
    if not actor.has_perm_code(Perm.PEOPLE_EXPORT):
        raise PermissionDenied()
    if full and not actor.has_perm_code(Perm.PEOPLE_EXPORT_FULL):
        raise PermissionDenied(_("Your role may export masked lists only."))
    if count > settings.LINLI_EXPORT_MAX_ROWS:
        raise ValidationFailed(
            _("%(count)s rows match; an export holds at most %(limit)s. Narrow the filter.")
            % {"count": count, "limit": settings.LINLI_EXPORT_MAX_ROWS}
        )


def _append(ws, row: list) -> None:
    # Text stored before control characters were refused must not break the whole file.
    ws.append([excel_safe(value) for value in row])


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)


def _loggable(filters: dict) -> dict:
    """ID digits searched for are themselves part of an ID number: logged as their length."""
    shown = {k: v for k, v in filters.items() if v not in ("", None)}
    if shown.get("id_ending"):
        shown["id_ending"] = "*" * len(shown["id_ending"])
    return shown


def _audit(actor: User, model, filters: dict, count: int, full: bool) -> None:
    record(
        actor=actor,
        action=AuditAction.EXPORT,
        instance=model(pk=0),
        label=_("%(count)s rows") % {"count": count},
        place_path=jurisdiction_path(actor),
        changes={"filters": _loggable(filters), "rows": count, "full": full},
    )


@transaction.atomic
def persons_export(
    *, actor: User, filters: selectors.PersonFilter, full: bool = False
) -> tuple[str, IO[bytes]]:
    """The persons the filter selects, in the import layout plus derived columns."""
    queryset = selectors.person_list(actor, filters)
    count = queryset.count()
    _check(actor, full, count)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(spreadsheets.sheet_title(spreadsheets.PERSONS))
    ws.append(
        [str(c.label) for c in spreadsheets.PERSON_COLUMNS]
        + [_("birth date"), _("sex"), _("address"), _("status")]
    )
    yes, no = _("Yes"), _("No")
    for person in queryset.iterator(chunk_size=2000):
        _append(
            ws,
            [
                person.household.number if person.household_id else "",
                person.get_relation_display(),
                person.name,
                person.id_number if full else person.id_masked,
                person.phone if full else person.phone_masked,
                yes if person.living_alone else no,
                person.get_disability_category_display() if person.disability_category else "",
                person.disability_grade or "",
                yes if person.party_member else no,
                yes if person.veteran else no,
                yes if person.left_behind_child else no,
                yes if person.chronic_illness else no,
                person.birth_date,
                person.get_sex_display(),
                person.household.address if person.household_id else "",
                person.get_status_display(),
            ],
        )
    _finances_sheet(wb, actor, queryset, full)
    out = _spool()
    wb.save(out)
    out.seek(0)
    _audit(actor, Person, dataclasses.asdict(filters), count, full)
    return f"persons-{timezone.localdate():%Y%m%d}.xlsx", out


def _finances_sheet(wb, actor: User, persons, full: bool) -> None:
    """The current income, asset and expenditure records of the exported persons, in the
    import layout (with full ID numbers, a file the import reads back): one query."""
    ws = wb.create_sheet(spreadsheets.sheet_title(spreadsheets.FINANCES))
    ws.append([str(c.label) for c in spreadsheets.FINANCE_COLUMNS] + [pgettext("person", "name")])
    records = (
        FinancialRecord.objects.restrict(actor)
        .current()
        .filter(person__in=persons.order_by().values("pk"))
        .select_related("person")
        .order_by("person__name", "person_id", "category", "kind", "valid_from", "id")
    )
    yes, no = _("Yes"), _("No")
    for fact in records.iterator(chunk_size=2000):
        person = fact.person
        _append(
            ws,
            [
                person.id_number if full else person.id_masked,
                fact.get_category_display(),
                fact.get_kind_display(),
                fact.amount,
                fact.valid_from,
                fact.valid_to,
                yes if fact.new_employment else no,
                fact.note,
                person.name,
            ],
        )


@transaction.atomic
def households_export(*, actor: User, filters: selectors.HouseholdFilter) -> tuple[str, IO[bytes]]:
    """Households hold no ID numbers or phones: one export for every role that may export."""
    queryset = selectors.household_list(actor, filters)
    count = queryset.count()
    _check(actor, False, count)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(spreadsheets.sheet_title(spreadsheets.HOUSEHOLDS))
    ws.append([str(c.label) for c in spreadsheets.HOUSEHOLD_COLUMNS] + [_("status")])
    for household in queryset.iterator(chunk_size=2000):
        _append(
            ws,
            [
                household.number,
                household.address,
                household.building.code,
                household.get_registration_display(),
                household.get_status_display(),
            ],
        )
    out = _spool()
    wb.save(out)
    out.seek(0)
    _audit(actor, Household, dataclasses.asdict(filters), count, False)
    return f"households-{timezone.localdate():%Y%m%d}.xlsx", out
