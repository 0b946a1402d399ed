"""Boundaries lie within the one above them and clear of their neighbours', so nobody can draw
their grid over another district's and take its reports; a point goes to exactly one grid."""

import json

import pytest
from django.urls import reverse

from linli.core.errors import ValidationFailed
from linli.core.models import AuditEntry
from linli.core.testing.factories import square
from linli.places import services
from linli.places.models import Place, PlaceLevel
from linli.places.selectors import grid_containing


def redraw(actor, place, boundary):
    return services.place_update(actor=actor, place_id=place.id, boundary=boundary)


def test_a_grid_redrawn_over_another_districts_grid_is_refused_naming_it(town, street_officer):
    # town.grid (mine) and town.other_grid (the neighbour street's) are squares side by side.
    with pytest.raises(ValidationFailed) as refused:
        redraw(street_officer, town.grid, square(118.00, 37.00, 0.02))
    assert "黄河一网格" in refused.value.message and "370502002001001" in refused.value.message
    assert list(refused.value.details) == ["boundary"]
    assert Place.objects.get(pk=town.grid.pk).boundary == square(118.00, 37.00, 0.01)
    assert not AuditEntry.objects.filter(action="update", object_id=str(town.grid.pk)).exists()
    assert grid_containing(37.005, 118.015) == town.other_grid  # its reports stay its own


def test_shared_edges_and_slivers_within_the_tolerance_are_accepted(town, admin):
    # The edge at 118.01 shared exactly, then overlapping the neighbour by 0.5 % of its area.
    redraw(admin, town.grid, square(118.00, 37.00, 0.01))
    sliver = {
        "type": "Polygon",
        "coordinates": [
            [
                [118.00, 37.00],
                [118.01005, 37.00],
                [118.01005, 37.01],
                [118.00, 37.01],
                [118.00, 37.00],
            ]
        ],
    }
    redraw(admin, town.grid, sliver)
    too_much = {
        "type": "Polygon",
        "coordinates": [
            [
                [118.00, 37.00],
                [118.0102, 37.00],
                [118.0102, 37.01],
                [118.00, 37.01],
                [118.00, 37.00],
            ]
        ],
    }
    with pytest.raises(ValidationFailed, match=r"overlaps 黄河一网格 .* by 2\.0%"):
        redraw(admin, town.grid, too_much)


def test_a_point_in_an_overlap_goes_to_the_lowest_code_whatever_the_order_drawn(town, admin):
    """The rule: the grid whose boundary covers the point; on a shared edge or in a tolerated
    sliver covered by two, the one with the lowest code."""
    # The neighbour (higher code) reaches 0.5 % into mine, drawn after mine.
    redraw(
        admin,
        town.other_grid,
        {
            "type": "Polygon",
            "coordinates": [
                [
                    [118.00995, 37.00],
                    [118.02, 37.00],
                    [118.02, 37.01],
                    [118.00995, 37.01],
                    [118.00995, 37.00],
                ]
            ],
        },
    )
    assert grid_containing(37.005, 118.00997) == town.grid
    assert grid_containing(37.005, 118.010) == town.grid  # on the edge
    assert grid_containing(37.005, 118.0101) == town.other_grid
    redraw(admin, town.grid, square(118.00, 37.00, 0.01000001))  # now mine is the newer
    assert grid_containing(37.005, 118.00997) == town.grid


def test_a_boundary_must_lie_within_the_nearest_boundary_above(town, admin):
    services.place_update(
        actor=admin, place_id=town.street.id, boundary=square(117.99, 36.99, 0.03)
    )
    with pytest.raises(ValidationFailed, match="outside 文汇街道, the place above it"):
        # The community has no boundary: the street's is the nearest above the grid.
        redraw(admin, town.grid, square(118.00, 37.00, 0.05))
    with pytest.raises(ValidationFailed, match=r"银座一网格 .*would lie 100\.0% outside"):
        services.place_update(
            actor=admin, place_id=town.street.id, boundary=square(117.00, 36.00, 0.03)
        )


def test_a_new_grid_over_a_neighbours_is_refused_too(town, street_officer):
    with pytest.raises(ValidationFailed, match="overlaps 银座一网格"):
        services.place_create(
            actor=street_officer,
            code="370502001001002",
            name="二网格",
            level=PlaceLevel.GRID,
            parent_id=town.community.id,
            boundary=square(118.005, 37.00, 0.01),
        )


def test_the_place_form_shows_the_overlap_next_to_the_boundary(client, street_officer, town):
    client.force_login(street_officer)
    response = client.post(
        reverse("places:edit", args=[town.grid.id]),
        {"name": town.grid.name, "boundary": json.dumps(square(118.00, 37.00, 0.02))},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_boundary_errors"' in body and "黄河一网格" in body
