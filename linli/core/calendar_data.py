"""Loader of the working-day calendar file (工作日历): public holidays and make-up working days
by year. Idempotent and given the model class, so a data migration runs it with a historical
model and `linli load_workday_calendar` with the real one."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CALENDAR_FILE = Path(__file__).resolve().parent / "calendar_cn.json"


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
