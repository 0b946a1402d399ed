"""Latency of "50 persons under a street whose name starts with …" through the API.

    # in-process (Django test client, no server):
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/linli_bench_1m \\
        .venv/bin/python bench/person_search_bench.py
    # against a running server (start it yourself, e.g. granian --interface wsgi --workers 2):
    DATABASE_URL=… .venv/bin/python bench/person_search_bench.py --url http://127.0.0.1:8765

It needs a seeded database (`linli seed`, or bench/seed_bench.py). It picks the street with the
most persons (or `--street CODE`), makes an API token for a street officer bound to it
(`bench_street_officer`, created if missing) and sends POST /api/v1/people/persons/search
`{"place_id": street, "name": prefix}` with `?limit=50`: 10 warm-up requests, then the measured
ones, one at a time. Prefixes are drawn (seeded) from names in the street: half a surname
alone ("王", thousands of matches), half a surname and the first given-name character.
Finally it prints the query plans of the queries behind one request, run with EXPLAIN ANALYZE.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linli.settings")
# Production-like: DEBUG=0 keeps Django from logging every query in memory.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("LINLI_ALLOW_INSECURE_KEY", "1")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from linli.core.models import User  # noqa: E402
from linli.core.roles import Role  # noqa: E402
from linli.core.services import api_token_issue  # noqa: E402
from linli.people.models import Person  # noqa: E402
from linli.places.models import Place, PlaceLevel  # noqa: E402

SEARCH = "/api/v1/people/persons/search?limit=50"
warnings.filterwarnings("ignore", "No directory at")  # whitenoise: collectstatic not run
logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise


def busiest_street(code: str | None) -> Place:
    streets = Place.objects.filter(level=PlaceLevel.STREET)
    if code:
        return streets.get(code=code)
    counts = {s: Person.objects.filter(place_path__under=s.path).count() for s in streets}
    return max(counts, key=counts.get)


def officer_token(street: Place) -> tuple[User, str]:
    user, _created = User.objects.get_or_create(
        username="bench_street_officer", defaults={"role": Role.STREET_OFFICER}
    )
    user.role = Role.STREET_OFFICER
    user.save()
    user.places.set([street])
    _token, key = api_token_issue(actor=None, user=user, name="person_search_bench")
    return user, key


def name_prefixes(street: Place, count: int) -> list[str]:
    rng = random.Random(1)
    names = list(
        Person.objects.filter(place_path__under=street.path)
        .order_by("id")
        .values_list("name", flat=True)[:20000]
    )
    return [name[: 1 + (i % 2)] for i, name in enumerate(rng.choices(names, k=count))]


class Target:
    """POSTs a search either in-process or to a live server, returning (status, body)."""

    def __init__(self, url: str | None, key: str) -> None:
        self.headers = {"Authorization": f"Bearer {key}"}
        if url:
            import httpx

            self.http = httpx.Client(base_url=url, headers=self.headers, timeout=30)
            self.client = None
        else:
            self.http = None
            # SERVER_NAME is one of the default ALLOWED_HOSTS ("testserver" is not).
            self.client = Client(SERVER_NAME="127.0.0.1")

    def search(self, body: dict) -> tuple[int, dict]:
        if self.http is not None:
            response = self.http.post(SEARCH, json=body)
            return response.status_code, response.json()
        response = self.client.post(
            SEARCH, body, content_type="application/json", headers=self.headers
        )
        return response.status_code, response.json()


def summary(milliseconds: list[float]) -> str:
    ordered = sorted(milliseconds)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, "
        f"max {ordered[-1]:.1f} ms, mean {statistics.fmean(ordered):.1f} ms"
    )


def explain(sql: str) -> str:
    options = "(ANALYZE, BUFFERS)" if connection.vendor == "postgresql" else "QUERY PLAN"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {options} {sql}")
        rows = cursor.fetchall()
    return "\n".join("    " + " | ".join(str(c) for c in row) for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8765")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--street", help="street code (default: the one with most persons)")
    args = parser.parse_args()

    started = time.monotonic()
    street = busiest_street(args.street)
    in_street = Person.objects.filter(place_path__under=street.path).count()
    _user, key = officer_token(street)
    prefixes = name_prefixes(street, args.requests + 10)
    target = Target(args.url, key)
    print(f"database   {connection.vendor} {connection.settings_dict['NAME']}")
    print(f"persons    {Person.objects.count():,} in all; {in_street:,} in the street")
    print(f"street     {street.name} ({street.code}), id {street.id}")
    print(f"target     {args.url or 'in-process Django test client'}")
    print(f"setup      {time.monotonic() - started:.1f} s")

    timings: list[float] = []
    matches: list[int] = []
    by_length: dict[int, list[float]] = {1: [], 2: []}
    for i, prefix in enumerate(prefixes):
        body = {"place_id": street.id, "name": prefix}
        began = time.perf_counter()
        status, data = target.search(body)
        elapsed = time.perf_counter() - began
        if status != 200 or len(data["items"]) > 50:
            sys.exit(f"{prefix!r}: HTTP {status} {str(data)[:200]}")
        if i >= 10:  # the first ten warm caches and connections
            timings.append(elapsed * 1000)
            matches.append(data["count"])
            by_length[len(prefix)].append(elapsed * 1000)

    print(f"requests   {len(timings)} (after 10 warm-up), one at a time")
    print(f"matches    median {statistics.median(matches):,.0f}, max {max(matches):,} per search")
    print(f"latency    {summary(timings)}")
    print(f"  surname  {summary(by_length[1])}  (prefix of 1 character)")
    print(f"  +1 char  {summary(by_length[2])}  (prefix of 2 characters)")

    # The plans of exactly the queries one request runs (the test client runs in-process).
    probe = Target(None, key)
    with CaptureQueriesContext(connection) as captured:
        probe.search({"place_id": street.id, "name": prefixes[10]})
    print(f"\nquery plans for one request (name prefix {prefixes[10]!r}):")
    for query in captured.captured_queries:
        sql = query["sql"]
        if "people_person" not in sql or not sql.lstrip().upper().startswith("SELECT"):
            continue
        print(f"\n  {sql[:400]}{' …' if len(sql) > 400 else ''}\n{explain(sql)}")


if __name__ == "__main__":
    main()
