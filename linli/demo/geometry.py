"""Boundaries for the synthetic city: convex polygons split into cells that tile their parent.

Every split is a Voronoi diagram of seeds inside the parent, relaxed twice (Lloyd) so cells are
round and of similar size, then clipped to the parent. The city outline is convex, so every
clipped cell is a convex polygon too, and the children of a node cover it with no gap or
overlap (网格全覆盖): each shared edge is one Voronoi edge, computed once.
"""

from __future__ import annotations

import math
import random

import shapely
from shapely.geometry import MultiPoint, Polygon, mapping


def city_outline(
    rng: random.Random, *, lat: float, lng: float, half_lat: float, half_lng: float
) -> Polygon:
    """An irregular convex outline: jittered points on an ellipse, then their hull."""
    corners = 16
    points = []
    for i in range(corners):
        angle = 2 * math.pi * i / corners + rng.uniform(-0.12, 0.12)
        radius = rng.uniform(0.86, 1.0)
        points.append(
            (lng + half_lng * radius * math.cos(angle), lat + half_lat * radius * math.sin(angle))
        )
    return MultiPoint(points).convex_hull


def points_inside(polygon: Polygon, count: int, rng: random.Random) -> list[tuple[float, float]]:
    """`count` (lng, lat) points strictly inside the polygon, by rejection from its bounds."""
    shapely.prepare(polygon)
    min_x, min_y, max_x, max_y = polygon.bounds
    out: list[tuple[float, float]] = []
    while len(out) < count:
        x = min_x + (max_x - min_x) * rng.random()
        y = min_y + (max_y - min_y) * rng.random()
        if shapely.contains_xy(polygon, x, y):
            out.append((x, y))
    return out


def _clipped_cells(parent: Polygon, seeds: list[tuple[float, float]]) -> list[Polygon]:
    diagram = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=parent)
    cells = []
    for cell in shapely.get_parts(diagram):
        piece = cell.intersection(parent)
        # Convex parent and convex cell: the piece is one polygon (or nothing, off the parent).
        if piece.geom_type == "Polygon" and not piece.is_empty:
            cells.append(piece)
    return cells


def split(parent: Polygon, count: int, rng: random.Random) -> list[Polygon]:
    """`count` convex polygons tiling `parent`, ordered north-west first."""
    if count <= 1:
        return [parent]
    seeds = points_inside(parent, count, rng)
    for _ in range(2):
        seeds = [cell.centroid.coords[0] for cell in _clipped_cells(parent, seeds)]
    cells = _clipped_cells(parent, seeds)
    if len(cells) != count:  # two seeds closer than GEOS can tell apart: draw again
        return split(parent, count, rng)
    cells.sort(key=lambda c: (-round(c.centroid.y, 4), c.centroid.x))
    return cells


def geojson(polygon: Polygon) -> dict:
    """GeoJSON with plain lists and full-precision floats (rounding would open gaps)."""
    data = mapping(polygon)
    return {
        "type": data["type"],
        "coordinates": [[list(p) for p in ring] for ring in data["coordinates"]],
    }
