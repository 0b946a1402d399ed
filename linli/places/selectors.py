"""Reads of the place tree, always through the actor's jurisdiction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, QuerySet
from shapely import STRtree
from shapely.geometry import Point, shape

from linli.core.models import User
from linli.core.refcache import ProcessCache

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


@dataclass(frozen=True)
class GridIndex:
    """Every grid with a boundary: the fields a case needs and an STR-tree of the shapes."""

    rows: list[tuple]
    tree: STRtree


# What a case needs of its grid, in the model's field order (as `Model.from_db` takes them).
GRID_FIELDS = tuple(
    f.attname
    for f in Place._meta.concrete_fields
    if f.attname in {"id", "code", "name", "level", "parent_id", "path"}
)


def _build_grid_index() -> GridIndex:
    grids = Place.objects.filter(level=PlaceLevel.GRID, boundary__isnull=False).order_by("code")
    rows, shapes = [], []
    for *fields, boundary in grids.values_list(*GRID_FIELDS, "boundary"):
        rows.append(tuple(fields))
        shapes.append(shape(boundary))
    return GridIndex(rows=rows, tree=STRtree(shapes))


# Boundaries change rarely; a redrawn one reaches the other processes within a minute.
grid_index: ProcessCache[GridIndex] = ProcessCache(_build_grid_index, seconds=60)


def grid_containing(lat: float, lng: float) -> Place | None:
    """The grid whose boundary covers the point.

    Grids tile their community without gaps and overlap only in slivers (`boundaries.py` refuses
    more); on a shared edge or in such a sliver the lowest code wins, so the answer does not
    depend on which grid was drawn last. A point no cached grid covers is looked up in the database
    too (a grid drawn in another process in the last minute)."""
    point = Point(lng, lat)
    index = grid_index.get()
    hits = index.tree.query(point, predicate="covered_by")
    if len(hits):
        return Place.from_db("default", GRID_FIELDS, index.rows[min(hits)])
    grid = _grid_containing_from_database(point)
    if grid is not None:
        grid_index.clear()
    return grid


def _grid_containing_from_database(point: Point) -> Place | None:
    candidates = Place.objects.filter(
        level=PlaceLevel.GRID,
        min_lng__lte=point.x,
        max_lng__gte=point.x,
        min_lat__lte=point.y,
        max_lat__gte=point.y,
    ).order_by("code")
    for grid in candidates.only(*GRID_FIELDS, "boundary"):
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
