"""What each capability puts on the workbench (工作台), registered without the workbench knowing it.

A capability adds a module `<app>/workbench.py` that subclasses `Provider` and calls
`register()`; the workbench app imports every such module at start-up and asks each provider,
through its selectors, for the person's to-dos, what they started and their area's figures.
The interface lives here in `core` so that capabilities depend only on the base.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from .models import User


class Kind:
    """The kinds of to-do the workbench groups, in the order it shows them."""

    WAITING = "waiting"  # 待办
    DUE_SOON = "due_soon"  # 临期
    OVERDUE = "overdue"  # 超期
    SUPERVISED = "supervised"  # 督办

    ORDER = (WAITING, DUE_SOON, OVERDUE, SUPERVISED)


@dataclass(frozen=True)
class Count:
    """A count that links to its list: `key` ("cases.overdue") names the list in the URL."""

    key: str
    label: str
    count: int
    kind: str = Kind.WAITING


@dataclass(frozen=True)
class Row:
    """One line of a list: what it is, its state, and where it is handled."""

    title: str
    detail: str
    url: str
    warning: int = 0  # 0 on time, 1 deadline near, 2 overdue


@dataclass(frozen=True)
class Listing:
    """The full list behind a count: a queryset (paginated by the workbench) and how to show a
    row of it."""

    label: str
    queryset: QuerySet
    row: Callable[[Any], Row]


@dataclass(frozen=True)
class Figure:
    label: str
    value: int
    url: str = ""  # the filtered list the figure counts, where one exists


class Provider:
    """One capability's part of the workbench. Every method takes the person looking and reads
    through that capability's selectors, so jurisdiction applies as everywhere else."""

    name = ""  # the prefix of its list keys ("cases")

    def todos(self, actor: User) -> list[Count]:
        """Counts of what waits for this person (kinds: see Kind)."""
        return []

    def started(self, actor: User) -> list[Count]:
        """Counts of what this person started (reported, applied for) and can follow."""
        return []

    def recent_started(self, actor: User, limit: int) -> list[Row]:
        """The newest few of what this person started, with their state."""
        return []

    def figures(self, actor: User, place_id: int, place_path: str) -> list[Figure]:
        """Figures of one place of the person's jurisdiction."""
        return []

    def listing(self, actor: User, key: str) -> Listing | None:
        """The list behind one of this provider's counts, or None for an unknown key."""
        return None


_providers: dict[str, Provider] = {}


def register(provider: Provider) -> Provider:
    if not provider.name or "." in provider.name:
        raise ValueError(f"a workbench provider needs a name without dots: {provider.name!r}")
    _providers[provider.name] = provider
    return provider


def providers() -> list[Provider]:
    return list(_providers.values())


def provider_of(key: str) -> Provider | None:
    """The provider whose list `key` ("cases.overdue") names."""
    return _providers.get(key.partition(".")[0])
