"""Time `linli seed --households N` into a fresh database and report rows per second.

    .venv/bin/python bench/seed_bench.py --households 200000                 # SQLite
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/linli_bench_seed \\
        .venv/bin/python bench/seed_bench.py --households 200000 --recreate  # PostgreSQL

The target is DATABASE_URL (default: SQLite at var/bench_seed.sqlite3). It must not exist yet,
or `--recreate` drops it first: a benchmark never writes into a database that holds anything.
Migrations run first (timed apart); the seed runs as its own `linli seed` process, exactly as a
user runs it, and its wall time, peak memory and the rows it wrote are reported. The database
is kept (the person-search benchmark needs one); drop it yourself when done.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
LINLI = ROOT / ".venv" / "bin" / "linli"
DEFAULT_URL = f"sqlite:///{ROOT / 'var' / 'bench_seed.sqlite3'}"


def _postgres_admin(url: str):
    import psycopg

    parts = urlsplit(url)
    admin_url = parts._replace(path="/postgres").geturl()
    return psycopg.connect(admin_url, autocommit=True), parts.path.lstrip("/")


def fresh_database(url: str, recreate: bool) -> None:
    if url.startswith("sqlite"):
        path = Path(urlsplit(url).path)
        files = [path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))]
        if path.exists() and not recreate:
            sys.exit(f"{path} exists; pass --recreate to delete it and start afresh.")
        for file in files:
            file.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    connection, name = _postgres_admin(url)
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        sys.exit(f"Use a plain lower-case database name, not {name!r}.")
    with connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if exists and not recreate:
            sys.exit(f"Database {name} exists; pass --recreate to drop it and start afresh.")
        connection.execute(f"DROP DATABASE IF EXISTS {name}")
        connection.execute(f"CREATE DATABASE {name}")


def database_size(url: str) -> int:
    if url.startswith("sqlite"):
        path = Path(urlsplit(url).path)
        return sum(
            p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists()
        )
    connection, name = _postgres_admin(url)
    with connection:
        return connection.execute("SELECT pg_database_size(%s)", [name]).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--recreate", action="store_true", help="drop the target database first")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    # Production-like settings: no query log (DEBUG=0), no secret needed for a local bench.
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "LINLI_ALLOW_INSECURE_KEY": "1"}
    fresh_database(url, args.recreate)
    print(f"database      {url}  (fresh)")
    print(f"households    {args.households:,}  seed {args.seed}")

    started = time.monotonic()
    subprocess.run([LINLI, "migrate", "--noinput", "-v0"], env=env, check=True)
    print(f"migrate       {time.monotonic() - started:.1f} s")

    started = time.monotonic()
    seed = subprocess.run(
        [LINLI, "seed", "--households", str(args.households), "--seed", str(args.seed)],
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    wall = time.monotonic() - started
    lines = seed.stdout.strip().splitlines()
    summary = next(line for line in lines if line.startswith("Generated"))
    rows = int(re.search(r"([\d,]+) rows in", summary).group(1).replace(",", ""))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"seed          {summary}")
    print(f"wall time     {wall:.1f} s (whole `linli seed` process, start-up included)")
    print(f"rows          {rows:,}")
    print(f"rows/s        {rows / wall:,.0f}")
    print(f"peak memory   {peak_mb:,.0f} MB (largest child process)")
    print(f"database size {database_size(url) / 2**20:,.0f} MB")
    print(f"bbox          {lines[-1].rsplit(' ', 1)[-1]}")


if __name__ == "__main__":
    main()
