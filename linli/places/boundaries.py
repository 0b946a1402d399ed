"""Rules between boundaries (边界校验): a place's boundary lies within the nearest boundary
above it and overlaps no other boundary of its level, and the boundaries below stay within it.

Without them a street officer could redraw a grid over another district's, and that district's
new reports would land in the grid (a point goes to the grid whose boundary covers it).
Boundaries digitised from different sources never meet exactly, so shared edges may overlap,
and a boundary may stick out of its parent's, by up to `TOLERANCE` of the smaller area. A point
in such a sliver goes to the grid with the lowest code (`selectors.grid_containing`).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from .models import Place

TOLERANCE = 0.01  # of the smaller of the two areas


def _geometry(boundary: dict | None) -> BaseGeometry | None:
    """The shape, or None when there is none or it is not a valid polygon (the model's own
    rule says what is wrong with it)."""
    if not boundary:
        return None
    try:
        geometry = shape(boundary)
    except Exception:
        return None
    if geometry.geom_type not in ("Polygon", "MultiPolygon") or not geometry.is_valid:
        return None
    if geometry.is_empty or geometry.area == 0:
        return None
    return geometry


def _percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%"


def boundary_conflicts(place: Place) -> list[str]:
    """What is wrong with this place's boundary next to the others, one message each, naming
    the place above, the neighbour or the child concerned."""
    geometry = _geometry(place.boundary)
    if geometry is None:
        return []
    problems = []
    container = _nearest_bounded_ancestor(place)
    if container is not None:
        outside = geometry.difference(container[1]).area
        if outside > TOLERANCE * geometry.area:
            problems.append(
                _(
                    "The boundary reaches %(share)s of its area outside %(above)s, the place "
                    "above it; draw it inside that boundary."
                )
                % {"share": _percent(outside, geometry.area), "above": container[0].name}
            )
    for neighbour, other in _same_level_near(place, geometry):
        overlap = geometry.intersection(other).area
        smaller = min(geometry.area, other.area)
        if overlap > TOLERANCE * smaller:
            problems.append(
                _(
                    "The boundary overlaps %(neighbour)s (%(code)s) by %(share)s of the smaller "
                    "area; neighbouring boundaries may share edges, not ground."
                )
                % {
                    "neighbour": neighbour.name,
                    "code": neighbour.code,
                    "share": _percent(overlap, smaller),
                }
            )
    if place.pk is not None:
        below = Place.objects.filter(path__under=place.path).exclude(pk=place.pk)
        for child in below.exclude(boundary__isnull=True).order_by("path"):
            inner = _geometry(child.boundary)
            if inner is None:
                continue
            outside = inner.difference(geometry).area
            if outside > TOLERANCE * inner.area:
                problems.append(
                    _(
                        "%(child)s (%(code)s), below this place, would lie %(share)s outside "
                        "the new boundary; redraw it first."
                    )
                    % {
                        "child": child.name,
                        "code": child.code,
                        "share": _percent(outside, inner.area),
                    }
                )
    return problems


def _nearest_bounded_ancestor(place: Place) -> tuple[Place, BaseGeometry] | None:
    if place.parent_id is None:
        return None
    for ancestor in reversed([*place.parent.ancestors(), place.parent]):
        geometry = _geometry(ancestor.boundary)
        if geometry is not None:
            return ancestor, geometry
    return None


def _same_level_near(place: Place, geometry: BaseGeometry) -> list[tuple[Place, BaseGeometry]]:
    """Places of the same level whose bounding box meets this one's (indexed pre-filter), in
    any parent: a grid drawn over a cousin's ground takes that ground's reports as well."""
    min_lng, min_lat, max_lng, max_lat = geometry.bounds
    candidates = (
        Place.objects.filter(
            level=place.level,
            min_lng__lte=max_lng,
            max_lng__gte=min_lng,
            min_lat__lte=max_lat,
            max_lat__gte=min_lat,
        )
        .exclude(pk=place.pk)
        .order_by("code")
        .only("id", "code", "name", "boundary")
    )
    found = []
    for candidate in candidates:
        other = _geometry(candidate.boundary)
        if other is not None and other.intersects(geometry):
            found.append((candidate, other))
    return found
