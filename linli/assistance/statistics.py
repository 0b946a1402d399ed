"""Statistics of social assistance (救助统计) by street and program: recipients now, and per month
the households and persons paid for, the amounts and their change from the month before.

Set-based: one grouped query per table (GROUP BY street, program, month over the payments;
GROUP BY street, program over the running benefits), plus one for the streets' names. A
payment counts for the month it is for (`Payment.month`: an arrear paid later counts in its
own month) and for the street of its cycle; failed payments count nowhere, their retry counts
once. The month before the period is read too, so its first month has a change.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.styles import Font

from linli.core.errors import PermissionDenied, ValidationFailed
from linli.core.models import User
from linli.core.roles import Perm
from linli.core.text import excel_safe
from linli.places.models import Place

from .models import Benefit, BenefitStatus, FindingState, Payment, PaymentStatus, Program

MAX_MONTHS = 36
FIRST_MONTH, LAST_MONTH = dt.date(1900, 1, 1), dt.date(2999, 12, 1)
# Benefits being paid: the recipients of a street now (a suspended one is not paid).
PAID_STATUSES = (BenefitStatus.ACTIVE, BenefitStatus.PHASING_OUT)
ISSUED = (PaymentStatus.PENDING, PaymentStatus.PAID)
ZERO = Decimal("0.00")


def _yuan(value: Decimal | None) -> Decimal:
    """A sum as the database gives it (SQLite drops trailing zeros) to the fen."""
    return (value or ZERO).quantize(ZERO)


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(start: dt.date, end: dt.date) -> list[dt.date]:
    count = (end.year - start.year) * 12 + end.month - start.month + 1
    return [add_months(start, i) for i in range(max(count, 0))]


def _program_label(program: str) -> str:
    try:
        return str(Program(program).label)
    except ValueError:
        return program


def _rate(change: Decimal | None, before: Decimal) -> Decimal | None:
    if change is None or not before:
        return None
    return (change * 100 / before).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class MonthLine:
    """One month of one program in one street (street "" in the totals over all streets)."""

    street_path: str
    street: str
    program: str
    month: dt.date
    households: int = 0
    persons: int = 0
    payments: int = 0
    amount: Decimal = ZERO  # to be paid and paid
    paid: Decimal = ZERO  # paid, as the bank's return says
    change: Decimal | None = None  # amount less the month before's
    change_rate: Decimal | None = None  # that change in per cent of the month before

    @property
    def program_label(self) -> str:
        return _program_label(self.program)


@dataclass
class RecipientLine:
    """Recipients being paid now in one street and program (street "" for all streets)."""

    street_path: str
    street: str
    program: str
    households: int = 0
    persons: int = 0
    monthly_amount: Decimal = ZERO

    @property
    def program_label(self) -> str:
        return _program_label(self.program)


@dataclass
class AssistanceStatistics:
    start: dt.date
    end: dt.date
    place: Place | None
    program: str
    now: dt.datetime
    months: list[dt.date]
    lines: list[MonthLine]  # street × program × month
    monthly: list[MonthLine]  # all streets: program × month
    recipients: list[RecipientLine]  # street × program
    recipients_total: list[RecipientLine]  # all streets: program

    @property
    def programs(self) -> list[str]:
        seen = {line.program for line in self.monthly} | {r.program for r in self.recipients}
        return [p for p in Program.values if p in seen]

    def period_total(self, program: str) -> Decimal:
        return sum((m.amount for m in self.monthly if m.program == program), ZERO)


def _period_problems(start: dt.date, end: dt.date) -> dict[str, list[str]]:
    for name, day in (("start", start), ("end", end)):
        if not FIRST_MONTH <= day <= LAST_MONTH:
            return {name: [_("Choose a month between 1900 and 2999.")]}
    if end < start:
        return {"end": [_("The end is before the start.")]}
    if len(months_between(start, end)) > MAX_MONTHS:
        return {"start": [_("A period is at most %(n)d months; split it.") % {"n": MAX_MONTHS}]}
    return {}


def _require(actor: User) -> None:
    if not (actor.is_authenticated and actor.is_staff_role):
        raise PermissionDenied()
    if not actor.has_perm_code(Perm.ASSISTANCE_VIEW):
        raise PermissionDenied()


def _street_names(paths: set[str]) -> dict[str, str]:
    return dict(Place.objects.filter(path__in=paths).values_list("path", "name"))


def _with_changes(lines: list[MonthLine], first_shown: dt.date) -> list[MonthLine]:
    """Set each line's change from the same street and program's month before (0 where none
    was paid), then drop the month before the period, read only for this."""
    by_series: dict[tuple[str, str], dict[dt.date, MonthLine]] = {}
    for line in lines:
        by_series.setdefault((line.street_path, line.program), {})[line.month] = line
    for series in by_series.values():
        for day, line in series.items():
            before = series.get(add_months(day, -1))
            previous = before.amount if before else ZERO
            line.change = line.amount - previous
            line.change_rate = _rate(line.change, previous)
    return [line for line in lines if line.month >= first_shown]


def _fill_gaps(
    lines: list[MonthLine], months: list[dt.date], first_shown: dt.date
) -> list[MonthLine]:
    """Months without payments appear as zeros, so a series that stopped shows its drop."""
    series = {(line.street_path, line.street, line.program) for line in lines}
    present = {(line.street_path, line.program, line.month) for line in lines}
    filled = list(lines)
    for street_path, street, program in series:
        for day in months:
            if (street_path, program, day) not in present:
                filled.append(MonthLine(street_path, street, program, day))
    return _with_changes(filled, first_shown)


def assistance_statistics(
    *,
    actor: User,
    start: dt.date,
    end: dt.date,
    place: Place | None = None,
    program: str = "",
) -> AssistanceStatistics:
    """Figures of the months from `start` to `end` (any day of each) within the actor's
    jurisdiction, under `place` if given, of one program or all."""
    _require(actor)
    start, end = first_of_month(start), first_of_month(end)
    problems = _period_problems(start, end)
    if program and program not in Program.values:
        problems["program"] = [_("Choose a program from the list.")]
    if problems:
        raise ValidationFailed(next(iter(problems.values()))[0], details=problems)
    months = months_between(start, end)
    read_from = add_months(start, -1) if start > FIRST_MONTH else start

    payments = Payment.objects.restrict(actor).filter(
        month__gte=read_from, month__lte=end, status__in=ISSUED
    )
    benefits = Benefit.objects.restrict(actor).filter(status__in=PAID_STATUSES)
    if place is not None:
        payments = payments.filter(place_path__under=place.path)
        benefits = benefits.filter(place_path__under=place.path)
    if program:
        payments = payments.filter(program=program)
        benefits = benefits.filter(program=program)
    figures = {
        "households": Count("benefit__household_id", distinct=True),
        # One payment per recipient, program and month that is not failed: summing the
        # benefits' persons counts each person once.
        "persons": Sum("benefit__persons_covered"),
        "payments": Count("id"),
        "amount_sum": Sum("amount"),
        "paid_sum": Sum("amount", filter=Q(status=PaymentStatus.PAID)),
    }
    by_street = list(
        payments.values("cycle__place_path", "program", "month").annotate(**figures).order_by()
    )
    overall = list(payments.values("program", "month").annotate(**figures).order_by())
    stock = {
        "households": Count("household_id", distinct=True),
        "persons": Sum("persons_covered"),
        "amount_sum": Sum("monthly_amount"),
    }
    stock_by_street = list(benefits.values("street_path", "program").annotate(**stock).order_by())
    stock_overall = list(benefits.values("program").annotate(**stock).order_by())

    names = _street_names(
        {r["cycle__place_path"] for r in by_street} | {r["street_path"] for r in stock_by_street}
    )

    def month_line(row: dict, street_path: str) -> MonthLine:
        return MonthLine(
            street_path=street_path,
            street=names.get(street_path, street_path) if street_path else "",
            program=row["program"],
            month=row["month"],
            households=row["households"],
            persons=row["persons"] or 0,
            payments=row["payments"],
            amount=_yuan(row["amount_sum"]),
            paid=_yuan(row["paid_sum"]),
        )

    def recipient_line(row: dict, street_path: str) -> RecipientLine:
        return RecipientLine(
            street_path=street_path,
            street=names.get(street_path, street_path) if street_path else "",
            program=row["program"],
            households=row["households"],
            persons=row["persons"] or 0,
            monthly_amount=_yuan(row["amount_sum"]),
        )

    order = {p: i for i, p in enumerate(Program.values)}
    lines = _fill_gaps([month_line(r, r["cycle__place_path"]) for r in by_street], months, start)
    lines.sort(key=lambda m: (m.street_path, order.get(m.program, 99), m.month))
    monthly = _fill_gaps([month_line(r, "") for r in overall], months, start)
    monthly.sort(key=lambda m: (order.get(m.program, 99), m.month))
    recipients = sorted(
        (recipient_line(r, r["street_path"]) for r in stock_by_street),
        key=lambda r: (r.street_path, order.get(r.program, 99)),
    )
    recipients_total = sorted(
        (recipient_line(r, "") for r in stock_overall), key=lambda r: order.get(r.program, 99)
    )
    return AssistanceStatistics(
        start=start,
        end=end,
        place=place,
        program=program,
        now=timezone.now(),
        months=months,
        lines=lines,
        monthly=monthly,
        recipients=recipients,
        recipients_total=recipients_total,
    )


def chart_data(stats: AssistanceStatistics) -> dict[str, Any]:
    """What the page's two ECharts charts draw: amounts per month and program (lines), and
    households per street and program (bars). Amounts as strings: ECharts reads them as
    numbers, and no yuan passes through a float here."""
    programs = stats.programs
    streets = sorted({(r.street_path, r.street) for r in stats.recipients})
    households = {(r.street_path, r.program): r.households for r in stats.recipients}
    amounts = {(m.program, m.month): m.amount for m in stats.monthly}
    return {
        "months": [f"{m:%Y-%m}" for m in stats.months],
        "amounts": [
            {
                "name": _program_label(p),
                "data": [str(amounts.get((p, m), ZERO)) for m in stats.months],
            }
            for p in programs
        ],
        "streets": [name for _path, name in streets],
        "households": [
            {
                "name": _program_label(p),
                "data": [households.get((path, p), 0) for path, _n in streets],
            }
            for p in programs
        ],
        "labels": {"amount": _("Amount (yuan)"), "households": _("Recipient households")},
    }


def figures_for_place(actor: User, place_path: str) -> dict[str, Any]:
    """The workbench's figures of one place: recipients being paid now (households, persons,
    monthly amount; in all and per program), the latest month paid for, and open supervision
    findings there (for those who may see them)."""
    from .supervision import findings_for

    if not actor.has_perm_code(Perm.ASSISTANCE_VIEW):
        return {}
    benefits = Benefit.objects.restrict(actor).filter(
        status__in=PAID_STATUSES, place_path__under=place_path
    )
    by_program = {
        row["program"]: {
            "label": _program_label(row["program"]),
            "households": row["households"],
            "persons": row["persons"] or 0,
            "monthly_amount": _yuan(row["amount_sum"]),
        }
        for row in benefits.values("program")
        .annotate(
            households=Count("household_id", distinct=True),
            persons=Sum("persons_covered"),
            amount_sum=Sum("monthly_amount"),
        )
        .order_by()
    }
    total = benefits.aggregate(
        households=Count("household_id", distinct=True), persons=Sum("persons_covered")
    )
    payments = Payment.objects.restrict(actor).filter(
        place_path__under=place_path, status__in=ISSUED
    )
    latest = payments.order_by("-month").values_list("month", flat=True).first()
    latest_amount = (
        payments.filter(month=latest).aggregate(amount=Sum("amount"))["amount"] if latest else None
    )
    return {
        "households": total["households"] or 0,
        "persons": total["persons"] or 0,
        "monthly_amount": sum((p["monthly_amount"] for p in by_program.values()), ZERO),
        "programs": by_program,
        "latest_month": latest,
        "latest_month_amount": _yuan(latest_amount),
        "open_findings": findings_for(actor)
        .filter(state=FindingState.OPEN, place_path__under=place_path)
        .order_by()
        .count(),
    }


# --- Excel --------------------------------------------------------------------------------------

RECIPIENT_COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("households", gettext_lazy("Recipient households"), "0"),
    ("persons", gettext_lazy("Recipient persons"), "0"),
    ("monthly_amount", gettext_lazy("Monthly amount (yuan)"), "#,##0.00"),
)
MONTH_COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("households", gettext_lazy("Recipient households"), "0"),
    ("persons", gettext_lazy("Recipient persons"), "0"),
    ("payments", gettext_lazy("Number of payments"), "0"),
    ("amount", gettext_lazy("Amount (yuan)"), "#,##0.00"),
    ("paid", gettext_lazy("Paid (yuan)"), "#,##0.00"),
    ("change", gettext_lazy("Change from the month before (yuan)"), "#,##0.00"),
    ("change_rate", gettext_lazy("Change (%)"), "0.0"),
)


def _sheet(wb: Workbook, title: str, heading: str, columns: list[str], first: bool) -> Any:
    ws = wb.active if first else wb.create_sheet()
    ws.title = title[:31]
    ws.append([heading])
    ws.append(columns)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A3"
    return ws


def _append(ws, leading: list, row: Any, columns: tuple) -> None:
    ws.append([excel_safe(v) for v in leading] + [getattr(row, attr) for attr, _l, _f in columns])
    for cell, (_a, _l, number_format) in zip(ws[ws.max_row][len(leading) :], columns, strict=False):
        cell.number_format = number_format


def _total_row(ws, label: str, rows: list, columns: tuple, lead: int) -> None:
    """A bold total of the summed columns (counts and amounts; rates and changes left out)."""
    summed = {"households", "persons", "payments", "amount", "paid", "monthly_amount"}
    values = [
        sum((getattr(r, attr) for r in rows), ZERO if "amount" in attr or attr == "paid" else 0)
        if attr in summed
        else None
        for attr, _l, _f in columns
    ]
    ws.append([label] + [""] * (lead - 1) + values)
    for cell, (_a, _l, number_format) in zip(ws[ws.max_row][lead:], columns, strict=False):
        cell.number_format = number_format
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)


def statistics_workbook(stats: AssistanceStatistics) -> io.BytesIO:
    """Every table of the page as a sheet, each with its totals."""
    wb = Workbook()
    scope = stats.place.name if stats.place else _("Whole jurisdiction")
    heading = _("Social assistance from %(start)s to %(end)s, %(scope)s; as of %(now)s") % {
        "start": f"{stats.start:%Y-%m}",
        "end": f"{stats.end:%Y-%m}",
        "scope": scope,
        "now": timezone.localtime(stats.now).strftime("%Y-%m-%d %H:%M"),
    }
    recipient_heads = [str(label) for _a, label, _f in RECIPIENT_COLUMNS]
    month_heads = [str(label) for _a, label, _f in MONTH_COLUMNS]

    ws = _sheet(
        wb,
        _("Recipients by street"),
        heading,
        [_("Street"), _("Program"), *recipient_heads],
        first=True,
    )
    for row in stats.recipients:
        _append(ws, [row.street, row.program_label], row, RECIPIENT_COLUMNS)
    _total_row(ws, _("Total"), stats.recipients, RECIPIENT_COLUMNS, 2)

    ws = _sheet(wb, _("Recipients by program"), heading, [_("Program"), *recipient_heads], False)
    for row in stats.recipients_total:
        _append(ws, [row.program_label], row, RECIPIENT_COLUMNS)
    _total_row(ws, _("Total"), stats.recipients_total, RECIPIENT_COLUMNS, 1)

    ws = _sheet(
        wb, _("Payments by month"), heading, [_("Program"), _("Month"), *month_heads], False
    )
    for row in stats.monthly:
        _append(ws, [row.program_label, f"{row.month:%Y-%m}"], row, MONTH_COLUMNS)
    _total_row(ws, _("Total"), stats.monthly, MONTH_COLUMNS, 2)

    ws = _sheet(
        wb,
        _("By street and month"),
        heading,
        [_("Street"), _("Program"), _("Month"), *month_heads],
        False,
    )
    for row in stats.lines:
        _append(ws, [row.street, row.program_label, f"{row.month:%Y-%m}"], row, MONTH_COLUMNS)
    _total_row(ws, _("Total"), stats.lines, MONTH_COLUMNS, 3)

    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return out
