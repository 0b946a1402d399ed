"""A month of payment cycles for N recipients, generation through bank file, against a floor.

    nice .venv/bin/python bench/assistance_payments.py                      # 50,000 recipients
    nice .venv/bin/python bench/assistance_payments.py --recipients 600000  # the issue's size

It creates a scratch database (default linli_bench_payments on the local server; it must not
exist unless --recreate), creates the tables from the models (the assistance app's migrations
are generated later), seeds a city with `linli seed` (enough households for the recipients),
the demo policies, and then, set-based, N 低保 benefits (INSERT … SELECT from people_person:
one recipient per household, amounts 200–800 元, 2 % in gradual exit, 1 % suspended), bank
accounts for 97 % of them and recoveries open on 1 %. Then, in the same run:

  floor   one INSERT … SELECT of the same entitlements (running benefits, their accounts) into a
          scratch table (an ordinary table without indexes or keys), plus a COPY of the bank
          file (account, name, amount; one row per account) out of it;
  cycles  for every street: cycle_start → cycle_generate (the worker's function, run here) →
          cycle_approve by another officer → cycle_export as CSV; the sum over streets.

Target: cycles ≤ 3 × floor. The database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
import time
from pathlib import Path

from cases_sweep_bench import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/linli_bench_payments"
TARGET = 3.0


def set_up_django(url: str) -> None:
    """Django on the scratch database, production-like (DEBUG=0), migrated."""
    os.environ.update(
        DATABASE_URL=url,
        DEBUG="0",
        LINLI_ALLOW_INSECURE_KEY="1",
        DJANGO_SETTINGS_MODULE="linli.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrate: {time.perf_counter() - started:.1f} s")


def seed_city(households: int) -> None:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("seed", households=households, verbosity=0, stdout=io.StringIO())
    print(f"seed {households:,} households: {time.perf_counter() - started:.1f} s")


# Column → SQL expression; any other column (added to the models later) gets its default.
BENEFIT_COLUMNS = {
    "household_id": "p.household_id",
    "recipient_id": "p.id",
    "program": "'minimum_living'",
    "persons_covered": "1 + p.id %% 3",
    "monthly_amount": "200 + (p.id * 37) %% 60100 / 100.0",
    "start_month": "DATE '2025-01-01'",
    "end_month": "NULL",
    "status": "CASE WHEN p.id %% 100 = 7 THEN 'suspended' WHEN p.id %% 50 = 3 "
    "THEN 'phasing_out' ELSE 'active' END",
    "phase_out_until": "CASE WHEN p.id %% 50 = 3 THEN DATE '2099-12-01' END",
    "application_id": "NULL",
    "policy_version_id": "%(version)s",
    "next_review_on": "NULL",
    "created_at": "now()",
    "updated_at": "now()",
    "place_path": "p.place_path",
    "street_path": "p.street_path",
}
BENEFITS_FROM = """
FROM (
    SELECT DISTINCT ON (household_id) id, household_id, place_path, street_path
    FROM people_person
    WHERE household_id IS NOT NULL AND street_path <> ''
    ORDER BY household_id, id
) p
ORDER BY p.household_id
LIMIT %(n)s
"""
ACCOUNT_COLUMNS = {
    "person_id": "b.recipient_id",
    "bank": "'工商银行'",
    "account_number": "'6222' || lpad(b.recipient_id::text, 15, '0')",
    "holder_name": "p.name",
    "place_path": "p.place_path",
    "created_at": "now()",
    "recorded_by_id": "NULL",
    "voided_at": "NULL",
}
ACCOUNTS_FROM = """
FROM assistance_benefit b JOIN people_person p ON p.id = b.recipient_id
WHERE b.recipient_id %% 100 <> 11
"""
RECOVERY_COLUMNS = {
    "benefit_id": "id",
    "amount": "500",
    "recovered": "0",
    "reason": "'bench'",
    "created_by_id": "NULL",
    "created_at": "now()",
    "place_path": "place_path",
}
RECOVERIES_FROM = "FROM assistance_benefit WHERE id %% 100 = 5"


def insert_select(cursor, model, columns: dict[str, str], from_sql: str, params: dict) -> int:
    """INSERT … SELECT naming every column of the model: those given, and the others at their
    model default."""
    names, values, params = [], [], dict(params)
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        names.append(field.column)
        if field.column in columns:
            values.append(columns[field.column])
        else:
            params[f"default_{field.column}"] = field.get_db_prep_save(
                field.get_default(), cursor.db
            )
            values.append(f"%(default_{field.column})s")
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(names)}) "
        f"SELECT {', '.join(values)} {from_sql}"
    )
    cursor.execute(sql, params)
    return cursor.rowcount


FLOOR_INSERT = """
CREATE TABLE floor_entitlement AS
SELECT b.id AS benefit_id, b.recipient_id, b.monthly_amount AS amount,
    COALESCE(a.account_number, '') AS account_number, COALESCE(a.holder_name, '') AS holder_name,
    b.place_path
FROM assistance_benefit b
LEFT JOIN people_bankaccount a ON a.person_id = b.recipient_id AND a.voided_at IS NULL
WHERE b.program = 'minimum_living'
    AND (b.status = 'active' OR (b.status = 'phasing_out' AND b.phase_out_until >= %(month)s))
    AND b.start_month <= %(month)s AND (b.end_month IS NULL OR b.end_month >= %(month)s)
"""

FLOOR_COPY = """
COPY (SELECT account_number, min(holder_name), sum(amount) FROM floor_entitlement
      WHERE account_number <> '' GROUP BY account_number ORDER BY account_number)
TO STDOUT WITH (FORMAT csv)
"""


def seed_benefits(recipients: int) -> int:
    from django.db import connection, transaction

    from linli.assistance.models import Benefit, PolicyVersion, Recovery
    from linli.assistance.policies import ensure_demo_policies
    from linli.people.models import BankAccount
    from linli.places.models import Place, PlaceLevel

    city = Place.objects.get(level=PlaceLevel.CITY)
    ensure_demo_policies(city)
    version = PolicyVersion.objects.filter(policy_set__registration="urban").first()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        made = insert_select(
            cursor,
            Benefit,
            BENEFIT_COLUMNS,
            BENEFITS_FROM,
            {"version": version.pk, "n": recipients},
        )
        insert_select(cursor, BankAccount, ACCOUNT_COLUMNS, ACCOUNTS_FROM, {})
        insert_select(cursor, Recovery, RECOVERY_COLUMNS, RECOVERIES_FROM, {})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seconds = time.perf_counter() - started
    print(f"benefits, accounts, recoveries: {made:,} recipients in {seconds:.1f} s")
    return made


def measure_floor(month) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_INSERT, {"month": month})
        out = io.BytesIO()
        with cursor.cursor.copy(FLOOR_COPY) as copy:
            for data in copy:
                out.write(data)
        cursor.execute("DROP TABLE floor_entitlement")
    seconds = time.perf_counter() - started
    print(f"floor: INSERT … SELECT + COPY of the bank file ({out.tell():,} bytes): {seconds:.2f} s")
    return seconds


def measure_cycles(month) -> tuple[float, int]:
    from linli.assistance import payments
    from linli.assistance.models import Benefit
    from linli.core.models import User
    from linli.core.roles import Role
    from linli.places.models import Place, PlaceLevel

    city = Place.objects.get(level=PlaceLevel.CITY)
    maker = User.objects.create_user("bench_maker", role=Role.CIVIL_AFFAIRS)
    checker = User.objects.create_user("bench_checker", role=Role.CIVIL_AFFAIRS)
    maker.places.set([city])
    checker.places.set([city])
    street_paths = list(Benefit.objects.order_by().values_list("street_path", flat=True).distinct())
    streets = list(Place.objects.filter(path__in=street_paths).order_by("code"))
    phases = {"generate": 0.0, "approve": 0.0, "export": 0.0}
    paid = 0
    started = time.perf_counter()
    for street in streets:
        t0 = time.perf_counter()
        cycle = payments.cycle_start(
            actor=maker, program="minimum_living", street_id=street.pk, month=month
        )
        cycle = payments.cycle_generate(cycle_id=cycle.pk)
        assert cycle.state == "review", cycle.failure
        t1 = time.perf_counter()
        payments.cycle_approve(actor=checker, cycle_id=cycle.pk)
        t2 = time.perf_counter()
        bank_file = payments.cycle_export(actor=maker, cycle_id=cycle.pk, file_format="csv")
        t3 = time.perf_counter()
        phases["generate"] += t1 - t0
        phases["approve"] += t2 - t1
        phases["export"] += t3 - t2
        paid += cycle.payment_count
        assert bank_file.rows <= cycle.payment_count
    seconds = time.perf_counter() - started
    detail = ", ".join(f"{name} {value:.2f} s" for name, value in phases.items())
    print(f"cycles: {len(streets)} streets, {paid:,} payments in {seconds:.2f} s ({detail})")
    return seconds, paid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument(
        "--households",
        type=int,
        default=0,
        help="households to seed (default: the recipients × 1.25, at least 2,000)",
    )
    parser.add_argument("--recreate", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    households = args.households or max(2_000, math.ceil(args.recipients * 1.25))

    create_database(args.url, args.recreate)
    try:
        set_up_django(args.url)
        from django.db import connection
        from django.utils import timezone

        seed_city(households)
        seed_benefits(args.recipients)
        month = timezone.localdate().replace(day=1)
        floor = measure_floor(month)
        cycles, _paid = measure_cycles(month)
        ratio = cycles / floor if floor else float("inf")
        verdict = "within" if ratio <= TARGET else "OVER"
        print(f"ratio cycles / floor: {ratio:.2f} ({verdict} the target of {TARGET:.0f} ×)")
        connection.close()
    finally:
        if not args.keep:
            drop_database(args.url)


if __name__ == "__main__":
    main()
