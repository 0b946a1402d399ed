"""Statistics of a district over a year of 1,000,000 cases on PostgreSQL: wall time per grouping.

    nice .venv/bin/python bench/cases_statistics_bench.py                 # creates, measures, drops
    nice .venv/bin/python bench/cases_statistics_bench.py --cases 200000 --keep

Like bench/cases_sweep_bench.py it creates a scratch database (default
linli_bench_stats on the local server), migrates it, builds a district of 4 streets,
20 communities and 80 grids with a handler per department, and generates the cases server-side
with one INSERT … SELECT over generate_series, reported evenly over the past year. The mix is a
year's: 5 % not registered, 7 % still open over the five open stages (a third of them past
their deadline), the rest closed with every stage's moment and punctuality flag set (about 90 %
on time), 5 % reworked, 60 % of the closed rated. Then, as a district command-centre operator
(whose jurisdiction is the whole district, so the scope filter keeps every row), it times
`case_statistics` for the year per department, street, community and grid, three runs each
(the first after ANALYZE, with a cold plan cache but a warm buffer cache: the table fits in
shared buffers on a real server too), and prints the plan of the grouped query.

Target: under 2 s. The database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics as stats_module
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from cases_sweep_bench import (  # noqa: E402
    build_district,
    create_database,
    drop_database,
    migrate_and_set_up,
    print_table_size,
)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/linli_bench_stats"

GENERATE = """
INSERT INTO cases_case (
    number, category_id, description, address, lat, lng, grid_id, place_path, source,
    reporter_key, idempotency_key, reporter_name, reporter_phone, state, tier, priority,
    department_id, handler_id, warning, stage_started_at, stage_warn_at, stage_deadline, due_at,
    rework_count, escalation_count, close_reason, rating, rating_comment, reported_at,
    registered_at, dispatched_at, accepted_at, handled_at, verified_at, closed_at,
    registered_on_time, dispatched_on_time, handled_on_time, closed_on_time, updated_at)
SELECT
    'S' || lpad(s.g::text, 12, '0'), s.category, 'bench case', '', 37.0 + s.r1 / 100,
    118.0 + s.r2 / 100, s.grid, s.path, 'resident', 'b' || s.g, '', '', '',
    s.state, 5, 3,
    CASE WHEN s.state IN ('reported', 'registered', 'rejected') THEN NULL ELSE s.department END,
    CASE WHEN s.state IN ('in_hand', 'handled') OR s.closed THEN s.handler END,
    CASE WHEN s.open AND s.late THEN 2 ELSE 0 END,
    CASE WHEN s.open THEN s.deadline - interval '8 hours' END,
    CASE WHEN s.open THEN s.deadline - interval '96 minutes' END,
    CASE WHEN s.open THEN s.deadline END,
    s.reported + interval '5 days',
    CASE WHEN s.closed AND s.r3 < 0.05 THEN 1 ELSE 0 END, 0,
    CASE WHEN s.state = 'rejected' THEN '' WHEN s.closed THEN 'fixed' ELSE '' END,
    CASE WHEN s.closed AND s.r4 < 0.6 THEN 1 + floor(s.r5 * 5)::int END, '',
    s.reported,
    CASE WHEN s.state NOT IN ('reported', 'rejected') THEN s.reported + interval '30 minutes' END,
    CASE WHEN s.state NOT IN ('reported', 'rejected', 'registered')
         THEN s.reported + interval '1 hour' END,
    CASE WHEN s.state IN ('handled') OR s.closed THEN s.reported + interval '2 hours' END,
    CASE WHEN s.state IN ('handled') OR s.closed
         THEN s.reported + interval '2 hours' + s.r1 * interval '40 hours' END,
    CASE WHEN s.closed THEN s.reported + interval '50 hours' END,
    CASE WHEN s.closed THEN s.reported + interval '52 hours' + s.r2 * interval '48 hours' END,
    CASE WHEN s.state NOT IN ('reported', 'rejected') THEN s.r1 < 0.95 END,
    CASE WHEN s.state NOT IN ('reported', 'rejected', 'registered') THEN s.r2 < 0.92 END,
    CASE WHEN s.state = 'handled' OR s.closed THEN s.r3 < 0.9 END,
    CASE WHEN s.closed THEN s.r4 < 0.88 END,
    now()
FROM (
    SELECT g, t.*, c.state, c.state IN ('closed_fixed', 'rated') AS closed,
           c.state IN ('reported', 'registered', 'dispatched', 'in_hand', 'handled') AS open,
           (%(cats)s::bigint[])[1 + g %% cardinality(%(cats)s::bigint[])] AS category,
           (%(grids)s::bigint[])[1 + g %% cardinality(%(grids)s::bigint[])] AS grid,
           (%(paths)s::text[])[1 + g %% cardinality(%(paths)s::text[])] AS path,
           (%(depts)s::bigint[])[1 + g %% %(n_depts)s] AS department,
           (%(users)s::bigint[])[1 + g %% %(n_depts)s] AS handler,
           now() - (%(n)s - g) * (interval '364 days' / %(n)s) AS reported,
           CASE WHEN t.r3 < 0.33 THEN now() - interval '1 day' ELSE now() + interval '1 day' END
               AS deadline,
           t.r3 < 0.33 AS late
    FROM generate_series(1, %(n)s) g,
         LATERAL (SELECT random() AS r0, random() AS r1, random() AS r2, random() AS r3,
                         random() AS r4, random() AS r5 WHERE g > 0) t,
         LATERAL (SELECT CASE
             WHEN t.r0 < 0.05 THEN 'rejected'
             WHEN t.r0 < 0.12 THEN
                 (ARRAY['reported', 'registered', 'dispatched', 'in_hand', 'handled'])
                 [1 + floor(t.r5 * 5)::int]
             WHEN t.r4 < 0.6 THEN 'rated'
             ELSE 'closed_fixed' END AS state) c
) s
"""


def generate_cases(n: int, grids, handlers) -> float:
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
                "n": n,
            },
        )
        cursor.execute("VACUUM ANALYZE cases_case")
    return time.perf_counter() - started


def explain(queries: list[str]) -> str:
    from django.db import connection

    grouped = next(q for q in queries if "GROUP BY" in q)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + grouped)
        return "\n".join("    " + row[0] for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--recreate", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    create_database(args.url, args.recreate)
    try:
        migrate_and_set_up(args.url)
        from django.db import connection
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from linli.cases.models import Case
        from linli.cases.statistics import Grouping, case_statistics
        from linli.core.models import User
        from linli.core.roles import Role
        from linli.places.models import Place, PlaceLevel

        grids, handlers = build_district()
        seconds = generate_cases(args.cases, grids, handlers)
        total = Case.objects.count()
        print(f"generated {total:,} cases in {seconds:.1f} s ({total / seconds:,.0f} rows/s)")
        print_table_size()

        operator = User.objects.create(username="bench_operator", role=Role.COMMAND_OPERATOR)
        operator.places.set([Place.objects.get(level=PlaceLevel.DISTRICT)])
        today = timezone.localdate()
        start = today - dt.timedelta(days=364)
        print(f"period {start} .. {today}, district operator, {args.runs} runs each")
        queries: list[str] = []
        for grouping, _label in Grouping.CHOICES:
            timings = []
            for _run in range(args.runs):
                began = time.perf_counter()
                with CaptureQueriesContext(connection) as captured:
                    result = case_statistics(
                        actor=operator, start=start, end=today, grouping=grouping
                    )
                timings.append(time.perf_counter() - began)
            queries = [q["sql"] for q in captured.captured_queries]
            print(
                f"  per {grouping:<10} {len(result.rows):>3} rows, {result.total.reported:,} "
                f"cases: first {timings[0]:.2f} s, median {stats_module.median(timings):.2f} s, "
                f"{result.total.reported / min(timings):,.0f} cases/s, {len(queries)} queries"
            )
        print(
            f"total: registered {result.total.registration_rate} %, on-time closure "
            f"{result.total.close_on_time_rate} %, satisfaction {result.total.satisfaction_rate} %"
        )
        print("plan of the grouped query (per grid):\n" + explain(queries))
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(args.url)


if __name__ == "__main__":
    main()
