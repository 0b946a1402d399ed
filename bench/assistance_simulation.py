"""A full policy simulation over a seeded city against a floor measured in the same run.

    nice .venv/bin/python bench/assistance_simulation.py                       # 20,000 households
    nice .venv/bin/python bench/assistance_simulation.py --households 1000000  # the issue's size

It creates a scratch database (default linli_bench_simulation on the local server; it must not
exist unless --recreate), creates the tables from the models, seeds a city with `linli seed
--households N` and the demo policies of every district (urban and rural). Then:

  floor       one hand-written SQL statement: every active household's counted income (the
              counted kinds of its active members' income records in force on the date) per
              member, against its registration's standard; it returns how many are below.
  simulation  "the standard rises by 50 元": one Simulation per policy set (every district,
              urban and rural, so every household once), each run by `simulation_run` as the
              worker runs it (street by street: base and variant side by side, new-employment
              exemption, employment cost, deductions, assets, single-person cover, marginal
              band, amounts, totals by street). The sum over the sets.

Each is run --runs times (default 3) and the best time kept. Target: simulation ≤ 3 × floor.
The database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from assistance_payments import seed_city, set_up_django
from cases_sweep_bench import create_database, drop_database

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/linli_bench_simulation"
TARGET = 3.0
RISE = Decimal("50")

FLOOR = """
SELECT count(*) FILTER (WHERE x.counted / x.members < x.standard), count(*)
FROM (
    SELECT p.household_id, count(DISTINCT p.id) AS members,
           COALESCE(sum(f.amount) FILTER (WHERE f.kind = ANY(%(kinds)s)), 0) AS counted,
           CASE WHEN min(h.registration) = 'rural' THEN %(rural)s ELSE %(urban)s END AS standard
    FROM people_household h
    JOIN people_person p ON p.household_id = h.id AND p.status = 'active'
    LEFT JOIN people_financialrecord f ON f.person_id = p.id AND f.voided_at IS NULL
         AND f.category = 'income' AND f.valid_from <= %(on)s
         AND (f.valid_to IS NULL OR f.valid_to >= %(on)s)
    WHERE h.status = 'active'
    GROUP BY p.household_id
) x
"""


def ensure_policies() -> list:
    from linli.assistance.policies import ensure_demo_policies
    from linli.places.models import Place, PlaceLevel

    sets = []
    for district in Place.objects.filter(level=PlaceLevel.DISTRICT).order_by("path"):
        sets.extend(ensure_demo_policies(district))
    return sets


def measure_floor(on: dt.date) -> float:
    from django.db import connection

    from linli.assistance.policy import demo_parameters

    urban, rural = demo_parameters(rural=False), demo_parameters(rural=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            FLOOR,
            {
                "kinds": urban.counted_income_kinds,
                "urban": urban.standard,
                "rural": rural.standard,
                "on": on,
            },
        )
        below, households = cursor.fetchone()
    seconds = time.perf_counter() - started
    print(f"floor: {households:,} households, {below:,} below the standard: {seconds:.2f} s")
    return seconds


def measure_simulation(policy_sets: list, on: dt.date, run: int) -> float:
    from linli.assistance import simulations
    from linli.assistance.models import SimulationState
    from linli.core.models import User
    from linli.core.roles import Role
    from linli.places.models import Place, PlaceLevel

    city = Place.objects.get(level=PlaceLevel.CITY)
    officer = User.objects.create_user(f"bench_simulator_{run}", role=Role.CIVIL_AFFAIRS)
    officer.places.set([city])
    totals: dict[str, int] = {"households": 0, "newly": 0, "lost": 0}
    change = Decimal("0")
    started = time.perf_counter()
    for policy_set in policy_sets:
        version = policy_set.versions.order_by("-valid_from").first()
        simulation = simulations.simulation_start(
            actor=officer,
            policy_version_id=version.pk,
            changes={"standard": str(version.params.standard + RISE)},
            place_id=policy_set.locality_id,
            as_of=on,
            name=f"{policy_set.name} +{RISE}",
        )
        done = simulations.simulation_run(simulation_id=simulation.pk)
        assert done.state == SimulationState.DONE, done.failure
        result = done.result["totals"]
        totals["households"] += result["households"]
        totals["newly"] += result["newly_eligible_households"]
        totals["lost"] += result["no_longer_eligible_households"]
        change += Decimal(result["budget_change"])
    seconds = time.perf_counter() - started
    print(
        f"simulation: {len(policy_sets)} policy sets, {totals['households']:,} households, "
        f"{totals['newly']:,} newly eligible, {totals['lost']:,} no longer, "
        f"budget {change:+,} 元 a month: {seconds:.2f} s"
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="the best of this many runs of each")
    parser.add_argument("--recreate", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    create_database(args.url, args.recreate)
    try:
        set_up_django(args.url)
        from django.db import connection
        from django.utils import timezone

        seed_city(args.households)
        policy_sets = ensure_policies()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        on = timezone.localdate()
        # Best of several runs: other work on a shared machine only ever adds time.
        floor = min(measure_floor(on) for _run in range(args.runs))
        simulation = min(measure_simulation(policy_sets, on, run) for run in range(args.runs))
        ratio = simulation / floor if floor else float("inf")
        verdict = "within" if ratio <= TARGET else "OVER"
        print(f"ratio simulation / floor: {ratio:.2f} ({verdict} the target of {TARGET:.0f} ×)")
        connection.close()
    finally:
        if not args.keep:
            drop_database(args.url)


if __name__ == "__main__":
    main()
