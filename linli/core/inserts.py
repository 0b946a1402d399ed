"""New rows on hot write paths: the INSERT built once per model instead of on every save.

`Model.save()` compiles its INSERT anew on each call, and that is most of the CPU a row costs
(measured on intake: a report's four rows took ~4 ms of a ~10 ms request through `save()`,
~1 ms through `insert_new`; bench/README.md). These helpers write the same values `save()`
would (each field's `pre_save` for defaults and `auto_now`, then `get_db_prep_save`) with a
statement cached per model, row count and database. They call no `save()` override and send no
signals, so they refuse models that override `save()`; Linli keeps business logic out of signals.

On PostgreSQL each thread takes ids a block at a time from each table's sequence (`next_ids`),
so a new row knows its id before it is written: nothing waits for a RETURNING, and
`pipelined()` can send a transaction's inserts together instead of one round trip each. Ids
stay unique; a block not used up when the process ends leaves a gap, as a rolled-back insert
always did. Ids therefore follow the order rows were written only within one thread.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache

from django.db import connections, models
from django.db.backends.utils import CursorWrapper
from django.db.models.expressions import DatabaseDefault

ID_BLOCK = 32


class _Blocks(threading.local):
    """Each thread its own blocks: a thread refilling one talks to the database, and must not
    hold up (or, inside a pipeline waiting on another's row lock, deadlock) the others."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.by_table: dict[tuple[str, str], deque[int]] = {}


_blocks = _Blocks()


class _PipelineCursors(threading.local):
    """The cursor of the outermost pipeline open on each database in this thread, which the
    inserts sent inside share: a cursor each cost a report ~3 % of its instructions (psycopg's
    adapter cache starts cold in every new cursor)."""

    def __init__(self) -> None:
        self.by_alias: dict[str, CursorWrapper] = {}


_pipeline = _PipelineCursors()


@cache
def _statement(
    model: type[models.Model], rows: int, with_pk: bool, alias: str
) -> tuple[list[models.Field], str]:
    if model.save is not models.Model.save:
        raise TypeError(f"{model.__name__} overrides save(); insert it with save().")
    connection = connections[alias]
    meta = model._meta
    fields = [
        f for f in meta.local_concrete_fields if not f.generated and (with_pk or not f.primary_key)
    ]
    quote = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = "INSERT INTO {} ({}) VALUES {}".format(
        quote(meta.db_table), ", ".join(quote(f.column) for f in fields), ", ".join([row] * rows)
    )
    if not with_pk:
        # Both supported databases return new ids (SQLite since 3.35).
        if not connection.features.can_return_rows_from_bulk_insert:
            raise NotImplementedError("This database cannot return the ids of new rows.")
        sql += " " + connection.ops.return_insert_columns([meta.pk])[0]
    return fields, sql


def insert_new(objs: Sequence[models.Model], *, using: str = "default") -> None:
    """Insert unsaved instances of one model in one statement and set their primary keys.

    Every instance gives its primary key (taken with `next_id`) or none does; on PostgreSQL
    those without take theirs from the thread's block first."""
    if not objs:
        return
    model = type(objs[0])
    with_pk = objs[0].pk is not None
    if any(type(o) is not model or (o.pk is not None) != with_pk for o in objs):
        raise ValueError("insert_new takes instances of one model, all with or all without ids.")
    connection = connections[using]
    if not with_pk and connection.vendor == "postgresql":
        for obj, pk in zip(objs, next_ids(model, len(objs), using=using), strict=True):
            obj.pk = pk
        with_pk = True
    fields, sql = _statement(model, len(objs), with_pk, connection.alias)
    params = []
    for obj in objs:
        for field in fields:
            value = field.pre_save(obj, add=True)
            if isinstance(value, DatabaseDefault):
                raise TypeError(f"{model.__name__}.{field.name} has a database default.")
            params.append(field.get_db_prep_save(value, connection=connection))
    shared = _pipeline.by_alias.get(connection.alias)
    if shared is not None and with_pk:  # nothing to read back, so the pipeline need not wait
        shared.execute(sql, params)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if not with_pk:
                for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
                    obj.pk = pk
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using


def next_id(model: type[models.Model], *, using: str = "default") -> int:
    """Take the id the next new row of `model` gets, so values derived from it (a case number)
    are written with the row rather than by an UPDATE after it.

    PostgreSQL takes it from the thread's block (`next_ids`). SQLite has no sequence: it takes
    the largest id plus one, which is safe because Linli's SQLite transactions begin IMMEDIATE
    and so hold the database's write lock; hence it must be called inside `transaction.atomic()`."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        return next_ids(model, 1, using=using)[0]
    if not connection.in_atomic_block:
        raise RuntimeError("next_id() on SQLite needs an atomic block (the write lock).")
    quote = connection.ops.quote_name
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(MAX({quote(meta.pk.column)}), 0) + 1 FROM {quote(meta.db_table)}"
        )
        return cursor.fetchone()[0]


def next_ids(model: type[models.Model], count: int, *, using: str = "default") -> list[int]:
    """`count` unused ids of `model`'s table (PostgreSQL), from this thread's block, refilled
    from the column's sequence ID_BLOCK at a time: one round trip per block, not per row.

    The sequence must only move forward while processes hold blocks: resetting it to the
    table's largest id (`sqlsequencereset`) would hand out again ids a block still holds."""
    if _blocks.pid != os.getpid():  # a forked child must not reuse its parent's ids
        _blocks.pid, _blocks.by_table = os.getpid(), {}
    meta = model._meta
    block = _blocks.by_table.setdefault((using, meta.db_table), deque())
    if len(block) < count:
        with connections[using].cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, max(count - len(block), ID_BLOCK)],
            )
            block.extend(pk for (pk,) in cursor.fetchall())
    return [block.popleft() for _ in range(count)]


@contextmanager
def pipelined(*, using: str = "default") -> Iterator[None]:
    """Inside, PostgreSQL statements are sent without waiting for each answer; a database error
    is raised when the block ends, or earlier where a result is read. Use it around writes
    whose results are not read (`insert_new` of rows with ids, which share the block's cursor),
    inside `transaction.atomic()` so the transaction ends after the answers. Elsewhere it does
    nothing."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    # The errors the pipeline raises as it ends come from psycopg, outside Django's cursor:
    # translated here, so callers catch django.db.IntegrityError as everywhere else.
    with connection.wrap_database_errors, connection.connection.pipeline():
        # A nested block is psycopg's nested pipeline (its errors surface as it ends, where a
        # savepoint's caller can catch them) and uses the outermost block's cursor.
        if using in _pipeline.by_alias:
            yield
            return
        with connection.cursor() as cursor:
            _pipeline.by_alias[using] = cursor
            try:
                yield
            finally:
                del _pipeline.by_alias[using]
