import hashlib
import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from linli.core.models import AuditEntry
from linli.core.testing.factories import Town
from linli.demo.management.commands.seed import BBOX_LABEL
from linli.people.models import FinancialRecord, Household, Person
from linli.places.models import Place

BBOX = re.compile(re.escape(BBOX_LABEL) + r" -?\d+\.\d{6},-?\d+\.\d{6},-?\d+\.\d{6},-?\d+\.\d{6}")


class _Discard(Exception):
    pass


def _seed(households: int, seed: int = 1, **options) -> str:
    out = io.StringIO()
    call_command(
        "seed", households=households, seed=seed, stdout=out, stderr=io.StringIO(), **options
    )
    return out.getvalue()


def _digest() -> str:
    """Every generated row except its creation time, in id order."""
    digest = hashlib.sha256()
    tables = (
        Place.objects.values_list(
            "id", "code", "name", "level", "parent_id", "path", "is_rural", "boundary", "lat",
            "lng", "min_lat", "min_lng", "max_lat", "max_lng",
        ),
        Household.objects.values_list(
            "id", "number", "address", "building_id", "registration", "status", "place_path"
        ),
        Person.objects.values_list(
            "id", "household_id", "relation", "name", "id_number", "birth_date", "sex", "phone",
            "living_alone", "disability_category", "disability_grade", "party_member", "veteran",
            "left_behind_child", "chronic_illness", "status", "place_path",
        ),
        FinancialRecord.objects.values_list(
            "id", "person_id", "household_id", "category", "kind", "amount", "valid_from",
            "valid_to", "note", "place_path",
        ),
    )  # fmt: skip
    for rows in tables:
        for row in rows.order_by("id"):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def _city_digest(households: int, seed: int) -> tuple[str, str]:
    """Seed a fresh (empty) database, digest it, and roll the whole city back."""
    try:
        with transaction.atomic():
            out = _seed(households, seed)
            digest = _digest()
            raise _Discard
    except _Discard:
        pass
    assert not Place.objects.exists()
    return digest, out.splitlines()[-1]


def test_same_households_and_seed_give_the_same_city(db):
    first, first_bbox = _city_digest(300, seed=7)
    again, again_bbox = _city_digest(300, seed=7)
    other, other_bbox = _city_digest(300, seed=8)
    assert first == again and first_bbox == again_bbox
    assert other != first and other_bbox != first_bbox


def test_if_empty_leaves_existing_places_alone_but_prints_their_bbox(db):
    generated = _seed(40)
    counts = (Place.objects.count(), Person.objects.count(), AuditEntry.objects.count())
    again = _seed(500, if_empty=True)
    assert (Place.objects.count(), Person.objects.count(), AuditEntry.objects.count()) == counts
    assert again.strip().splitlines() == [generated.strip().splitlines()[-1]]
    assert BBOX.fullmatch(again.strip())


def test_if_empty_on_an_empty_database_generates(db):
    out = _seed(40, if_empty=True)
    assert Household.objects.count() == 40
    assert BBOX.fullmatch(out.strip().splitlines()[-1])


def test_seeding_over_existing_data_is_refused_and_changes_nothing(db):
    Town()
    before = Place.objects.count()
    with pytest.raises(CommandError, match="empty database"):
        _seed(40)
    assert Place.objects.count() == before and not Household.objects.exists()


def test_existing_places_without_coordinates_have_no_bbox(db):
    Town()
    Place.objects.update(boundary=None, min_lat=None, min_lng=None, max_lat=None, max_lng=None)
    with pytest.raises(CommandError, match="no coordinates"):
        _seed(40, if_empty=True)


@pytest.mark.parametrize("households", [0, -5])
def test_households_must_be_positive(db, households):
    with pytest.raises(CommandError, match="at least 1"):
        _seed(households)
    assert not Place.objects.exists()


def _schema() -> dict[str, dict]:
    tables = [m._meta.db_table for m in (Place, Household, Person, FinancialRecord)]
    with connection.cursor() as cursor:
        return {t: connection.introspection.get_constraints(cursor, t) for t in tables}


def test_indexes_and_foreign_keys_dropped_for_the_load_are_all_back(db):
    before = _schema()
    _seed(60)
    assert _schema() == before
    assert sum(len(constraints) for constraints in before.values()) > 20
