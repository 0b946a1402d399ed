"""Social assistance in the demo city (`linli seed_assistance`, after `linli seed`): policies,
recipients, applications at every stage, reviews, payment cycles, supervision anomalies and a
finished policy simulation, so every assistance page has real work on the day it is opened.

The registry already holds the circumstances (demo/circumstances.py): about 2.5 % of persons in
households poor enough for the minimum living guarantee (低保), some persons qualifying for
extreme-poverty support (特困), some marginal households. This module finds them the way the
platform does — the set-based household figures of assistance.simulations over every household,
then the eligibility engine on the few thousand candidates, its snapshots read in bulk — and
turns the engine's answers into benefits, applications and payments. So every amount is the
engine's, a benefit's trace is the one its caseworker would read, and the simulation and the
payment cycles see what the pages see.

Dates run back from today (timezone.localdate()), so the demo always looks current: benefits
started over the last two years, applications submitted in the last weeks (some overdue, some in
public notice now), payment cycles for the last three months. Deterministic for a seed and a day.
Nothing runs per household against the database: reads and writes go by chunks and bulk inserts;
the payment cycles by the payments area's own set-based generation.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from linli.assistance import engine, payments, policies
from linli.assistance.applications import overdue_mark
from linli.assistance.benefits import add_months, month_start, months_between
from linli.assistance.engine import (
    HouseholdSnapshot,
)
from linli.assistance.models import (
    Application,
    ApplicationChannel,
    ApplicationState,
    ApprovalTier,
    Benefit,
    BenefitStatus,
    CreditPenalty,
    CycleState,
    InvestigationVisit,
    Payment,
    PaymentCycle,
    PaymentStatus,
    PolicyVersion,
    Program,
    Recovery,
    Review,
    ReviewKind,
    ReviewOutcome,
    ReviewState,
    Simulation,
    StaffRelative,
    TemporaryKind,
)
from linli.assistance.simulations import household_figures, simulation_run
from linli.assistance.snapshot import household_snapshots
from linli.assistance.supervision import supervision_run_daily
from linli.assistance.transitions import PATHS
from linli.core.audit import record
from linli.core.models import AuditAction, User
from linli.core.roles import Role
from linli.core.scoping import PATH_SEPARATOR
from linli.core.workdays import due_date
from linli.people.models import (
    BankAccount,
    FinancialRecord,
    Household,
    Person,
    RecordStatus,
    SeriousIllness,
    street_path_of,
)
from linli.places.models import Place, PlaceLevel

from .accounts import demo_accounts_ensure

S = ApplicationState
CHUNK = 1000
FEN = Decimal("0.01")
# Households per application in each state of each program (at least one of each).
HOUSEHOLDS_PER_APPLICATION = 5000
ASSESSED_PROGRAMS = (
    Program.MINIMUM_LIVING,
    Program.EXTREME_POVERTY,
    Program.MARGINAL,
    Program.RIGID_EXPENDITURE,
)
# Open states in the order they are filled, the anchor street's households first: what the
# demo accounts must find waiting comes first (investigations for the community worker,
# acceptances and decisions for the street, the district's decisions).
OPEN_STATES = (
    S.ACCEPTED, S.SUBMITTED, S.AWAITING_DECISION, S.SAMPLED, S.IN_NOTICE, S.INVESTIGATED,
    S.WITHDRAWN,
)  # fmt: skip
BANKS = (
    ("中国农业银行", "622848"),
    ("中国工商银行", "622202"),
    ("中国邮政储蓄银行", "621799"),
    ("中国建设银行", "621700"),
    ("农村商业银行", "623078"),
)
VISITORS = ("张丽、王强", "李娜、刘洋", "陈静、赵磊", "杨帆、周敏")
FINDINGS = (
    "家中陈设简陋，无贵重物品；收入情况与申报一致。",
    "申请人长期患病，家庭主要劳动力收入微薄，情况属实。",
    "邻里走访证实家庭生活困难，未发现隐瞒收入或财产。",
)
REASONS = {
    Program.MINIMUM_LIVING: "家庭收入低于当地低保标准，生活困难，申请最低生活保障。",
    Program.EXTREME_POVERTY: "年老体弱，无劳动能力，无生活来源，无法定赡养人，申请特困供养。",
    Program.MARGINAL: "家庭收入略高于低保标准，生活较为困难，申请低保边缘家庭认定。",
    Program.RIGID_EXPENDITURE: "家庭成员患重病，医疗支出巨大，申请支出型困难家庭认定。",
    Program.TEMPORARY: "突发疾病住院，自付费用较高，家庭一时生活困难。",
}
FAILURES = ("账户已销户", "户名与账号不符", "账户冻结")
REJECTIONS = {
    Program.MINIMUM_LIVING: "经核算，家庭月人均收入高于当地低保标准，不符合保障条件。",
    Program.EXTREME_POVERTY: "申请人有法定赡养义务人且具备赡养能力，不符合特困供养条件。",
    Program.MARGINAL: "经核算，家庭月人均收入高于低保边缘家庭认定标准。",
    Program.RIGID_EXPENDITURE: "家庭刚性支出未超过家庭总收入的规定比例。",
    Program.TEMPORARY: "经核实，该困难已通过医疗救助解决，不再给予临时救助。",
}
SUSPENSIONS = ("外出务工，暂停发放待核实", "连续三个月未领取，暂停待核实")


@dataclass
class DemoAssistanceSummary:
    benefits: int
    persons_on_minimum_living: int
    extreme_poverty: int
    applications: int
    cycles: int
    payments: int
    seconds: float


@dataclass
class _Staff:
    """Who does the work: the demo accounts in their places, a stand-in per other street and
    district (their password unusable: nobody logs in as them)."""

    street: dict[str, User]  # street path -> preparer, decides street-tier applications
    district: dict[str, User]  # district path -> approver, decides district-tier ones
    community_worker: User
    grid_worker: User
    civil_affairs: User
    anchor_community: Place
    anchor_street: Place
    anchor_district: Place
    city: Place

    def for_street(self, path: str) -> User:
        return self.street[_street_of(path)]

    def for_district(self, path: str) -> User:
        return self.district[_district_of(path)]


@dataclass
class _Case:
    """A candidate household with the engine's answer."""

    household: Household
    snapshot: HouseholdSnapshot
    version: PolicyVersion
    assessment: engine.Assessment
    head_id: int
    used: bool = False
    # Per member: age, work capacity, any wage or business income (for new jobs, unstable).
    notes: dict[str, Any] = field(default_factory=dict)

    def result(self, program: str) -> engine.ProgramResult:
        return self.assessment.results[program]

    @property
    def path(self) -> str:
        return self.household.place_path


def _street_of(path: str) -> str:
    return street_path_of(path)


def _district_of(path: str) -> str:
    return PATH_SEPARATOR.join(path.split(PATH_SEPARATOR)[: PlaceLevel.DISTRICT]) + PATH_SEPARATOR


def _aware(day: dt.date, rng: random.Random) -> dt.datetime:
    naive = dt.datetime.combine(day, dt.time(9)) + dt.timedelta(minutes=rng.randrange(7 * 60))
    return timezone.make_aware(naive)


# --- people who do the work -------------------------------------------------------------------


def _staff() -> _Staff:
    users = {u.username: u for u in User.objects.filter(username__in=[r.value for r in Role])}
    if len(users) < len(Role):  # `make demo` makes them first; the command alone, here
        demo_accounts_ensure(actor=None)
        users = {u.username: u for u in User.objects.filter(username__in=[r.value for r in Role])}
    officer = users[Role.STREET_OFFICER]
    civil = users[Role.CIVIL_AFFAIRS]
    anchor_street = officer.places.get()
    anchor_district = civil.places.get()
    community = users[Role.COMMUNITY_WORKER].places.get()
    streets = list(Place.objects.filter(level=PlaceLevel.STREET).order_by("path"))
    districts = list(Place.objects.filter(level=PlaceLevel.DISTRICT).order_by("path"))
    street_users = {anchor_street.path: officer}
    district_users = {anchor_district.path: civil}
    wanted = [(p, Role.STREET_OFFICER, "民政助理") for p in streets if p.path not in street_users]
    wanted += [(p, Role.CIVIL_AFFAIRS, "民政局") for p in districts if p.path not in district_users]
    existing = {
        u.username: u
        for u in User.objects.filter(username__in=[f"mz-{p.code}" for p, *_ in wanted])
    }
    unusable = make_password(None)
    for place, role, title in wanted:
        user = existing.get(f"mz-{place.code}")
        if user is None:
            user = User.objects.create(
                username=f"mz-{place.code}",
                role=role,
                display_name=f"{place.name}{title}",
                password=unusable,
            )
            user.places.set([place])
        (street_users if role == Role.STREET_OFFICER else district_users)[place.path] = user
    return _Staff(
        street=street_users,
        district=district_users,
        community_worker=users[Role.COMMUNITY_WORKER],
        grid_worker=users[Role.GRID_WORKER],
        civil_affairs=civil,
        anchor_community=community,
        anchor_street=anchor_street,
        anchor_district=anchor_district,
        city=users[Role.AUDITOR].places.get(),
    )


def _policy_versions(today: dt.date) -> dict[tuple[str, str], PolicyVersion]:
    """The demo policy sets of every district, and the version in force today of each."""
    out = {}
    for district in Place.objects.filter(level=PlaceLevel.DISTRICT).order_by("path"):
        for policy_set in policies.ensure_demo_policies(district):
            out[(district.path, policy_set.registration)] = policies.version_in(policy_set, today)
    return out


# --- the registry, read in bulk --------------------------------------------------------------


def _chunks(ids: list[int], size: int = CHUNK) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _snapshots(households: dict[int, Household], on: dt.date) -> dict[int, HouseholdSnapshot]:
    """snapshot.household_snapshots in chunks of households."""
    out: dict[int, HouseholdSnapshot] = {}
    for ids in _chunks(sorted(households)):
        out.update(household_snapshots([households[i] for i in ids], on))
    return out


# --- the service -----------------------------------------------------------------------------


def assistance_generate(
    *, seed: int, progress: Callable[[str], None] | None = None
) -> DemoAssistanceSummary:
    """Generate the demo city's assistance caseload, in one transaction (see the module)."""
    started = time.monotonic()
    progress = progress or (lambda message: None)
    with transaction.atomic():
        summary = _Generator(seed, progress).run()
    summary.seconds = time.monotonic() - started
    return summary


class _Generator:
    def __init__(self, seed: int, progress: Callable[[str], None]) -> None:
        self.rng = random.Random(f"linli-demo-assistance-{seed}")
        self.progress = progress
        self.today = timezone.localdate()
        self.month = month_start(self.today)
        self.started = time.monotonic()
        self.applications: list[Application] = []
        # Per application (same index): the benefit to start, and the visit to record.
        self.benefit_of: dict[int, Benefit] = {}
        self.visits: list[tuple[int, dt.date]] = []
        self.reviews: list[Review] = []
        self.failed_credit: tuple[Application, Benefit, dt.date] | None = None
        self.per_state = max(1, Household.objects.count() // HOUSEHOLDS_PER_APPLICATION)

    def say(self, message: str) -> None:
        self.progress(f"{message} ({time.monotonic() - self.started:.1f} s)")

    def run(self) -> DemoAssistanceSummary:
        self.staff = _staff()
        self.versions = _policy_versions(self.today)
        self.say(f"policies: {len(self.versions)} versions in force")
        figures, others = self._figures()
        self._recent_registry(figures, others)
        cases = self._assess(figures, others)
        self.say(f"assessed {len(cases):,} candidate households with the engine")
        self._plan(cases)
        benefits = self._write_applications_and_benefits()
        self._bank_accounts()
        self._anomalies()
        cycles, payment_count = self._cycles()
        # The daily supervision run, as the periodic job would have made it this morning: it
        # finds the anomalies planted for it (see _anomalies).
        supervision_run_daily()
        self._simulation()
        overdue_mark(today=self.today)
        summary = DemoAssistanceSummary(
            benefits=len(benefits),
            persons_on_minimum_living=sum(
                b.persons_covered
                for b in benefits
                if b.program == Program.MINIMUM_LIVING and b.status != BenefitStatus.STOPPED
            ),
            extreme_poverty=sum(
                1
                for b in benefits
                if b.program == Program.EXTREME_POVERTY and b.status != BenefitStatus.STOPPED
            ),
            applications=len(self.applications),
            cycles=cycles,
            payments=payment_count,
            seconds=0.0,
        )
        record(
            actor=None,
            action=AuditAction.IMPORT,
            instance=self.staff.city,
            changes={
                "generator": "linli seed_assistance",
                "benefits": summary.benefits,
                "applications": summary.applications,
                "payment_cycles": summary.cycles,
                "payments": summary.payments,
            },
            place_path=self.staff.city.path,
            label=self.staff.city.name,
        )
        return summary

    # --- who qualifies ------------------------------------------------------------------------

    def _figures(self):
        """Every household's figures, set-based per district and registration: the candidates
        (within the marginal band), and the others' (id, per capita) for the rest."""
        candidates: dict[int, Any] = {}
        others: list[tuple[int, Decimal, Decimal]] = []  # id, per capita, standard
        for (district_path, registration), version in self.versions.items():
            scope = Household.objects.filter(
                place_path__startswith=district_path, registration=registration, status="active"
            )
            standard = version.params.standard
            for f in household_figures(scope, version.params, self.today):
                if f.eligible or f.marginal:
                    candidates[f.household_id] = f
                else:
                    others.append((f.household_id, f.per_capita, standard))
        self.say(f"figures of {len(candidates) + len(others):,} households")
        return candidates, others

    def _recent_registry(self, candidates: dict[int, Any], others: list) -> None:
        """What must look recent: this year's medical bills of a few households with a serious
        illness (支出型 hardship), and new jobs in a few 低保 households (新增就业, exempt)."""
        rng = self.rng
        total = len(candidates) + len(others)
        ill = set(
            SeriousIllness.objects.filter(voided_at__isnull=True, ended_on__isnull=True)
            .values_list("person__household_id", "person_id")
            .order_by("person_id")
        )
        ill_member = {}
        for hid, pid in sorted(ill):
            ill_member.setdefault(hid, pid)
        reference = min(v.params.reference_disposable_income for v in self.versions.values())
        pool = sorted(
            (hid, pc)
            for hid, pc, standard in others
            if hid in ill_member and Decimal("1.55") * standard < pc < reference
        )
        # Assets within every limit (no car, no second flat, little savings), or no program.
        wealthy = set(
            FinancialRecord.objects.filter(
                Q(kind__in=("vehicle", "extra_housing")) | Q(kind="securities")
                | Q(kind="savings", amount__gt=min(
                    v.params.savings_per_person_limit for v in self.versions.values()
                )),
                household_id__in=[hid for hid, _pc in pool],
                category="asset",
                voided_at__isnull=True,
            ).values_list("household_id", flat=True)
        )  # fmt: skip
        pool = [(hid, pc) for hid, pc in pool if hid not in wealthy]
        chosen = rng.sample(pool, min(len(pool), max(10, total // 250)))
        self.expenditure_households = {hid for hid, _pc in chosen}
        first_month = add_months(self.month, -10)
        last_day = self.month - dt.timedelta(days=1)
        persons = Person.objects.in_bulk([ill_member[hid] for hid, _pc in chosen])
        sizes = dict(
            Person.objects.filter(household_id__in=[hid for hid, _pc in chosen], status="active")
            .values_list("household_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        rows = []
        for hid, per_capita in chosen:
            person = persons[ill_member[hid]]
            members = sizes[hid]
            spent = (per_capita * members * 12 * Decimal(rng.uniform(0.8, 0.95))).quantize(FEN)
            rows.append(
                FinancialRecord(
                    person=person,
                    household_id=hid,
                    category="expenditure",
                    kind="medical",
                    amount=spent,
                    valid_from=first_month,
                    valid_to=last_day,
                    note="住院医疗费用（个人自付部分）",
                    place_path=person.place_path,
                )
            )
        # New jobs: a working-age member of a few eligible households took one lately.
        eligible = sorted(hid for hid, f in candidates.items() if f.eligible)
        workers = (
            Person.objects.filter(
                household_id__in=eligible,
                status="active",
                work_capacity__in=("full", "partial"),
                birth_date__lte=self.today.replace(year=self.today.year - 20),
            )
            .order_by("household_id", "id")
            .values_list("household_id", "id", "place_path")
        )
        first_worker = {}
        for hid, pid, path in workers:
            first_worker.setdefault(hid, (pid, path))
        picks = sorted(first_worker)
        # Within every policy's exemption cap: the benefits stay as they are for now.
        cap = min(
            v.params.standard * v.params.new_employment_exempt_cap_multiple
            for v in self.versions.values()
        )
        for hid in rng.sample(picks, min(len(picks), max(2, len(eligible) // 40))):
            pid, path = first_worker[hid]
            rows.append(
                FinancialRecord(
                    person_id=pid,
                    household_id=hid,
                    category="income",
                    kind="wage",
                    amount=(cap * Decimal(rng.randint(50, 95)) / 100).quantize(Decimal("10")),
                    valid_from=add_months(self.month, -rng.randint(1, 4)),
                    new_employment=True,
                    note="新就业，收入豁免期内",
                    place_path=path,
                )
            )
        FinancialRecord.objects.bulk_create(rows, batch_size=CHUNK)

    def _version_of_path(self, path: str, registration: str) -> PolicyVersion:
        return self.versions[(_district_of(path), registration)]

    def _assess(self, candidates: dict[int, Any], others: list) -> list[_Case]:
        """The engine on each candidate, plus a few households clear of every program (their
        applications are the rejected ones)."""
        rng = self.rng
        spare = sorted(hid for hid, _pc, _s in others if hid not in self.expenditure_households)
        clear = rng.sample(spare, min(len(spare), 4 * self.per_state + 4))
        ids = sorted({*candidates, *self.expenditure_households, *clear})
        households = Household.objects.in_bulk(ids)
        heads = dict(
            Person.objects.filter(household_id__in=ids, relation="head", status="active")
            .order_by("id")
            .values_list("household_id", "id")
        )
        cases = []
        for chunk in _chunks(ids):
            snapshots = _snapshots({hid: households[hid] for hid in chunk}, self.today)
            for hid in chunk:
                household = households[hid]
                if hid not in heads:
                    continue
                version = self._version_of_path(household.place_path, household.registration)
                snapshot = snapshots[hid]
                assessment = engine.assess(
                    snapshot, version.params, self.today, programs=ASSESSED_PROGRAMS
                )
                case = _Case(household, snapshot, version, assessment, heads[hid])
                case.notes["clear"] = hid in clear
                case.notes["earns"] = any(
                    i.kind in ("wage", "business") for m in snapshot.members for i in m.incomes
                )
                cases.append(case)
        return cases

    # --- who gets what ------------------------------------------------------------------------

    def _ordered(self, cases: list[_Case]) -> list[_Case]:
        """The anchor community's households first, then the anchor street's, then the rest;
        shuffled within each."""
        community, street = self.staff.anchor_community.path, self.staff.anchor_street.path
        keyed = [
            (
                0 if c.path.startswith(community) else 1 if c.path.startswith(street) else 2,
                self.rng.random(),
                c.household.pk,
                c,
            )
            for c in cases
        ]
        return [c for *_key, c in sorted(keyed, key=lambda k: k[:3])]

    def _plan(self, cases: list[_Case]) -> None:
        rng = self.rng
        per_state = self.per_state
        extreme = self._ordered([c for c in cases if c.result(Program.EXTREME_POVERTY).eligible])

        def covers(case: _Case, coverage: str) -> bool:
            result = case.result(Program.MINIMUM_LIVING)
            return result.eligible and result.classification == coverage

        minimum = self._ordered(
            [
                c
                for c in cases
                if covers(c, engine.Coverage.HOUSEHOLD)
                and not c.result(Program.EXTREME_POVERTY).eligible
            ]
        )
        marginal = self._ordered([c for c in cases if c.result(Program.MARGINAL).eligible])
        # 单人保: members of marginal households covered alone.
        single = self._ordered(
            [
                c
                for c in cases
                if covers(c, engine.Coverage.SINGLE_PERSON)
                and not c.result(Program.EXTREME_POVERTY).eligible
            ]
        )
        rigid = self._ordered(
            [
                c
                for c in cases
                if c.result(Program.RIGID_EXPENDITURE).eligible
                and not c.result(Program.MINIMUM_LIVING).eligible
                and not c.result(Program.EXTREME_POVERTY).eligible
            ]
        )
        clear = self._ordered([c for c in cases if c.notes["clear"]])

        def take(pool: list[_Case], n: int) -> list[_Case]:
            out = []
            for case in pool:
                if len(out) == n:
                    break
                if not case.used:
                    case.used = True
                    out.append(case)
            return out

        # Open applications and withdrawals, then rejections, for each program.
        for program, pool in (
            (Program.EXTREME_POVERTY, extreme),
            (Program.MINIMUM_LIVING, minimum),
            (Program.MARGINAL, marginal),
            (Program.RIGID_EXPENDITURE, rigid),
        ):
            path = PATHS[program]
            for state in OPEN_STATES:
                if state == S.SAMPLED and not path.sampled:
                    continue
                for case in take(pool, per_state):
                    self._application(case, program, state)
        # A credit pledge awaiting the district's decision (先办后核), accepted straight away.
        for case in take(minimum, 1):
            self._application(case, Program.MINIMUM_LIVING, S.AWAITING_DECISION, credit=True)
        for case in take(clear, per_state):  # above the standard: the trace says so
            self._application(case, Program.MINIMUM_LIVING, S.REJECTED)
        for case in take(clear, per_state):
            self._application(case, Program.MARGINAL, S.REJECTED)
        for case in take(marginal, per_state):
            self._application(case, Program.RIGID_EXPENDITURE, S.REJECTED)
        # 特困 refused: an old member of a 低保 household whose children are able to support.
        refused = [
            c
            for c in minimum
            if not c.used
            and any(engine.age_on(m.birth_date, self.today) >= 60 for m in c.snapshot.members)
        ]
        for case in refused[:per_state]:
            old = next(
                m for m in case.snapshot.members if engine.age_on(m.birth_date, self.today) >= 60
            )
            self._application(case, Program.EXTREME_POVERTY, S.REJECTED, applicant=int(old.key))

        # Recipients: the rest, each through an approved application.
        for case in extreme:
            if not case.used:
                case.used = True
                for person in case.result(Program.EXTREME_POVERTY).covered:
                    self._application(
                        case, Program.EXTREME_POVERTY, S.APPROVED, applicant=int(person.key)
                    )
        gradual = take(marginal, per_state)  # income rose: 渐退
        for case in minimum:
            if not case.used:
                case.used = True
                if rng.random() < 0.04:
                    self._application(case, Program.MINIMUM_LIVING, S.APPROVED, credit=True)
                else:
                    self._application(case, Program.MINIMUM_LIVING, S.APPROVED)
        for case in single:  # 单人保 in marginal households
            if not case.used:
                for person in case.result(Program.MINIMUM_LIVING).covered:
                    self._application(
                        case, Program.MINIMUM_LIVING, S.APPROVED, applicant=int(person.key)
                    )
        for case in marginal:
            if not case.used:
                case.used = True
                self._application(case, Program.MARGINAL, S.APPROVED)
        for case in rigid:
            if not case.used:
                case.used = True
                self._application(case, Program.RIGID_EXPENDITURE, S.APPROVED)
        for case in gradual:
            self._application(case, Program.MINIMUM_LIVING, S.APPROVED, gradual=True)
        self._temporary(minimum + marginal, per_state)
        self._credit_failed(clear)

    def _temporary(self, pool: list[_Case], per_state: int) -> None:
        """Temporary assistance (临时救助) for recipients and marginal households: every state
        its path has, by the street and (above its ceiling) the district; emergencies paid
        first, some with their documents still due."""
        ordered = self._ordered(pool)
        plan: list[tuple[str, str, bool]] = []
        for state in (S.ACCEPTED, S.SUBMITTED, S.AWAITING_DECISION, S.WITHDRAWN, S.REJECTED):
            plan += [(state, TemporaryKind.EXPENDITURE, False)] * per_state
        plan += [(S.AWAITING_DECISION, TemporaryKind.EMERGENCY, True)] * per_state  # district
        plan += [(S.APPROVED, TemporaryKind.EMERGENCY, False)] * (2 * per_state)  # paid first
        plan += [(S.APPROVED, TemporaryKind.EXPENDITURE, False)] * (2 * per_state)
        for case, (state, kind, above) in zip(ordered, plan, strict=False):
            self._application(case, Program.TEMPORARY, state, kind=kind, above_ceiling=above)

    def _credit_failed(self, clear: list[_Case]) -> None:
        """A pledge that failed its verification (信用承诺 核查不实): the benefit stopped, the
        overpayment to recover, the applicant barred from the credit route for a while."""
        case = next((c for c in clear if not c.used), None)
        if case is None:
            return
        case.used = True
        self._application(case, Program.MINIMUM_LIVING, S.APPROVED, credit=True, failed=True)

    # --- applications and benefits ------------------------------------------------------------

    def _application(
        self,
        case: _Case,
        program: str,
        state: str,
        *,
        applicant: int | None = None,
        credit: bool = False,
        failed: bool = False,
        gradual: bool = False,
        kind: str = "",
        above_ceiling: bool = False,
    ) -> None:
        rng = self.rng
        params = case.version.params
        path = PATHS[program]
        household = case.household
        applicant = applicant or case.head_id
        single = program == Program.EXTREME_POVERTY or (
            program == Program.MINIMUM_LIVING and applicant != case.head_id
        )
        options: dict[str, Any] = {}
        if program == Program.TEMPORARY:
            # Above the street's ceiling only an especially hard case (the higher cap) goes.
            multiple = (
                params.temporary_hard_multiple if above_ceiling else params.temporary_cap_multiple
            )
            cap = params.standard * multiple * len(case.snapshot.members)
            ceiling = params.street_approval_ceiling
            wanted = (ceiling + 500 if above_ceiling else ceiling * Decimal("0.6")).quantize(FEN)
            options = {
                "temporary_kind": kind,
                "hardship_amount": min(wanted, cap),
                "especially_hard": above_ceiling,
            }
            assessment = engine.assess(
                case.snapshot, params, self.today, programs=[program], **options
            )
            result = assessment.results[program]
        else:
            assessment, result = case.assessment, case.result(program)
        stored = assessment.as_json()
        stored["results"] = {program: stored["results"][program]}
        if program == Program.TEMPORARY:
            tier = result.approval_tier or ApprovalTier.STREET
        else:
            tier = path.tier
        channel = rng.choice(ApplicationChannel.values)
        street_user = self.staff.for_street(case.path)
        app = Application(
            household=household,
            applicant_id=applicant,
            program=program,
            temporary_kind=kind,
            covers_person_only=single,
            channel=channel,
            proxy=self.staff.grid_worker if channel == ApplicationChannel.GRID_WORKER else None,
            consent_note="本人同意由网格员代为申请，已签字确认"
            if channel == ApplicationChannel.GRID_WORKER
            else "",
            referral_source="低收入人口动态监测预警"
            if channel == ApplicationChannel.REFERRAL
            else "",
            reason=REASONS[program],
            requested_amount=options.get("hardship_amount"),
            credit_route=credit,
            state=state,
            approval_tier=tier,
            assessment=stored,
            policy_version=case.version,
            classification=(result.classification or "")[:40],
            created_by=street_user if channel == ApplicationChannel.WINDOW else None,
            place_path=household.place_path,
        )
        if channel == ApplicationChannel.GRID_WORKER:
            app.created_by = self.staff.grid_worker
        decider = (
            self.staff.for_district(case.path) if tier == ApprovalTier.DISTRICT else street_user
        )
        self._timeline(app, case, params, path, decider, gradual=gradual, failed=failed)
        if state == S.APPROVED:
            self._approved(app, case, result, params, gradual=gradual, failed=failed)
        elif state == S.REJECTED:
            app.decision_note = REJECTIONS[program]
        self.applications.append(app)

    def _timeline(self, app, case, params, path, decider, *, gradual: bool, failed: bool) -> None:
        """Dates and deadlines for the application's state, as the services would have set
        them, counted back from today."""
        rng = self.rng
        state, today = app.state, self.today
        if state == S.APPROVED and app.program != Program.TEMPORARY:
            # Decided in the month before its benefit started, over the last two years.
            if app.credit_route and not failed:  # recent: its verification still to come
                back = 0
            elif gradual or failed:
                back = rng.randint(4, 14)
            else:
                back = rng.randint(1, 24)
            start = add_months(self.month, -back)
            decided = start - dt.timedelta(days=rng.randint(3, 20))
            accepted = decided - dt.timedelta(days=rng.randint(18, 35))
        elif state in (S.APPROVED, S.REJECTED, S.WITHDRAWN):
            decided = today - dt.timedelta(days=rng.randint(1, 60))
            accepted = decided - dt.timedelta(days=rng.randint(5, 25))
        else:
            decided = None
            days_ago = {
                S.SUBMITTED: (0, 3),
                S.ACCEPTED: (0, 7),  # investigations due in 3 working days: some late
                S.INVESTIGATED: (4, 9),
                S.IN_NOTICE: (6, 14),
                S.AWAITING_DECISION: (14, 50),  # 30 working days in all: some late
                S.SAMPLED: (16, 40),
            }[state]
            accepted = today - dt.timedelta(days=rng.randint(*days_ago))
        submitted = accepted - dt.timedelta(days=rng.randint(0, 2))
        app.created_at = _aware(submitted, rng)
        if state == S.SUBMITTED:
            return
        app.accepted_on = accepted
        limit = (
            params.extreme_poverty_street_days
            if app.program == Program.EXTREME_POVERTY
            else params.total_days
        )
        app.decision_due = due_date(accepted, limit)
        if not app.credit_route:
            app.investigation_due = due_date(accepted, params.investigation_days)
        visited = min(accepted + dt.timedelta(days=rng.randint(1, 3)), decided or today)
        if state not in (S.ACCEPTED, S.WITHDRAWN) and not app.credit_route:
            self.visits.append((len(self.applications), visited))
        if path.notice and not app.credit_route and state not in (S.ACCEPTED, S.INVESTIGATED):
            if state == S.IN_NOTICE:
                app.notice_from = today - dt.timedelta(days=rng.randint(0, 6))
            else:
                app.notice_from = visited + dt.timedelta(days=1)
            app.notice_to = app.notice_from + dt.timedelta(days=max(params.notice_days, 1) - 1)
        if state == S.SAMPLED:
            app.street_approved_on = today - dt.timedelta(days=rng.randint(1, 10))
            app.district_sampled = True
            app.approval_tier = ApprovalTier.DISTRICT
            app.decision_due = due_date(
                app.street_approved_on, params.extreme_poverty_district_days
            )
        if state == S.AWAITING_DECISION and rng.random() < 0.2 and path.extendable:
            app.extended = True
            app.extension_reason = "需补充调查家庭成员收入情况"
            app.decision_due = due_date(accepted, params.extended_total_days)
        if app.credit_route:
            app.pledge_signed_at = _aware(submitted, rng)
        if decided is not None and state != S.WITHDRAWN:
            app.decided_by = decider
            app.decided_at = _aware(decided, rng)
        if state == S.WITHDRAWN:
            app.decision_note = "申请人家庭情况好转，主动撤回申请"

    def _approved(self, app, case, result, params, *, gradual: bool, failed: bool) -> None:
        rng = self.rng
        program = app.program
        if program == Program.TEMPORARY:
            app.amount = result.amount.quantize(FEN)
            if app.temporary_kind == TemporaryKind.EMERGENCY:
                # 先行救助: paid first, documents due in a few working days (some late).
                paid = self.today - dt.timedelta(days=rng.randint(1, 12))
                app.paid_first = True
                app.decided_at = _aware(paid, rng)
                app.documents_due = due_date(paid, params.emergency_documents_days)
                if rng.random() < 0.3:
                    app.documents_received_on = min(self.today, app.documents_due)
            return
        covered = {p.key: p for p in result.covered}
        person = covered.get(str(app.applicant_id))
        amount = person.monthly_amount if person else result.monthly_amount
        persons = 1 if person else max(result.persons_covered, 1)
        if gradual or failed:  # what was paid before the income rose (or the pledge failed)
            amount = (params.standard * persons * Decimal(rng.uniform(0.15, 0.4))).quantize(FEN)
            app.classification = engine.Coverage.HOUSEHOLD
        app.amount = amount.quantize(FEN)
        start = add_months(month_start(app.decided_at.date()), 1)
        unstable = bool(case.notes["earns"]) and rng.random() < 0.5
        review_months = params.unstable_review_months if unstable else params.review_months
        next_review = start
        while next_review <= self.today:
            next_review = add_months(next_review, review_months)
        benefit = Benefit(
            household=case.household,
            recipient_id=app.applicant_id,
            program=program,
            classification=app.classification,
            covers_person_only=app.covers_person_only,
            persons_covered=persons,
            monthly_amount=app.amount,
            start_month=start,
            policy_version=case.version,
            review_months=review_months,
            income_unstable=unstable,
            next_review_on=next_review,
            place_path=case.path,
            street_path=_street_of(case.path),
        )
        draw = rng.random()
        if gradual:
            benefit.status = BenefitStatus.PHASING_OUT
            benefit.status_reason = "家庭收入超过低保标准，渐退"
            benefit.phase_out_until = add_months(self.month, rng.randint(1, 4))
            self.reviews.append(
                Review(
                    benefit=benefit,
                    kind=ReviewKind.INCOME_RISE,
                    due_on=add_months(self.month, -2),
                    state=ReviewState.DONE,
                    outcome=ReviewOutcome.PHASE_OUT,
                    note="家庭成员就业，收入超过标准",
                    done_by=self.staff.for_street(case.path),
                    done_at=_aware(add_months(self.month, -2), rng),
                )
            )
        elif failed:
            verified = self.today - dt.timedelta(days=rng.randint(20, 50))
            app.verified_at = _aware(verified, rng)
            app.verification_failed = True
            benefit.status = BenefitStatus.STOPPED
            benefit.status_reason = "信用承诺核查不实，停止发放"
            # As the service stops it: the last month paid is the one before verification.
            benefit.end_month = add_months(month_start(verified), -1)
            self.failed_credit = (app, benefit, verified)
        elif program in (Program.MINIMUM_LIVING, Program.EXTREME_POVERTY) and draw < 0.02:
            benefit.status = BenefitStatus.SUSPENDED
            benefit.status_reason = rng.choice(SUSPENSIONS)
        elif draw < 0.08:  # a review falling due, or overdue
            benefit.next_review_on = self.today + dt.timedelta(days=rng.randint(-40, 25))
            self.reviews.append(
                Review(
                    benefit=benefit,
                    kind=ReviewKind.PERIODIC,
                    due_on=benefit.next_review_on,
                    state=ReviewState.OVERDUE
                    if benefit.next_review_on < self.today
                    else ReviewState.DUE,
                )
            )
        if app.credit_route and not failed:
            app.verified_at = None
            self.reviews.append(
                Review(
                    benefit=benefit,
                    kind=ReviewKind.VERIFICATION,
                    due_on=due_date(app.decided_at.date(), params.investigation_days),
                    state=ReviewState.DUE,
                )
            )
        self.benefit_of[len(self.applications)] = benefit

    def _write_applications_and_benefits(self) -> list[Benefit]:
        Application.objects.bulk_create(self.applications, batch_size=CHUNK)
        benefits = []
        for index, benefit in self.benefit_of.items():
            benefit.application = self.applications[index]
            benefits.append(benefit)
        Benefit.objects.bulk_create(benefits, batch_size=CHUNK)
        for review in self.reviews:
            review.benefit_id = review.benefit.pk
            review.place_path = review.benefit.place_path
        Review.objects.bulk_create(self.reviews, batch_size=CHUNK)
        InvestigationVisit.objects.bulk_create(
            [
                InvestigationVisit(
                    application=self.applications[index],
                    visited_on=visited,
                    visitors=self.rng.choice(VISITORS),
                    findings=self.rng.choice(FINDINGS),
                    recorded_by=self._visitor(self.applications[index].place_path),
                )
                for index, visited in self.visits
            ],
            batch_size=CHUNK,
        )
        if self.failed_credit is not None:
            app, benefit, verified = self.failed_credit
            months = months_between(benefit.start_month, benefit.end_month)
            Recovery.objects.create(
                benefit=benefit,
                amount=benefit.monthly_amount * months,
                recovered=(benefit.monthly_amount * min(months, 2)).quantize(FEN),
                reason="信用承诺核查不实，追回多发的低保金",
                created_by=self.staff.for_district(benefit.place_path),
            )
            CreditPenalty.objects.create(
                person_id=app.applicant_id,
                application=app,
                starts_on=verified,
                ends_on=add_months(verified, app.policy_version.params.credit_penalty_months)
                - dt.timedelta(days=1),
                reason="信用承诺核查不实",
            )
        # An overpayment being withheld from a running benefit (未如实申报收入).
        running = [
            b
            for b in benefits
            if b.program == Program.MINIMUM_LIVING and b.status == BenefitStatus.ACTIVE
            and b.start_month < add_months(self.month, -3)
        ]  # fmt: skip
        if running:
            benefit = running[0]
            Recovery.objects.create(
                benefit=benefit,
                amount=(benefit.monthly_amount * Decimal("0.8")).quantize(FEN),
                reason="未如实申报务工收入，从后续发放中扣回",
                created_by=self.staff.for_district(benefit.place_path),
            )
        self.benefits = benefits
        self.say(f"{len(self.applications):,} applications, {len(benefits):,} benefits")
        return benefits

    def _visitor(self, path: str) -> User:
        if path.startswith(self.staff.anchor_community.path):
            return self.staff.community_worker
        return self.staff.for_street(path)

    # --- payments ----------------------------------------------------------------------------

    def _bank_accounts(self) -> None:
        """An account for every recipient who has none (written in bulk)."""
        rng = self.rng
        recipients = sorted({b.recipient_id for b in self.benefits})
        have = set(
            BankAccount.objects.filter(
                person_id__in=recipients, voided_at__isnull=True
            ).values_list("person_id", flat=True)
        )
        people = Person.objects.in_bulk([p for p in recipients if p not in have])
        accounts = []
        for pid in sorted(people):
            person = people[pid]
            bank, prefix = BANKS[int(rng.random() * len(BANKS))]
            accounts.append(
                BankAccount(
                    person=person,
                    bank=bank,
                    account_number=prefix + f"{rng.randrange(10**13):013d}",
                    holder_name=person.name,
                    place_path=person.place_path,
                )
            )
        BankAccount.objects.bulk_create(accounts, batch_size=CHUNK)

    def _anomalies(self) -> None:
        """For fund supervision to find: one account shared by two unrelated recipients, a
        recipient recorded dead and still paid, a recipient household with a car, and a
        recipient who is a declared relative of the community worker (回避)."""
        district = self.staff.anchor_district.path
        rng = self.rng
        running = [
            b
            for b in self.benefits
            if b.status == BenefitStatus.ACTIVE and b.place_path.startswith(district)
            and b.start_month <= add_months(self.month, -2)
        ]  # fmt: skip
        households = [b for b in running if b.program == Program.MINIMUM_LIVING]
        names = dict(
            Person.objects.filter(pk__in=[b.recipient_id for b in households]).values_list(
                "id", "name"
            )
        )
        pair = None
        for a in households:
            for b in households:
                if (
                    a.household_id != b.household_id
                    and names[a.recipient_id][0] != names[b.recipient_id][0]
                ):
                    pair = (a, b)
                    break
            if pair:
                break
        if pair:
            shared = BankAccount.objects.get(person_id=pair[0].recipient_id, voided_at=None)
            BankAccount.objects.filter(person_id=pair[1].recipient_id, voided_at=None).update(
                bank=shared.bank, account_number=shared.account_number
            )
        extreme = [b for b in running if b.program == Program.EXTREME_POVERTY]
        if extreme:
            dead = extreme[len(extreme) // 2]
            died = add_months(self.month, -1) - dt.timedelta(days=rng.randint(3, 20))
            Person.objects.filter(pk=dead.recipient_id).update(
                status=RecordStatus.DECEASED, died_on=died
            )
        leftover = [b for b in households if not pair or b not in pair]
        if leftover:
            car = leftover[0]
            head = Person.objects.get(pk=car.recipient_id)
            FinancialRecord.objects.create(
                person=head,
                category="asset",
                kind="vehicle",
                amount=Decimal("68000.00"),
                valid_from=self.today - dt.timedelta(days=75),
                note="车管所比对：名下登记小型轿车一辆",
            )
        community = self.staff.anchor_community.path
        near = [b for b in leftover[1:] if b.place_path.startswith(community)] or leftover[1:]
        if near:
            StaffRelative.objects.create(
                staff=self.staff.community_worker,
                person_id=near[0].recipient_id,
                relation="表妹",
            )

    def _cycles(self) -> tuple[int, int]:
        """Three months of monthly cycles per street and program: two months ago reconciled
        (a few payments failed at the bank), last month approved, this month under review
        (prepared by the street, waiting for the district's approval)."""
        rng = self.rng
        streets = sorted(
            {
                (b.street_path, b.program)
                for b in self.benefits
                if b.program in _MONTHLY and b.status != BenefitStatus.STOPPED
            }
        )
        places = {p.path: p for p in Place.objects.filter(path__in={s for s, _p in streets})}
        count = 0
        for back, state in ((2, CycleState.RECONCILED), (1, CycleState.APPROVED), (0, None)):
            month = add_months(self.month, -back)
            made = []
            for street_path, program in streets:
                cycle = PaymentCycle.objects.create(
                    program=program,
                    street=places[street_path],
                    month=month,
                    prepared_by=self.staff.street[street_path],
                    # Prepared early in the month, never after today (this month's is fresh).
                    created_at=_aware(
                        min(month + dt.timedelta(days=rng.randint(0, 4)), self.today), rng
                    ),
                )
                cycle = payments.cycle_generate(cycle_id=cycle.pk)
                if cycle.state != CycleState.REVIEW:
                    raise RuntimeError(f"Payment cycle {cycle} did not generate: {cycle.failure}")
                made.append(cycle)
            count += len(made)
            if state is None:
                continue
            for cycle in made:
                cycle.state = state
                cycle.approved_by = self.staff.for_district(cycle.place_path)
                cycle.approved_at = _aware(month + dt.timedelta(days=rng.randint(5, 8)), rng)
                cycle.save(update_fields=["state", "approved_by", "approved_at"])
            if state == CycleState.RECONCILED:
                self._reconcile([c.pk for c in made])
        total = Payment.objects.count()
        self.say(f"{count:,} payment cycles, {total:,} payments")
        return count, total

    def _reconcile(self, cycle_ids: list[int]) -> None:
        """The bank's answer: paid, except a few failed (retried by the next cycle); what was
        withheld from paid ones is booked against their recoveries."""
        rows = list(
            Payment.objects.filter(cycle_id__in=cycle_ids)
            .order_by("id")
            .values_list("id", "benefit_id", "recovery_deducted")
        )
        failed = set(self.rng.sample([r[0] for r in rows], min(len(rows), max(1, len(rows) // 80))))
        Payment.objects.filter(cycle_id__in=cycle_ids).exclude(pk__in=failed).update(
            status=PaymentStatus.PAID
        )
        for pid in sorted(failed):
            Payment.objects.filter(pk=pid).update(
                status=PaymentStatus.FAILED, failure_reason=self.rng.choice(FAILURES)
            )
        for pid, benefit_id, withheld in rows:
            if withheld and pid not in failed:
                recovery = Recovery.objects.filter(benefit_id=benefit_id).order_by("id").first()
                recovery.recovered = min(recovery.amount, recovery.recovered + withheld)
                recovery.save(update_fields=["recovered"])

    # --- simulation ----------------------------------------------------------------------------

    def _simulation(self) -> None:
        """ "What if the urban standard rose from 800 to 850 yuan next month?", run to the end."""
        version = self.versions.get((self.staff.anchor_district.path, "urban"))
        if version is None:
            return
        standard = version.params.standard
        raised = standard + 50
        simulation = Simulation.objects.create(
            policy_version=version,
            name=f"城市低保标准由{standard:.0f}元提高到{raised:.0f}元",
            changes={"standard": f"{raised:.2f}"},
            place=self.staff.anchor_district,
            as_of=add_months(self.month, 1),
            created_by=self.staff.civil_affairs,
        )
        simulation_run(simulation_id=simulation.pk)


_MONTHLY = (Program.MINIMUM_LIVING, Program.EXTREME_POVERTY)
