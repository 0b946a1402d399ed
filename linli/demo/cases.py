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
from linli.core.workdays import current_calendar, stage_window
from linli.places.models import Place, PlaceLevel

DAYS = 180
# What residents write, per minor class of linli/cases/taxonomy.json: a report reads like
# its category (a test holds every minor class to having some).
DESCRIPTIONS = {
    "BJ0101": ["自来水井盖松动，踩上去晃动", "上水井盖缺失，路面露出一个洞"],
    "BJ0102": ["污水井盖破损，有臭味冒出", "污水井盖被压碎，车辆经过很危险"],
    "BJ0103": ["雨水篦子被垃圾堵住，下雨积水", "雨水篦子断裂，行人容易踩空"],
    "BJ0104": ["电力井盖翘起，电动车经过颠簸", "电力井盖缺了一角"],
    "BJ0105": ["路灯不亮已有三天", "路灯白天一直亮着", "路灯灯杆倾斜"],
    "BJ0106": ["消防栓漏水，周围结了一片水", "消防栓被车辆撞歪"],
    "BJ0201": ["路口红绿灯不亮，车辆抢行", "信号灯绿灯时间太短，老人过不去"],
    "BJ0202": ["交通标志牌被树枝挡住看不清", "限速牌倒在路边"],
    "BJ0203": ["道路护栏被撞断，倒向人行道", "护栏松动歪斜"],
    "BJ0204": ["公交站亭玻璃碎了一地", "公交站亭顶棚漏雨"],
    "BJ0205": ["人行道砖块破损翘起", "人行道塌陷一块，容易绊倒"],
    "BJ0301": ["公共厕所没有水，无法冲洗", "公共厕所门锁坏了"],
    "BJ0302": ["垃圾箱破损，垃圾散落一地", "路边垃圾箱满溢无人清运"],
    "BJ0303": ["垃圾收集站异味很大，影响周边居民", "垃圾收集站门口堆满垃圾"],
    "BJ0401": ["行道树枝条压到电线", "行道树倒伏，挡住半条路"],
    "BJ0402": ["绿地被人踩出小路，草都秃了", "绿地里有人种菜"],
    "BJ0403": ["护树围栏损坏", "树池盖板缺失"],
    "BJ0501": ["老楼外墙开裂掉渣", "楼道墙体出现明显裂缝"],
    "BJ0502": ["闲置空地堆满杂物，杂草丛生", "空地围挡倒塌"],
    "BJ0503": ["人防工事入口积水", "人防工事门被撬开"],
    "SJ0101": ["路边堆放垃圾，已有异味", "小区门口有一堆生活垃圾"],
    "SJ0102": ["路边堆积建筑渣土，无人清运", "空地上积存大量垃圾渣土"],
    "SJ0103": ["路面泥土很多，一下雨全是泥", "道路油污没有清扫"],
    "SJ0104": ["河道里漂浮大量垃圾", "小河水面发黑发臭"],
    "SJ0105": ["有人在路边焚烧树叶，浓烟很大", "空地上焚烧垃圾"],
    "SJ0201": ["楼道里贴满小广告", "电线杆上贴满办证小广告"],
    "SJ0202": ["店铺门口违规悬挂横幅", "围墙上乱贴海报"],
    "SJ0203": ["商铺招牌松动，随时可能掉下", "广告牌破损，铁架外露"],
    "SJ0301": ["工地夜里施工，噪音很大", "工地早上六点就开始施工"],
    "SJ0302": ["工地扬尘严重，没有覆盖", "工地车辆进出尘土飞扬"],
    "SJ0303": ["渣土车沿路遗撒泥土", "运输车辆沿途洒落砂石"],
    "SJ0304": ["楼顶私搭乱建板房", "小区绿地里有人违建小屋"],
    "SJ0401": ["路面突然塌陷出一个坑", "人行道下沉塌陷"],
    "SJ0402": ["供水管道破裂，水流满路面", "地下水管爆裂往外冒水"],
    "SJ0403": ["楼道里闻到很浓的燃气味", "燃气管道有漏气声"],
    "SJ0404": ["路口积水很深，车辆无法通行", "地下通道积水"],
    "SJ0405": ["小区充电桩电线裸露", "楼道堆放杂物堵住消防通道"],
    "SJ0501": ["流动摊贩占道经营", "路口有无照游商卖水果"],
    "SJ0502": ["饭店在店外摆桌经营", "商铺把货物摆到人行道上"],
    "SJ0503": ["夜里有人露天烧烤，油烟很大", "路边烧烤摊烟熏到楼上"],
    "SJ0504": ["机动车停在人行道上", "车辆乱停堵住小区出口"],
    "SJ0505": ["共享单车堆满人行道", "电动车乱停挡住盲道"],
    "MD0101": ["邻居装修占用公共楼道，协商不成", "楼上漏水到楼下，两家发生争执"],
    "MD0102": ["家庭因赡养老人发生纠纷", "夫妻争吵，希望社区调解"],
    "MD0103": ["物业收费与服务不符，业主有意见", "物业不处理电梯故障，业主不满"],
    "MD0104": ["工地拖欠工人工资", "公司未按时发放工资"],
    "MS0101": ["小区停水没有通知", "家里停电一整天了"],
    "MS0102": ["暖气不热，室温只有十几度", "供暖管道漏水"],
    "MS0103": ["楼下商铺音响声音太大", "广场舞音乐声音太大影响休息"],
    "MS0104": ["独居老人需要上门帮助", "残疾人出行需要无障碍设施"],
    "MS0105": ["菜市场缺斤短两", "超市出售过期食品"],
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
            description=rng.choice(DESCRIPTIONS.get(category.code) or [category.name]),
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
