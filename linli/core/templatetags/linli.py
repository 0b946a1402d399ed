"""Template helpers shared by the staff pages."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def change_rows(changes: Any) -> list[tuple[str, dict[str, Any]]]:
    """An audit entry's changes as rows: {field: [before, after]} or a plain note."""
    if not isinstance(changes, dict):
        return []
    rows = []
    for field, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            rows.append((field, {"before": value[0], "after": value[1]}))
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            rows.append((field, {"before": None, "after": shown}))
    return rows
