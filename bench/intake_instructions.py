"""Instructions per intake report, counted by callgrind: a measure the machine's speed swings
(up to 2x on this kind of machine) do not move, for deciding whether a change to the intake
path helps.

    .venv/bin/python bench/intake_instructions.py                   # the whole API request
    .venv/bin/python bench/intake_instructions.py --part service    # case_report() alone

Needs valgrind (`apt-get install -y valgrind`). It creates a scratch database (default
linli_bench_instructions; it must not exist unless --recreate), migrates it, builds the intake
bench's district of 80 grids and one resident with an API token, then runs itself twice under
`valgrind --tool=callgrind`, side by side: both processes start Django and file the same
warm-up reports, then one files --few reports more and the other --many. The difference of the
two totals divided by (many - few) is one report's instructions: start-up and warm-up cancel.
A report goes through the WSGI application in-process (no server, no socket): token check,
middleware, ninja, the service and its PostgreSQL round trips, the JSON answer.

What depends on the clock is held still, since valgrind runs ~50x slower: the reference caches
(grids, categories) are kept, the notification task is not enqueued, and garbage collection is
frozen and off after the warm-up (a collection landing in one run and not the other moves the
count by ~0.5 M). Same code, repeated: within ~1 % (6.13 and 6.19 M per request).
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases_intake_bench import build_district, point_area
from cases_sweep_bench import (
    create_database,
    drop_database,
    migrate_and_set_up,
    set_up_django,
)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/linli_bench_instructions"
RESIDENT = "bench_instructions_resident"
WARM_UP = 200


def file_reports(url: str, part: str, count: int) -> None:
    """The child: warm up, hold the clock-driven work still, then file `count` reports."""
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1"  # the Host of the requests below
    set_up_django(url)
    import linli.cases.notifications as notifications
    from linli.cases import services
    from linli.cases.models import Category
    from linli.core.models import User
    from linli.core.refcache import ProcessCache
    from linli.core.services import api_token_issue
    from linli.wsgi import application

    user = User.objects.get(username=RESIDENT)
    token = api_token_issue(actor=None, user=user, name="instructions bench")[1]
    codes = list(
        Category.objects.filter(parent__isnull=False, is_active=True)
        .order_by("code")
        .values_list("code", flat=True)
    )
    area, rng, run = point_area(), random.Random(7), f"i{os.getpid()}"

    def report(n: int) -> None:
        fields = {
            "category": codes[n % len(codes)],
            "description": "路灯不亮已经三天了",
            "lat": rng.uniform(area[1], area[3]),
            "lng": rng.uniform(area[0], area[2]),
            "idempotency_key": f"{run}-{n}",
        }
        if part == "service":
            category = fields.pop("category")
            services.case_report(actor=user, category_code=category, **fields)
            return
        body = json.dumps(fields).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/cases",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
        }
        statuses = []
        answer = application(environ, lambda status, headers, *_: statuses.append(status))
        content = b"".join(answer)
        answer.close()
        if not statuses[0].startswith("201"):
            sys.exit(f"report {n}: {statuses[0]} {content[:300]!r}")

    for n in range(WARM_UP):
        report(n)
    for cache in ProcessCache.instances:  # rebuilt now, kept from here on
        cache.seconds = float("inf")
        cache.clear()
        cache.get()
    notifications.ENQUEUE_AT_MOST_EVERY = float("inf")
    gc.collect()
    gc.freeze()
    gc.disable()
    for n in range(WARM_UP, WARM_UP + count):
        report(n)


def count_instructions(url: str, part: str, few: int, many: int) -> float:
    """Run the two children under callgrind at once; one report's instructions."""
    children = [
        subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                __file__,
                "--url",
                url,
                "--part",
                part,
                "--child",
                str(count),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for count in (few, many)
    ]
    totals = []
    for child in children:
        log = child.communicate()[1]
        found = re.search(r"Collected : (\d+)", log)
        if child.returncode or not found:
            sys.exit(f"callgrind run failed:\n{log[-3000:]}")
        totals.append(int(found.group(1)))
    return (totals[1] - totals[0]) / (many - few)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--part", choices=["request", "service"], default="request")
    parser.add_argument("--few", type=int, default=50, help="reports counted in the first run")
    parser.add_argument("--many", type=int, default=250, help="reports counted in the second")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--recreate", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if args.child is not None:
        file_reports(args.url, args.part, args.child)
        return
    if args.many <= args.few:
        sys.exit("--many must be larger than --few.")

    create_database(args.url, args.recreate)
    try:
        migrate_and_set_up(args.url)
        from django.db import connection

        from linli.core.models import User
        from linli.core.roles import Role

        build_district()
        resident = User(username=RESIDENT, role=Role.RESIDENT)
        resident.set_unusable_password()
        resident.save()
        connection.close()
        per_report = count_instructions(args.url, args.part, args.few, args.many)
        print(f"{args.part}: {per_report / 1e6:.3f} M instructions per report")
    finally:
        if not args.keep:
            drop_database(args.url)


if __name__ == "__main__":
    main()
