"""Monitoring and early warning in the demo city (`linli seed_monitoring`, after
`linli seed_assistance`): the default risk rules, external and fed signals, two screening
rounds, home visits ending in every outcome, and key households with follow-ups — so each
monitoring page has real work on the day it is opened.

What is planted and why:
- signals for the signal rules (hospital bills, utility arrears, school-fee waivers,
  unemployment registrations, repeated hardship cases from the cases loop, repeated
  elderly-care alarms), one of each in the anchor grid (the grid worker's), one in another grid
  of the anchor community, the rest spread over the city; some under the rule's amount or out
  of its window, so not every signal is an alert;
- a large medical bill in the registry of one anchor-grid household, so the expenditure rule
  hits even in a small city; the other registry rules (marginal income, 80+ alone, severe
  disability without care) hit on the demo registry as it is;
- a loss of the main earner: the top wage earner of an anchor-grid household died a few weeks
  ago (recorded through the registry's own service).

Then the platform does the rest with its own services: a first screening round of each district
a month ago (dated back), the death recorded, a second round of each street today (it opens the
new alerts and resolves those whose condition no longer holds), home visits created for the open
alerts, the grid worker's visits ending once in each outcome (no risk, referred to assistance,
referred to a case, could not reach, escalated after the last try), a false alarm dismissed,
key households added with monthly follow-ups (one overdue) and one released.

Dates run back from today (timezone.localdate()); deterministic for a seed and a day. Reads go
in a few queries over the whole city, signals are bulk rows, screening is the set-based round;
the per-row services run only for the handful of visits and key households a person would do.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from linli.core.models import User
from linli.core.roles import Role
from linli.monitoring import keys, rules, screening, signals
from linli.monitoring import visits as home_visits
from linli.monitoring.models import (
    OPEN_ALERT_STATES,
    Alert,
    HomeVisit,
    KeyHousehold,
    RoundState,
    ScreeningRound,
    Signal,
    SignalKind,
    SignalSource,
    VisitState,
)
from linli.people.models import FinancialRecord, Household, Person, RecordStatus
from linli.places.models import Place, PlaceLevel

from .accounts import demo_accounts_ensure

CHUNK = 900  # ids per IN (...) list

# Households per signal of each kind (at least MINIMUM of each).
PER_SIGNAL = {
    SignalKind.HOSPITAL_BILL: 250,
    SignalKind.UTILITY_ARREARS: 200,
    SignalKind.SCHOOL_FEE_WAIVER: 400,
    SignalKind.UNEMPLOYMENT: 400,
    SignalKind.HARDSHIP_CASE: 800,  # households with repeated hardship cases
    SignalKind.ALARM: 1200,  # households with repeated alarms
}
MINIMUM = {
    SignalKind.HOSPITAL_BILL: 3,
    SignalKind.UTILITY_ARREARS: 3,
    SignalKind.SCHOOL_FEE_WAIVER: 2,
    SignalKind.UNEMPLOYMENT: 2,
    SignalKind.HARDSHIP_CASE: 2,
    SignalKind.ALARM: 1,
}
# Who issues each kind of external signal (the bureau whose file it came in).
ISSUERS = {
    SignalKind.HOSPITAL_BILL: ("市人民医院", "市中医院", "区人民医院"),
    SignalKind.SCHOOL_FEE_WAIVER: ("区教育局",),
    SignalKind.UNEMPLOYMENT: ("区人力资源和社会保障局",),
}
SERVICE_CATEGORY = "MS0104"  # the case category a visit refers a housing hazard to
ARREARS = (("水费", "市自来水公司"), ("电费", "国网供电公司"), ("燃气费", "港华燃气"))
HARDSHIP = (
    "居民反映家中老人无人照料，生活困难",
    "群众求助：家庭突发变故，无力支付房租",
    "网格员上报：独居人员家中断粮",
    "居民来电：患病无钱医治，请求帮助",
)
FOLLOW_UPS = (
    "入户回访，家庭生活基本稳定，已告知救助政策。",
    "电话回访，户主称近期收入有所恢复。",
    "入户回访，老人身体状况一般，子女每周探望。",
    "回访发现医疗支出仍较大，已提醒申请医疗救助。",
)
ALARMS = ("一键呼叫", "燃气泄漏报警", "久坐不动告警", "跌倒报警")

VISIT_FINDINGS = {
    "no_risk": ("户主本人", "家中已有子女回家照顾，收入稳定，暂无困难。"),
    "refer_assistance": (
        "户主及配偶",
        "家庭收入明显下降，医疗支出大，符合救助申请条件，已转救助。",
    ),
    "refer_service": ("户主本人", "房屋漏水严重，存在安全隐患，已转社区立案处理。"),
    "unreachable": ("", "多次敲门无人应答，电话未接通，邻居称近期外出。"),
}


@dataclass
class DemoMonitoringSummary:
    rules: int
    signals: int
    rounds: int
    open_alerts: int
    by_rule: dict[str, int]
    visits: int
    visited: int
    key_households: int
    overdue_follow_ups: int
    seconds: float = 0.0
    calls: list[str] = field(default_factory=list)


@dataclass
class _Staff:
    grid_worker: User
    community_worker: User
    street_officer: User
    civil_affairs: User
    grid: Place
    community: Place
    street: Place
    district: Place
    city: Place
    # Stand-ins per street and district (seed_assistance's): who starts the other rounds.
    street_users: dict[str, User]
    district_users: dict[str, User]


@dataclass
class _Home:
    id: int
    number: str
    path: str
    members: list[tuple[int, dt.date, str]] = field(default_factory=list)  # id, birth, relation
    wage: tuple[int, Decimal] | None = None  # the top current wage: (person id, amount)


def _chunks(ids: list[int], size: int = CHUNK) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _aware(day: dt.date, hour: int = 9, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _staff() -> _Staff:
    from .assistance import _staff as assistance_staff

    users = {u.username: u for u in User.objects.filter(username__in=[r.value for r in Role])}
    if len(users) < len(Role):  # `make demo` makes them first; the command alone, here
        demo_accounts_ensure(actor=None)
        users = {u.username: u for u in User.objects.filter(username__in=[r.value for r in Role])}
    # The stand-in street and district officers of seed_assistance (made if missing).
    stand_ins = assistance_staff()
    return _Staff(
        grid_worker=users[Role.GRID_WORKER],
        community_worker=users[Role.COMMUNITY_WORKER],
        street_officer=users[Role.STREET_OFFICER],
        civil_affairs=users[Role.CIVIL_AFFAIRS],
        grid=users[Role.GRID_WORKER].places.get(),
        community=stand_ins.anchor_community,
        street=stand_ins.anchor_street,
        district=stand_ins.anchor_district,
        city=stand_ins.city,
        street_users=stand_ins.street,
        district_users=stand_ins.district,
    )


def monitoring_generate(
    *, seed: int, progress: Callable[[str], None] | None = None
) -> DemoMonitoringSummary:
    """Generate the demo city's monitoring work, in one transaction (see the module)."""
    started = time.monotonic()
    with transaction.atomic():
        summary = _Generator(seed, progress or (lambda message: None)).run()
    summary.seconds = time.monotonic() - started
    return summary


class _Generator:
    def __init__(self, seed: int, progress: Callable[[str], None]) -> None:
        self.seed = seed
        self.rng = random.Random(f"linli-demo-monitoring-{seed}")
        self.progress = progress
        self.today = timezone.localdate()
        self.month_ago = self.today - dt.timedelta(days=30)
        self.started = time.monotonic()
        self.calls: list[str] = []
        self.id_numbers: dict[int, str] = {}

    def say(self, message: str) -> None:
        self.progress(f"{message} ({time.monotonic() - self.started:.1f} s)")

    def run(self) -> DemoMonitoringSummary:
        self.staff = _staff()
        created = rules.ensure_default_rules(min(rules.DEFAULT_START, self.today.replace(day=1)))
        self.calls.append("monitoring.rules.ensure_default_rules")
        homes = self._homes()
        signals = self._signals(homes)
        self.say(f"{signals:,} signals")
        self._medical_bill(homes)
        first = self._rounds(self.month_ago, self.staff.district_users, PlaceLevel.DISTRICT)
        self._backdate_rounds(first, self.month_ago)
        visits = self._visits()
        self.say(f"first round (a month ago), {visits:,} home visits")
        self._earner_dies(homes)
        self._rounds(self.today, self.staff.street_users, PlaceLevel.STREET)
        visits += self._visits()
        self.say("second round (today) and its visits")
        # The visits of the past month and of today, recorded now (by both rounds' visits).
        visited = self._visit_outcomes()
        self._dismiss_one()
        self.say(f"{visits:,} home visits, {visited} visited")
        key_count = self._key_households()
        overdue = keys.mark_overdue_follow_ups(self.today)["overdue"]
        self.calls.append("monitoring.keys.mark_overdue_follow_ups")
        self.say(f"{key_count} key households, {overdue} overdue")
        open_alerts = Alert.objects.filter(state__in=OPEN_ALERT_STATES)
        by_rule: dict[str, int] = {}
        for code in Alert.objects.values_list("rule_code", flat=True):
            by_rule[code] = by_rule.get(code, 0) + 1
        return DemoMonitoringSummary(
            rules=created,
            signals=signals,
            rounds=ScreeningRound.objects.filter(state=RoundState.DONE).count(),
            open_alerts=open_alerts.count(),
            by_rule=dict(sorted(by_rule.items())),
            visits=HomeVisit.objects.count(),
            visited=visited,
            key_households=key_count,
            overdue_follow_ups=overdue,
            calls=list(dict.fromkeys(self.calls)),
        )

    # --- the registry, read in bulk ---------------------------------------------------------

    def _homes(self) -> list[_Home]:
        """The pool of households signals are planted in: every household of the anchor
        community (the anchor grid's first), then a random sample of the rest of the city;
        their members and top current wages in a few queries."""
        staff = self.staff
        rows = list(
            Household.objects.filter(status=RecordStatus.ACTIVE)
            .order_by("number")
            .values_list("id", "number", "place_path")
        )
        grid = [r for r in rows if r[2].startswith(staff.grid.path)]
        community = [
            r
            for r in rows
            if r[2].startswith(staff.community.path) and not r[2].startswith(staff.grid.path)
        ]
        local = {r[0] for r in grid} | {r[0] for r in community}
        rest = [r for r in rows if r[0] not in local]
        sample = self.rng.sample(rest, min(len(rest), max(300, len(rows) // 4)))
        self.total = len(rows)
        self.grid_ids = [r[0] for r in grid]
        self.community_ids = [r[0] for r in community]
        homes = {r[0]: _Home(*r) for r in (*grid, *community, *sample)}
        ids = list(homes)
        for part in _chunks(ids):
            members = (
                Person.objects.filter(
                    household_id__in=part, status=RecordStatus.ACTIVE, died_on__isnull=True
                )
                .order_by("household_id", "id")
                .values_list("household_id", "id", "birth_date", "relation", "id_number")
            )
            for household_id, person_id, birth, relation, id_number in members:
                homes[household_id].members.append((person_id, birth, relation))
                self.id_numbers[person_id] = id_number
            wages = (
                FinancialRecord.objects.filter(
                    household_id__in=part,
                    voided_at__isnull=True,
                    category="income",
                    kind="wage",
                    valid_from__lte=self.today,
                    person__status=RecordStatus.ACTIVE,
                )
                .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=self.today))
                .order_by("household_id", "-amount", "person_id")
                .values_list("household_id", "person_id", "amount")
            )
            for household_id, person_id, amount in wages:
                if homes[household_id].wage is None:
                    homes[household_id].wage = (person_id, amount)
        return list(homes.values())

    # --- signals ------------------------------------------------------------------------------

    def _picks(self, homes: list[_Home], kind: str, count: int, fits) -> list[_Home]:
        """`count` households that fit: one in the anchor grid, one elsewhere in the anchor
        community, the rest from the city sample (random, deterministic)."""
        grid_ids, community_ids = set(self.grid_ids), set(self.community_ids)
        fitting = [h for h in homes if fits(h)]
        in_grid = [h for h in fitting if h.id in grid_ids]
        in_community = [h for h in fitting if h.id in community_ids]
        chosen: list[_Home] = []
        for group in (in_grid, in_community):
            if group and len(chosen) < count:
                chosen.append(self.rng.choice(group))
        picked = {h.id for h in chosen}
        others = [h for h in fitting if h.id not in picked and h.id not in grid_ids]
        chosen += self.rng.sample(others, min(len(others), count - len(chosen)))
        return chosen

    def _day(self, within: int, not_before: int = 2) -> dt.date:
        return self.today - dt.timedelta(days=self.rng.randint(not_before, within))

    def _signals(self, homes: list[_Home]) -> int:
        rng, today = self.rng, self.today
        rows: list[Signal] = []

        def count(kind: str) -> int:
            return max(MINIMUM[kind], self.total // PER_SIGNAL[kind])

        def add(home: _Home, kind: str, source: str, on: dt.date, n: int, **extra) -> None:
            rows.append(
                Signal(
                    household_id=home.id,
                    source=source,
                    kind=kind,
                    occurred_on=on,
                    key=extra.pop("key", None)
                    or signals.full_key(source, f"demo-{self.seed}:{kind}:{home.number}:{n}"),
                    place_path=home.path,
                    **extra,
                )
            )

        def external(
            kind: str, home: _Home, n: int, on: dt.date, amount, person, note: str, issuer=""
        ):
            """As a row of a bureau's file would be stored by the signal import (its key
            too: importing the same row later adds nothing)."""
            heads = [p for p, _b, relation in home.members if relation == "head"]
            person = person or (heads or [p for p, _b, _r in home.members] or [None])[0]
            number = self.id_numbers.get(person)
            add(
                home,
                kind,
                SignalSource.EXTERNAL,
                on,
                n,
                amount=amount,
                person_id=person,
                key=signals.row_key(number, kind, on, amount) if number else None,
                details={
                    "issued_by": issuer or rng.choice(ISSUERS[kind]),
                    "note": note,
                    "row": len(rows) + 2,
                },
            )

        # Hospital bills: most over the rule's 20,000 yuan, a third under it; one old one.
        for i, home in enumerate(
            self._picks(homes, SignalKind.HOSPITAL_BILL, count(SignalKind.HOSPITAL_BILL), _any)
        ):
            high = i % 3 != 2  # the first two (grid, community) over it
            amount = Decimal(
                rng.randrange(21_000, 160_000) if high else rng.randrange(2_000, 18_000)
            )
            patient = rng.choice(home.members)[0] if home.members else None
            external(
                SignalKind.HOSPITAL_BILL,
                home,
                1,
                self._day(80),
                amount,
                patient,
                "住院医疗费用自付部分",
            )
            if i == 0:  # the same household's bill of last year: out of the window
                external(
                    SignalKind.HOSPITAL_BILL,
                    home,
                    2,
                    today - dt.timedelta(days=rng.randint(200, 300)),
                    Decimal(rng.randrange(5_000, 30_000)),
                    patient,
                    "住院医疗费用自付部分",
                )
        # Utility arrears: most over the rule's 300 yuan.
        for i, home in enumerate(
            self._picks(homes, SignalKind.UTILITY_ARREARS, count(SignalKind.UTILITY_ARREARS), _any)
        ):
            amount = Decimal(rng.randrange(320, 3_200) if i % 3 != 2 else rng.randrange(60, 290))
            item, issuer = rng.choice(ARREARS)
            external(
                SignalKind.UTILITY_ARREARS,
                home,
                1,
                self._day(80),
                amount,
                None,
                f"{item}欠费{rng.randint(3, 9)}个月",
                issuer,
            )
        # School-fee waivers: a pupil (6 to 18) of the household.
        for home in self._picks(
            homes,
            SignalKind.SCHOOL_FEE_WAIVER,
            count(SignalKind.SCHOOL_FEE_WAIVER),
            lambda h: bool(self._pupils(h)),
        ):
            pupil = rng.choice(self._pupils(home))
            external(
                SignalKind.SCHOOL_FEE_WAIVER,
                home,
                1,
                self._day(300),
                Decimal(rng.randrange(8, 60) * 100),
                pupil,
                "区实验中学" if _age(self._birth(home, pupil), today) >= 12 else "区第一小学",
            )
        # Unemployment registrations: a wage earner of working age (the main earner, so the
        # earner-loss rule explains it too).
        for home in self._picks(
            homes,
            SignalKind.UNEMPLOYMENT,
            count(SignalKind.UNEMPLOYMENT),
            lambda h: h.wage is not None and 18 <= _age(self._birth(h, h.wage[0]), today) < 60,
        ):
            external(
                SignalKind.UNEMPLOYMENT, home, 1, self._day(150), None, home.wage[0], "失业登记"
            )
        # Repeated hardship cases (fed by the cases loop): two or three in 90 days; one more
        # household with a single one (no alert).
        hardship = self._picks(
            homes, SignalKind.HARDSHIP_CASE, count(SignalKind.HARDSHIP_CASE) + 1, _any
        )
        for i, home in enumerate(hardship):
            for n in range(1 if i == len(hardship) - 1 else rng.randint(2, 3)):
                add(
                    home,
                    SignalKind.HARDSHIP_CASE,
                    SignalSource.CASES,
                    self._day(85),
                    n + 1,
                    details={"summary": rng.choice(HARDSHIP)},
                )
        # Repeated alarms (fed by elderly care): three or four in 30 days, in a home with a
        # person aged 80 or more.
        for home in self._picks(
            homes,
            SignalKind.ALARM,
            count(SignalKind.ALARM),
            lambda h: any(_age(b, today) >= 80 for _p, b, _r in h.members),
        ):
            elder = next(p for p, b, _r in home.members if _age(b, today) >= 80)
            for n in range(rng.randint(3, 4)):
                add(
                    home,
                    SignalKind.ALARM,
                    SignalSource.ELDERCARE,
                    self._day(28, 1),
                    n + 1,
                    person_id=elder,
                    details={"alarm": rng.choice(ALARMS)},
                )
        Signal.objects.bulk_create(rows, batch_size=1000)
        self.calls.append(f"Signal.objects.bulk_create ({len(rows)} rows)")
        self.signal_rows = rows
        return len(rows)

    def _pupils(self, home: _Home) -> list[int]:
        return [p for p, b, _r in home.members if 6 <= _age(b, self.today) <= 18]

    @staticmethod
    def _birth(home: _Home, person_id: int) -> dt.date:
        return next(b for p, b, _r in home.members if p == person_id)

    # --- the registry: a large medical bill, a death -----------------------------------------

    def _medical_bill(self, homes: list[_Home]) -> None:
        """A household of the anchor grid with a large hospital bill gets the bill in the
        registry as medical spending over its year's income (the expenditure rule's case)."""
        from linli.assistance.models import Benefit

        bills = [
            s
            for s in self.signal_rows
            if s.kind == SignalKind.HOSPITAL_BILL and s.amount and s.amount > 20_000
        ]
        receiving = set(
            Benefit.objects.filter(
                program="rigid_expenditure", status__in=screening.RUNNING_BENEFIT
            ).values_list("household_id", flat=True)
        )
        by_id = {h.id: h for h in homes}
        bill = next(
            (s for s in bills if s.household_id not in receiving and by_id[s.household_id].members),
            None,
        )
        if bill is None:
            return
        home = by_id[bill.household_id]
        income = FinancialRecord.objects.filter(
            household_id=home.id,
            voided_at__isnull=True,
            category="income",
            valid_from__lte=self.today,
        ).filter(Q(valid_to__isnull=True) | Q(valid_to__gte=self.today)).aggregate(
            total=Sum("amount")
        )["total"] or Decimal(0)
        amount = max(bill.amount, (income * 12 + 5_000).quantize(Decimal("1")))
        patient = bill.person_id or home.members[0][0]
        FinancialRecord.objects.create(
            person_id=patient,
            category="expenditure",
            kind="medical",
            amount=amount,
            valid_from=bill.occurred_on,
            valid_to=bill.occurred_on,
            note="住院治疗自付费用（医保结算单）",
        )
        self.calls.append("FinancialRecord.objects.create (a medical bill)")

    def _earner_dies(self, homes: list[_Home]) -> None:
        """The top wage earner of an anchor-grid household of two or more dies a few weeks ago,
        recorded by the grid worker through the registry's service."""
        from linli.people.services import person_record_death

        grid_ids = set(self.grid_ids)
        candidates = [
            h
            for h in homes
            if h.wage is not None
            and len(h.members) >= 2
            and 25 <= _age(self._birth(h, h.wage[0]), self.today) < 60
        ]
        candidates.sort(
            key=lambda h: (h.id not in grid_ids, h.id not in self.community_ids, h.number)
        )
        if not candidates:
            return
        home = candidates[0]
        earner = home.wage[0]
        died_on = self.today - dt.timedelta(days=self.rng.randint(10, 25))
        actor = self.staff.grid_worker if home.id in grid_ids else self.staff.community_worker
        if home.id not in grid_ids and home.id not in self.community_ids:
            actor = self.staff.street_users[_street_of(home.path)]
        person_record_death(actor=actor, person_id=earner, died_on=died_on)
        FinancialRecord.objects.filter(
            person_id=earner, category="income", voided_at__isnull=True, valid_to__isnull=True
        ).update(valid_to=died_on)
        self.calls.append("people.services.person_record_death")
        self.earner_home = home

    # --- screening rounds ---------------------------------------------------------------------

    def _rounds(self, as_of: dt.date, users: dict[str, User], level: int) -> list[int]:
        """A round of each place of the level (district or street), started by its officer and
        run in this process (screening.screen_now)."""
        done = []
        for place in Place.objects.filter(level=level).order_by("path"):
            screening_round = screening.screen_now(
                place=place, as_of=as_of, actor=users.get(place.path)
            )
            if screening_round.state != RoundState.DONE:
                raise RuntimeError(f"screening round of {place} failed: {screening_round.failure}")
            done.append(screening_round.pk)
        self.calls.append(f"monitoring.screening.screen_now (per {PlaceLevel(level).name.lower()})")
        return done

    def _backdate_rounds(self, round_ids: list[int], day: dt.date) -> None:
        at = _aware(day, 10)
        ScreeningRound.objects.filter(pk__in=round_ids).update(
            created_at=at,
            heartbeat_at=at + dt.timedelta(minutes=3),
            finished_at=at + dt.timedelta(minutes=3),
        )
        Alert.objects.filter(screening_round_id__in=round_ids).update(
            opened_at=at + dt.timedelta(minutes=3)
        )

    # --- home visits --------------------------------------------------------------------------

    def _visits(self) -> int:
        """Home visits for every open alert without one, by the visits area's own service
        (`visits.visits_create_for_open_alerts`: the grid of the household, its grid worker,
        due by severity). The grid worker's visits of alerts raised before today are dated back
        to the alert, with their deadline."""
        before = HomeVisit.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        home_visits.visits_create_for_open_alerts()
        self.calls.append("monitoring.visits.visits_create_for_open_alerts")
        now = timezone.now()
        # The grid worker's visits of last month's alerts were made last month (elsewhere the
        # city's visits start today: its other grids have no grid worker account).
        new = list(
            HomeVisit.objects.filter(
                pk__gt=before,
                alert__opened_at__lt=now - dt.timedelta(days=1),
                place_path__startswith=self.staff.grid.path,
            )
            .select_related("alert")
            .only("pk", "due_at", "created_at", "alert__opened_at")
        )
        for visit in new:
            shift = visit.created_at - visit.alert.opened_at
            visit.created_at, visit.due_at = visit.alert.opened_at, visit.due_at - shift
        HomeVisit.objects.bulk_update(new, ["created_at", "due_at"], batch_size=1000)
        return HomeVisit.objects.filter(pk__gt=before).count()

    def _visit_outcomes(self) -> int:
        """The grid worker's visits of the anchor grid end once in each outcome: no risk,
        referred to assistance, referred to a case, could not reach (rescheduled) and, after the
        last try, escalated to the community."""
        staff = self.staff
        mine = HomeVisit.objects.filter(
            state=VisitState.PENDING, assignee=staff.grid_worker
        ).select_related("alert", "alert__rule", "household")
        # Last month's first (visited over the month), then today's.
        visits = list(mine.order_by("created_at", "alert__rule_code", "household__number"))
        taken: set[int] = set()
        # A referral opens an application: not where one of the program is already open.
        from linli.assistance.models import Application

        applying = set(
            Application.objects.filter(household_id__in=[v.household_id for v in visits])
            .exclude(state__in=("approved", "rejected", "withdrawn"))
            .values_list("household_id", flat=True)
        )

        def take(*codes: str, program: bool = False) -> HomeVisit | None:
            for code in codes:
                for visit in visits:
                    if (
                        visit.pk not in taken
                        and visit.alert.rule_code == code
                        and visit.household_id
                        not in {v.household_id for v in visits if v.pk in taken}
                        and (
                            not program
                            or (visit.alert.rule.program and visit.household_id not in applying)
                        )
                    ):
                        taken.add(visit.pk)
                        return visit
            return None

        plan = [
            (
                take("marginal-income", "expenditure-share", "hospital-bill", program=True),
                "refer_assistance",
            ),
            (take("disabled-without-care", "elderly-alone", "repeated-alarms"), "refer_service"),
            (take("utility-arrears", "school-fee-waiver", "unemployment"), "no_risk"),
            (take("repeated-hardship-cases", "elderly-alone", "utility-arrears"), "escalated"),
            (
                take("school-fee-waiver", "unemployment", "elderly-alone", "disabled-without-care"),
                "unreachable",
            ),
        ]
        # The rest of last month's visits were made too, but for the two left overdue.
        old = [v for v in visits if v.pk not in taken and v.created_at.date() < self.today]
        for visit in old[2:]:
            taken.add(visit.pk)
            plan.append((visit, "no_risk"))
        self.followed: list[tuple[int, str]] = []
        visited = 0
        for visit, outcome in plan:
            if visit is None:
                continue
            visited += 1
            if outcome == "escalated":
                for attempt in range(home_visits.tries()):
                    self._record(visit, "unreachable", days_ago=24 - 7 * attempt, attempt=attempt)
                self.followed.append((visit.household_id, "多次走访未遇，已转社区跟进"))
            else:
                days = 1 if outcome == "unreachable" else self.rng.randint(3, 20)
                self._record(visit, outcome, days_ago=days)
            if outcome == "refer_assistance":
                self.followed.append((visit.household_id, "已转介社会救助，持续跟踪申请结果"))
        return visited

    def _record(self, visit: HomeVisit, outcome: str, *, days_ago: int, attempt: int = 0) -> None:
        """One visit record, by the visits area's service (a referral to a case opens one in
        the 房屋安全 category; a referral to assistance, in the rule's program)."""
        met, findings = VISIT_FINDINGS[outcome]
        visited_at = _aware(self.today - dt.timedelta(days=days_ago), 9 + attempt * 2, 30)
        # Never before the visit was made (a visit of today's alert is visited today).
        visited_at = min(max(visited_at, visit.created_at + dt.timedelta(hours=1)), timezone.now())
        key = f"demo-{self.seed}-visit-{visit.household.number}-{visit.alert.rule_code}-{attempt}"
        extra = {"category_code": SERVICE_CATEGORY} if outcome == "refer_service" else {}
        home_visits.visit_record(
            actor=self.staff.grid_worker,
            visit_id=visit.pk,
            idempotency_key=key[:64],
            visited_at=visited_at,
            met=met,
            findings=findings,
            outcome=outcome,
            **extra,
        )
        self.calls.append("monitoring.visits.visit_record")

    def _dismiss_one(self) -> None:
        """The community worker dismisses one alert as a false alarm (outside the grid
        worker's grid, so the grid's visits stay)."""
        from linli.monitoring.alerts import alert_dismiss

        staff = self.staff
        alert = (
            Alert.objects.filter(
                state__in=OPEN_ALERT_STATES,
                place_path__startswith=staff.community.path,
                rule_code__in=("utility-arrears", "school-fee-waiver", "elderly-alone"),
            )
            .exclude(place_path__startswith=staff.grid.path)
            .order_by("rule_code", "household__number")
            .first()
        )
        if alert is None:
            return
        reason = {
            "utility-arrears": "欠费系银行代扣失败，已补缴，家庭无困难。",
            "school-fee-waiver": "学费减免系学校统一政策，家庭经济正常。",
        }.get(alert.rule_code, "子女同住照料，经社区核实无需走访。")
        alert_dismiss(actor=staff.community_worker, alert_id=alert.pk, reason=reason)
        self.calls.append("monitoring.alerts.alert_dismiss")

    # --- key households -----------------------------------------------------------------------

    def _key_households(self) -> int:
        """Key households: in the anchor community the earner's death, the households referred
        or unreachable, a severely disabled member without care and an 80+ person of the grid
        (its follow-up overdue); elsewhere some with high or severe alerts, one released."""
        staff = self.staff
        community, grid = staff.community.path, staff.grid.path
        open_alerts = Alert.objects.filter(state__in=("open", "visiting", "referred"))
        wanted: list[tuple[Alert, str]] = []
        seen: set[int] = set()

        def want(alert: Alert | None, reason: str) -> None:
            if alert is not None and alert.household_id not in seen:
                seen.add(alert.household_id)
                wanted.append((alert, reason))

        earner = getattr(self, "earner_home", None)
        if earner is not None:
            want(
                open_alerts.filter(household_id=earner.id, rule_code="earner-loss").first(),
                "家庭主要劳动力去世，收入骤降，需持续关注",
            )
        for household_id, reason in getattr(self, "followed", []):
            want(
                Alert.objects.filter(household_id=household_id).order_by("-severity", "id").first(),
                reason,
            )
        local = open_alerts.filter(place_path__startswith=community).order_by(
            "household__number", "rule_code"
        )
        want(
            local.filter(rule_code="disabled-without-care").exclude(household_id__in=seen).first(),
            "重度残疾人无人照料，每月入户探访",
        )
        overdue = (
            local.filter(rule_code="elderly-alone", place_path__startswith=grid)
            .exclude(household_id__in=seen)
            .first()
        ) or local.filter(place_path__startswith=grid).exclude(household_id__in=seen).first()
        want(overdue, "高龄独居老人，每月入户探访")
        overdue_household = overdue.household_id if overdue is not None else None
        others = list(
            open_alerts.filter(severity__gte=3)
            .exclude(place_path__startswith=community)
            .order_by("household__number", "rule_code")[: max(4, self.total // 100)]
        )
        for alert in self.rng.sample(others, min(len(others), max(2, self.total // 300))):
            want(alert, f"预警核实后纳入重点户：{rules.rule_name(alert.rule)}")

        created = []
        for alert, reason in wanted:
            actor = self._manager(alert.place_path)
            key = keys.key_household_add(
                actor=actor,
                household_id=alert.household_id,
                reason=reason,
                follow_up_months=1,
                alert_id=alert.pk,
            )
            created.append((key, alert.household_id == overdue_household))
        self.calls.append(f"monitoring.keys.key_household_add ({len(created)})")
        follow_ups = 0
        for key, late in created:
            since = self.today - dt.timedelta(days=45 if late else self.rng.randint(35, 150))
            KeyHousehold.objects.filter(pk=key.pk).update(
                since=since, next_follow_up_on=keys.add_months(since, key.follow_up_months)
            )
            if late:
                continue
            cursor = since
            while (due := keys.add_months(cursor, key.follow_up_months)) < self.today:
                done = max(
                    cursor + dt.timedelta(days=1), due - dt.timedelta(days=self.rng.randint(0, 3))
                )
                keys.follow_up_record(
                    actor=self._follower(key.place_path),
                    key_household_id=key.pk,
                    done_on=done,
                    note=self.rng.choice(FOLLOW_UPS),
                    idempotency_key=f"demo-{self.seed}-{key.household_id}-{done:%Y%m%d}",
                )
                follow_ups += 1
                cursor = done
        self.calls.append(f"monitoring.keys.follow_up_record ({follow_ups})")
        released = [k for k, late in created if not k.place_path.startswith(community)]
        if released:
            key = released[-1]
            keys.key_household_release(
                actor=self._manager(key.place_path),
                key_household_id=key.pk,
                reason="家庭成员重新就业，收入恢复，经评议解除重点户",
            )
            self.calls.append("monitoring.keys.key_household_release")
        return len(created)

    def _manager(self, path: str) -> User:
        """Who adds and releases a key household there: the community worker in the anchor
        community, the street's officer elsewhere."""
        if path.startswith(self.staff.community.path):
            return self.staff.community_worker
        return self.staff.street_users[_street_of(path)]

    def _follower(self, path: str) -> User:
        if path.startswith(self.staff.grid.path):
            return self.staff.grid_worker
        return self._manager(path)


def _any(home: _Home) -> bool:
    return True


def _street_of(path: str) -> str:
    from linli.people.models import street_path_of

    return street_path_of(path)
