"""The parameters of an assistance policy (救助政策参数), as data.

Rules are national in shape and local in numbers: every number a decision uses is a field here,
stored per version of a locality's policy set (`PolicyVersion.parameters`) with the date it
takes effect. Nothing in the engine, the payment cycles or the simulation is a constant.

Money is Decimal yuan to the fen; multiples and shares are Decimals; limits in working days.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from linli.people.models import FinanceKind

Yuan = Annotated[Decimal, Field(ge=0, le=Decimal("10000000"), max_digits=12, decimal_places=2)]
Multiple = Annotated[Decimal, Field(ge=0, le=100, max_digits=8, decimal_places=4)]
Share = Annotated[Decimal, Field(ge=0, le=1, max_digits=6, decimal_places=4)]
Months = Annotated[int, Field(ge=0, le=120)]
WorkingDays = Annotated[int, Field(ge=0, le=365)]

INCOME_KINDS = frozenset(
    kind
    for kind in FinanceKind.values
    if kind not in {"savings", "securities", "vehicle", "extra_housing", "medical", "education"}
)

# Groups, in the order the policy page shows them: (key, label, fields).
GROUPS: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    ("standard", _("Standards"), ("standard", "extreme_poverty_standard")),
    (
        "income",
        _("Income"),
        (
            "counted_income_kinds",
            "exempt_income_kinds",
            "deducted_income_kinds",
            "employment_cost_share",
            "employment_cost_cap",
            "new_employment_exempt_months",
            "new_employment_exempt_cap_multiple",
        ),
    ),
    (
        "coverage",
        _("Coverage"),
        (
            "phase_out_months",
            "marginal_multiple",
            "marginal_bound_inclusive",
            "single_person_disability_grade_max",
            "single_person_mental_grade_max",
            "single_person_serious_illness",
        ),
    ),
    (
        "assets",
        _("Assets"),
        ("savings_per_person_limit", "vehicles_allowed", "extra_housing_allowed"),
    ),
    (
        "expenditure",
        _("Rigid expenditure"),
        ("rigid_expenditure_share", "reference_disposable_income"),
    ),
    (
        "extreme_poverty",
        _("Extreme-poverty care"),
        ("care_independent", "care_partial", "care_dependent"),
    ),
    (
        "temporary",
        _("Temporary assistance"),
        (
            "temporary_cap_multiple",
            "temporary_hard_multiple",
            "street_approval_ceiling",
            "emergency_documents_days",
        ),
    ),
    (
        "grants",
        _("Grants"),
        ("heating_per_household", "one_off_per_person", "price_cpi_trigger", "price_cpi_rise"),
    ),
    (
        "workflow",
        _("Time limits and reviews"),
        (
            "investigation_days",
            "notice_days",
            "decision_days",
            "total_days",
            "extended_total_days",
            "extreme_poverty_street_days",
            "extreme_poverty_district_days",
            "extreme_poverty_sample_share",
            "review_months",
            "unstable_review_months",
            "death_recheck_months",
            "credit_penalty_months",
        ),
    ),
)


class PolicyParameters(BaseModel):
    """Every number of a policy version. Field descriptions are what the policy page shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # 低保标准: per person per month.
    standard: Yuan = Field(description="Minimum living standard per person per month (低保标准)")
    # 特困基本生活标准 (commonly 1.3 × the 低保 standard, but set here as a figure).
    extreme_poverty_standard: Yuan = Field(
        description="Extreme-poverty basic living standard per person per month"
    )

    counted_income_kinds: list[str] = Field(
        default_factory=lambda: [
            "wage",
            "business",
            "property_income",
            "transfer",
            "other_income",
            "retirement_pension",
            "family_support",
        ],
        description="Income kinds counted in full",
    )
    exempt_income_kinds: list[str] = Field(
        default_factory=lambda: [
            "basic_pension",
            "elderly_allowance",
            "disability_allowance",
            "assistance_received",
            "scholarship",
            "merit_award",
        ],
        description="Income kinds not counted (收入豁免)",
    )
    # Subtracted from counted income (个人缴纳的社会保险费).
    deducted_income_kinds: list[str] = Field(
        default_factory=lambda: ["social_insurance"],
        description="Amounts deducted from counted income",
    )
    # 就业成本扣减: a share of each earner's wage, up to a cap per earner per month.
    employment_cost_share: Share = Field(
        default=Decimal("0.2"), description="Employment-cost deduction, share of wages"
    )
    employment_cost_cap: Yuan = Field(
        default=Decimal("300"), description="Employment-cost deduction cap per earner per month"
    )
    # 新增就业收入豁免: wages of new employment exempt for N months, up to a multiple of the
    # standard per month.
    new_employment_exempt_months: Months = Field(default=6)
    new_employment_exempt_cap_multiple: Multiple = Field(default=Decimal("1"))

    # 渐退: months a household whose income rose above the standard keeps its benefit.
    phase_out_months: Months = Field(default=6)
    # 低保边缘: counted per-capita income under marginal_multiple × standard.
    marginal_multiple: Multiple = Field(default=Decimal("1.5"))
    # True: the bound is included (以下, ≤); False: excluded (低于, <).
    marginal_bound_inclusive: bool = Field(default=True)
    # 单人保: a member may be covered alone with a disability of grade 1..this (any category)…
    single_person_disability_grade_max: Annotated[int, Field(ge=0, le=4)] = 2
    # …or an intellectual or mental disability of grade 1..this…
    single_person_mental_grade_max: Annotated[int, Field(ge=0, le=4)] = 3
    # …or a serious illness.
    single_person_serious_illness: bool = True

    savings_per_person_limit: Yuan = Field(default=Decimal("20000"))
    vehicles_allowed: Annotated[int, Field(ge=0, le=10)] = 0
    extra_housing_allowed: bool = False

    # 支出型: rigid (medical, education) spending of the last 12 months over this share of the
    # household's income of those months…
    rigid_expenditure_share: Share = Field(default=Decimal("0.5"))
    # …and per-capita income below the local per-capita disposable income (monthly).
    reference_disposable_income: Yuan = Field(default=Decimal("3000"))

    # 特困 care amounts per month by the self-care assessment (全自理/部分丧失/完全丧失).
    care_independent: Yuan = Field(default=Decimal("100"))
    care_partial: Yuan = Field(default=Decimal("400"))
    care_dependent: Yuan = Field(default=Decimal("800"))

    # 临时救助: per person per event up to cap_multiple × standard; hard_multiple for the
    # especially hard (特别困难); the street approves up to its ceiling, the district above.
    temporary_cap_multiple: Multiple = Field(default=Decimal("3"))
    temporary_hard_multiple: Multiple = Field(default=Decimal("6"))
    street_approval_ceiling: Yuan = Field(default=Decimal("3000"))
    # 先行救助: documents due this many working days after payment.
    emergency_documents_days: WorkingDays = 5

    heating_per_household: Yuan = Field(default=Decimal("0"))
    one_off_per_person: Yuan = Field(default=Decimal("0"))
    # 价格临时补贴: when the CPI rise (%, year on year) reaches the trigger, each recipient gets
    # standard × rise / 100 for the month.
    price_cpi_trigger: Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)] = Decimal("3.5")
    price_cpi_rise: Annotated[Decimal, Field(ge=-100, le=100, decimal_places=2)] = Decimal("0")

    investigation_days: WorkingDays = 3
    notice_days: Annotated[int, Field(ge=0, le=60)] = 7  # calendar days (公示 7 天)
    decision_days: WorkingDays = 10
    total_days: WorkingDays = 30
    extended_total_days: WorkingDays = 45
    extreme_poverty_street_days: WorkingDays = 15
    extreme_poverty_district_days: WorkingDays = 15
    extreme_poverty_sample_share: Share = Decimal("0.3")
    review_months: Months = 12
    unstable_review_months: Months = 6
    death_recheck_months: Months = 3
    credit_penalty_months: Months = 12

    @field_validator("counted_income_kinds", "exempt_income_kinds", "deducted_income_kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - INCOME_KINDS)
        if unknown:
            raise ValueError(f"unknown income kinds: {', '.join(unknown)}")
        if len(set(kinds)) != len(kinds):
            raise ValueError("an income kind is listed twice")
        return kinds

    @model_validator(mode="after")
    def _each_kind_treated_once(self) -> PolicyParameters:
        lists = (self.counted_income_kinds, self.exempt_income_kinds, self.deducted_income_kinds)
        seen: set[str] = set()
        for kinds in lists:
            twice = seen & set(kinds)
            if twice:
                raise ValueError(
                    f"income kinds both counted, exempted or deducted: {', '.join(sorted(twice))}"
                )
            seen |= set(kinds)
        missing = sorted(INCOME_KINDS - seen)
        if missing:
            raise ValueError(f"say whether these income kinds count: {', '.join(missing)}")
        if self.extended_total_days < self.total_days:
            raise ValueError("the extended time limit cannot be shorter than the normal one")
        return self

    def as_json(self) -> dict[str, Any]:
        """For `PolicyVersion.parameters`: Decimals as strings, so nothing is lost."""
        return self.model_dump(mode="json")


def demo_parameters(*, rural: bool) -> PolicyParameters:
    """The demo policy: Qinghai's figures from the seeds (heating 1,000 元 per urban and 800 元
    per rural household; one-off 300 元 per urban and 200 元 per rural person)."""
    standard = Decimal("700") if rural else Decimal("800")
    return PolicyParameters(
        standard=standard,
        extreme_poverty_standard=(standard * Decimal("1.3")).quantize(Decimal("0.01")),
        heating_per_household=Decimal("800") if rural else Decimal("1000"),
        one_off_per_person=Decimal("200") if rural else Decimal("300"),
    )
