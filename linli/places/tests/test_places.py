import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linli.core.errors import NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry
from linli.core.testing.factories import square
from linli.people.models import Person
from linli.places import services
from linli.places.models import Place, PlaceLevel
from linli.places.selectors import grid_containing, place_children, place_roots_for


def test_codes_must_follow_the_national_rules(town, admin):
    cases = [
        ("37050", PlaceLevel.DISTRICT, town.city.id, "6 digits"),
        ("380502", PlaceLevel.DISTRICT, town.city.id, "first 4 digits"),
        ("370502003", PlaceLevel.STREET, town.district.id, "12 digits"),
        ("370599003000", PlaceLevel.STREET, town.district.id, "district's 6 digits"),
        ("370502009001", PlaceLevel.COMMUNITY, town.street.id, "first 9 digits"),
        ("370502001002001", PlaceLevel.GRID, town.community.id, "extends its parent"),
        ("37050200100100A", PlaceLevel.GRID, town.community.id, "digits only"),
    ]
    for code, level, parent_id, reason in cases:
        with pytest.raises(ValidationFailed, match=reason):
            services.place_create(
                actor=admin, code=code, name="x", level=level, parent_id=parent_id
            )


def test_levels_must_nest(town, admin):
    with pytest.raises(ValidationFailed, match="cannot sit under"):
        services.place_create(
            actor=admin,
            code="370502001001001002",
            name="楼",
            level=PlaceLevel.BUILDING,
            parent_id=town.community.id,
        )


def test_duplicate_code_is_refused(town, admin):
    with pytest.raises(ValidationFailed) as exc:
        services.place_create(
            actor=admin,
            code=town.grid.code,
            name="again",
            level=PlaceLevel.GRID,
            parent_id=town.community.id,
        )
    assert "code" in exc.value.details


@pytest.mark.parametrize(
    ("boundary", "reason"),
    [
        ({"type": "Point", "coordinates": [118, 37]}, "Polygon"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
            "crosses itself",
        ),
        ({"type": "Polygon", "coordinates": "nonsense"}, "not valid GeoJSON"),
        ({"type": "Polygon", "coordinates": [[[500, 0], [501, 0], [501, 1], [500, 0]]]}, "degrees"),
    ],
)
def test_bad_boundaries_are_explained(town, admin, boundary, reason):
    with pytest.raises(ValidationFailed, match=reason):
        services.place_create(
            actor=admin,
            code="370502001001002",
            name="网格",
            level=PlaceLevel.GRID,
            parent_id=town.community.id,
            boundary=boundary,
        )
    assert not Place.objects.filter(code="370502001001002").exists()


def test_street_officer_edits_only_their_street(town, street_officer):
    grid = services.place_create(
        actor=street_officer,
        code="370502001001002",
        name="二网格",
        level=PlaceLevel.GRID,
        parent_id=town.community.id,
        boundary=square(118.00, 37.01, 0.01),
    )
    assert grid.path == town.community.path + "370502001001002/"
    with pytest.raises(NotFound):
        services.place_create(
            actor=street_officer,
            code="370502002001002",
            name="越界",
            level=PlaceLevel.GRID,
            parent_id=town.other_community.id,
        )
    updated = services.place_update(actor=street_officer, place_id=grid.id, name="第二网格")
    assert updated.name == "第二网格"
    assert (
        AuditEntry.objects.filter(object_type="places.place", object_id=str(grid.id)).count() == 2
    )


def test_grid_worker_may_not_edit_the_tree(town, grid_worker):
    with pytest.raises(NotFound):
        services.place_update(actor=grid_worker, place_id=town.grid.id, name="x")
    with pytest.raises(PermissionDenied):
        services.place_create(
            actor=grid_worker, code="999999", name="x", level=PlaceLevel.CITY, parent_id=None
        )


def test_codes_and_parents_are_fixed(town, admin):
    with pytest.raises(ValidationFailed, match="cannot be changed"):
        services.place_update(actor=admin, place_id=town.grid.id, code="370502001001009")


def test_point_lookup_finds_the_grid(town):
    assert grid_containing(37.005, 118.005) == town.grid
    assert grid_containing(37.005, 118.015) == town.other_grid
    assert grid_containing(37.005, 118.010) == town.grid  # shared edge: lowest code wins
    assert grid_containing(40.0, 118.0) is None


def test_the_grid_found_carries_what_a_case_needs_and_loads_its_boundary_on_use(town):
    grid = grid_containing(37.005, 118.005)
    assert (grid.pk, grid.code, grid.path, grid.parent_id) == (
        town.grid.pk,
        town.grid.code,
        town.grid.path,
        town.community.pk,
    )
    assert grid.boundary == square(118.00, 37.00, 0.01)


def test_a_redrawn_boundary_counts_at_once_in_the_process_that_saved_it(town, admin):
    assert grid_containing(37.005, 118.015) == town.other_grid  # the index is built now
    # The second grid moves east, and the first takes over its old square.
    services.place_update(
        actor=admin, place_id=town.other_grid.id, boundary=square(118.05, 37.00, 0.01)
    )
    services.place_update(actor=admin, place_id=town.grid.id, boundary=square(118.00, 37.00, 0.02))
    assert grid_containing(37.005, 118.015) == town.grid
    assert grid_containing(37.005, 118.055) == town.other_grid


def test_a_grid_the_cached_index_does_not_know_is_found_in_the_database(town):
    assert grid_containing(37.005, 118.025) is None  # the index is built now
    # Written without save(), as another process's write looks to this one.
    Place.objects.filter(pk=town.other_grid.pk).update(
        boundary=square(118.02, 37.00, 0.01), min_lng=118.02, max_lng=118.03
    )
    assert grid_containing(37.005, 118.025) == town.other_grid


def test_tree_browsing_starts_at_the_actors_places(town, grid_worker, admin):
    assert list(place_roots_for(grid_worker)) == [town.grid]
    assert list(place_roots_for(admin)) == [town.city]
    children = list(place_children(admin, town.district))
    assert children == [town.street, town.other_street]
    assert children[0].child_count == 1


segments = st.lists(st.sampled_from(["11", "12", "111", "2", "21"]), min_size=1, max_size=4)


@settings(
    max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(paths=st.lists(segments, min_size=1, max_size=12), probe=segments)
def test_under_matches_exactly_the_prefix_subtree(db, paths, probe):
    """The `under` lookup agrees with str.startswith on SQLite and PostgreSQL alike."""
    Person.objects.all().delete()
    AuditEntry.objects.all().delete()
    stored = sorted({"/".join(p) + "/" for p in paths})
    for i, path in enumerate(stored):
        AuditEntry.objects.create(
            action="create", object_type="t", object_id=str(i), place_path=path
        )
    prefix = "/".join(probe) + "/"
    found = set(
        AuditEntry.objects.filter(place_path__under=prefix).values_list("place_path", flat=True)
    )
    assert found == {p for p in stored if p.startswith(prefix)}


def test_subtree_query_can_use_the_path_index(town):
    if connection.vendor != "postgresql":
        plan = Place.objects.filter(path__under=town.street.path).explain()
        assert "USING INDEX" in plan and "path>?" in plan  # SQLite: a range on an index
        return
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    plan = Place.objects.filter(path__under=town.street.path).explain()
    assert "place_path_like_idx" in plan
