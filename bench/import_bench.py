"""Excel import throughput: build a workbook of N persons, then check and load it.

Needs a seeded database (`linli seed`); reads DATABASE_URL like `linli`. The rows it loads stay
in the database (new household numbers B…, ID numbers with region 110101), so run it on a
scratch database. Prints the time to write the workbook, to check it and to load it, and rows/s.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/linli_bench_1m \\
      .venv/bin/python bench/import_bench.py --persons 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linli.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-only")

import django

django.setup()

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.db import transaction  # noqa: E402
from openpyxl import load_workbook  # noqa: E402
from stdnum.cn import ric  # noqa: E402

from linli.core.roles import Role  # noqa: E402
from linli.people import imports, spreadsheets  # noqa: E402
from linli.people.models import ImportJob  # noqa: E402
from linli.places.models import Place, PlaceLevel  # noqa: E402


def id_number(index: int) -> str:
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=index // 400)
    body = f"110101{birth:%Y%m%d}{index % 400 * 2 + 1:03d}"[:17]
    return body + ric.calc_check_digit(body + "0")


def build(persons: int, run: str):
    from linli.core.models import User

    street = Place.objects.filter(level=PlaceLevel.STREET).order_by("code").first()
    buildings = list(
        Place.objects.filter(level=PlaceLevel.BUILDING, path__startswith=street.path)
        .order_by("code")
        .values_list("code", flat=True)[:200]
    )
    user, _ = User.objects.get_or_create(
        username="bench_importer", defaults={"role": Role.COMMUNITY_WORKER}
    )
    user.places.set([street])
    wb = load_workbook(io.BytesIO(spreadsheets.template_workbook()))
    households_ws, persons_ws = wb.worksheets[1], wb.worksheets[2]
    households = max(1, persons * 10 // 27)
    for h in range(households):
        households_ws.append(
            [f"B{run}{h:07d}", f"测试路 {h} 号", buildings[h % len(buildings)], ""]
        )
    for p in range(persons):
        h = p % households
        relation = "户主" if p < households else "子女"
        persons_ws.append(
            [f"B{run}{h:07d}", relation, f"测{p}", id_number(p), "", "", "", "", "", "", "", ""]
        )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue(), user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    args = parser.parse_args()
    run = time.strftime("%H%M%S")
    started = time.perf_counter()
    content, user = build(args.persons, run)
    built = time.perf_counter() - started
    with transaction.atomic():
        job = imports.import_job_create(
            actor=user, upload=SimpleUploadedFile("bench.xlsx", content), mode="all_or_nothing"
        )
    started = time.perf_counter()
    imports.import_job_run(job_id=job.pk)
    elapsed = time.perf_counter() - started
    job = ImportJob.objects.get(pk=job.pk)
    rows = job.households_created + job.persons_created
    size = len(content) / 1e6
    print(f"workbook      {args.persons:,} persons, {size:.1f} MB, built in {built:.1f} s")
    print(f"status        {job.status} ({job.error_count} bad rows)")
    print(f"check + load  {elapsed:.1f} s for {rows:,} rows: {rows / elapsed:,.0f} rows/s")


if __name__ == "__main__":
    main()
