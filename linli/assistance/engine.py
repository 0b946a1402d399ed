"""The eligibility engine (救助资格测算): decides each assistance program for one household.

Pure Python, no database access: it takes a `HouseholdSnapshot` (snapshot.household_snapshot
builds one from the registry, snapshot.snapshot_from_payload from the API), the
`PolicyParameters` of the policy version in force and a date, and returns an `Assessment`:
one `ProgramResult` per program with the figures and a trace of steps, each a code and its
figures, that `sentences()` renders in the active language for a caseworker to read aloud.

The rules as implemented are in docs/assistance-eligibility.md; the definitions the
set-based runs (payment cycles, simulation) share with this engine are:

* members: persons of the household with status "active", born on or before the date and not
  recorded dead on or before it;
* income: records in force on the date, per month; counted, exempt or deducted by kind as the
  policy says; new-employment wages exempt up to a cap for the policy's months; an
  employment-cost deduction per earner; counted income = max(0, counted − deducted − costs);
* per capita = counted income ÷ members, to the fen, used for every comparison;
* 低保 amount = standard × members − counted income (never (standard − per capita) × members,
  which drifts by rounding).

Money is Decimal yuan to the fen (ROUND_HALF_UP) throughout; no float is ever used.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from linli.assistance.models.applications import ApprovalTier, TemporaryKind
from linli.assistance.models.common import Program
from linli.assistance.policy import PolicyParameters
from linli.people.models import (
    SELF_CARE_ITEMS,
    DisabilityCategory,
    FinanceKind,
    RecordStatus,
    Relation,
    SelfCareLevel,
    SupporterRelation,
    WorkCapacity,
    level_of_self_care,
)

FEN = Decimal("0.01")
ZERO = Decimal("0.00")

# 《特困人员认定办法》: national definitions, not local numbers — an older person is 60 or older,
# a minor under 16 counts as unable to work.
OLD_AGE = 60
MINOR_AGE = 16
# Disability categories the policy's intellectual/mental grade bound applies to (单人保).
MENTAL_CATEGORIES = frozenset({DisabilityCategory.INTELLECTUAL, DisabilityCategory.MENTAL})
ASSET_KINDS = frozenset({"savings", "securities", "vehicle", "extra_housing"})
EXPENDITURE_KINDS = frozenset({"medical", "education"})


class CareArrangement:
    """特困供养方式: in an institution (集中供养) or at home (分散供养)."""

    CENTRALISED = "centralised"
    DISPERSED = "dispersed"
    choices = (
        (CENTRALISED, _("centralised care in an institution")),
        (DISPERSED, _("dispersed care at home")),
    )
    values = (CENTRALISED, DISPERSED)


class Coverage:
    """How 低保 covers a household: as a whole, or some members alone (单人保)."""

    HOUSEHOLD = "household"
    SINGLE_PERSON = "single_person"


def money(value: Decimal) -> Decimal:
    """Yuan to the fen, half up."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (or earlier), the month's last day when it has no such
    day (31 January + 1 month = 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Full years of age on a day (a person born on 29 February turns a year older on 1
    March in common years)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


# --- the snapshot ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Income:
    """An income record of a member: `amount` yuan a month over [valid_from, valid_to]."""

    kind: str
    amount: Decimal
    valid_from: dt.date
    valid_to: dt.date | None = None
    # 新增就业: wages of a job taken up while on assistance (FinancialRecord.new_employment).
    new_employment: bool = False

    def in_force(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class Asset:
    """An asset record: savings or securities (value in yuan), a vehicle, extra housing."""

    kind: str
    amount: Decimal
    valid_from: dt.date
    valid_to: dt.date | None = None

    def in_force(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class Expenditure:
    """Rigid expenditure (医疗, 教育): `amount` yuan paid in total over the period."""

    kind: str
    amount: Decimal
    valid_from: dt.date
    valid_to: dt.date | None = None


@dataclass(frozen=True)
class Illness:
    """A serious illness (重特大疾病), diagnosed on a date, ended (cured) on another or not."""

    illness: str
    diagnosed_on: dt.date
    ended_on: dt.date | None = None

    def holds_on(self, day: dt.date) -> bool:
        return self.diagnosed_on <= day and (self.ended_on is None or day <= self.ended_on)


@dataclass(frozen=True)
class SelfCare:
    """The six-item self-care assessment: True where the person manages the item unaided."""

    assessed_on: dt.date
    eating: bool
    dressing: bool
    bed_transfer: bool
    toileting: bool
    indoor_walking: bool
    bathing: bool
    assessor: str = ""

    @property
    def items_not_managed(self) -> int:
        return sum(not getattr(self, item) for item in SELF_CARE_ITEMS)

    @property
    def level(self) -> str:
        return level_of_self_care(self.items_not_managed)


@dataclass(frozen=True)
class Supporter:
    """A legal supporter (法定义务人) of a member and whether they are able to support."""

    relation: str
    able_to_support: bool
    name: str = ""
    assessment: str = ""


@dataclass(frozen=True)
class Member:
    """A person of the household with the facts the programs look at. `key` identifies the
    person in results (the Person id as a string for registered households)."""

    key: str
    name: str
    birth_date: dt.date
    relation: str = ""
    status: str = RecordStatus.ACTIVE
    died_on: dt.date | None = None
    work_capacity: str = ""
    disability_category: str = ""
    disability_grade: int | None = None
    illnesses: tuple[Illness, ...] = ()
    self_care: tuple[SelfCare, ...] = ()
    supporters: tuple[Supporter, ...] = ()
    incomes: tuple[Income, ...] = ()
    assets: tuple[Asset, ...] = ()
    expenditures: tuple[Expenditure, ...] = ()

    def latest_self_care(self, day: dt.date) -> SelfCare | None:
        held = [s for s in self.self_care if s.assessed_on <= day]
        return max(held, key=lambda s: s.assessed_on) if held else None


@dataclass(frozen=True)
class HouseholdSnapshot:
    """What the engine knows of a household: its members with their records. Registered
    households carry their id, number and place; a payload from the API may leave them out."""

    members: tuple[Member, ...]
    registration: str = "urban"
    household_id: int | None = None
    number: str = ""
    place_path: str = ""
    # 特困 供养方式 recorded for the household (a request may override it).
    care_arrangement: str = CareArrangement.DISPERSED


@dataclass(frozen=True)
class Options:
    """What a request adds to the snapshot.

    extreme_poverty_arrangement: 集中/分散供养, overriding the snapshot's.
    temporary_kind, hardship_amount, especially_hard, temporary_persons: the 临时救助 event —
    its kind (急难型/支出型), the hardship amount assessed or requested, whether it is
    especially hard (特别困难: the higher cap) and how many persons it struck (default: the
    members).
    receiving: the programs the household receives now and the persons covered by each, e.g.
    {"minimum_living": 3}; the grants (heating, one-off, price subsidy) go to recipients of 低保
    or 特困. Left out, this assessment's own 低保 and 特困 results are used.
    """

    extreme_poverty_arrangement: str | None = None
    temporary_kind: str = TemporaryKind.EMERGENCY
    hardship_amount: Decimal | None = None
    especially_hard: bool = False
    temporary_persons: int | None = None
    receiving: Mapping[str, int] | None = None


# --- the result --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of the reasoning: a code (which sentence), its figures (strings and ints,
    JSON-ready) and its outcome ("counted", "exempt", "met", "not_met", "eligible", …)."""

    code: str
    figures: Mapping[str, Any] = field(default_factory=dict)
    outcome: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "figures": dict(self.figures), "outcome": self.outcome}

    def sentence(self) -> str:
        return render_step(self.code, self.figures)


@dataclass(frozen=True)
class CoveredPerson:
    """A member a program covers individually (特困, 单人保) and what they receive."""

    key: str
    name: str
    classification: str
    monthly_amount: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "classification": self.classification,
            "monthly_amount": str(self.monthly_amount),
        }


@dataclass(frozen=True)
class ProgramResult:
    """One program's answer. `monthly_amount` for the monthly programs (低保, 特困), `amount`
    for the one-off ones (临时救助 and the grants); 低保边缘 and 刚性支出 grant special
    assistance, not cash, so both stay 0."""

    program: str
    eligible: bool
    classification: str = ""
    monthly_amount: Decimal = ZERO
    amount: Decimal = ZERO
    persons_covered: int = 0
    covered: tuple[CoveredPerson, ...] = ()
    # 临时救助: who approves the amount (street up to its ceiling, district above).
    approval_tier: str = ""
    trace: tuple[Step, ...] = ()

    def sentences(self) -> list[str]:
        return [step.sentence() for step in self.trace]

    def as_json(self) -> dict[str, Any]:
        return {
            "program": self.program,
            "eligible": self.eligible,
            "classification": self.classification,
            "monthly_amount": str(self.monthly_amount),
            "amount": str(self.amount),
            "persons_covered": self.persons_covered,
            "covered": [person.as_json() for person in self.covered],
            "approval_tier": self.approval_tier,
            "trace": [step.as_json() for step in self.trace],
        }


@dataclass(frozen=True)
class Assessment:
    """The engine's answer for one household on one date. `trace` holds the steps every
    program shares (members, income, per capita, assets); each result holds its own."""

    on: dt.date
    household_id: int | None
    members_counted: int
    counted_income: Decimal
    per_capita: Decimal
    assets_within_limits: bool
    trace: tuple[Step, ...]
    results: dict[str, ProgramResult]

    def sentences(self, program: str | None = None) -> list[str]:
        """The shared steps, then the program's (or every program's) — what a caseworker
        reads aloud."""
        steps = list(self.trace)
        for code, result in self.results.items():
            if program is None or code == program:
                steps.extend(result.trace)
        return [step.sentence() for step in steps]

    def as_json(self) -> dict[str, Any]:
        """JSON-ready (Decimals as strings): what Application.assessment stores."""
        return {
            "on": self.on.isoformat(),
            "household_id": self.household_id,
            "members_counted": self.members_counted,
            "counted_income": str(self.counted_income),
            "per_capita": str(self.per_capita),
            "assets_within_limits": self.assets_within_limits,
            "trace": [step.as_json() for step in self.trace],
            "results": {code: result.as_json() for code, result in self.results.items()},
        }


def explain(assessment_json: Mapping[str, Any], program: str | None = None) -> list[str]:
    """Sentences of a stored assessment (Application.assessment), in the active language:
    the shared steps, then the program's (or every program's)."""
    steps = list(assessment_json.get("trace", []))
    for code, result in assessment_json.get("results", {}).items():
        if program is None or code == program:
            steps.extend(result.get("trace", []))
    return [render_step(step["code"], step.get("figures", {})) for step in steps]


# --- figures for the trace ---------------------------------------------------------------------


def _yuan(value: Decimal) -> str:
    return f"{money(value):,.2f}".replace(",", "")


def _number(value: Decimal) -> str:
    """A multiple or share without trailing zeros: 1.5, 0.2, 3."""
    text = format(value.normalize(), "f")
    return text


def _percent(share: Decimal) -> str:
    return _number(share * 100)


# --- income ------------------------------------------------------------------------------------


@dataclass
class _MemberIncome:
    counted: Decimal = ZERO
    deducted: Decimal = ZERO
    counted_wage: Decimal = ZERO
    employment_cost: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return max(ZERO, self.counted - self.deducted - self.employment_cost)


def _treatment(kind: str, params: PolicyParameters) -> str:
    if kind in params.counted_income_kinds:
        return "counted"
    if kind in params.exempt_income_kinds:
        return "exempt"
    if kind in params.deducted_income_kinds:
        return "deducted"
    raise ValueError(f"income kind {kind!r} is not treated by the policy")


def _member_income(
    member: Member, params: PolicyParameters, day: dt.date, steps: list[Step] | None
) -> _MemberIncome:
    """One member's income on a day: what is counted, deducted, and the employment cost.
    Appends a step per record when `steps` is given."""
    tally = _MemberIncome()
    who = member.name
    for income in member.incomes:
        if not income.in_force(day):
            continue
        amount = money(income.amount)
        figures = {"member": who, "kind": income.kind, "amount": _yuan(amount)}
        treatment = _treatment(income.kind, params)
        if treatment == "exempt":
            if steps is not None:
                steps.append(Step("income.exempt", figures, "exempt"))
            continue
        if treatment == "deducted":
            tally.deducted += amount
            if steps is not None:
                steps.append(Step("income.deducted", figures, "deducted"))
            continue
        counted = amount
        if income.kind == FinanceKind.WAGE and income.new_employment:
            ends_on = add_months(income.valid_from, params.new_employment_exempt_months)
            figures |= {
                "valid_from": income.valid_from.isoformat(),
                "months": params.new_employment_exempt_months,
                "ends_on": ends_on.isoformat(),
            }
            if day < ends_on:
                cap = money(params.new_employment_exempt_cap_multiple * params.standard)
                exempt = min(amount, cap)
                counted = amount - exempt
                if steps is not None:
                    steps.append(
                        Step(
                            "income.new_employment",
                            figures
                            | {
                                "exempt": _yuan(exempt),
                                "cap": _yuan(cap),
                                "multiple": _number(params.new_employment_exempt_cap_multiple),
                                "standard": _yuan(params.standard),
                                "counted": _yuan(counted),
                            },
                            "exempt" if counted == 0 else "counted",
                        )
                    )
            elif steps is not None:
                steps.append(Step("income.new_employment_ended", figures, "counted"))
        elif steps is not None:
            steps.append(Step("income.counted", figures, "counted"))
        tally.counted += counted
        if income.kind == FinanceKind.WAGE:
            tally.counted_wage += counted
    if tally.counted_wage > 0:
        tally.employment_cost = money(
            min(tally.counted_wage * params.employment_cost_share, params.employment_cost_cap)
        )
        if steps is not None and tally.employment_cost > 0:
            steps.append(
                Step(
                    "income.employment_cost",
                    {
                        "member": who,
                        "wage": _yuan(tally.counted_wage),
                        "share": _percent(params.employment_cost_share),
                        "cap": _yuan(params.employment_cost_cap),
                        "deduction": _yuan(tally.employment_cost),
                    },
                    "deducted",
                )
            )
    return tally


def counted_income_on(members: Iterable[Member], params: PolicyParameters, day: dt.date) -> Decimal:
    """The household's counted monthly income on a day (no trace): the figure the set-based
    runs must reproduce."""
    counted = deducted = costs = ZERO
    for member in members:
        tally = _member_income(member, params, day, None)
        counted += tally.counted
        deducted += tally.deducted
        costs += tally.employment_cost
    return max(ZERO, counted - deducted - costs)


# --- the engine --------------------------------------------------------------------------------


@dataclass
class _Context:
    snapshot: HouseholdSnapshot
    params: PolicyParameters
    on: dt.date
    options: Options
    members: list[Member]
    member_income: dict[str, _MemberIncome]
    counted_income: Decimal
    per_capita: Decimal
    assets_ok: bool

    @property
    def n(self) -> int:
        return len(self.members)


def assess(
    snapshot: HouseholdSnapshot,
    params: PolicyParameters,
    on: dt.date,
    programs: Iterable[str] | None = None,
    **options: Any,
) -> Assessment:
    """Decide the programs (all when `programs` is None) for the household on the date.
    `options` are the fields of `Options`."""
    opts = Options(**options)
    wanted = list(Program.values) if programs is None else list(dict.fromkeys(programs))
    unknown = [p for p in wanted if p not in Program.values]
    if unknown:
        raise ValueError(f"unknown programs: {', '.join(unknown)}")

    steps: list[Step] = []
    members = _count_members(snapshot, on, steps)
    member_income: dict[str, _MemberIncome] = {}
    counted_keys = {member.key for member in members}
    for member in snapshot.members:
        if member.key in counted_keys:
            member_income[member.key] = _member_income(member, params, on, steps)
        else:
            _left_out_income(member, on, steps)
    counted_income = _total_income(member_income, steps)
    if members:
        per_capita = money(counted_income / len(members))
        steps.append(
            Step(
                "income.per_capita",
                {
                    "total": _yuan(counted_income),
                    "members": len(members),
                    "per_capita": _yuan(per_capita),
                },
            )
        )
    else:
        per_capita = ZERO
    assets_ok = _assets_within_limits(members, params, on, steps) if members else False
    ctx = _Context(
        snapshot, params, on, opts, members, member_income, counted_income, per_capita, assets_ok
    )

    results: dict[str, ProgramResult] = {}
    # Marginal and the grants depend on 低保 and 特困: decided first, reported when asked.
    decided: dict[str, ProgramResult] = {}
    for program, decide in _DECISIONS:
        needed = program in wanted or any(program in _DEPENDS_ON.get(other, ()) for other in wanted)
        if needed:
            decided[program] = decide(ctx, decided) if members else _no_members(program, on)
    for program in wanted:
        results[program] = decided[program]
    return Assessment(
        on=on,
        household_id=snapshot.household_id,
        members_counted=len(members),
        counted_income=counted_income,
        per_capita=per_capita,
        assets_within_limits=assets_ok,
        trace=tuple(steps),
        results=results,
    )


def _no_members(program: str, on: dt.date) -> ProgramResult:
    return ProgramResult(
        program, False, trace=(Step("members.none", {"on": on.isoformat()}, "not_eligible"),)
    )


def _count_members(snapshot: HouseholdSnapshot, on: dt.date, steps: list[Step]) -> list[Member]:
    members = []
    for member in snapshot.members:
        figures: dict[str, Any] = {"member": member.name, "relation": member.relation}
        if member.birth_date > on:
            steps.append(Step("member.not_born", figures, "not_counted"))
        elif member.died_on is not None and member.died_on <= on:
            steps.append(
                Step(
                    "member.died", figures | {"died_on": member.died_on.isoformat()}, "not_counted"
                )
            )
        elif member.status != RecordStatus.ACTIVE:
            steps.append(
                Step("member.not_active", figures | {"status": member.status}, "not_counted")
            )
        else:
            members.append(member)
            steps.append(
                Step(
                    "member.counted",
                    figures | {"age": age_on(member.birth_date, on)},
                    "counted",
                )
            )
    steps.append(Step("members.total", {"count": len(members)}))
    return members


def _left_out_income(member: Member, on: dt.date, steps: list[Step]) -> None:
    for income in member.incomes:
        if income.in_force(on):
            steps.append(
                Step(
                    "income.not_member",
                    {"member": member.name, "kind": income.kind, "amount": _yuan(income.amount)},
                    "not_counted",
                )
            )


def _total_income(member_income: Mapping[str, _MemberIncome], steps: list[Step]) -> Decimal:
    counted = sum((t.counted for t in member_income.values()), ZERO)
    deducted = sum((t.deducted for t in member_income.values()), ZERO)
    costs = sum((t.employment_cost for t in member_income.values()), ZERO)
    total = max(ZERO, counted - deducted - costs)
    steps.append(
        Step(
            "income.total" if counted - deducted - costs >= 0 else "income.total_floored",
            {
                "counted": _yuan(counted),
                "deducted": _yuan(deducted),
                "employment_cost": _yuan(costs),
                "total": _yuan(total),
            },
        )
    )
    return total


def _assets_within_limits(
    members: list[Member], params: PolicyParameters, on: dt.date, steps: list[Step]
) -> bool:
    savings = ZERO
    vehicles = 0
    extra_housing = 0
    for member in members:
        for asset in member.assets:
            if not asset.in_force(on):
                continue
            if asset.kind in ("savings", "securities"):
                savings += money(asset.amount)
            elif asset.kind == "vehicle":
                vehicles += 1
            elif asset.kind == "extra_housing":
                extra_housing += 1
    limit = money(params.savings_per_person_limit * len(members))
    savings_ok = savings <= limit
    steps.append(
        Step(
            "assets.savings_within" if savings_ok else "assets.savings_over",
            {
                "savings": _yuan(savings),
                "limit": _yuan(limit),
                "per_person": _yuan(params.savings_per_person_limit),
                "members": len(members),
            },
            "met" if savings_ok else "not_met",
        )
    )
    vehicles_ok = vehicles <= params.vehicles_allowed
    steps.append(
        Step(
            "assets.vehicles_within" if vehicles_ok else "assets.vehicles_over",
            {"count": vehicles, "allowed": params.vehicles_allowed},
            "met" if vehicles_ok else "not_met",
        )
    )
    if not extra_housing:
        housing_ok = True
        steps.append(Step("assets.housing_none", {}, "met"))
    elif params.extra_housing_allowed:
        housing_ok = True
        steps.append(Step("assets.housing_allowed", {"count": extra_housing}, "met"))
    else:
        housing_ok = False
        steps.append(Step("assets.housing_over", {"count": extra_housing}, "not_met"))
    return savings_ok and vehicles_ok and housing_ok


# --- 低保 ---------------------------------------------------------------------------------------


def _single_person_reason(member: Member, params: PolicyParameters, on: dt.date) -> Step | None:
    """Why a member may be covered alone (单人保), or None."""
    grade = member.disability_grade
    figures: dict[str, Any] = {"member": member.name}
    if grade is not None and member.disability_category:
        figures |= {"category": member.disability_category, "grade": grade}
        if grade <= params.single_person_disability_grade_max:
            return Step(
                "minimum_living.single_reason_disability",
                figures | {"max": params.single_person_disability_grade_max},
                "met",
            )
        if (
            member.disability_category in MENTAL_CATEGORIES
            and grade <= params.single_person_mental_grade_max
        ):
            return Step(
                "minimum_living.single_reason_mental",
                figures | {"max": params.single_person_mental_grade_max},
                "met",
            )
    if params.single_person_serious_illness:
        for illness in member.illnesses:
            if illness.holds_on(on):
                return Step(
                    "minimum_living.single_reason_illness",
                    {"member": member.name, "illness": illness.illness},
                    "met",
                )
    return None


def _marginal_bound(params: PolicyParameters) -> Decimal:
    return money(params.marginal_multiple * params.standard)


def _within_marginal_band(per_capita: Decimal, params: PolicyParameters) -> bool:
    bound = _marginal_bound(params)
    return per_capita <= bound if params.marginal_bound_inclusive else per_capita < bound


def _single_person_cover(ctx: _Context, steps: list[Step]) -> list[CoveredPerson]:
    """Members who may be covered alone: the household is within the marginal band with
    assets within limits (单人保 is for 低保边缘 households), the member has a qualifying
    disability or illness, and their own counted income is below the standard. Each receives
    standard − own counted income."""
    params = ctx.params
    reasons = [(m, _single_person_reason(m, params, ctx.on)) for m in ctx.members]
    reasons = [(m, r) for m, r in reasons if r is not None]
    if not reasons:
        steps.append(Step("minimum_living.single_none", {}, "not_met"))
        return []
    if not ctx.assets_ok:
        steps.append(Step("minimum_living.single_assets_over", {}, "not_met"))
        return []
    bound = _marginal_bound(params)
    if not _within_marginal_band(ctx.per_capita, params):
        steps.append(
            Step(
                "minimum_living.single_outside_band",
                {"per_capita": _yuan(ctx.per_capita), "bound": _yuan(bound)},
                "not_met",
            )
        )
        return []
    covered = []
    for member, reason in reasons:
        steps.append(reason)
        own = ctx.member_income[member.key].net
        figures = {"member": member.name, "standard": _yuan(params.standard), "own": _yuan(own)}
        if own < params.standard:
            amount = money(params.standard - own)
            steps.append(
                Step("minimum_living.single_amount", figures | {"amount": _yuan(amount)}, "met")
            )
            covered.append(CoveredPerson(member.key, member.name, Coverage.SINGLE_PERSON, amount))
        else:
            steps.append(Step("minimum_living.single_own_income_over", figures, "not_met"))
    return covered


def _decide_minimum_living(ctx: _Context, decided: Mapping[str, ProgramResult]) -> ProgramResult:
    params = ctx.params
    steps: list[Step] = []
    figures = {"per_capita": _yuan(ctx.per_capita), "standard": _yuan(params.standard)}
    below = ctx.per_capita < params.standard
    steps.append(
        Step(
            "minimum_living.below" if below else "minimum_living.not_below",
            figures,
            "met" if below else "not_met",
        )
    )
    if below and not ctx.assets_ok:
        steps.append(Step("minimum_living.assets_over", {}, "not_met"))
    if below and ctx.assets_ok:
        amount = money(params.standard * ctx.n - ctx.counted_income)
        steps.append(
            Step(
                "minimum_living.amount",
                {
                    "standard": _yuan(params.standard),
                    "members": ctx.n,
                    "counted": _yuan(ctx.counted_income),
                    "amount": _yuan(amount),
                },
                "eligible",
            )
        )
        # Never less than the qualifying members would receive covered alone: otherwise a
        # yuan less of income could lower the benefit (see docs/assistance-eligibility.md).
        alone = _single_person_cover(ctx, [])
        alone_total = sum((p.monthly_amount for p in alone), ZERO)
        if alone_total > amount:
            steps.append(
                Step(
                    "minimum_living.single_floor",
                    {"amount": _yuan(amount), "alone": _yuan(alone_total)},
                    "eligible",
                )
            )
            amount = alone_total
        return ProgramResult(
            Program.MINIMUM_LIVING,
            True,
            classification=Coverage.HOUSEHOLD,
            monthly_amount=amount,
            persons_covered=ctx.n,
            trace=tuple(steps),
        )
    steps.append(Step("minimum_living.single_check", {}))
    covered = _single_person_cover(ctx, steps)
    if covered:
        total = sum((p.monthly_amount for p in covered), ZERO)
        steps.append(
            Step(
                "minimum_living.single_total",
                {"persons": len(covered), "amount": _yuan(total)},
                "eligible",
            )
        )
        return ProgramResult(
            Program.MINIMUM_LIVING,
            True,
            classification=Coverage.SINGLE_PERSON,
            monthly_amount=total,
            persons_covered=len(covered),
            covered=tuple(covered),
            trace=tuple(steps),
        )
    steps.append(Step("minimum_living.not_eligible", {}, "not_eligible"))
    return ProgramResult(Program.MINIMUM_LIVING, False, trace=tuple(steps))


# --- 特困 ---------------------------------------------------------------------------------------


def _care_amount(level: str, params: PolicyParameters) -> Decimal:
    return {
        SelfCareLevel.INDEPENDENT: params.care_independent,
        SelfCareLevel.PARTIAL: params.care_partial,
        SelfCareLevel.DEPENDENT: params.care_dependent,
    }[level]


def _decide_extreme_poverty(ctx: _Context, decided: Mapping[str, ProgramResult]) -> ProgramResult:
    """Per member, the three conditions of 《特困人员认定办法》: (1) no capacity to work — recorded
    as unable, or 60 or older, or under 16; (2) no livelihood — the household's counted per-capita
    income below the extreme-poverty standard and its assets within limits; (3) no legal
    supporter, or every supporter unable to support. Then the care tier by the latest
    self-care assessment; monthly amount = extreme-poverty standard + care amount."""
    params = ctx.params
    steps: list[Step] = []
    arrangement = ctx.options.extreme_poverty_arrangement or ctx.snapshot.care_arrangement
    standard = _yuan(params.extreme_poverty_standard)
    income_ok = ctx.per_capita < params.extreme_poverty_standard
    steps.append(
        Step(
            "extreme_poverty.livelihood_income" if income_ok else "extreme_poverty.income_over",
            {"per_capita": _yuan(ctx.per_capita), "standard": standard},
            "met" if income_ok else "not_met",
        )
    )
    if income_ok and not ctx.assets_ok:
        steps.append(Step("extreme_poverty.assets_over", {}, "not_met"))
    livelihood_ok = income_ok and ctx.assets_ok
    covered = []
    for member in ctx.members:
        age = age_on(member.birth_date, ctx.on)
        who: dict[str, Any] = {"member": member.name, "age": age}
        if member.work_capacity == WorkCapacity.NONE:
            steps.append(Step("extreme_poverty.capacity_none", who, "met"))
        elif age >= OLD_AGE:
            steps.append(Step("extreme_poverty.capacity_old", who | {"limit": OLD_AGE}, "met"))
        elif age < MINOR_AGE:
            steps.append(Step("extreme_poverty.capacity_minor", who | {"limit": MINOR_AGE}, "met"))
        else:
            steps.append(
                Step(
                    "extreme_poverty.capacity_able",
                    who | {"work_capacity": member.work_capacity},
                    "not_met",
                )
            )
            continue
        if not livelihood_ok:
            steps.append(Step("extreme_poverty.livelihood_not_met", who, "not_met"))
            continue
        if not _no_able_supporter(member, steps):
            continue
        assessment = member.latest_self_care(ctx.on)
        if assessment is None:
            level = SelfCareLevel.INDEPENDENT
            care = money(_care_amount(level, params))
            steps.append(Step("extreme_poverty.self_care_missing", who | {"care": _yuan(care)}))
        else:
            level = assessment.level
            care = money(_care_amount(level, params))
            steps.append(
                Step(
                    "extreme_poverty.self_care",
                    who
                    | {
                        "assessed_on": assessment.assessed_on.isoformat(),
                        "items": assessment.items_not_managed,
                        "level": level,
                        "care": _yuan(care),
                    },
                )
            )
        amount = money(params.extreme_poverty_standard + care)
        steps.append(
            Step(
                "extreme_poverty.amount",
                who
                | {
                    "arrangement": arrangement,
                    "standard": standard,
                    "care": _yuan(care),
                    "amount": _yuan(amount),
                },
                "eligible",
            )
        )
        covered.append(CoveredPerson(member.key, member.name, f"{arrangement}/{level}", amount))
    if not covered:
        steps.append(Step("extreme_poverty.none", {}, "not_eligible"))
        return ProgramResult(Program.EXTREME_POVERTY, False, trace=tuple(steps))
    total = sum((p.monthly_amount for p in covered), ZERO)
    steps.append(
        Step("extreme_poverty.total", {"persons": len(covered), "amount": _yuan(total)}, "eligible")
    )
    return ProgramResult(
        Program.EXTREME_POVERTY,
        True,
        # One person is the usual case; several covered members each keep their own tier.
        classification=covered[0].classification if len(covered) == 1 else arrangement,
        monthly_amount=total,
        persons_covered=len(covered),
        covered=tuple(covered),
        trace=tuple(steps),
    )


def _no_able_supporter(member: Member, steps: list[Step]) -> bool:
    if not member.supporters:
        steps.append(Step("extreme_poverty.no_supporters", {"member": member.name}, "met"))
        return True
    able = False
    for supporter in member.supporters:
        figures = {
            "member": member.name,
            "supporter": supporter.name,
            "supporter_relation": supporter.relation,
        }
        if supporter.able_to_support:
            able = True
            steps.append(Step("extreme_poverty.supporter_able", figures, "not_met"))
        else:
            steps.append(Step("extreme_poverty.supporter_unable", figures, "met"))
    if not able:
        steps.append(
            Step(
                "extreme_poverty.supporters_unable",
                {"member": member.name, "count": len(member.supporters)},
                "met",
            )
        )
    return not able


# --- 低保边缘 -----------------------------------------------------------------------------------


def _decide_marginal(ctx: _Context, decided: Mapping[str, ProgramResult]) -> ProgramResult:
    params = ctx.params
    steps: list[Step] = []
    minimum = decided[Program.MINIMUM_LIVING]
    if minimum.eligible and minimum.classification == Coverage.HOUSEHOLD:
        steps.append(Step("marginal.minimum_living", {}, "not_eligible"))
        return ProgramResult(Program.MARGINAL, False, trace=tuple(steps))
    bound = _marginal_bound(params)
    within = _within_marginal_band(ctx.per_capita, params)
    side = "within" if within else "outside"
    kind = "inclusive" if params.marginal_bound_inclusive else "exclusive"
    steps.append(
        Step(
            f"marginal.{side}_{kind}",
            {
                "per_capita": _yuan(ctx.per_capita),
                "bound": _yuan(bound),
                "multiple": _number(params.marginal_multiple),
                "standard": _yuan(params.standard),
            },
            "met" if within else "not_met",
        )
    )
    if within and not ctx.assets_ok:
        steps.append(Step("marginal.assets_over", {}, "not_met"))
    eligible = within and ctx.assets_ok
    steps.append(
        Step(
            "marginal.eligible" if eligible else "marginal.not_eligible",
            {},
            "eligible" if eligible else "not_eligible",
        )
    )
    return ProgramResult(
        Program.MARGINAL,
        eligible,
        classification=Program.MARGINAL if eligible else "",
        persons_covered=ctx.n if eligible else 0,
        trace=tuple(steps),
    )


# --- 刚性支出困难 --------------------------------------------------------------------------------


def _twelve_months(on: dt.date) -> tuple[dt.date, list[dt.date]]:
    """The 12 calendar months ending with the month of `on`: the first day of the first, and
    a reference day per month — its last day, `on` itself for the current month."""
    first = add_months(on.replace(day=1), -11)
    days = []
    for i in range(11):
        start = add_months(first, i)
        days.append(start.replace(day=calendar.monthrange(start.year, start.month)[1]))
    days.append(on)
    return first, days


def _decide_rigid_expenditure(ctx: _Context, decided: Mapping[str, ProgramResult]) -> ProgramResult:
    """刚性支出困难: over the 12 calendar months ending with the date's month, (1) rigid
    expenditure exceeds rigid_expenditure_share of the household's counted income of those
    months, (2) counted per-capita income after deducting the monthly average of that
    expenditure is below the standard, (3) counted per-capita income is below the reference
    per-capita disposable income, and (4) assets are within limits."""
    params = ctx.params
    steps: list[Step] = []
    first, reference_days = _twelve_months(ctx.on)
    by_kind: dict[str, Decimal] = {}
    for member in ctx.members:
        for spent in member.expenditures:
            end = spent.valid_to or spent.valid_from
            if spent.valid_from <= ctx.on and end >= first:
                by_kind[spent.kind] = by_kind.get(spent.kind, ZERO) + money(spent.amount)
                steps.append(
                    Step(
                        "rigid.expenditure",
                        {
                            "member": member.name,
                            "kind": spent.kind,
                            "amount": _yuan(spent.amount),
                            "valid_from": spent.valid_from.isoformat(),
                            "valid_to": end.isoformat(),
                        },
                        "counted",
                    )
                )
    expenditure = sum(by_kind.values(), ZERO)
    income = sum((counted_income_on(ctx.members, params, day) for day in reference_days), ZERO)
    steps.append(
        Step(
            "rigid.income",
            {
                "first_month": first.strftime("%Y-%m"),
                "last_month": ctx.on.strftime("%Y-%m"),
                "income": _yuan(income),
                "expenditure": _yuan(expenditure),
            },
        )
    )
    threshold = money(income * params.rigid_expenditure_share)
    share_ok = expenditure > threshold
    steps.append(
        Step(
            "rigid.share_over" if share_ok else "rigid.share_not_over",
            {
                "expenditure": _yuan(expenditure),
                "share": _percent(params.rigid_expenditure_share),
                "threshold": _yuan(threshold),
            },
            "met" if share_ok else "not_met",
        )
    )
    monthly = money(expenditure / 12)
    after = money(max(ZERO, ctx.counted_income - monthly) / ctx.n)
    after_ok = after < params.standard
    steps.append(
        Step(
            "rigid.after_below" if after_ok else "rigid.after_not_below",
            {
                "counted": _yuan(ctx.counted_income),
                "monthly": _yuan(monthly),
                "members": ctx.n,
                "per_capita": _yuan(after),
                "standard": _yuan(params.standard),
            },
            "met" if after_ok else "not_met",
        )
    )
    reference_ok = ctx.per_capita < params.reference_disposable_income
    steps.append(
        Step(
            "rigid.reference_below" if reference_ok else "rigid.reference_not_below",
            {
                "per_capita": _yuan(ctx.per_capita),
                "reference": _yuan(params.reference_disposable_income),
            },
            "met" if reference_ok else "not_met",
        )
    )
    if not ctx.assets_ok:
        steps.append(Step("rigid.assets_over", {}, "not_met"))
    eligible = share_ok and after_ok and reference_ok and ctx.assets_ok
    # The larger of medical and education says which special assistance to turn to.
    kind = max(sorted(by_kind), key=lambda k: by_kind[k]) if by_kind else ""
    steps.append(
        Step("rigid.eligible", {"kind": kind}, "eligible")
        if eligible
        else Step("rigid.not_eligible", {}, "not_eligible")
    )
    return ProgramResult(
        Program.RIGID_EXPENDITURE,
        eligible,
        classification=kind if eligible else "",
        persons_covered=ctx.n if eligible else 0,
        trace=tuple(steps),
    )


# --- 临时救助 -----------------------------------------------------------------------------------


def _decide_temporary(ctx: _Context, decided: Mapping[str, ProgramResult]) -> ProgramResult:
    """Per event: up to temporary_cap_multiple (temporary_hard_multiple when especially hard)
    × standard × persons struck; the hardship amount comes with the request; the street
    approves up to its ceiling, the district above."""
    params = ctx.params
    opts = ctx.options
    steps: list[Step] = []
    persons = opts.temporary_persons if opts.temporary_persons is not None else ctx.n
    multiple = (
        params.temporary_hard_multiple if opts.especially_hard else params.temporary_cap_multiple
    )
    cap = money(multiple * params.standard * persons)
    steps.append(
        Step(
            "temporary.cap_hard" if opts.especially_hard else "temporary.cap",
            {
                "temporary_kind": opts.temporary_kind,
                "multiple": _number(multiple),
                "standard": _yuan(params.standard),
                "persons": persons,
                "cap": _yuan(cap),
            },
        )
    )
    if opts.hardship_amount is None or opts.hardship_amount <= 0 or persons <= 0:
        steps.append(Step("temporary.no_amount", {"cap": _yuan(cap)}, "not_eligible"))
        return ProgramResult(
            Program.TEMPORARY, False, classification=opts.temporary_kind, trace=tuple(steps)
        )
    requested = money(opts.hardship_amount)
    amount = min(requested, cap)
    steps.append(
        Step(
            "temporary.within_cap" if requested <= cap else "temporary.capped",
            {"requested": _yuan(requested), "cap": _yuan(cap), "amount": _yuan(amount)},
            "eligible",
        )
    )
    street = amount <= params.street_approval_ceiling
    steps.append(
        Step(
            "temporary.street" if street else "temporary.district",
            {"amount": _yuan(amount), "ceiling": _yuan(params.street_approval_ceiling)},
        )
    )
    return ProgramResult(
        Program.TEMPORARY,
        True,
        classification=opts.temporary_kind,
        amount=amount,
        persons_covered=persons,
        approval_tier=ApprovalTier.STREET if street else ApprovalTier.DISTRICT,
        trace=tuple(steps),
    )


# --- grants ------------------------------------------------------------------------------------


def _recipients(ctx: _Context, decided: Mapping[str, ProgramResult], steps: list[Step]) -> int:
    """Persons receiving 低保 or 特困: as the request says, or by this assessment (the union of
    the persons each covers, never more than the members)."""
    receiving = ctx.options.receiving
    if receiving is not None:
        programs = [
            p for p in (Program.MINIMUM_LIVING, Program.EXTREME_POVERTY) if receiving.get(p, 0) > 0
        ]
        persons = min(ctx.n, sum(receiving[p] for p in programs))
        code = "grants.receiving"
    else:
        keys: set[str] = set()
        programs = []
        for program in (Program.MINIMUM_LIVING, Program.EXTREME_POVERTY):
            result = decided[program]
            if not result.eligible:
                continue
            programs.append(program)
            if result.covered:
                keys |= {p.key for p in result.covered}
            else:
                keys |= {m.key for m in ctx.members}
        persons = len(keys)
        code = "grants.assessed"
    if not programs or persons == 0:
        steps.append(Step("grants.no_recipients", {}, "not_eligible"))
        return 0
    steps.append(Step(code, {"programs": ",".join(programs), "persons": persons}, "met"))
    return persons


def _decide_heating(ctx: _Context, decided: Mapping[str, ProgramResult]) -> ProgramResult:
    steps: list[Step] = []
    persons = _recipients(ctx, decided, steps)
    amount = money(ctx.params.heating_per_household)
    if persons and amount == 0:
        steps.append(Step("heating.none", {}, "not_eligible"))
    eligible = bool(persons) and amount > 0
    if eligible:
        steps.append(Step("heating.amount", {"amount": _yuan(amount)}, "eligible"))
    return ProgramResult(
        Program.HEATING,
        eligible,
        amount=amount if eligible else ZERO,
        persons_covered=persons if eligible else 0,
        trace=tuple(steps),
    )


def _decide_one_off(ctx: _Context, decided: Mapping[str, ProgramResult]) -> ProgramResult:
    steps: list[Step] = []
    persons = _recipients(ctx, decided, steps)
    per_person = money(ctx.params.one_off_per_person)
    if persons and per_person == 0:
        steps.append(Step("one_off.none", {}, "not_eligible"))
    eligible = bool(persons) and per_person > 0
    amount = money(per_person * persons) if eligible else ZERO
    if eligible:
        steps.append(
            Step(
                "one_off.amount",
                {"per_person": _yuan(per_person), "persons": persons, "amount": _yuan(amount)},
                "eligible",
            )
        )
    return ProgramResult(
        Program.ONE_OFF,
        eligible,
        amount=amount,
        persons_covered=persons if eligible else 0,
        trace=tuple(steps),
    )


def _decide_price_subsidy(ctx: _Context, decided: Mapping[str, ProgramResult]) -> ProgramResult:
    """价格临时补贴: when the CPI rise reaches the trigger, standard × rise / 100 per recipient,
    rounded to the fen per person before multiplying."""
    params = ctx.params
    steps: list[Step] = []
    figures = {"rise": _number(params.price_cpi_rise), "trigger": _number(params.price_cpi_trigger)}
    if params.price_cpi_rise < params.price_cpi_trigger:
        steps.append(Step("price.below_trigger", figures, "not_eligible"))
        return ProgramResult(Program.PRICE_SUBSIDY, False, trace=tuple(steps))
    persons = _recipients(ctx, decided, steps)
    per_person = money(params.standard * params.price_cpi_rise / 100)
    eligible = bool(persons) and per_person > 0
    amount = money(per_person * persons) if eligible else ZERO
    if eligible:
        steps.append(
            Step(
                "price.amount",
                figures
                | {
                    "standard": _yuan(params.standard),
                    "per_person": _yuan(per_person),
                    "persons": persons,
                    "amount": _yuan(amount),
                },
                "eligible",
            )
        )
    return ProgramResult(
        Program.PRICE_SUBSIDY,
        eligible,
        amount=amount,
        persons_covered=persons if eligible else 0,
        trace=tuple(steps),
    )


# In dependency order: the marginal band and the grants read 低保 and 特困.
_DECISIONS = (
    (Program.MINIMUM_LIVING, _decide_minimum_living),
    (Program.EXTREME_POVERTY, _decide_extreme_poverty),
    (Program.MARGINAL, _decide_marginal),
    (Program.RIGID_EXPENDITURE, _decide_rigid_expenditure),
    (Program.TEMPORARY, _decide_temporary),
    (Program.HEATING, _decide_heating),
    (Program.ONE_OFF, _decide_one_off),
    (Program.PRICE_SUBSIDY, _decide_price_subsidy),
)
_GRANT_INPUTS = (Program.MINIMUM_LIVING, Program.EXTREME_POVERTY)
_DEPENDS_ON: dict[str, tuple[str, ...]] = {
    Program.MARGINAL: (Program.MINIMUM_LIVING,),
    Program.HEATING: _GRANT_INPUTS,
    Program.ONE_OFF: _GRANT_INPUTS,
    Program.PRICE_SUBSIDY: _GRANT_INPUTS,
}


# --- sentences ---------------------------------------------------------------------------------

# One sentence per step code, with named placeholders filled from the step's figures.
SENTENCES: dict[str, Any] = {
    "members.none": _("No member is counted on %(on)s: no program applies."),
    "member.counted": _("%(member)s (%(relation)s, aged %(age)s) is counted as a member."),
    "member.not_born": _("%(member)s (%(relation)s) is not counted: born after the date."),
    "member.died": _("%(member)s (%(relation)s) is not counted: died on %(died_on)s."),
    "member.not_active": _("%(member)s (%(relation)s) is not counted: %(status)s."),
    "members.total": _("Members counted: %(count)s."),
    "income.counted": _("%(member)s: %(kind)s of %(amount)s yuan a month is counted."),
    "income.exempt": _("%(member)s: %(kind)s of %(amount)s yuan a month is exempt, not counted."),
    "income.deducted": _(
        "%(member)s: %(kind)s of %(amount)s yuan a month is deducted from the counted income."
    ),
    "income.not_member": _(
        "%(member)s is not counted, so their %(kind)s of %(amount)s yuan is left out."
    ),
    "income.new_employment": _(
        "%(member)s: wages of %(amount)s yuan a month from new employment since %(valid_from)s "
        "are exempt for %(months)s months (the exemption ends on %(ends_on)s) up to %(cap)s yuan "
        "(%(multiple)s × the standard %(standard)s yuan): %(exempt)s yuan exempt, "
        "%(counted)s yuan counted."
    ),
    "income.new_employment_ended": _(
        "%(member)s: wages of %(amount)s yuan a month from new employment since %(valid_from)s: "
        "the %(months)s-month exemption ended on %(ends_on)s, so they are counted in full."
    ),
    "income.employment_cost": _(
        "%(member)s: employment-cost deduction of %(share)s%% of counted wages %(wage)s yuan, "
        "at most %(cap)s yuan: %(deduction)s yuan."
    ),
    "income.total": _(
        "Counted household income: %(counted)s counted − %(deducted)s deducted − "
        "%(employment_cost)s employment cost = %(total)s yuan a month."
    ),
    "income.total_floored": _(
        "Counted household income: %(counted)s counted − %(deducted)s deducted − "
        "%(employment_cost)s employment cost is below zero, so it is taken as %(total)s yuan."
    ),
    "income.per_capita": _(
        "Per-capita counted income: %(total)s yuan ÷ %(members)s members = %(per_capita)s yuan."
    ),
    "assets.savings_within": _(
        "Savings and securities of %(savings)s yuan are within the limit of %(limit)s yuan "
        "(%(per_person)s yuan × %(members)s members)."
    ),
    "assets.savings_over": _(
        "Savings and securities of %(savings)s yuan exceed the limit of %(limit)s yuan "
        "(%(per_person)s yuan × %(members)s members)."
    ),
    "assets.vehicles_within": _("Vehicles: %(count)s, at most %(allowed)s allowed."),
    "assets.vehicles_over": _("Vehicles: %(count)s, more than the %(allowed)s allowed."),
    "assets.housing_none": _("No extra housing is recorded."),
    "assets.housing_allowed": _("Extra housing is recorded (%(count)s); the policy allows it."),
    "assets.housing_over": _(
        "Extra housing is recorded (%(count)s); the policy does not allow it."
    ),
    "minimum_living.below": _(
        "Per-capita counted income %(per_capita)s yuan is below the standard %(standard)s yuan."
    ),
    "minimum_living.not_below": _(
        "Per-capita counted income %(per_capita)s yuan is not below the standard "
        "%(standard)s yuan: the household as a whole is not eligible."
    ),
    "minimum_living.assets_over": _(
        "The assets exceed the limits: the household as a whole is not eligible."
    ),
    "minimum_living.amount": _(
        "Eligible. Monthly amount = standard %(standard)s yuan × %(members)s members − counted "
        "income %(counted)s yuan = %(amount)s yuan."
    ),
    "minimum_living.single_floor": _(
        "The members who may be covered alone would receive %(alone)s yuan, more than "
        "%(amount)s yuan: the household receives %(alone)s yuan."
    ),
    "minimum_living.single_check": _("Members who may be covered alone are checked."),
    "minimum_living.single_none": _(
        "No member has a disability or serious illness that allows covering them alone."
    ),
    "minimum_living.single_assets_over": _(
        "The household's assets exceed the limits, so no member can be covered alone."
    ),
    "minimum_living.single_outside_band": _(
        "Per-capita counted income %(per_capita)s yuan is outside the marginal band of "
        "%(bound)s yuan, so no member can be covered alone."
    ),
    "minimum_living.single_reason_disability": _(
        "%(member)s has a %(category)s disability of grade %(grade)s (grade %(max)s or more "
        "severe qualifies): may be covered alone."
    ),
    "minimum_living.single_reason_mental": _(
        "%(member)s has a %(category)s disability of grade %(grade)s (intellectual or mental "
        "grade %(max)s or more severe qualifies): may be covered alone."
    ),
    "minimum_living.single_reason_illness": _(
        "%(member)s has a serious illness (%(illness)s): may be covered alone."
    ),
    "minimum_living.single_amount": _(
        "%(member)s is covered alone: standard %(standard)s yuan − own counted income "
        "%(own)s yuan = %(amount)s yuan a month."
    ),
    "minimum_living.single_own_income_over": _(
        "%(member)s's own counted income %(own)s yuan is not below the standard %(standard)s "
        "yuan: not covered alone."
    ),
    "minimum_living.single_total": _(
        "Eligible for %(persons)s members covered alone: %(amount)s yuan a month."
    ),
    "minimum_living.not_eligible": _("Not eligible for the minimum living guarantee."),
    "extreme_poverty.livelihood_income": _(
        "Per-capita counted income %(per_capita)s yuan is below the extreme-poverty standard "
        "%(standard)s yuan."
    ),
    "extreme_poverty.income_over": _(
        "Per-capita counted income %(per_capita)s yuan is not below the extreme-poverty standard "
        "%(standard)s yuan: there is a livelihood."
    ),
    "extreme_poverty.assets_over": _("The assets exceed the limits: there is a livelihood."),
    "extreme_poverty.capacity_none": _(
        "%(member)s (aged %(age)s) is recorded as unable to work: condition 1 is met."
    ),
    "extreme_poverty.capacity_old": _(
        "%(member)s is aged %(age)s, %(limit)s or older: condition 1 is met."
    ),
    "extreme_poverty.capacity_minor": _(
        "%(member)s is aged %(age)s, under %(limit)s: condition 1 is met."
    ),
    "extreme_poverty.capacity_able": _(
        "%(member)s (aged %(age)s, %(work_capacity)s) is not without capacity to work: "
        "condition 1 is not met."
    ),
    "extreme_poverty.livelihood_not_met": _(
        "%(member)s: the household has a livelihood: condition 2 is not met."
    ),
    "extreme_poverty.no_supporters": _("%(member)s has no legal supporter: condition 3 is met."),
    "extreme_poverty.supporter_able": _(
        "%(member)s: the supporter %(supporter)s (%(supporter_relation)s) is able to support: "
        "condition 3 is not met."
    ),
    "extreme_poverty.supporter_unable": _(
        "%(member)s: the supporter %(supporter)s (%(supporter_relation)s) is unable to support."
    ),
    "extreme_poverty.supporters_unable": _(
        "%(member)s: all %(count)s legal supporters are unable to support: condition 3 is met."
    ),
    "extreme_poverty.self_care": _(
        "%(member)s: self-care assessment of %(assessed_on)s, %(items)s of 6 items not managed: "
        "%(level)s, care amount %(care)s yuan."
    ),
    "extreme_poverty.self_care_missing": _(
        "%(member)s: no self-care assessment on file; the care amount for full self-care, "
        "%(care)s yuan, applies until one is made."
    ),
    "extreme_poverty.amount": _(
        "%(member)s is eligible, in %(arrangement)s: extreme-poverty standard %(standard)s "
        "yuan + care %(care)s yuan = %(amount)s yuan a month."
    ),
    "extreme_poverty.none": _("No member meets all three conditions of extreme poverty."),
    "extreme_poverty.total": _(
        "Extreme-poverty support for %(persons)s persons: %(amount)s yuan a month."
    ),
    "marginal.minimum_living": _(
        "The household is eligible for the minimum living guarantee, so it is not a marginal "
        "household."
    ),
    "marginal.within_inclusive": _(
        "Per-capita counted income %(per_capita)s yuan is at or below the marginal bound "
        "%(bound)s yuan (%(multiple)s × the standard %(standard)s yuan)."
    ),
    "marginal.outside_inclusive": _(
        "Per-capita counted income %(per_capita)s yuan is above the marginal bound %(bound)s "
        "yuan (%(multiple)s × the standard %(standard)s yuan)."
    ),
    "marginal.within_exclusive": _(
        "Per-capita counted income %(per_capita)s yuan is below the marginal bound %(bound)s "
        "yuan (%(multiple)s × the standard %(standard)s yuan)."
    ),
    "marginal.outside_exclusive": _(
        "Per-capita counted income %(per_capita)s yuan is not below the marginal bound "
        "%(bound)s yuan (%(multiple)s × the standard %(standard)s yuan)."
    ),
    "marginal.assets_over": _("The assets exceed the limits."),
    "marginal.eligible": _("Eligible as a marginal household: special assistance, no cash."),
    "marginal.not_eligible": _("Not eligible as a marginal household."),
    "rigid.expenditure": _(
        "%(member)s: %(kind)s expenditure of %(amount)s yuan (%(valid_from)s to %(valid_to)s) "
        "is counted."
    ),
    "rigid.income": _(
        "Over %(first_month)s to %(last_month)s: rigid expenditure %(expenditure)s yuan, "
        "counted household income %(income)s yuan."
    ),
    "rigid.share_over": _(
        "Rigid expenditure %(expenditure)s yuan is more than %(share)s%% of that income "
        "(%(threshold)s yuan)."
    ),
    "rigid.share_not_over": _(
        "Rigid expenditure %(expenditure)s yuan is not more than %(share)s%% of that income "
        "(%(threshold)s yuan)."
    ),
    "rigid.after_below": _(
        "After deducting the monthly average of rigid expenditure: (%(counted)s − %(monthly)s) "
        "÷ %(members)s = %(per_capita)s yuan per person, below the standard %(standard)s yuan."
    ),
    "rigid.after_not_below": _(
        "After deducting the monthly average of rigid expenditure: (%(counted)s − %(monthly)s) "
        "÷ %(members)s = %(per_capita)s yuan per person, not below the standard "
        "%(standard)s yuan."
    ),
    "rigid.reference_below": _(
        "Per-capita counted income %(per_capita)s yuan is below the reference per-capita "
        "disposable income %(reference)s yuan."
    ),
    "rigid.reference_not_below": _(
        "Per-capita counted income %(per_capita)s yuan is not below the reference per-capita "
        "disposable income %(reference)s yuan."
    ),
    "rigid.assets_over": _("The assets exceed the limits."),
    "rigid.eligible": _(
        "Eligible for rigid-expenditure hardship assistance (mostly %(kind)s): special "
        "assistance, no cash."
    ),
    "rigid.not_eligible": _("Not eligible for rigid-expenditure hardship assistance."),
    "temporary.cap": _(
        "%(temporary_kind)s temporary assistance: at most %(multiple)s × the standard "
        "%(standard)s yuan × %(persons)s persons = %(cap)s yuan for this event."
    ),
    "temporary.cap_hard": _(
        "%(temporary_kind)s temporary assistance, especially hard: at most %(multiple)s × the "
        "standard %(standard)s yuan × %(persons)s persons = %(cap)s yuan for this event."
    ),
    "temporary.no_amount": _("No hardship amount is stated: up to %(cap)s yuan could be granted."),
    "temporary.within_cap": _(
        "The hardship amount %(requested)s yuan is within the cap: %(amount)s yuan."
    ),
    "temporary.capped": _(
        "The hardship amount %(requested)s yuan exceeds the cap %(cap)s yuan: %(amount)s yuan."
    ),
    "temporary.street": _(
        "%(amount)s yuan is within the street's approval ceiling of %(ceiling)s yuan: the "
        "street approves."
    ),
    "temporary.district": _(
        "%(amount)s yuan exceeds the street's approval ceiling of %(ceiling)s yuan: the district "
        "approves."
    ),
    "grants.receiving": _(
        "%(persons)s persons of the household receive the minimum living guarantee or "
        "extreme-poverty support (%(programs)s)."
    ),
    "grants.assessed": _(
        "By this assessment %(persons)s persons of the household are eligible for the minimum "
        "living guarantee or extreme-poverty support (%(programs)s)."
    ),
    "grants.no_recipients": _(
        "The household receives neither the minimum living guarantee nor extreme-poverty "
        "support: not eligible."
    ),
    "heating.amount": _("Heating subsidy for the household: %(amount)s yuan."),
    "heating.none": _("The policy grants no heating subsidy."),
    "one_off.amount": _(
        "One-off living subsidy: %(per_person)s yuan × %(persons)s persons = %(amount)s yuan."
    ),
    "one_off.none": _("The policy grants no one-off living subsidy."),
    "price.below_trigger": _(
        "The CPI rise of %(rise)s%% is below the trigger of %(trigger)s%%: no price subsidy."
    ),
    "price.amount": _(
        "The CPI rise of %(rise)s%% reaches the trigger of %(trigger)s%%: standard %(standard)s "
        "yuan × %(rise)s%% = %(per_person)s yuan × %(persons)s persons = %(amount)s yuan."
    ),
}

# Figures holding a code whose label is shown instead.
_LABELS: dict[str, Any] = {
    "kind": FinanceKind,
    "relation": Relation,
    "status": RecordStatus,
    "level": SelfCareLevel,
    "work_capacity": WorkCapacity,
    "category": DisabilityCategory,
    "supporter_relation": SupporterRelation,
    "temporary_kind": TemporaryKind,
}
_NOT_RECORDED = {
    "relation": _("relation not recorded"),
    "work_capacity": _("capacity to work not recorded"),
    "supporter": _("unnamed"),
}


def _display(key: str, value: Any) -> Any:
    if key == "programs":
        return gettext(", ").join(
            str(Program(code).label) for code in str(value).split(",") if code in Program.values
        )
    if key == "arrangement":
        return str(dict(CareArrangement.choices).get(value, value))
    if value in ("", None) and key in _NOT_RECORDED:
        return str(_NOT_RECORDED[key])
    choices = _LABELS.get(key)
    if choices is not None and value in choices.values:
        return str(choices(value).label)
    return value


_COVERAGE_LABELS = {
    Coverage.HOUSEHOLD: _("The household as a whole"),
    Coverage.SINGLE_PERSON: _("Members covered alone"),
}


def classification_label(program: str, classification: str) -> str:
    """A result's classification in words: 低保 coverage, 特困 arrangement and care tier, the
    kind of rigid expenditure or of temporary assistance."""
    if not classification:
        return ""
    if program == Program.MINIMUM_LIVING:
        return str(_COVERAGE_LABELS.get(classification, classification))
    if program == Program.EXTREME_POVERTY:
        arrangement, _slash, level = classification.partition("/")
        words = [str(_display("arrangement", arrangement))]
        if level in SelfCareLevel.values:
            words.append(str(SelfCareLevel(level).label))
        return gettext(", ").join(words)
    if program == Program.RIGID_EXPENDITURE:
        return str(_display("kind", classification))
    if program == Program.TEMPORARY:
        return str(_display("temporary_kind", classification))
    if program == Program.MARGINAL:
        return str(Program.MARGINAL.label)
    return classification


def render_step(code: str, figures: Mapping[str, Any]) -> str:
    """The step's sentence in the active language. An unknown code (a stored trace from a
    later version, say) is shown as its code and figures rather than lost."""
    message = SENTENCES.get(code)
    shown = {key: _display(key, value) for key, value in figures.items()}
    if message is None:
        return f"{code} {shown}"
    return str(message) % shown
