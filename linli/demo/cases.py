"""Half a year of cases for the demo city: most closed through the whole loop, some rejected,
the newest still open at every stage, so the queues, the case pages, the statistics and the map
have something true to show.

Rows are written in bulk with their timeline, the moments and punctuality flags the services
would have fixed (deadlines on the working-day calendar); the overdue sweep then warns and
escalates the open ones as it would in production. Deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from shapely.geometry import Point, shape

from linli.cases.models import Case, CaseEvent, CaseState, Category, CloseReason, Source
from linli.cases.sweep import run_sweep
from linli.cases.workdays import current_calendar, stage_window
from linli.places.models import Place, PlaceLevel

DAYS = 180
DESCRIPTIONS = {
    "SJ": ["路边堆放垃圾，已有异味", "垃圾桶满溢无人清运", "小区门口有人占道经营"],
    "BJ": ["井盖松动，行人容易绊倒", "路灯不亮已有三天", "人行道砖块破损"],
}
RATING_COMMENTS = ["处理很及时，谢谢", "还可以", "速度有点慢", "问题解决了", ""]


@dataclass
class DemoCasesSummary:
    cases: int
    events: int
    open: int
    seconds: float


def _point_in(polygon, rng: random.Random) -> tuple[float, float]:
    min_x, min_y, max_x, max_y = polygon.bounds
    for _ in range(50):
        x, y = rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)
        if polygon.contains(Point(x, y)):
            return y, x
    point = polygon.representative_point()
    return point.y, point.x


def _work_moment(day: dt.date, rng: random.Random) -> dt.datetime:
    naive = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(minutes=rng.randrange(10 * 60))
    return timezone.make_aware(naive)


def cases_generate(*, cases: int, seed: int) -> DemoCasesSummary:
    """Generate `cases` cases reported over the past DAYS days in the city's grids."""
    started = timezone.now()
    rng = random.Random(seed)
    grids = [
        (grid, shape(grid.boundary))
        for grid in Place.objects.filter(level=PlaceLevel.GRID, boundary__isnull=False).order_by(
            "code"
        )
    ]
    if not grids:
        raise ValueError("The city has no grids with boundaries: run `linli seed` first.")
    minors = list(
        Category.objects.filter(parent__isnull=False, is_active=True).select_related(
            "department", "parent"
        )
    )
    if not minors:
        raise ValueError("No case categories: run `linli load_case_categories` first.")
    # A few categories make most reports, as in life (garbage, street vending, lamps …).
    weights = [8 if c.code[-2:] in ("01", "02") else 1 for c in minors]
    calendar = current_calendar()
    now = timezone.now()
    rows: list[Case] = []
    steps: list[list[tuple]] = []
    for i in range(cases):
        age = DAYS * (1 - (i / cases)) ** 1.3  # more reports lately
        reported = _work_moment(timezone.localdate(now) - dt.timedelta(days=int(age)), rng)
        reported = min(reported, now - dt.timedelta(minutes=5 + rng.randrange(240)))
        grid, polygon = grids[rng.randrange(len(grids))]
        category = rng.choices(minors, weights)[0]
        lat, lng = _point_in(polygon, rng)
        phone = f"13{rng.randrange(10**9):09d}"
        case = Case(
            number=f"{timezone.localtime(reported):%Y%m%d}9{i:07d}",
            category=category,
            description=rng.choice(DESCRIPTIONS.get(category.code[:2], DESCRIPTIONS["SJ"])),
            lat=round(lat, 6),
            lng=round(lng, 6),
            grid=grid,
            place_path=grid.path,
            source=rng.choice([Source.RESIDENT, Source.GRID_PATROL, Source.HOTLINE]),
            reporter_name="市民",
            reporter_phone=phone,
            reporter_key="p" + hashlib.sha256(phone.encode()).hexdigest()[:40],
            priority=category.priority,
            reported_at=reported,
            due_at=calendar.add_working_hours(reported, category.total_hours),
        )
        steps.append(_live(case, category, now, rng))
        rows.append(case)
    with transaction.atomic():
        Case.objects.bulk_create(rows, batch_size=500)
        events = [
            CaseEvent(case=case, at=at, action=action, from_state=src, to_state=dst, note=note)
            for case, case_steps in zip(rows, steps, strict=True)
            for at, action, src, dst, note in case_steps
        ]
        CaseEvent.objects.bulk_create(events, batch_size=1000)
    run_sweep(now)
    open_count = sum(1 for c in rows if c.is_open)
    seconds = (timezone.now() - started).total_seconds()
    return DemoCasesSummary(cases=len(rows), events=len(events), open=open_count, seconds=seconds)


def _live(case: Case, category: Category, now: dt.datetime, rng: random.Random) -> list[tuple]:
    """Walk the case through the loop until `now`, setting what each service would set; the
    timeline steps (at, action, from, to, note)."""
    S = CaseState
    steps = [(case.reported_at, "report", "", S.REPORTED, "")]
    moment = case.reported_at

    def stage(hours) -> dt.datetime:
        return stage_window(moment, hours, round_the_clock=category.round_the_clock)[1]

    def advance(hours_range: tuple[float, float]) -> dt.datetime | None:
        nonlocal moment
        nxt = moment + dt.timedelta(hours=rng.uniform(*hours_range))
        if nxt >= now:
            return None
        moment = nxt
        return moment

    def open_at(state: str, hours) -> list[tuple]:
        case.state = state
        case.stage_started_at = moment
        case.stage_warn_at, case.stage_deadline = stage_window(
            moment, hours, round_the_clock=category.round_the_clock
        )
        return steps

    deadline = stage(category.register_hours)
    if rng.random() < 0.05:
        if advance((0.2, 2)) is None:
            return open_at(S.REPORTED, category.register_hours)
        case.state, case.close_reason = S.REJECTED, CloseReason.NOT_OUR_REMIT
        steps.append((moment, "reject", S.REPORTED, S.REJECTED, "不属于受理范围"))
        return steps
    if advance((0.1, 1.5) if rng.random() < 0.9 else (1.5, 30)) is None:
        return open_at(S.REPORTED, category.register_hours)
    case.registered_at, case.registered_on_time = moment, moment <= deadline
    steps.append((moment, "register", S.REPORTED, S.REGISTERED, ""))

    deadline = stage(category.dispatch_hours)
    if advance((0.1, 1.2) if rng.random() < 0.9 else (1.2, 20)) is None:
        return open_at(S.REGISTERED, category.dispatch_hours)
    case.dispatched_at, case.dispatched_on_time = moment, moment <= deadline
    case.department = category.department
    steps.append((moment, "dispatch", S.REGISTERED, S.DISPATCHED, ""))

    deadline = stage(category.handle_hours)
    handle_hours = float(category.handle_hours)
    spread = (0.2 * handle_hours, 1.3 * handle_hours) if rng.random() < 0.85 else (handle_hours, 90)
    if advance(spread) is None:
        return open_at(S.DISPATCHED, category.handle_hours)
    case.handled_at, case.handled_on_time = moment, moment <= deadline
    steps.append((moment, "report_handled", S.DISPATCHED, S.HANDLED, "已按要求处置完毕"))
    if rng.random() < 0.06:  # verification failed once: rework (返工)
        case.rework_count = 1
        steps.append((moment, "verify_fail", S.HANDLED, S.DISPATCHED, "现场核查未处理到位"))
        if advance((2, 20)) is None:
            case.handled_at = case.handled_on_time = None
            return open_at(S.DISPATCHED, category.handle_hours)
        case.handled_at, case.handled_on_time = moment, False
        steps.append((moment, "report_handled", S.DISPATCHED, S.HANDLED, "返工后已处置"))

    if advance((0.5, 12)) is None:
        return open_at(S.HANDLED, category.verify_hours)
    case.verified_at = moment
    steps.append((moment, "verify", S.HANDLED, S.VERIFIED, ""))
    advance((0.05, 0.5))
    case.state, case.close_reason = S.CLOSED_FIXED, CloseReason.FIXED
    case.closed_at, case.closed_on_time = moment, moment <= case.due_at
    steps.append((moment, "close", S.VERIFIED, S.CLOSED_FIXED, ""))
    if rng.random() < 0.6 and advance((1, 48)) is not None:
        case.state, case.rated_at = S.RATED, moment
        # 1–2 stars would have reopened the case as rework; the demo keeps it simple.
        case.rating = rng.choices([5, 4, 3], [55, 33, 12])[0]
        case.rating_comment = rng.choice(RATING_COMMENTS)
        steps.append((moment, "rate", S.CLOSED_FIXED, S.RATED, case.rating_comment))
    return steps
