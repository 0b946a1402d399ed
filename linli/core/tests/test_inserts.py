from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict

from linli.core.inserts import insert_new, next_id
from linli.core.models import AuditAction, AuditEntry
from linli.places.models import Place


def _entry(actor=None, label="x", **changes) -> AuditEntry:
    return AuditEntry(
        actor=actor,
        actor_label="someone",
        action=AuditAction.UPDATE,
        object_type="places.place",
        object_id="7",
        object_label=label,
        place_path="/C/",
        changes=changes,
    )


def test_a_row_inserted_reads_back_as_the_same_row_save_writes(grid_worker):
    by_save, by_insert = (_entry(grid_worker, name=["甲", "乙"]) for _ in range(2))
    by_insert.at = by_save.at
    by_save.save()
    insert_new([by_insert])
    assert by_insert.pk is not None and by_insert.pk != by_save.pk
    assert not by_insert._state.adding
    saved, inserted = (AuditEntry.objects.get(pk=e.pk) for e in (by_save, by_insert))
    assert model_to_dict(inserted, exclude=["id"]) == model_to_dict(saved, exclude=["id"])
    assert inserted.changes == {"name": ["甲", "乙"]}


def test_several_rows_get_their_own_ids_in_order(db):
    entries = [_entry(label=f"row {n}") for n in range(3)]
    insert_new(entries)
    stored = dict(AuditEntry.objects.values_list("pk", "object_label"))
    assert [stored[e.pk] for e in entries] == ["row 0", "row 1", "row 2"]


def test_rows_with_ids_taken_first_keep_them(db):
    with transaction.atomic():
        taken = next_id(AuditEntry)
        # An id well past the next one: a statement that dropped it would store the row under
        # the next id instead.
        row = _entry(label="given")
        row.pk = taken + 500
        insert_new([row])
        assert next_id(AuditEntry) > taken
    assert row.pk == taken + 500
    assert AuditEntry.objects.get(pk=taken + 500).object_label == "given"


def test_refused_for_models_whose_save_does_more(town):
    place = Place(code="X1", name="x", level=town.grid.level, parent=town.community)
    with pytest.raises(TypeError, match="overrides save"):
        insert_new([place])


def test_refused_for_a_mix_of_new_and_numbered_rows(db):
    numbered = _entry()
    numbered.pk = 10**9
    with pytest.raises(ValueError, match="all with or all without"):
        insert_new([_entry(), numbered])


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite takes max + 1 under its lock")
@pytest.mark.django_db(transaction=True)
def test_next_id_on_sqlite_needs_the_write_lock():
    with pytest.raises(RuntimeError, match="atomic"):
        next_id(AuditEntry)
    with transaction.atomic():
        assert (
            next_id(AuditEntry)
            == (AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="sequences are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_next_id_from_concurrent_transactions_never_repeats():
    def take(_) -> list[int]:
        try:
            ids = []
            for _ in range(20):
                with transaction.atomic():
                    ids.append(next_id(AuditEntry))
            return ids
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        taken = [i for ids in pool.map(take, range(4)) for i in ids]
    assert len(taken) == len(set(taken)) == 80
