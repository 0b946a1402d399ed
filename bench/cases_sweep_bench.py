"""Wall time of the overdue sweep over 1,000,000 cases (10 % open) on PostgreSQL.

    nice .venv/bin/python bench/cases_sweep_bench.py                 # creates, measures, drops
    nice .venv/bin/python bench/cases_sweep_bench.py --cases 200000 --keep

It creates a scratch database (default linli_bench_cases on the local server; it must not exist
unless --recreate), migrates it (which seeds the taxonomy and the calendar), builds a district
of 80 grids with one handler per department, and generates the cases server-side with one
INSERT … SELECT over generate_series, in the order they were reported over a year. The open
ones are the newest tenth, as in life (old cases are closed); --scatter spreads them evenly
over the table instead, the worst case for the sweep's page writes. Open cases are spread over
the five open stages, their deadlines uniformly from two days ago to five days ahead (so a
first sweep finds a backlog), the dispatched ones held by a department and half of those by a
named handler. Then it times:

  cold    the first sweep: every overdue and nearly-due case is warned, escalated and written
          into the timeline, the audit log and the outbox;
  repeat  the same moment again: nothing to do (idempotence), the cost of looking;
  +5 min  five minutes later: the steady state of a sweep every five minutes.

Target: under 5 s. The database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
LINLI = ROOT / ".venv" / "bin" / "linli"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/linli_bench_cases"


def admin_connection(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True)


def database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        sys.exit(f"Use a plain lower-case database name, not {name!r}.")
    return name


def create_database(url: str, recreate: bool) -> None:
    name = database_name(url)
    with admin_connection(url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            if not recreate:
                sys.exit(f"Database {name} exists; pass --recreate to drop it and start afresh.")
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def drop_database(url: str) -> None:
    name = database_name(url)
    with admin_connection(url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    print(f"dropped {name}")


def migrate_and_set_up(url: str) -> None:
    """Migrate the scratch database in a subprocess (timed), then set Django up on it here."""
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "LINLI_ALLOW_INSECURE_KEY": "1"}
    started = time.perf_counter()
    subprocess.run([str(LINLI), "migrate", "--noinput", "-v0"], env=env, check=True)
    print(f"migrate (with taxonomy and calendar): {time.perf_counter() - started:.1f} s")
    set_up_django(url)


def set_up_django(url: str) -> None:
    """Django on the scratch database in this process, production-like (DEBUG=0)."""
    os.environ.update(
        DATABASE_URL=url,
        DEBUG="0",
        LINLI_ALLOW_INSECURE_KEY="1",
        DJANGO_SETTINGS_MODULE="linli.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def print_table_size() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('cases_case'))")
        print(f"cases_case with indexes: {cursor.fetchone()[0]}")


def build_district():
    from linli.core.models import Department, User
    from linli.core.roles import Role
    from linli.core.testing.factories import make_place
    from linli.places.models import PlaceLevel

    city = make_place("370500", "东营市", PlaceLevel.CITY)
    district = make_place("370502", "东营区", PlaceLevel.DISTRICT, city)
    grids = []
    for s in range(1, 5):
        street = make_place(f"370502{s:03d}000", f"街道{s}", PlaceLevel.STREET, district)
        for c in range(1, 6):
            community = make_place(
                f"370502{s:03d}{c:03d}", f"社区{s}-{c}", PlaceLevel.COMMUNITY, street
            )
            for g in range(1, 5):
                grids.append(
                    make_place(f"{community.code}{g:03d}", f"网格{g}", PlaceLevel.GRID, community)
                )
    handlers = []
    for department in Department.objects.order_by("code"):
        user = User(username=f"bench_{department.code.lower()}", role=Role.DEPARTMENT_HANDLER)
        user.set_unusable_password()
        user.save()
        user.departments.set([department])
        handlers.append((department.pk, user.pk))
    return grids, handlers


GENERATE = """
INSERT INTO cases_case (
    number, category_id, description, address, lat, lng, grid_id, place_path, source,
    reporter_key, idempotency_key, reporter_name, reporter_phone, state, tier, priority,
    department_id, handler_id, warning, stage_started_at, stage_warn_at, stage_deadline, due_at,
    rework_count, escalation_count, close_reason, rating_comment, reported_at, closed_at,
    updated_at)
SELECT
    'B' || lpad(s.g::text, 12, '0'),
    (%(cats)s::bigint[])[1 + s.g %% cardinality(%(cats)s::bigint[])],
    'bench case', '', 37.0, 118.0,
    (%(grids)s::bigint[])[1 + s.g %% cardinality(%(grids)s::bigint[])],
    (%(paths)s::text[])[1 + s.g %% cardinality(%(paths)s::text[])],
    'resident', 'b' || s.g, '', '', '',
    CASE WHEN s.open THEN
        (ARRAY['reported', 'registered', 'dispatched', 'in_hand', 'handled'])[1 + s.stage]
        ELSE 'closed_fixed' END,
    5, 3,
    CASE WHEN s.open AND s.stage >= 2 THEN (%(depts)s::bigint[])[1 + s.g %% %(n_depts)s] END,
    CASE WHEN s.open AND s.stage >= 3 THEN (%(users)s::bigint[])[1 + s.g %% %(n_depts)s] END,
    0,
    CASE WHEN s.open THEN s.deadline - interval '8 hours' END,
    CASE WHEN s.open THEN s.deadline - interval '96 minutes' END,
    CASE WHEN s.open THEN s.deadline END,
    s.reported + interval '5 days',
    0, 0,
    CASE WHEN s.open THEN '' ELSE 'fixed' END,
    '',
    s.reported,
    CASE WHEN s.open THEN NULL ELSE s.reported + interval '2 days' END,
    now()
FROM (
    SELECT g,
           CASE WHEN %(scatter)s THEN g %% %(open_every)s = 0
                ELSE g > %(n)s - %(n)s / %(open_every)s END AS open,
           g %% 5 AS stage,
           now() - interval '2 days' + random() * interval '7 days' AS deadline,
           now() - (%(n)s - g) * (interval '365 days' / %(n)s) AS reported
    FROM generate_series(1, %(n)s) g
) s
"""


def generate_cases(n: int, open_every: int, scatter: bool, grids, handlers) -> float:
    from django.db import connection

    from linli.cases.models import Category

    cats = list(Category.objects.filter(parent__isnull=False).values_list("pk", flat=True))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            GENERATE,
            {
                "cats": cats,
                "grids": [g.pk for g in grids],
                "paths": [g.path for g in grids],
                "depts": [d for d, _ in handlers],
                "users": [u for _, u in handlers],
                "n_depts": len(handlers),
                "open_every": open_every,
                "scatter": scatter,
                "n": n,
            },
        )
        cursor.execute("VACUUM ANALYZE cases_case")
    return time.perf_counter() - started


def explain_red_update(now) -> str:
    from django.db import connection, transaction

    from linli.cases.models import TIMED_STATES, Case

    qs = Case.objects.filter(state__in=TIMED_STATES, warning__lt=2, stage_deadline__lte=now)
    sql, params = qs.values("id").query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join("    " + row[0] for row in cursor.fetchall())


def timed(timings: list[tuple[float, str]]):
    """A query wrapper noting each statement's time (commit included), for the breakdown."""

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - started, " ".join(sql.split())[:90]))

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--open-every", type=int, default=10, help="1 case in N is open")
    parser.add_argument(
        "--scatter",
        action="store_true",
        help="spread open cases evenly over the table (worst case) instead of the newest",
    )
    parser.add_argument("--recreate", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    create_database(args.url, args.recreate)
    try:
        migrate_and_set_up(args.url)
        import datetime as dt

        from django.db import connection
        from django.utils import timezone

        from linli.cases.models import Case, CaseEvent, Outbox
        from linli.cases.sweep import run_sweep
        from linli.core.context import acting_from
        from linli.core.models import AuditEntry

        grids, handlers = build_district()
        seconds = generate_cases(args.cases, args.open_every, args.scatter, grids, handlers)
        total = Case.objects.count()
        open_count = Case.objects.open().count()
        print(f"generated {total:,} cases ({open_count:,} open) in {seconds:.1f} s")
        print_table_size()

        now = timezone.now()
        print("plan of the red selection:\n" + explain_red_update(now))
        runs = [("cold", now), ("repeat", now), ("+5 min", now + dt.timedelta(minutes=5))]
        for label, moment in runs:
            timings: list[tuple[float, str]] = []
            started = time.perf_counter()
            with acting_from("bench"), connection.execute_wrapper(timed(timings)):
                run = run_sweep(moment)
            wall = time.perf_counter() - started
            print(
                f"sweep {label:7s} {wall:6.2f} s   yellow {run.yellow:6,}  red {run.red:6,}  "
                f"escalated {run.escalated:6,}"
            )
            for seconds, sql in sorted(timings, reverse=True)[:6]:
                print(f"    {seconds:6.2f} s  {sql}")
            rest = wall - sum(seconds for seconds, _ in timings)
            print(f"    {rest:6.2f} s  commit (deferred foreign-key checks) and Python")
        print(
            f"written: {CaseEvent.objects.count():,} events, "
            f"{AuditEntry.objects.filter(source='bench').count():,} audit entries, "
            f"{Outbox.objects.count():,} outbox messages"
        )
        connection.close()
    finally:
        if not args.keep:
            drop_database(args.url)


if __name__ == "__main__":
    main()
