"""A household's circumstances in the demo city: dated incomes by kind, assets and rigid
expenditure, each member's capacity to work, serious illnesses, self-care assessments and legal
supporters (the registry facts assistance decisions rest on).

Every household gets a role, at seeded positions: in each block of 400 households ten are poor
enough for the minimum living guarantee (低保), four are persons alone qualifying for extreme-
poverty support (特困: elderly or severely disabled, unable to work, no supporter able to help,
no counted income) and six are marginal (低保边缘); the rest live clear of the marginal band.
"Poor enough" is measured the way the engine measures it under the demo policy
(assistance.policy.demo_parameters): counted income — counted kinds, less deducted kinds and the
employment-cost deduction — per member against the standard. So `linli seed_assistance` finds
in the registry exactly the population the roles describe, and so does any policy simulation.

Dates are fixed (from generator.REFERENCE_DATE), never the clock: the same seed gives the same
registry on any day. What must look recent (new jobs, this year's medical bills) is added by
seed_assistance, relative to today.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from linli.assistance.benefits import month_start
from linli.assistance.policy import demo_parameters
from linli.people.models import SELF_CARE_ITEMS

MINIMUM_LIVING = "minimum_living"
EXTREME_POVERTY = "extreme_poverty"
MARGINAL = "marginal"
ORDINARY = ""
BLOCK = 400
# Positions per block of BLOCK households.
ROLE_SLOTS = ((MINIMUM_LIVING, 10), (EXTREME_POVERTY, 4), (MARGINAL, 6))

_URBAN, _RURAL = demo_parameters(rural=False), demo_parameters(rural=True)
STANDARD = {"urban": _URBAN.standard, "rural": _RURAL.standard}
# The demo policy treats income kinds the same way in town and country.
COUNTED_KINDS = frozenset(_URBAN.counted_income_kinds)
DEDUCTED_KINDS = frozenset(_URBAN.deducted_income_kinds)
COST_SHARE, COST_CAP = float(_URBAN.employment_cost_share), float(_URBAN.employment_cost_cap)

SERIOUS_ILLNESSES = (
    "恶性肿瘤", "尿毒症", "白血病", "重性精神病", "再生障碍性贫血", "血友病", "耐多药肺结核",
    "器官移植术后抗排异治疗",
)  # fmt: skip
HOSPITALS = ("市人民医院", "市中心医院", "区人民医院", "市肿瘤医院", "市精神卫生中心")
ASSESSORS = ("社区卫生服务中心", "乡镇卫生院", "第三方评估机构")
# Easiest to lose first: what a person wholly unable to care for themselves cannot do.
_SELF_CARE_ORDER = ("bathing", "indoor_walking", "dressing", "toileting", "bed_transfer", "eating")
UNABLE_REASONS = (
    "本人重度残疾，无赡养能力",
    "本人为低保对象，无赡养能力",
    "长期患病，无劳动能力",
    "服刑人员，无赡养能力",
)
ABLE_REASONS = ("在外地务工，有固定收入", "有固定收入，有赡养能力", "经营个体，有赡养能力")

ILLNESS_COLUMNS = (
    "id", "place_path", "created_at", "recorded_by_id", "voided_at", "void_reason", "person_id",
    "illness", "diagnosed_on", "ended_on", "hospital",
)  # fmt: skip
SELF_CARE_COLUMNS = (
    "id", "place_path", "created_at", "recorded_by_id", "voided_at", "void_reason", "person_id",
    "assessed_on", "assessor", *SELF_CARE_ITEMS,
)  # fmt: skip
SUPPORTER_COLUMNS = (
    "id", "place_path", "created_at", "recorded_by_id", "voided_at", "void_reason", "person_id",
    "supporter_id", "supporter_name", "relation", "able_to_support", "assessment",
)  # fmt: skip


@dataclass
class Member:
    person_id: int
    age: int
    surname: str
    disability_category: str
    disability_grade: int | None
    chronic: bool
    capacity: str  # WorkCapacity value, "" for children

    @property
    def severely_disabled(self) -> bool:
        grade = self.disability_grade
        return grade in (1, 2) or (
            grade == 3 and self.disability_category in ("intellectual", "mental")
        )

    @property
    def may_need_support(self) -> bool:
        """Counted as unable to work by the extreme-poverty rules (recorded so, 60 or older,
        under 16 — with two years' margin, as ages are drawn for the reference date and read
        on the day of assessment): 特困 material unless someone able supports them."""
        return self.capacity == "none" or self.age >= 58 or self.age < 16


def work_capacity(age: int, category: str, grade: int | None, chronic: bool, rand) -> str:
    if age < 16:
        return ""
    if age >= 60 or grade in (1, 2) or (grade == 3 and category in ("intellectual", "mental")):
        return "none"
    if grade in (3, 4) or (chronic and rand() < 0.3):
        return "partial"
    return "full"


def _money(value: float, places: int = 0) -> Decimal:
    """Yuan, rounded to `places` digits left of the point (2 → hundreds)."""
    return Decimal(f"{round(max(value, 0.0), -places):.2f}")


def counted_income(incomes: list[list], members: int) -> float:
    """The engine's counted household income for [member, kind, amount, note] rows (none of
    them new employment): counted kinds, less deducted kinds and each earner's employment
    cost."""
    counted = deducted = 0.0
    wages: dict[int, float] = {}
    for member, kind, amount, _note in incomes:
        if kind in COUNTED_KINDS:
            counted += amount
            if kind == "wage":
                wages[member] = wages.get(member, 0.0) + amount
        elif kind in DEDUCTED_KINDS:
            deducted += amount
    cost = sum(min(w * COST_SHARE, COST_CAP) for w in wages.values() if w > 0)
    return max(0.0, counted - deducted - cost)


class Circumstances:
    """Draws one household's circumstances at a time; keeps the fact rows until written."""

    def __init__(self, rng: random.Random, reference: dt.date, first_ids: tuple[int, int, int]):
        self.rng = rng
        self.reference = reference
        year = reference.year
        self.starts = [
            d
            for d in (dt.date(year - k, month, 1) for k in (0, 1, 2) for month in range(1, 13))
            if d <= reference
        ]
        self.asset_date = dt.date(year - 1, 12, 31)
        self.spend_period = (dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 31))
        self.ids = list(first_ids)  # next illness, self-care, supporter id
        self.illnesses: list[tuple] = []
        self.self_care: list[tuple] = []
        self.supporters: list[tuple] = []
        # Adults of earlier households, for supporters who live in another household.
        self.poor_adults: deque[int] = deque(maxlen=64)
        self.other_adults: deque[int] = deque(maxlen=256)

    def roles(self, block_start: int) -> dict[int, str]:
        """Role by household index for the block starting at `block_start`."""
        slots = self.rng.sample(range(BLOCK), sum(n for _role, n in ROLE_SLOTS))
        out: dict[int, str] = {}
        for role, n in ROLE_SLOTS:
            for position in slots[:n]:
                out[block_start + position] = role
            slots = slots[n:]
        return out

    # --- money -------------------------------------------------------------------------------

    def finances(
        self, members: list[Member], rural: bool, role: str
    ) -> list[tuple[int, str, str, Decimal, dt.date, dt.date | None, str]]:
        """(member index, category, kind, amount, valid_from, valid_to, note) rows. Incomes
        are monthly; the householder comes first."""
        rng = self.rng
        rand = rng.random
        poor = role != ORDINARY
        incomes: list[list] = []  # [member, kind, monthly amount, note]
        for i, m in enumerate(members):
            age = m.age
            if (
                18 <= age < 60
                and m.capacity != "none"
                and (age >= 23 or rand() < 0.4)
                and rand() < 0.82
            ):
                scale = 0.5 if m.capacity == "partial" else 1.0
                if rural and rand() < 0.6:
                    incomes.append([i, "business", scale * 2600 * math.exp(rng.gauss(0, 0.45)), ""])
                else:
                    base = 2800 if rural else 4300
                    wage = scale * base * math.exp(rng.gauss(0, 0.45))
                    incomes.append([i, "wage", wage, ""])
                    if not poor and not rural and rand() < 0.6:  # own contributions, 10.5 %
                        incomes.append([i, "social_insurance", wage * 0.105, ""])
            elif age >= 60:
                if rural:  # the residents' basic pension is small, and exempt
                    incomes.append([i, "basic_pension", 150 + 200 * rand(), ""])
                elif rand() < 0.88 and role != EXTREME_POVERTY:
                    incomes.append([i, "retirement_pension", 2300 + 2000 * rand(), ""])
                else:
                    incomes.append([i, "basic_pension", 250 + 250 * rand(), ""])
            if age >= 80 and rand() < 0.85:  # 高龄津贴
                incomes.append([i, "elderly_allowance", 100 + 100 * rand(), ""])
            if m.disability_grade in (1, 2) and rand() < 0.9:  # 残疾人两项补贴
                incomes.append([i, "disability_allowance", 90 + 60 * rand(), ""])
            if 16 <= age <= 22 and rand() < (0.5 if poor else 0.05):
                incomes.append([i, "scholarship", 150 + 250 * rand(), ""])
            if 18 <= age < 65 and not poor and rand() < 0.003:  # 见义勇为, 劳模 …
                incomes.append([i, "merit_award", 100 + 400 * rand(), ""])

        standard = float(STANDARD["rural" if rural else "urban"])
        n = len(members)
        if role == EXTREME_POVERTY:  # no livelihood: nothing counted at all
            incomes = [item for item in incomes if item[1] not in COUNTED_KINDS]
        elif role == MINIMUM_LIVING:
            target = standard * n * rng.uniform(0.2, 0.9)
            counted = counted_income(incomes, n)
            if counted > target:
                _scale_counted(incomes, target / counted)
            if rand() < 0.15:  # temporary assistance received earlier, not counted
                incomes.append([0, "assistance_received", 300 + 700 * rand(), "临时救助"])
        elif role == MARGINAL:
            _reach(incomes, standard * n * rng.uniform(1.05, 1.42), n, above_only=False)
        else:
            if rand() < 0.02:  # 遗属补助, 赔偿 …
                incomes.append([0, "transfer", 200 + 600 * rand(), ""])
            # Clear of the marginal band (1.5 × the standard) with room for rounding.
            target = standard * n * rng.uniform(1.65, 2.75)
            _reach(incomes, target, n, above_only=True)
            for i, m in enumerate(members):
                if 18 <= m.age < 65 and m.capacity != "none" and rand() < 0.04:
                    incomes.append([i, "other_income", 200 + 1300 * rand(), ""])

        rows = []
        for member, kind, amount, note in incomes:
            start = self.starts[int(rand() * len(self.starts))]
            if kind == "assistance_received":  # one month's payment, in the past
                end = month_start(start + dt.timedelta(days=31)) - dt.timedelta(days=1)
                rows.append((member, "income", kind, _money(amount, 1), start, end, note))
                continue
            rows.append((member, "income", kind, _money(amount, 1), start, None, note))
            if kind in ("wage", "business") and rand() < 0.3:
                # The job or business before this one: history an assessment may look back on.
                end = start - dt.timedelta(days=1)
                begin = month_start(end - dt.timedelta(days=rng.randint(180, 1000)))
                previous = amount * rng.uniform(0.75, 0.95)
                rows.append((member, "income", kind, _money(previous, 1), begin, end, ""))
        for i, m in enumerate(members):
            if (m.disability_grade or m.chronic) and rand() < (0.7 if poor else 0.4):
                amount = 1500 * math.exp(rng.gauss(0.5, 0.8))
                rows.append((i, "expenditure", "medical", _money(amount), *self.spend_period, ""))
            if 6 <= m.age <= 22 and rand() < 0.3:
                amount = (2000 if m.age < 15 else 6000) * math.exp(rng.gauss(0, 0.5))
                rows.append((i, "expenditure", "education", _money(amount), *self.spend_period, ""))
        # Household assets sit on the householder's record; the poor have little.
        when = self.asset_date
        if rand() < (0.3 if poor else 0.35 if rural else 0.45):
            amount = 1500 * rand() if poor else 60000 * math.exp(rng.gauss(0, 1.0))
            rows.append((0, "asset", "savings", _money(amount), when, None, ""))
        if not poor:
            if rand() < (0.15 if rural else 0.25):
                amount = 40000 + 160000 * rand() ** 2
                rows.append((0, "asset", "vehicle", _money(amount, 2), when, None, ""))
            if rand() < 0.06:
                amount = 50000 * math.exp(rng.gauss(0, 1.0))
                rows.append((0, "asset", "securities", _money(amount), when, None, ""))
            if not rural and rand() < 0.08:
                amount = 300000 + 900000 * rand()
                rows.append((0, "asset", "extra_housing", _money(amount, 3), when, None, ""))
                if rand() < 0.5:  # the extra flat is let
                    rent = _money(1200 + 2400 * rand(), 2)
                    rows.append((0, "income", "property_income", rent, self.starts[-1], None, ""))
        return rows

    # --- facts -------------------------------------------------------------------------------

    def facts(self, members: list[Member], role: str, path: str, now_value) -> None:
        """Serious illnesses, self-care assessments and legal supporters of one household."""
        rng = self.rng
        rand = rng.random
        reference = self.reference
        for m in members:
            chance = 0.3 if role == EXTREME_POVERTY else 0.1 if role else 0.015
            if m.age >= 40 and rand() < chance:
                diagnosed = reference - dt.timedelta(days=rng.randint(60, 1500))
                self.illnesses.append(
                    (self._next(0), path, now_value, None, None, "", m.person_id,
                     rng.choice(SERIOUS_ILLNESSES), diagnosed, None, rng.choice(HOSPITALS))
                )  # fmt: skip
            if role == EXTREME_POVERTY:
                self._self_care(m, path, now_value)
                self._supporters_unable(m, path, now_value)
            elif role and m.may_need_support:
                # Someone able supports them: 低保 (or marginal), not 特困.
                parent = next(
                    (p for p in members if p.age - m.age >= 20 and p.capacity == "full"), None
                )
                if m.age < 16 and parent is not None:
                    self.supporters.append(
                        (self._next(2), path, now_value, None, None, "", m.person_id,
                         parent.person_id, "", "parent", True, "")
                    )  # fmt: skip
                else:
                    self._supporter(m, path, now_value, able=True)
        adults = [m.person_id for m in members if 25 <= m.age < 60]
        (self.poor_adults if role in (MINIMUM_LIVING, MARGINAL) else self.other_adults).extend(
            adults
        )

    def _next(self, which: int) -> int:
        self.ids[which] += 1
        return self.ids[which] - 1

    def _self_care(self, m: Member, path: str, now_value) -> None:
        rand = self.rng.random
        draw = rand()
        # 全自理 two in five, 部分丧失 a third, 完全丧失 the rest.
        if draw < 0.4:
            items = 0
        else:
            items = self.rng.randint(1, 3) if draw < 0.75 else self.rng.randint(4, 6)
        lost = set(_SELF_CARE_ORDER[:items])
        assessed = self.reference - dt.timedelta(days=self.rng.randint(20, 300))
        self.self_care.append(
            (self._next(1), path, now_value, None, None, "", m.person_id, assessed,
             self.rng.choice(ASSESSORS), *(item not in lost for item in SELF_CARE_ITEMS))
        )  # fmt: skip

    def _supporters_unable(self, m: Member, path: str, now_value) -> None:
        draw = self.rng.random()
        if draw < 0.4:
            return  # no spouse, no children: nobody owes support
        if draw < 0.75 or not self.poor_adults:
            self._supporter(m, path, now_value, able=False)
        else:  # a child living in another household, poor themselves
            supporter = self.poor_adults[int(self.rng.random() * len(self.poor_adults))]
            self.supporters.append(
                (self._next(2), path, now_value, None, None, "", m.person_id, supporter, "",
                 "child", False, UNABLE_REASONS[1])
            )  # fmt: skip

    def _supporter(self, m: Member, path: str, now_value, *, able: bool) -> None:
        rng = self.rng
        reasons = ABLE_REASONS if able else UNABLE_REASONS
        relation = "parent" if m.age < 16 else "child"
        if able and relation == "child" and self.other_adults and rng.random() < 0.5:
            supporter = self.other_adults[int(rng.random() * len(self.other_adults))]
            name = ""
        else:
            supporter = None
            name = m.surname + rng.choice("建国华军明丽芳强伟敏静")
        self.supporters.append(
            (self._next(2), path, now_value, None, None, "", m.person_id, supporter, name,
             relation, able, rng.choice(reasons))
        )  # fmt: skip


def _scale_counted(incomes: list[list], factor: float) -> None:
    for item in incomes:
        if item[1] in COUNTED_KINDS:
            item[2] *= factor


def _reach(incomes: list[list], target: float, n: int, *, above_only: bool) -> None:
    """Bring counted income up to `target` (and, unless `above_only`, down to it). The
    employment-cost cap bends the line, so it takes a step or two."""
    for _step in range(6):
        counted = counted_income(incomes, n)
        if abs(counted - target) < 1 or (above_only and counted >= target):
            return
        if counted > target:
            _scale_counted(incomes, target / counted)
            continue
        earned = [item for item in incomes if item[1] in ("wage", "business")]
        deficit = target - counted
        if not earned:  # nobody earns: the household lives on support from children
            incomes.append([0, "family_support", deficit, "子女赡养费"])
            return
        # Raising a wage by x raises counted income by at least (1 - COST_SHARE) × x.
        total = sum(item[2] for item in earned)
        for item in earned:
            item[2] += deficit / (1 - COST_SHARE) * item[2] / total
