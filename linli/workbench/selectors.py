"""The workbench's reads: every registered provider asked for one person, through its selectors."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from linli.core.models import AuditAction, AuditEntry, User
from linli.core.roles import Perm
from linli.core.workbench import Count, Figure, Kind, Listing, Row, provider_of, providers
from linli.places.models import Place
from linli.places.selectors import place_roots_for

# Bound places shown with their figures; an administrator sees the cities.
MAX_PLACES = 20
RECENT = 5


@dataclass
class PlaceFigures:
    place: Place
    figures: list[Figure] = field(default_factory=list)


def todos(*, actor: User) -> list[Count]:
    """What waits for this person, from every capability, by kind (待办, 临期, 超期, 督办)."""
    found = [count for provider in providers() for count in provider.todos(actor)]
    return sorted(found, key=lambda c: Kind.ORDER.index(c.kind))


def started(*, actor: User) -> tuple[list[Count], list[Row]]:
    """Counts of what this person started, and the newest few of them."""
    counts = [count for provider in providers() for count in provider.started(actor)]
    recent = [row for provider in providers() for row in provider.recent_started(actor, RECENT)]
    return counts, recent[:RECENT]


def area_figures(*, actor: User) -> list[PlaceFigures]:
    """Each place the person is bound to, with every capability's figures of it."""
    roots = list(place_roots_for(actor).order_by("path")[:MAX_PLACES])
    return [
        PlaceFigures(
            place=place,
            figures=[
                figure
                for provider in providers()
                for figure in provider.figures(actor, place.pk, place.path)
            ],
        )
        for place in roots
    ]


def listing(*, actor: User, key: str) -> Listing | None:
    """The list behind one count, or None when no provider offers it to this person."""
    provider = provider_of(key)
    return provider.listing(actor, key) if provider is not None else None


def my_recent_changes(*, actor: User) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(actor=actor).order_by("-at", "-id")[:8]


def reveals_today(*, actor: User) -> int | None:
    """Full views of personal data in the jurisdiction today, for those who watch the log."""
    if not actor.has_perm_code(Perm.AUDIT_VIEW):
        return None
    return (
        AuditEntry.objects.restrict(actor)
        .filter(action=AuditAction.REVEAL, at__date=timezone.localdate())
        .count()
    )
