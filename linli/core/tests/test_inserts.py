from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import IntegrityError, connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from linli.core import inserts
from linli.core.inserts import ID_BLOCK, insert_new, next_id, next_ids, pipelined
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


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="sequences are PostgreSQL's"
)


@postgresql_only
def test_ids_are_taken_a_block_at_a_time(db, monkeypatch):
    monkeypatch.setattr(inserts._blocks, "by_table", {})
    with CaptureQueriesContext(connection) as queries:
        first = next_ids(AuditEntry, ID_BLOCK - 1)
        more = next_ids(AuditEntry, 3)  # the block's last id and two of a new block
    assert len(queries) == 2  # the rest of the block, then a new block for all three
    taken = first + more
    assert taken == sorted(taken) and len(set(taken)) == len(taken)
    # A new row takes the next id without asking the database for it, and keeps it.
    row = _entry(label="from the block")
    with CaptureQueriesContext(connection) as queries:
        insert_new([row])
    assert len(queries) == 1 and "RETURNING" not in queries[0]["sql"]
    assert row.pk == more[-1] + 1
    assert AuditEntry.objects.get(pk=row.pk).object_label == "from the block"


@postgresql_only
def test_a_forked_process_does_not_use_its_parents_block(db, monkeypatch):
    parent = next_ids(AuditEntry, 2)
    held = list(inserts._blocks.by_table[("default", "core_auditentry")])
    monkeypatch.setattr(inserts._blocks, "pid", -1)  # as after fork(): another process's ids
    child = next_ids(AuditEntry, 1)
    assert child[0] > max(parent + held)


def test_a_failed_insert_in_a_pipeline_leaves_nothing_of_its_transaction(db):
    kept = _entry(label="committed before")
    insert_new([kept])
    with pytest.raises(IntegrityError), transaction.atomic(), pipelined():
        insert_new([_entry(label="sent first")])
        duplicate = _entry()
        duplicate.pk = kept.pk  # refused by the primary key: after the row above was sent
        insert_new([duplicate])
    assert list(AuditEntry.objects.values_list("object_label", flat=True)) == ["committed before"]


@postgresql_only
def test_the_inserts_of_a_pipeline_share_its_cursor(db):
    cursors = []

    def note_cursor(execute, sql, params, many, context):
        if sql.startswith("INSERT"):
            cursors.append(context["cursor"])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note_cursor), transaction.atomic(), pipelined():
        insert_new([_entry(label="outer 1")])
        with transaction.atomic(), pipelined():  # a nested block, as a service called by another
            insert_new([_entry(label="inner")])
        insert_new([_entry(label="outer 2")])
    assert len(cursors) == 3 and len(set(map(id, cursors))) == 1
    labels = AuditEntry.objects.order_by("id").values_list("object_label", flat=True)
    assert list(labels) == ["outer 1", "inner", "outer 2"]


def test_a_failure_in_a_nested_block_is_raised_where_it_ends_and_the_outer_goes_on(db):
    kept = _entry(label="kept")
    insert_new([kept])
    with transaction.atomic(), pipelined():
        insert_new([_entry(label="outer")])
        with pytest.raises(IntegrityError), transaction.atomic(), pipelined():
            duplicate = _entry(label="refused")
            duplicate.pk = kept.pk
            insert_new([duplicate])
        insert_new([_entry(label="after")])
    labels = AuditEntry.objects.order_by("id").values_list("object_label", flat=True)
    assert list(labels) == ["kept", "outer", "after"]
