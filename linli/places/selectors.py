"""Reads of the place tree, always through the actor's jurisdiction."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, QuerySet
from shapely.geometry import Point, shape

from linli.core.models import User

from .models import Place, PlaceLevel


def place_get_for(actor: User, place_id: int) -> Place:
    return Place.objects.get_for(actor, place_id)


def place_roots_for(actor: User) -> QuerySet[Place]:
    """The top of the tree as this actor sees it: their bound places (or the cities, for admins)."""
    visible = Place.objects.restrict(actor)
    if actor.sees_everything:
        return visible.filter(parent__isnull=True)
    return visible.filter(path__in=actor.scope_paths)


def place_children(actor: User, place: Place) -> QuerySet[Place]:
    return (
        Place.objects.restrict(actor)
        .filter(parent=place)
        .annotate(child_count=Count("children"))
        .order_by("code")
    )


def places_for_choice(actor: User, level: int | None = None) -> QuerySet[Place]:
    """Form choice lists are scoped like everything else."""
    qs = Place.objects.restrict(actor)
    if level is not None:
        qs = qs.filter(level=level)
    return qs.order_by("path")


def grid_containing(lat: float, lng: float, within: Place | None = None) -> Place | None:
    """The grid whose boundary covers the point: bounding-box pre-filter, then shapely.

    Grids tile their community without gaps or overlaps; on a shared edge the lowest code wins,
    so the answer is deterministic.
    """
    candidates = Place.objects.filter(
        level=PlaceLevel.GRID,
        min_lng__lte=lng,
        max_lng__gte=lng,
        min_lat__lte=lat,
        max_lat__gte=lat,
    ).order_by("code")
    if within is not None:
        candidates = candidates.filter(path__under=within.path)
    point = Point(lng, lat)
    for grid in candidates.only("id", "code", "name", "path", "boundary", "parent_id", "level"):
        if grid.boundary and shape(grid.boundary).covers(point):
            return grid
    return None


def _placeable(actor: User) -> QuerySet[Place]:
    """Places inside the actor's jurisdiction, whatever their right to edit the tree."""
    from linli.core.scoping import under_any

    qs = Place.objects.all()
    if not actor.sees_everything:
        qs = qs.filter(under_any(actor.scope_paths, "path"))
    return qs


def buildings_by_code(actor: User, codes: Iterable[str]) -> dict[str, Place]:
    """{code: building} for the codes that name buildings in the jurisdiction, one query."""
    wanted = list(set(codes))
    found = _placeable(actor).filter(level=PlaceLevel.BUILDING, code__in=wanted)
    return {p.code: p for p in found.only("id", "code", "path")}


def place_in_jurisdiction(actor: User, place_id: int | None, *, level: int | None = None) -> Place:
    """A place the actor may hang records on (a building for a household, say).

    Unlike `Place.objects.restrict(actor, "change")`, this does not need the right to edit the
    tree itself; outside the jurisdiction (or of the wrong level) it is the same 404 as missing.
    """
    from linli.core.errors import NotFound

    qs = _placeable(actor)
    if level is not None:
        qs = qs.filter(level=level)
    try:
        return qs.get(pk=place_id)
    except (Place.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
