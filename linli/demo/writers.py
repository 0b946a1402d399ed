"""Fast row loading for the generator: PostgreSQL COPY, or `executemany` on SQLite.

The generator builds plain tuples in a declared column order and assigns primary keys itself,
so it needs neither model instances nor returned ids; `check_columns` keeps the column lists
honest when a model changes. Numbers are in bench/README.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.core.management.color import no_style
from django.db import connection, models


def check_columns(model: type[models.Model], columns: Sequence[str]) -> None:
    """Fail loudly when the model gained or lost a column the generator does not write."""
    expected = {f.column for f in model._meta.concrete_fields}
    if set(columns) != expected:
        missing, extra = sorted(expected - set(columns)), sorted(set(columns) - expected)
        raise RuntimeError(
            f"The demo generator writes {model._meta.label} with the wrong columns "
            f"(missing {missing}, unknown {extra}): update linli/demo/generator.py."
        )


def next_id(model: type[models.Model]) -> int:
    """First free primary key; the generator owns the tables while it runs."""
    return (model.objects.aggregate(top=models.Max("pk"))["top"] or 0) + 1


class RowWriter:
    """Writes tuples to one table per model in the column order given."""

    def __init__(self) -> None:
        self.is_postgres = connection.vendor == "postgresql"
        self.rows_written = 0
        if connection.vendor == "sqlite":
            # Index upkeep dominates SQLite loading; the default 2 MB page cache thrashes.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -262144")

    def json_value(self, value: Any) -> Any:
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def datetime_value(self, value):
        # SQLite stores naive UTC text; PostgreSQL takes the aware datetime.
        return value if self.is_postgres else connection.ops.adapt_datetimefield_value(value)

    def write(
        self, model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> int:
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return 0
        table = connection.ops.quote_name(model._meta.db_table)
        names = ", ".join(connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as cursor:
            if self.is_postgres:
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        self.rows_written += len(rows)
        return len(rows)

    def reset_sequences(self, models_: Sequence[type[models.Model]]) -> None:
        """Explicit ids leave PostgreSQL sequences behind; move them past the new rows."""
        statements = connection.ops.sequence_reset_sql(no_style(), list(models_))
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


@contextmanager
def indexes_and_foreign_keys_deferred(models_: Sequence[type[models.Model]]) -> Iterator[None]:
    """Bulk-load mode for empty tables: plain indexes (and, on PostgreSQL, foreign keys) are
    dropped for the load and rebuilt after it.

    Building an index in one sorted pass, and checking a foreign key with one join, is much
    cheaper than keeping seven indexes up to date and probing the parent row for each of
    millions of rows (PostgreSQL manual, "Populating a Database"). Unique indexes stay, so
    duplicates are still refused while loading. Callers hold a transaction: if the load fails,
    the drops roll back with it.
    """
    postgres = connection.vendor == "postgresql"
    rebuild: list[str] = []
    with connection.cursor() as cursor:
        for model in models_:
            table = model._meta.db_table
            quoted = connection.ops.quote_name(table)
            if postgres:
                cursor.execute(
                    "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                    "WHERE c.conrelid = %s::regclass AND c.contype = 'f'",
                    [quoted],
                )
                for name, definition in cursor.fetchall():
                    name = connection.ops.quote_name(name)
                    cursor.execute(f"ALTER TABLE {quoted} DROP CONSTRAINT {name}")
                    rebuild.append(f"ALTER TABLE {quoted} ADD CONSTRAINT {name} {definition}")
                cursor.execute(
                    "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                    "JOIN pg_class i ON i.oid = x.indexrelid "
                    "WHERE x.indrelid = %s::regclass AND NOT x.indisunique",
                    [quoted],
                )
            else:  # SQLite: indexes it made for UNIQUE columns have no SQL and stay
                cursor.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                    "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%%'",
                    [table],
                )
            for name, definition in cursor.fetchall():
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
                rebuild.insert(0, definition)  # indexes first: the key checks can use them
    yield
    with connection.cursor() as cursor:
        if postgres:
            # Run the checks still pending (other tables' deferred keys) first: PostgreSQL
            # alters no table, and builds no index, over pending checks.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for statement in rebuild:
            cursor.execute(statement)
        if postgres:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # Django declares them all so
