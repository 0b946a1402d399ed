"""Fetching one page of a large filtered list cheaply."""

from __future__ import annotations

from django.db.models import QuerySet


def page_of(queryset: QuerySet, offset: int, limit: int) -> list:
    """One page by a deferred join: the page's ids first, then those rows.

    The id query can be answered from a covering index alone; only the page's rows (with their
    select_related joins) are read from the tables, instead of every match before the sort.
    """
    ids = list(queryset.values_list("pk", flat=True)[offset : offset + limit])
    if not ids:
        return []
    # A fresh query by primary key: repeating the list's filters here can mislead the planner.
    fetch = queryset.model._base_manager.filter(pk__in=ids)
    fetch.query.select_related = queryset.query.select_related
    rows = {row.pk: row for row in fetch}
    return [rows[pk] for pk in ids if pk in rows]
