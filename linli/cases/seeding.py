"""Loaders of the data this app ships: the category taxonomy and the working-day calendar.

Both are idempotent and take the model classes as arguments, so the data migration runs them
with historical models and the management commands with the real ones.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TAXONOMY_FILE = HERE / "taxonomy.json"
CALENDAR_FILE = HERE / "calendar_cn.json"
STAGES = ("register_hours", "dispatch_hours", "handle_hours", "verify_hours")


@dataclass
class LoadResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


def read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def load_categories(
    data: dict[str, Any], *, Category, Department, update: bool = False
) -> LoadResult:
    """Create missing departments and categories by code.

    Existing categories keep their values (limits are configurable data that administrators
    tune) unless `update` is set; departments are never renamed here.
    """
    result = LoadResult()
    departments = {}
    for row in data.get("departments", []):
        departments[row["code"]], _ = Department.objects.get_or_create(
            code=row["code"], defaults={"name": row["name"]}
        )
    for major in data["majors"]:
        parent = _upsert(
            Category,
            major["code"],
            {"name": major["name"], "name_en": major.get("name_en", ""), "kind": major["kind"]},
            update,
            result,
        )
        for minor in major["minors"]:
            code = minor.get("department")
            department = departments.get(code) or (
                Department.objects.filter(code=code).first() if code else None
            )
            values = {
                "name": minor["name"],
                "name_en": minor.get("name_en", ""),
                "kind": major["kind"],
                "parent": parent,
                "department": department,
                "priority": minor.get("priority", 3),
                "anonymous_allowed": minor.get("anonymous", False),
                "round_the_clock": minor.get("round_the_clock", False),
            }
            values.update(
                {stage: Decimal(str(h)) for stage, h in zip(STAGES, minor["limits"], strict=True)}
            )
            _upsert(Category, minor["code"], values, update, result)
    return result


def _upsert(Category, code: str, values: dict[str, Any], update: bool, result: LoadResult):
    category = Category.objects.filter(code=code).first()
    if category is None:
        result.created += 1
        return Category.objects.create(code=code, **values)
    changed = [k for k, v in values.items() if getattr(category, k) != v]
    if update and changed:
        for name in changed:
            setattr(category, name, values[name])
        category.save(update_fields=changed)
        result.updated += 1
    else:
        result.unchanged += 1
    return category


def calendar_entries(data: dict[str, Any]) -> dict[int, dict[dt.date, tuple[bool, str, bool]]]:
    """{year: {date: (is_workday, name, provisional)}} from the calendar file's ranges."""
    out: dict[int, dict[dt.date, tuple[bool, str, bool]]] = {}
    for year_text, year in data["years"].items():
        days: dict[dt.date, tuple[bool, str, bool]] = {}
        provisional = bool(year.get("provisional"))
        for holiday in year["holidays"]:
            first, last = (dt.date.fromisoformat(d) for d in holiday["off"])
            if last < first or first.year != int(year_text):
                raise ValueError(f"bad range {holiday['off']} in {year_text}")
            day = first
            while day <= last:
                days[day] = (False, holiday["name"], provisional)
                day += dt.timedelta(days=1)
            for text in holiday.get("work", []):
                days[dt.date.fromisoformat(text)] = (True, holiday["name"], provisional)
        out[int(year_text)] = days
    return out


def overrides_from(data: dict[str, Any]) -> dict[dt.date, bool]:
    """The {date: is_workday} map of a calendar file, for a WorkCalendar without a database."""
    return {
        day: entry[0] for days in calendar_entries(data).values() for day, entry in days.items()
    }


def load_calendar(data: dict[str, Any], *, CalendarDay) -> LoadResult:
    """Make each year of the file exactly as the file says (rows it no longer lists go)."""
    result = LoadResult()
    for year, days in calendar_entries(data).items():
        existing = {
            row.date: row
            for row in CalendarDay.objects.filter(
                date__gte=dt.date(year, 1, 1), date__lte=dt.date(year, 12, 31)
            )
        }
        gone = [row.pk for day, row in existing.items() if day not in days]
        if gone:
            CalendarDay.objects.filter(pk__in=gone).delete()
            result.updated += len(gone)
        for day, (is_workday, name, provisional) in sorted(days.items()):
            row = existing.get(day)
            if row is None:
                CalendarDay.objects.create(
                    date=day, is_workday=is_workday, name=name, provisional=provisional
                )
                result.created += 1
            elif (row.is_workday, row.name, row.provisional) != (is_workday, name, provisional):
                row.is_workday, row.name, row.provisional = is_workday, name, provisional
                row.save()
                result.updated += 1
            else:
                result.unchanged += 1
    return result


def load_reference_data() -> None:
    """The shipped taxonomy and working-day calendar into today's models: what the data
    migration loads, for databases built without migrations (tests) or emptied since."""
    from linli.cases.models import CalendarDay, Category
    from linli.core.models import Department

    load_categories(read_json(TAXONOMY_FILE), Category=Category, Department=Department)
    load_calendar(read_json(CALENDAR_FILE), CalendarDay=CalendarDay)
