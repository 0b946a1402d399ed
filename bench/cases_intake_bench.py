"""Intake throughput: new reports POSTed to /api/v1/cases through granian on PostgreSQL.

    .venv/bin/python bench/cases_intake_bench.py                    # 4 workers, 200 req/s, then wrk
    .venv/bin/python bench/cases_intake_bench.py --server gunicorn --seconds 30 --keep
    .venv/bin/python bench/cases_intake_bench.py --rate 0 --connections 8   # wrk only
    .venv/bin/python bench/cases_intake_bench.py --rate 80 --no-wrk --py-spy /tmp/intake
    .venv/bin/python bench/cases_intake_bench.py --no-wrk --timeline   # p95 second by second

The max-throughput phase needs wrk (`apt-get install -y wrk`); without it that phase is skipped.
`.venv/bin/pip install -e '.[bench]'` first: uvloop halves the open-loop generator's CPU (it
shares the machine with the server), and py-spy serves --py-spy DIR, which samples each worker
during the rate phase into DIR/worker-PID.txt, collapsed stacks for flamegraph.pl or speedscope.

It creates a scratch database (default linli_bench_intake; it must not exist unless --recreate),
migrates it (which seeds the taxonomy and the calendar) and builds a district of 80 grids tiled
without gaps, each with a real boundary of ~100 vertices whose shared edges wave, so the
bounding-box pre-filter often finds two or more candidates and the exact polygon test runs as
in production. Reporters are a mix: residents with their own API tokens (--residents, one token
each) and anonymous callers with a phone number (--anonymous, share of requests, only for the
categories that allow it). Every request is a new report: its own idempotency key, a point
drawn uniformly inside the district, a category rotated over the minor classes.

It starts the server (--server: granian, or gunicorn's sync workers; --workers processes,
DEBUG=0) as a child process, warms it up for a few seconds and then runs, for --seconds each:

  rate  an open-loop load (constant arrival rate, --rate per second) from this process: each
        request goes out at its scheduled moment whatever the earlier ones are doing, and its
        latency counts from that moment, so a slow server shows as latency rather than as fewer
        requests (no coordinated omission). It takes the idle keep-alive connection freed last,
        or opens a new one when none is idle, as a reverse proxy in front of the server does
        (and as wrk and locust do); --connection close gives each request a connection of its
        own, which costs the generator and the server a TCP set-up and tear-down each;
  wrk   closed-loop, --connections at once as fast as the server answers (bench/cases_intake.lua
        builds the bodies): the maximum throughput and its latency.

The load generator runs on the same machine as the server and PostgreSQL and takes CPU from
them; the cores each part kept busy (generator, server, the database's backends, and "others": the
rest of the machine, which should be near 0 for a clean run) are printed after each phase.
Above the server's capacity the open-loop queue grows: latencies reach tens of seconds and,
once the listen backlog is full, connections are reset (counted as errors, not as latency).
Then it checks that the cases created by a phase are exactly its 201 answers, plus at most the
requests that got no answer (for wrk, the --connections still in flight when it stops: served
but not counted), with no duplicates, and prints the rows each report wrote.

Target: p95 under 100 ms at 200 requests/s on 2 cores. The database is dropped at the end
unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

try:  # libuv's loop costs the generator about half the CPU of asyncio's own (pip install uvloop)
    import uvloop

    run_loop = uvloop.run
except ImportError:
    run_loop = asyncio.run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases_sweep_bench import create_database, database_name, drop_database

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
LUA = Path(__file__).resolve().parent / "cases_intake.lua"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/linli_bench_intake"
PATH = "/api/v1/cases"

# The district: COLUMNS × ROWS grid cells of CELL_LNG × CELL_LAT degrees (about 900 m square),
# edges waving by WAVE of the cell in WAVES half-periods, EDGE_POINTS segments per edge.
ORIGIN = (118.45, 37.40)
COLUMNS, ROWS = 10, 8
CELL_LNG, CELL_LAT = 0.010, 0.008
WAVE, WAVES, EDGE_POINTS = 0.06, 3, 24
GRIDS_PER_COMMUNITY, COMMUNITIES_PER_STREET = 4, 5


# --- the district ------------------------------------------------------------------------------


def _vertical_edge(i: int, j: int) -> list[tuple[float, float]]:
    """Column line i between row lines j and j+1, bottom to top; shared by both neighbours."""
    x, y = ORIGIN[0] + i * CELL_LNG, ORIGIN[1] + j * CELL_LAT
    sign = -1 if (i + j) % 2 else 1
    return [
        (
            x + sign * WAVE * CELL_LNG * math.sin(WAVES * math.pi * k / EDGE_POINTS),
            y + CELL_LAT * k / EDGE_POINTS,
        )
        for k in range(EDGE_POINTS + 1)
    ]


def _horizontal_edge(i: int, j: int) -> list[tuple[float, float]]:
    """Row line j between column lines i and i+1, left to right."""
    x, y = ORIGIN[0] + i * CELL_LNG, ORIGIN[1] + j * CELL_LAT
    sign = -1 if (i + j) % 2 else 1
    return [
        (
            x + CELL_LNG * k / EDGE_POINTS,
            y + sign * WAVE * CELL_LAT * math.sin(WAVES * math.pi * k / EDGE_POINTS),
        )
        for k in range(EDGE_POINTS + 1)
    ]


def cell_boundary(i: int, j: int) -> dict:
    """Counter-clockwise ring of cell (column i, row j) from the four shared edges."""
    ring = (
        _horizontal_edge(i, j)[:-1]
        + _vertical_edge(i + 1, j)[:-1]
        + _horizontal_edge(i, j + 1)[::-1][:-1]
        + _vertical_edge(i, j)[::-1]
    )
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


def point_area() -> tuple[float, float, float, float]:
    """(min lng, min lat, max lng, max lat) of the points: inside the district, clear of the
    waves of its outer edge, so every point has a grid."""
    margin_lng, margin_lat = WAVE * CELL_LNG * 1.5, WAVE * CELL_LAT * 1.5
    return (
        ORIGIN[0] + margin_lng,
        ORIGIN[1] + margin_lat,
        ORIGIN[0] + COLUMNS * CELL_LNG - margin_lng,
        ORIGIN[1] + ROWS * CELL_LAT - margin_lat,
    )


def build_district() -> int:
    from linli.core.testing.factories import make_place
    from linli.places.models import PlaceLevel

    city = make_place("370500", "东营市", PlaceLevel.CITY)
    district = make_place("370502", "东营区", PlaceLevel.DISTRICT, city)
    cells = [(i, j) for j in range(ROWS) for i in range(COLUMNS)]
    per_street = GRIDS_PER_COMMUNITY * COMMUNITIES_PER_STREET
    street = community = None
    for n, (i, j) in enumerate(cells):
        s, c, g = n // per_street + 1, n % per_street // GRIDS_PER_COMMUNITY + 1, n % 4 + 1
        if n % per_street == 0:
            street = make_place(f"370502{s:03d}000", f"街道{s}", PlaceLevel.STREET, district)
        if n % GRIDS_PER_COMMUNITY == 0:
            code = f"370502{s:03d}{c:03d}"
            community = make_place(code, f"社区{s}-{c}", PlaceLevel.COMMUNITY, street)
        make_place(
            f"{community.code}{g:03d}",
            f"网格{g}",
            PlaceLevel.GRID,
            community,
            boundary=cell_boundary(i, j),
        )
    return len(cells)


def resident_tokens(count: int) -> list[str]:
    from linli.core.models import User
    from linli.core.roles import Role
    from linli.core.services import api_token_issue

    keys = []
    for n in range(count):
        user = User(username=f"bench_resident_{n:04d}", role=Role.RESIDENT)
        user.set_unusable_password()
        user.save()
        keys.append(api_token_issue(actor=None, user=user, name="intake bench")[1])
    return keys


# --- requests ----------------------------------------------------------------------------------

DESCRIPTIONS = [
    "井盖松动，车辆经过时响声很大",
    "路灯不亮已经三天了",
    "小区门口垃圾堆放无人清理",
    "人行道地砖破损，老人容易绊倒",
    "楼道里堆放杂物，堵塞消防通道",
    "下水道堵塞，雨后积水严重",
]


class Reports:
    """Distinct new reports: key `<run>-<n>`, a random point, categories in turn."""

    def __init__(self, run: str, tokens, categories, anonymous_categories, anonymous: float):
        self.run, self.tokens, self.anonymous = run, tokens, anonymous
        self.categories, self.anonymous_categories = categories, anonymous_categories
        self.area = point_area()
        self.rng = random.Random(run)

    def request(self, n: int, host: str, keep_alive: bool) -> bytes:
        rng = self.rng
        body = {
            "description": f"{DESCRIPTIONS[n % len(DESCRIPTIONS)]}（{self.run}-{n}）",
            "lng": round(rng.uniform(self.area[0], self.area[2]), 6),
            "lat": round(rng.uniform(self.area[1], self.area[3]), 6),
            "address": f"测试路{n % 300 + 1}号",
            "idempotency_key": f"{self.run}-{n}",
        }
        headers = [f"Host: {host}", "Content-Type: application/json"]
        if not keep_alive:
            headers.append("Connection: close")
        if rng.random() < self.anonymous:
            body["category"] = self.anonymous_categories[n % len(self.anonymous_categories)]
            body["reporter_phone"] = f"13{rng.randrange(10**9):09d}"
        else:
            body["category"] = self.categories[n % len(self.categories)]
            headers.append(f"Authorization: Bearer {rng.choice(self.tokens)}")
        data = json.dumps(body, ensure_ascii=False).encode()
        head = f"POST {PATH} HTTP/1.1\r\n" + "\r\n".join(headers)
        return f"{head}\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data


class Exchange(asyncio.Protocol):
    """An HTTP connection carrying one request at a time: callbacks rather than streams and a
    task each, so the generator takes less of the CPU it shares. With `idle` (requests sent
    keep-alive) it goes back to that list after each answer, as a reverse proxy's upstream
    connections do; otherwise it is closed."""

    def __init__(self, idle: list[Exchange] | None) -> None:
        self.idle, self.transport, self.answered = idle, None, None
        self.received = bytearray()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def exchange(self, request: bytes, answered: asyncio.Future) -> None:
        self.answered = answered
        self.received.clear()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.received += data
        head_end = self.received.find(b"\r\n\r\n")
        if head_end < 0 or self.answered is None:
            return
        head = bytes(self.received[:head_end]).lower()
        length = re.search(rb"\r\ncontent-length: *(\d+)", head)
        if length is None or len(self.received) < head_end + 4 + int(length.group(1)):
            return  # the body is still coming, or (no length) ends with the connection
        answered, self.answered = self.answered, None
        if self.idle is None or b"\r\nconnection: close" in head:
            self.transport.close()
        else:
            self.idle.append(self)
        answered.set_result(int(head.split(b" ", 2)[1]))

    def connection_lost(self, exc) -> None:
        if self.idle is not None and self in self.idle:
            self.idle.remove(self)
        if self.answered is None or self.answered.done():
            return
        try:
            self.answered.set_result(int(self.received.split(b" ", 2)[1]))
        except (IndexError, ValueError):
            self.answered.set_result(type(exc).__name__ if exc else "IncompleteReadError")


async def send(
    host: str,
    port: int,
    request: bytes,
    scheduled: float,
    timeout: float,
    idle: list[Exchange] | None,
):
    """(status, seconds from the scheduled moment); the status is a word when there was no
    answer: "timeout", or the connection error's name. With `idle` (the idle keep-alive
    connections) the request takes the one freed last, or opens one when none is idle; with
    None, it has a connection of its own."""
    loop = asyncio.get_running_loop()
    answered = loop.create_future()
    if idle:
        connection = idle.pop()
    else:
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(lambda: Exchange(idle), host, port), timeout
            )
        except TimeoutError:
            return "timeout", loop.time() - scheduled
        except OSError as error:
            return type(error).__name__, loop.time() - scheduled
    connection.exchange(request, answered)
    expire = loop.call_later(
        timeout,
        lambda: answered.done() or (answered.set_result("timeout"), connection.transport.abort()),
    )
    status = await answered
    expire.cancel()
    return status, loop.time() - scheduled


async def open_loop(
    host: str, port: int, reports: Reports, rate: float, seconds: float, keep_alive: bool
):
    """Send rate × seconds requests at their scheduled moments; wait for every answer. The
    requests are built before the clock starts."""
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    requests = [reports.request(n, f"{host}:{port}", keep_alive) for n in range(total)]
    idle: list[Exchange] | None = [] if keep_alive else None
    started = loop.time() + 0.1
    tasks = []
    for n, request in enumerate(requests):
        at = started + n / rate
        if (delay := at - loop.time()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(host, port, request, at, 120, idle)))
    results = await asyncio.gather(*tasks)
    wall = loop.time() - started
    for connection in idle or []:
        connection.transport.close()
    return results, wall


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank, as wrk does."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1)]


# --- server and measurements -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The two servers the issue names. granian (the production choice, README) parses HTTP and waits
# on sockets in Rust and runs the app in one thread per worker; gunicorn's sync workers (pip
# install gunicorn) all wake for each new connection and wait after each answer for the client
# to close it (close_graceful, gunicorn >= 26).
SERVERS = {
    "granian": lambda port, workers: [
        str(VENV / "granian"),
        "--interface",
        "wsgi",
        "--workers",
        str(workers),
        "--blocking-threads",
        "1",
        "--runtime-mode",
        "st",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backlog",
        "2048",
        "--no-ws",
        "--log-level",
        "warning",
        "linli.wsgi:application",
    ],
    "gunicorn": lambda port, workers: [
        str(VENV / "gunicorn"),
        "linli.wsgi",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
    ],
}


def start_server(name: str, env: dict, port: int, workers: int, log: Path) -> subprocess.Popen:
    command = SERVERS[name](port, workers)
    if not Path(command[0]).exists():
        sys.exit(f"{name} is not installed: .venv/bin/pip install {name}")
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.2)
    sys.exit(f"{name} did not start:\n" + log.read_text()[-3000:])


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)  # graceful: workers finish the request in hand
    server.wait(timeout=60)


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_sample(server: subprocess.Popen, database: str) -> dict[str, dict[int, float]]:
    """CPU seconds so far per process: the server (main process and workers), the PostgreSQL
    backends of the bench database, this process; and the whole machine's busy time (pid 0)."""
    workers = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    backends = [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and f" {database} " in _read(p / "cmdline")
    ]
    cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(v) for v in cpu[:8]) - int(cpu[3]) - int(cpu[4])
    return {
        "server": {pid: _cpu_of(pid) for pid in [server.pid, *map(int, workers)]},
        "postgres": {pid: _cpu_of(pid) for pid in backends},
        "generator": {os.getpid(): time.process_time()},
        "machine": {0: busy / TICK},
    }


def _read(path: Path) -> str:
    try:
        return path.read_text().replace("\0", " ")
    except OSError:
        return ""


class CpuMeter:
    """Cores busy per part over a phase, sampled twice a second so that the CPU of a database
    backend that ends mid-phase (CONN_MAX_AGE reconnects every minute) still counts."""

    def __init__(self, server: subprocess.Popen, database: str):
        self.server, self.database = server, database
        self.first = cpu_sample(server, database)
        self.last = {part: dict(values) for part, values in self.first.items()}
        self.started = time.monotonic()
        self.running = threading.Event()
        self.running.set()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.running.is_set():
            time.sleep(0.5)
            for part, values in cpu_sample(self.server, self.database).items():
                self.last[part].update(values)

    def stop(self, generator: float | None = None) -> dict[str, float]:
        """Stop sampling; `generator` replaces this process's CPU seconds (wrk's, say)."""
        self.running.clear()
        self.thread.join()
        for part, values in cpu_sample(self.server, self.database).items():
            self.last[part].update(values)
        wall = time.monotonic() - self.started
        used = {
            part: sum(v - self.first[part].get(pid, 0.0) for pid, v in values.items()) / wall
            for part, values in self.last.items()
        }
        if generator is not None:
            used["generator"] = generator / wall
        used["others"] = used.pop("machine") - sum(used.values())
        return used


def print_cpu(used: dict[str, float], per_second: float) -> None:
    """Cores busy per part ("others" is whatever else ran on the machine meanwhile), and the
    CPU the server and PostgreSQL spent per request. PostgreSQL's work per report does not
    change with the server or the load, so its CPU per report reads the machine's speed during
    the phase (this kind of machine swings by up to 2x)."""
    print(
        "    CPU (cores busy): "
        + ", ".join(f"{k} {v:.2f}" for k, v in used.items())
        + f", of {os.cpu_count()}\n"
        + f"    CPU ms per request: server {used['server'] / per_second * 1000:.2f}, "
        + f"postgres {used['postgres'] / per_second * 1000:.2f}"
    )


def cases_of(run: str) -> tuple[int, int]:
    """(cases, distinct reporter+key pairs) filed by one phase, once the server has finished
    the requests still in hand (the count holds still for a second)."""
    from linli.cases.models import Case

    qs = Case.objects.filter(idempotency_key__startswith=f"{run}-").order_by()
    count = -1
    while count != (count := qs.count()):
        time.sleep(1)
    return count, qs.values("reporter_key", "idempotency_key").distinct().count()


def verify(cases: int, distinct: int, created: int, unanswered: int) -> None:
    """Every 201 is a case, and a case without a 201 only for a request never answered."""
    extra = cases - created
    verdict = "ok" if 0 <= extra <= unanswered and cases == distinct else "MISMATCH"
    print(
        f"    cases created {cases:,} = 201 answers {created:,} + {extra} (at most {unanswered} "
        f"requests left without an answer), duplicates {cases - distinct}: {verdict}"
    )


def row_counts() -> dict[str, int]:
    from django_tasks_db.models import DBTaskResult

    from linli.cases.models import Case, CaseEvent, Outbox
    from linli.core.models import AuditEntry

    models = [Case, CaseEvent, AuditEntry, Outbox, DBTaskResult]
    return {m._meta.db_table: m.objects.count() for m in models}


def run_rate(args, port: int, server, reports: Reports) -> None:
    meter = CpuMeter(server, args.database)
    results, wall = run_loop(
        open_loop("127.0.0.1", port, reports, args.rate, args.seconds, args.keep_alive)
    )
    used = meter.stop()
    print_phase(f"rate {args.rate:g}/s", results, wall)
    if args.timeline:
        print_timeline(results, args.rate)
    print_cpu(used, len(results) / wall)
    created = sum(1 for status, _ in results if status == 201)
    unanswered = sum(1 for status, _ in results if isinstance(status, str))
    verify(*cases_of(reports.run), created, unanswered)


def print_phase(label: str, results: list[tuple[int, float]], wall: float) -> None:
    statuses = Counter(status for status, _ in results)
    ok = sorted(latency for status, latency in results if status in (200, 201))
    errors = {k: v for k, v in statuses.items() if k not in (200, 201)}
    print(
        f"{label}: {len(results):,} requests in {wall:.1f} s = {len(results) / wall:.1f} req/s, "
        f"2xx {len(ok):,} ({len(ok) / wall:.1f}/s), errors {errors or 0}\n"
        f"    latency ms: p50 {percentile(ok, 50) * 1000:.1f}  p95 {percentile(ok, 95) * 1000:.1f}"
        f"  p99 {percentile(ok, 99) * 1000:.1f}  max {ok[-1] * 1000 if ok else 0:.1f}"
    )


def print_timeline(results: list[tuple[int, float]], rate: float) -> None:
    """p95 and max latency of the requests scheduled in each second: shows whether a slow tail
    is a steady queue or a few stalls."""
    seconds: dict[int, list[float]] = {}
    for n, (_, latency) in enumerate(results):
        seconds.setdefault(int(n / rate), []).append(latency)
    cells = [
        f"{second:>3}s {percentile(sorted(v), 95) * 1000:5.0f}/{max(v) * 1000:<5.0f}"
        for second, v in sorted(seconds.items())
    ]
    print("    p95/max ms per second:")
    for row in range(0, len(cells), 6):
        print("    " + "  ".join(cells[row : row + 6]))


def run_wrk(args, port: int, server, run: str, data_file: Path) -> None:
    command = [
        "wrk",
        "-t2",
        f"-c{args.connections}",
        f"-d{round(args.seconds)}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}",
        "--",
        str(data_file),
        str(args.anonymous),
        run,
    ]
    meter, wrk_before = CpuMeter(server, args.database), _children_cpu()
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    # wrk, not this process, generates the load here.
    used = meter.stop(generator=_children_cpu() - wrk_before)
    result = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    print(
        f"wrk -c{args.connections}: {result['requests']:,} requests in "
        f"{result['seconds']:.1f} s = {result['requests'] / result['seconds']:.1f} req/s, "
        f"201 {result['created']:,}, other statuses {result['other'] or 0}, "
        f"socket errors {result['socket_errors'] or 0}\n"
        f"    latency ms: p50 {result['p50'] / 1000:.1f}  p95 {result['p95'] / 1000:.1f}  "
        f"p99 {result['p99'] / 1000:.1f}  max {result['max'] / 1000:.1f}"
    )
    print_cpu(used, result["requests"] / result["seconds"])
    for line in out.splitlines():
        if line.startswith("status "):  # the first few odd answers, from cases_intake.lua
            print("    " + line)
    # Requests in flight when wrk stops are served but not counted by wrk.
    verify(*cases_of(run), result["created"], args.connections + result["socket_errors"])


def _children_cpu() -> float:
    """CPU seconds of the waited-for children (wrk once it has exited)."""
    times = os.times()
    return times.children_user + times.children_system


def write_wrk_data(path: Path, tokens, categories, anonymous_categories) -> None:
    lines = ["area " + " ".join(f"{v:.6f}" for v in point_area())]
    lines += [f"token {t}" for t in tokens]
    lines += [f"category {c}" for c in categories]
    lines += [f"anonymous {c}" for c in anonymous_categories]
    path.write_text("\n".join(lines) + "\n")


def profile(pids: list[str], seconds: float, out: Path) -> list[subprocess.Popen]:
    out.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                str(VENV / "py-spy"),
                "record",
                "--pid",
                pid,
                "--duration",
                str(int(seconds)),
                "--rate",
                "200",
                "--nonblocking",
                "--format",
                "raw",
                "-o",
                str(out / f"worker-{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--server", choices=sorted(SERVERS), default="granian")
    parser.add_argument("--workers", type=int, default=4, help="server worker processes")
    parser.add_argument("--seconds", type=float, default=60, help="length of each phase")
    parser.add_argument("--rate", type=float, default=200, help="open-loop req/s; 0 skips")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--connection",
        choices=["keep-alive", "close"],
        default="keep-alive",
        help="rate phase: reuse idle connections (as a reverse proxy does) or one per request",
    )
    parser.add_argument("--timeline", action="store_true", help="p95 per second of the rate phase")
    parser.add_argument("--no-wrk", action="store_true", help="skip the wrk phase")
    parser.add_argument("--warmup", type=float, default=5, help="seconds at 50 req/s first")
    parser.add_argument("--residents", type=int, default=200, help="residents with a token")
    parser.add_argument("--anonymous", type=float, default=0.2, help="share of anonymous reports")
    parser.add_argument("--py-spy", type=Path, help="record the workers in the rate phase here")
    parser.add_argument("--recreate", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    args.keep_alive = args.connection == "keep-alive"

    args.database = database_name(args.url)
    create_database(args.url, args.recreate)
    workdir = Path(tempfile.mkdtemp(prefix="linli_intake_"))  # the server's log, wrk's tokens
    server = None
    try:
        env = {
            **os.environ,
            "DATABASE_URL": args.url,
            "DEBUG": "0",
            "LINLI_ALLOW_INSECURE_KEY": "1",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SETTINGS_MODULE": "linli.settings",
        }
        subprocess.run([str(VENV / "linli"), "migrate", "--noinput", "-v0"], env=env, check=True)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.db import connection

        from linli.cases.models import Category

        grids = build_district()
        tokens = resident_tokens(args.residents)
        minors = Category.objects.filter(parent__isnull=False, is_active=True).order_by("code")
        categories = list(minors.values_list("code", flat=True))
        anonymous_categories = list(
            minors.filter(anonymous_allowed=True).values_list("code", flat=True)
        )
        print(
            f"{grids} grids with boundaries, {len(tokens)} resident tokens, "
            f"{len(categories)} categories ({len(anonymous_categories)} open to anonymous), "
            f"{args.anonymous:.0%} of reports anonymous"
        )
        connection.close()

        port = free_port()
        server = start_server(args.server, env, port, args.workers, workdir / "server.log")
        print(f"{args.server} --workers {args.workers} on 127.0.0.1:{port}")
        make = functools.partial(
            Reports,
            tokens=tokens,
            categories=categories,
            anonymous_categories=anonymous_categories,
            anonymous=args.anonymous,
        )
        warm, _ = run_loop(
            open_loop("127.0.0.1", port, make("warm"), 50, args.warmup, args.keep_alive)
        )
        print(f"warm-up: {len(warm)} requests, statuses {dict(Counter(s for s, _ in warm))}")
        rows_before = row_counts()
        connection.close()

        if args.rate:
            recorders = []
            if args.py_spy:
                pids = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
                recorders = profile(pids, args.seconds, args.py_spy)
            run_rate(args, port, server, make("rate"))
            for recorder in recorders:
                recorder.wait()
            connection.close()
        if not args.no_wrk and shutil.which("wrk"):
            data_file = workdir / "wrk.data"
            write_wrk_data(data_file, tokens, categories, anonymous_categories)
            run_wrk(args, port, server, "wrk", data_file)
            connection.close()
        elif not args.no_wrk:
            print("wrk not found (apt-get install -y wrk): no max-throughput phase")

        stop_server(server)
        server = None
        rows = {k: v - rows_before[k] for k, v in row_counts().items()}
        filed = rows.pop("cases_case")
        if filed:
            print(
                f"rows per report ({filed:,} reports): "
                + ", ".join(f"{table} {n / filed:.2f}" for table, n in rows.items())
            )
        connection.close()
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(workdir)
        if not args.keep:
            drop_database(args.url)


if __name__ == "__main__":
    main()
