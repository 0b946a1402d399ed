"""Loader of the category taxonomy this app ships (the working-day calendar's is in
core.calendar_data).

It is idempotent and takes the model classes as arguments, so the data migration runs it
with historical models and the management command with the real ones.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from linli.core.calendar_data import LoadResult, read_json

HERE = Path(__file__).resolve().parent
TAXONOMY_FILE = HERE / "taxonomy.json"
STAGES = ("register_hours", "dispatch_hours", "handle_hours", "verify_hours")


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


def load_reference_data() -> None:
    """The shipped taxonomy and working-day calendar into today's models: what the data
    migration loads, for databases built without migrations (tests) or emptied since."""
    from linli.cases.models import Category
    from linli.core.calendar_data import CALENDAR_FILE, load_calendar
    from linli.core.models import CalendarDay, Department

    load_categories(read_json(TAXONOMY_FILE), Category=Category, Department=Department)
    load_calendar(read_json(CALENDAR_FILE), CalendarDay=CalendarDay)
