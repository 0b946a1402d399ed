"""`linli screen` over a seeded city against DuckDB evaluating the same rules over Parquet.

    nice .venv/bin/python bench/monitoring_screen.py                       # 20,000 households
    nice .venv/bin/python bench/monitoring_screen.py --households 1000000  # the issue's size

It creates a scratch PostgreSQL database (default linli_bench_screen; it must not exist unless
--recreate), migrates it (and creates the monitoring tables from the models while the app has
no migration yet), seeds a city with `linli seed --households N`, adds the demo policies of
every district and plants risk signals (hospital bills, hardship cases, alarms, unemployment,
utility arrears, school-fee waivers) for a few per cent of households. Then, untimed, it
exports the rows the rules read with COPY to CSV and converts them to Parquet with DuckDB.

  screen (first)   the command's function (`screen_places`, what `linli screen` runs) over
                   the whole city: every default rule, set-based, opening every alert.
  screen (again)   the same over the unchanged registry: evaluates everything, opens and
                   resolves nothing — a repeated screening round.
  duckdb           the same rules as DuckDB SQL over the Parquet files, each hit set written
                   to a table (the evaluation only: reading Parquet is part of it, the export
                   is not).

Each is run --runs times (best kept; the first screen once). Target: screen ≤ 5 × duckdb.
With --sqlite it also seeds a SQLite file of the same size in a child process and reports
the wall time of the first and repeated screen there, and households per second.
The databases are dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from assistance_payments import seed_city, set_up_django
from cases_sweep_bench import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/linli_bench_screen"
TARGET = 5.0


def create_missing_tables() -> None:
    """The monitoring tables from the models, when no migration has made them yet."""
    from django.apps import apps
    from django.db import connection

    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in apps.get_app_config("monitoring").get_models():
            if model._meta.db_table not in existing:
                editor.create_model(model)


def ensure_policies() -> None:
    from linli.assistance.policies import ensure_demo_policies
    from linli.places.models import Place, PlaceLevel

    for district in Place.objects.filter(level=PlaceLevel.DISTRICT).order_by("path"):
        ensure_demo_policies(district)


# (kind, households where id % m == r, signals each, amount expression, days back)
PLANTED = (
    ("hospital_bill", 53, 1, 1, "5000 + (h.id * 7919) %% 60000", 60),
    ("hardship_case", 97, 3, 2, "NULL", 40),
    ("alarm", 113, 5, 3, "NULL", 20),
    ("utility_arrears", 61, 7, 1, "100 + (h.id * 31) %% 900", 30),
    ("school_fee_waiver", 71, 9, 1, "1200", 100),
    ("unemployment", 89, 11, 1, "NULL", 50),
)


def plant_signals(on: dt.date) -> int:
    """Signals written straight with INSERT … SELECT (the signals app's feeding is not what is
    measured here)."""
    from django.db import connection

    from linli.monitoring.models import Signal

    table = Signal._meta.db_table
    total = 0
    with connection.cursor() as cursor:
        for kind, mod, rest, each, amount, days in PLANTED:
            cursor.execute(
                f"INSERT INTO {table} (household_id, person_id, source, kind, occurred_on, amount,"
                " details, key, created_at, place_path) "
                f"SELECT h.id, (SELECT min(p.id) FROM people_person p WHERE p.household_id = h.id),"
                f" 'external', '{kind}', "
                f"%(on)s::date - CAST((g.n * 3 + h.id %% 7) %% %(days)s AS integer), {amount},"
                f" '{{}}', 'bench:{kind}:' || h.id || ':' || g.n, now(), h.place_path "
                "FROM people_household h CROSS JOIN generate_series(1, %(each)s) AS g(n) "
                "WHERE h.id %% %(mod)s = %(rest)s",
                {"on": on, "days": days, "each": each, "mod": mod, "rest": rest},
            )
            total += cursor.rowcount
    return total


def measure_screen(as_of: dt.date, label: str) -> tuple[float, dict]:
    from linli.monitoring.management.commands.screen import screen_places
    from linli.places.models import Place

    places = list(Place.objects.filter(parent__isnull=True))
    started = time.perf_counter()
    counts = screen_places(places, as_of)
    seconds = time.perf_counter() - started
    print(
        f"screen ({label}): {counts['households']:,} households, "
        f"{sum(counts['by_rule'].values()):,} hits, opened {counts['opened']:,}, "
        f"resolved {counts['resolved']:,}: {seconds:.2f} s"
    )
    return seconds, counts


# --- export -----------------------------------------------------------------------------------

EXPORTS = {
    "household": "SELECT id, place_path, registration, status FROM people_household",
    "person": "SELECT id, household_id, birth_date, status, died_on, living_alone, "
    "disability_category, disability_grade, updated_at FROM people_person",
    "record": "SELECT id, person_id, household_id, category, kind, amount, valid_from, "
    "valid_to, voided_at IS NOT NULL AS voided, new_employment FROM people_financialrecord",
    "signal": "SELECT household_id, person_id, kind, occurred_on, amount FROM monitoring_signal",
    "benefit": "SELECT household_id, program, status FROM assistance_benefit",
    "supporter": "SELECT person_id, able_to_support, voided_at IS NOT NULL AS voided "
    "FROM people_legalsupporter",
}


# Column types DuckDB cannot infer from a CSV whose column may be all empty.
TYPES = {
    "household": {"id": "BIGINT"},
    "person": {
        "household_id": "BIGINT",
        "birth_date": "DATE",
        "died_on": "DATE",
        "disability_category": "VARCHAR",
        "disability_grade": "INTEGER",
        "updated_at": "TIMESTAMPTZ",
    },
    "record": {
        "household_id": "BIGINT",
        "amount": "DECIMAL(14,2)",
        "valid_from": "DATE",
        "valid_to": "DATE",
    },
    "signal": {
        "household_id": "BIGINT",
        "person_id": "BIGINT",
        "kind": "VARCHAR",
        "occurred_on": "DATE",
        "amount": "DECIMAL(14,2)",
    },
    "benefit": {"household_id": "BIGINT", "program": "VARCHAR", "status": "VARCHAR"},
    "supporter": {"person_id": "BIGINT", "able_to_support": "BOOLEAN", "voided": "BOOLEAN"},
}


def export_parquet(folder: Path) -> None:
    import duckdb
    from django.db import connection

    started = time.perf_counter()
    raw = connection.connection  # psycopg 3
    db = duckdb.connect()
    for name, select in EXPORTS.items():
        csv = folder / f"{name}.csv"
        statement = f"COPY ({select}) TO STDOUT WITH (FORMAT csv, HEADER true)"
        with raw.cursor() as cursor, open(csv, "wb") as out, cursor.copy(statement) as copy:
            for chunk in copy:
                out.write(chunk)
        db.execute(
            f"COPY (SELECT * FROM read_csv_auto('{csv}', header=true, types={TYPES[name]!r})) "
            f"TO '{folder / name}.parquet' (FORMAT parquet)"
        )
        csv.unlink()
    db.close()
    print(f"export to Parquet (untimed): {time.perf_counter() - started:.1f} s")


# --- the rules in DuckDB -----------------------------------------------------------------------


def duckdb_rules(folder: Path, on: dt.date) -> dict[str, str]:
    """The default rules as DuckDB SQL, each creating a table of hit household ids, with the
    same definitions as linli.monitoring.screening (see its docstring)."""
    from linli.assistance.policy import demo_parameters
    from linli.assistance.simulations import SCALE, _add_months, _fen, _Terms
    from linli.monitoring.rules import DEFAULT_RULES
    from linli.people.models import years_ago

    p = {name: f"read_parquet('{folder / name}.parquet')" for name in EXPORTS}
    rules = {d["code"]: d["parameters"] for d in DEFAULT_RULES}
    urban = _Terms.of(demo_parameters(rural=False), on)
    rural = _Terms.of(demo_parameters(rural=True), on)

    def kinds(values) -> str:
        items = ", ".join(f"'{v}'" for v in values) or "''"
        return f"({items})"

    def exempt(t) -> str:
        if t.exempt_after is None:
            return "f.fen"
        return (
            f"f.fen - CASE WHEN f.kind = 'wage' AND f.new_employment AND f.valid_from > "
            f"DATE '{t.exempt_after}' THEN least(f.fen, {t.exempt_cap}) ELSE 0 END"
        )

    def terms(t, registration: str) -> str:
        return (
            f"SELECT '{registration}' AS registration, {t.standard} AS standard, "
            f"{t.cost_share} AS cost_share, {t.cost_cap} AS cost_cap"
        )

    assert urban.counted == rural.counted and urban.deducted == rural.deducted
    t = urban
    running = "('active', 'phasing_out', 'suspended')"
    members = (
        f"SELECT * FROM {p['person']} WHERE status = 'active' AND birth_date <= DATE '{on}' "
        f"AND (died_on IS NULL OR died_on > DATE '{on}')"
    )
    active = f"SELECT * FROM {p['household']} WHERE status = 'active'"
    income = f"""
        CREATE OR REPLACE TEMP TABLE income AS
        WITH f AS (
            SELECT person_id, kind, new_employment, valid_from,
                   CAST(round(amount * 100) AS BIGINT) AS fen
            FROM {p["record"]} WHERE NOT voided AND category = 'income'
              AND valid_from <= DATE '{on}' AND (valid_to IS NULL OR valid_to >= DATE '{on}')
        ), m AS (
            SELECT mm.household_id, mm.id,
                   coalesce(sum(CASE WHEN f.kind IN {kinds(t.counted)} THEN {exempt(t)} END), 0)
                       AS counted,
                   coalesce(sum(CASE WHEN f.kind = 'wage' THEN {exempt(t)} END), 0) AS wage,
                   coalesce(sum(CASE WHEN f.kind IN {kinds(t.deducted)}
                       THEN f.fen END), 0) AS deducted
            FROM ({members}) mm LEFT JOIN f ON f.person_id = mm.id
            GROUP BY mm.household_id, mm.id
        ), hh AS (
            SELECT m.household_id, count(*) AS members,
                   sum(m.counted) - sum(m.deducted) - sum(CASE WHEN m.wage <= 0 THEN 0 ELSE
                       least((2 * m.wage * x.cost_share + {SCALE}) // (2 * {SCALE}), x.cost_cap)
                       END) AS net,
                   any_value(x.standard) AS standard
            FROM m JOIN ({active}) h ON h.id = m.household_id
            JOIN ({terms(urban, "urban")} UNION ALL {terms(rural, "rural")}) x
              ON x.registration = h.registration
            GROUP BY m.household_id
        )
        SELECT household_id, members, standard, greatest(net, 0) AS u,
               (2 * greatest(net, 0) + members) // (2 * members) AS pc
        FROM hh
    """
    months = rules["expenditure-share"]["months"]
    share = int(float(rules["expenditure-share"]["share"]) * SCALE)
    start = _add_months(on, -months)
    loss = rules["earner-loss"]
    loss_start = _add_months(on, -loss["months"])
    elderly = rules["elderly-alone"]
    care = rules["disabled-without-care"]
    multiple = rules["marginal-income"]["multiple"]

    def signals(code: str) -> str:
        r = rules[code]
        since = on - dt.timedelta(days=r["days"])
        return (
            f"SELECT s.* FROM {p['signal']} s JOIN ({active}) h ON h.id = s.household_id "
            f"WHERE s.kind IN {kinds(r['kinds'])} AND s.occurred_on > DATE '{since}' "
            f"AND s.occurred_on <= DATE '{on}'"
        )

    def repeated(code: str) -> str:
        return (
            f"SELECT household_id, count(*) AS n, max(occurred_on) AS last FROM ({signals(code)}) "
            f"GROUP BY household_id HAVING count(*) >= {rules[code]['count']}"
        )

    def external(code: str) -> str:
        minimum = float(rules[code]["min_amount"])
        where = f"WHERE amount > {minimum}" if minimum > 0 else ""
        return (
            f"SELECT household_id, count(*), max(occurred_on), max(amount), sum(amount) "
            f"FROM ({signals(code)}) {where} GROUP BY household_id"
        )

    def not_receiving(program: str) -> str:
        return (
            f"household_id NOT IN (SELECT household_id FROM {p['benefit']} "
            f"WHERE program = '{program}' AND status IN {running})"
        )

    statements = {
        "income": income,
        "marginal-income": f"""
            SELECT household_id, pc, u FROM income
            WHERE pc < CAST(round(standard * {multiple}) AS BIGINT)
              AND {not_receiving("minimum_living")}""",
        "expenditure-share": f"""
            SELECT e.household_id, e.spend, i.u FROM (
                SELECT household_id, sum(CAST(round(amount * 100) AS BIGINT)) AS spend
                FROM {p["record"]} WHERE NOT voided AND category = 'expenditure'
                  AND kind IN ('medical', 'education')
                  AND valid_from > DATE '{start}' AND valid_from <= DATE '{on}'
                GROUP BY household_id) e JOIN income i ON i.household_id = e.household_id
            WHERE e.spend * 10000 > {share} * {months} * i.u
              AND e.{not_receiving("rigid_expenditure")}""",
        "earner-loss": f"""
            WITH wages AS (
                SELECT p.household_id, p.id AS person_id, max(r.amount) AS wage
                FROM {p["record"]} r JOIN {p["person"]} p ON p.id = r.person_id
                JOIN ({active}) h ON h.id = p.household_id
                WHERE NOT r.voided AND r.category = 'income' AND r.kind = 'wage'
                  AND r.valid_from <= DATE '{on}'
                  AND (r.valid_to IS NULL OR r.valid_to > DATE '{loss_start}')
                GROUP BY p.household_id, p.id
            ), ranked AS (
                SELECT *, rank() OVER (PARTITION BY household_id ORDER BY wage DESC) AS rk
                FROM wages
            ), jobless AS (
                SELECT person_id, max(occurred_on) AS occurred_on FROM {p["signal"]}
                WHERE kind = 'unemployment' AND person_id IS NOT NULL
                  AND occurred_on > DATE '{loss_start}' AND occurred_on <= DATE '{on}'
                GROUP BY person_id
            )
            SELECT k.household_id, k.wage, p.died_on, p.disability_grade, j.occurred_on
            FROM ranked k JOIN {p["person"]} p ON p.id = k.person_id
            LEFT JOIN jobless j ON j.person_id = k.person_id
            WHERE k.rk = 1 AND (
                (p.died_on > DATE '{loss_start}' AND p.died_on <= DATE '{on}')
                OR (p.disability_grade <= {loss["grade"]}
                    AND p.updated_at >= TIMESTAMPTZ '{loss_start + dt.timedelta(days=1)}'
                    AND p.updated_at < TIMESTAMPTZ '{on + dt.timedelta(days=1)}')
                OR j.occurred_on IS NOT NULL)""",
        "elderly-alone": f"""
            SELECT m.household_id, min(m.birth_date) FROM ({members}) m
            JOIN ({active}) h ON h.id = m.household_id
            WHERE m.birth_date <= DATE '{years_ago(elderly["age"], on)}'
              AND (m.living_alone OR m.disability_grade <= {elderly["grade"]})
            GROUP BY m.household_id""",
        "disabled-without-care": f"""
            WITH mm AS ({members}), carers AS (
                SELECT household_id, id FROM mm
                WHERE birth_date <= DATE '{years_ago(care["adult_age"], on)}'
                  AND birth_date > DATE '{years_ago(care["elderly_age"], on)}'
            )
            SELECT d.household_id, min(d.birth_date) FROM mm d
            JOIN ({active}) h ON h.id = d.household_id
            WHERE d.disability_grade <= {care["grade"]}
              AND NOT EXISTS (SELECT 1 FROM carers c WHERE c.household_id = d.household_id
                              AND c.id <> d.id)
              AND NOT EXISTS (SELECT 1 FROM {p["supporter"]} s WHERE s.person_id = d.id
                              AND NOT s.voided AND s.able_to_support)
            GROUP BY d.household_id""",
        "repeated-hardship-cases": repeated("repeated-hardship-cases"),
        "repeated-alarms": repeated("repeated-alarms"),
        "hospital-bill": external("hospital-bill"),
        "utility-arrears": external("utility-arrears"),
        "school-fee-waiver": external("school-fee-waiver"),
        "unemployment": external("unemployment"),
    }
    _ = _fen  # the money helpers above are the screening's own
    return statements


def measure_duckdb(folder: Path, on: dt.date) -> tuple[float, dict[str, int]]:
    import duckdb

    statements = duckdb_rules(folder, on)
    db = duckdb.connect()
    db.execute("SET TimeZone = 'Asia/Shanghai'")
    started = time.perf_counter()
    hits: dict[str, int] = {}
    for code, sql in statements.items():
        if code == "income":
            db.execute(sql)
            continue
        table = "hits_" + code.replace("-", "_")
        db.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}")
        hits[code] = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    seconds = time.perf_counter() - started
    db.close()
    print(f"duckdb: {sum(hits.values()):,} hits: {seconds:.2f} s")
    return seconds, hits


# --- SQLite, in a child process ------------------------------------------------------------------


def sqlite_child(households: int, on: dt.date) -> None:
    """Seed a SQLite file and time the first and repeated screen (run as a child process)."""
    path = Path(tempfile.mkdtemp()) / "bench_screen.sqlite3"
    url = f"sqlite:///{path}"
    set_up_django(url)
    create_missing_tables()
    seed_city(households)
    ensure_policies()
    from linli.monitoring.rules import ensure_default_rules

    ensure_default_rules()
    first, counts = measure_screen(on, "SQLite, first")
    again, _counts = measure_screen(on, "SQLite, again")
    n = counts["households"]
    print(
        f"SQLite: {n:,} households; first {first:.2f} s ({n / first:,.0f} households/s), "
        f"again {again:.2f} s ({n / again:,.0f} households/s)"
    )
    path.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="the best of this many runs")
    parser.add_argument("--as-of", default="2026-06-30")
    parser.add_argument("--recreate", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--sqlite", action="store_true", help="also time SQLite (child process)")
    parser.add_argument("--sqlite-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    on = dt.date.fromisoformat(args.as_of)

    if args.sqlite_child:
        sqlite_child(args.households, on)
        return

    create_database(args.url, args.recreate)
    folder = Path(tempfile.mkdtemp(prefix="linli_screen_"))
    try:
        set_up_django(args.url)
        create_missing_tables()
        from django.db import connection

        from linli.monitoring.rules import ensure_default_rules

        seed_city(args.households)
        ensure_policies()
        ensure_default_rules()
        print(f"signals planted: {plant_signals(on):,}")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        export_parquet(folder)
        first, counts = measure_screen(on, "first")
        again = min(measure_screen(on, "again")[0] for _run in range(args.runs))
        duck, hits = min(measure_duckdb(folder, on) for _run in range(args.runs))
        differ = {
            code: (counts["by_rule"].get(code), n)
            for code, n in hits.items()
            if counts["by_rule"].get(code) != n
        }
        print("hits agree" if not differ else f"hits differ (screen, duckdb): {differ}")
        for label, seconds in (("first", first), ("again", again)):
            ratio = seconds / duck if duck else float("inf")
            verdict = "within" if ratio <= TARGET else "OVER"
            print(f"ratio screen ({label}) / duckdb: {ratio:.2f} ({verdict} {TARGET:.0f} ×)")
        connection.close()
    finally:
        for file in folder.glob("*"):
            file.unlink()
        folder.rmdir()
        if not args.keep:
            drop_database(args.url)
    if args.sqlite:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--sqlite-child",
                "--households",
                str(args.households),
                "--as-of",
                args.as_of,
            ],
            env=env,
            check=True,
        )


if __name__ == "__main__":
    main()
