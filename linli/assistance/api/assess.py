"""The eligibility check (资格测算) as a stateless API: a household snapshot and a policy in, each
program's answer with its trace out. Nothing is stored. A registered household is assessed by
id the same way, from the registry, under the policy version in force for it."""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from pydantic import AfterValidator, model_validator
from pydantic_core import PydanticCustomError

from linli.core.api import ERRORS, Date, Id, actor_of
from linli.core.text import control_character
from linli.people.models import (
    DisabilityCategory,
    RecordStatus,
    Registration,
    Relation,
    SupporterRelation,
    WorkCapacity,
)

from .. import assessments as assess_service
from .. import engine
from ..models import Program
from ..models.applications import TemporaryKind
from ..policy import INCOME_KINDS, demo_parameters

router = Router(tags=["assistance"])

# A household of more than 50 members, or a member with more than 50 records of a sort, is
# not a household the registry holds: refused before any work is done.
MAX_MEMBERS = 50
MAX_RECORDS = 50
MAX_FACTS = 20


class Strict(Schema):
    """A request part that refuses unknown fields: a misspelt "incomes" must not pass as a
    household without income."""

    model_config = {"extra": "forbid"}


def _plain_text(value: str) -> str:
    if control_character(value) is not None:
        raise PydanticCustomError(
            "control_character", _("Remove the invisible control character from this text.")
        )
    return value.strip()


def _choices(values) -> Any:
    return Literal[tuple(values)]


Text = Annotated[str, AfterValidator(_plain_text)]
Money = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("10000000"), max_digits=12, decimal_places=2, examples=["612.50"]),
]
IncomeKind = _choices(sorted(INCOME_KINDS))
AssetKind = Literal["savings", "securities", "vehicle", "extra_housing"]
ExpenditureKind = Literal["medical", "education"]
ProgramCode = _choices(Program.values)


class IncomeIn(Strict):
    kind: IncomeKind = Field(description="An income kind of the registry (FinanceKind).")
    amount: Money = Field(description="Yuan a month, to the fen.")
    valid_from: Date | None = Field(None, description="Left out: held since the member's birth.")
    valid_to: Date | None = None
    new_employment: bool = Field(
        False, description="Wages of a job taken up while on assistance (新增就业)."
    )


class AssetIn(Strict):
    kind: AssetKind
    amount: Money = Field(Decimal("0"), description="Value in yuan (0 for a vehicle or house).")
    valid_from: Date | None = None
    valid_to: Date | None = None


class ExpenditureIn(Strict):
    kind: ExpenditureKind
    amount: Money = Field(description="Yuan paid in total over the period.")
    valid_from: Date = Field(description="Counted when the period overlaps the 12 months.")
    valid_to: Date | None = None


class SnapshotIllnessIn(Strict):
    illness: Text = Field(max_length=100, min_length=1)
    diagnosed_on: Date | None = None
    ended_on: Date | None = None


class SnapshotSelfCareIn(Strict):
    """True where the person manages the item unaided."""

    assessed_on: Date
    assessor: Text = Field("", max_length=100)
    eating: bool
    dressing: bool
    bed_transfer: bool
    toileting: bool
    indoor_walking: bool
    bathing: bool


class SnapshotSupporterIn(Strict):
    relation: _choices(SupporterRelation.values)
    able_to_support: bool
    name: Text = Field("", max_length=50)
    assessment: Text = Field("", max_length=200, description="Why (not) able to support.")


class MemberIn(Strict):
    key: Text = Field(
        "",
        max_length=40,
        description="Your own identifier of the member, echoed in the results (default m1, m2, …).",
    )
    name: Text = Field(max_length=50, min_length=1)
    birth_date: Date
    relation: _choices(["", *Relation.values]) = ""
    status: _choices(RecordStatus.values) = RecordStatus.ACTIVE
    died_on: Date | None = None
    work_capacity: _choices(["", *WorkCapacity.values]) = ""
    disability_category: _choices(["", *DisabilityCategory.values]) = ""
    disability_grade: int | None = Field(None, ge=1, le=4, description="1 is the most severe.")
    illnesses: list[SnapshotIllnessIn] = Field([], max_length=MAX_FACTS)
    self_care: list[SnapshotSelfCareIn] = Field(
        [], max_length=MAX_FACTS, description="The latest on or before the date counts."
    )
    supporters: list[SnapshotSupporterIn] = Field([], max_length=MAX_FACTS)
    incomes: list[IncomeIn] = Field([], max_length=MAX_RECORDS)
    assets: list[AssetIn] = Field([], max_length=MAX_RECORDS)
    expenditures: list[ExpenditureIn] = Field([], max_length=MAX_RECORDS)


class SnapshotHouseholdIn(Strict):
    registration: _choices(Registration.values) = Registration.URBAN
    care_arrangement: _choices(engine.CareArrangement.values) = Field(
        engine.CareArrangement.DISPERSED,
        description="特困 供养方式: centralised (集中) or dispersed (分散).",
    )
    members: list[MemberIn] = Field(min_length=1, max_length=MAX_MEMBERS)


class PolicyIn(Strict):
    """One of: a stored version (`policy_version_id`); a whole inline policy (`parameters`);
    or a stored version with some figures changed (`policy_version_id` + `changes`), for trying
    a policy before it is adopted."""

    policy_version_id: Id | None = None
    parameters: dict[str, Any] | None = Field(
        None, description="A full PolicyParameters object.", examples=[{"standard": "800"}]
    )
    changes: dict[str, Any] | None = Field(
        None, description="Fields overriding the version's.", examples=[{"standard": "850"}]
    )

    @model_validator(mode="after")
    def _one_source(self) -> "PolicyIn":
        if (self.policy_version_id is None) == (self.parameters is None):
            raise PydanticCustomError(
                "policy_source", _("Give either policy_version_id or parameters.")
            )
        if self.changes is not None and self.policy_version_id is None:
            raise PydanticCustomError(
                "policy_source", _("Changes apply to a stored version: give policy_version_id.")
            )
        return self


class OptionsIn(Strict):
    extreme_poverty_arrangement: _choices(engine.CareArrangement.values) | None = Field(
        None, description="Overrides the household's care arrangement."
    )
    temporary_kind: _choices(TemporaryKind.values) = TemporaryKind.EMERGENCY
    hardship_amount: Money | None = Field(
        None, description="Temporary assistance: the hardship amount assessed or requested."
    )
    especially_hard: bool = Field(False, description="Especially hard (the higher cap).")
    temporary_persons: int | None = Field(
        None, ge=0, le=MAX_MEMBERS, description="Persons struck (default: the members)."
    )
    receiving: dict[Literal["minimum_living", "extreme_poverty"], int] | None = Field(
        None,
        description="Programs the household receives now and persons covered, for the grants; "
        "left out, this assessment's own results are used.",
        examples=[{"minimum_living": 3}],
    )

    @model_validator(mode="after")
    def _persons_in_range(self) -> "OptionsIn":
        for persons in (self.receiving or {}).values():
            if not 0 <= persons <= MAX_MEMBERS:
                raise PydanticCustomError(
                    "persons_range",
                    _("Persons covered must be between 0 and %(n)s.") % {"n": MAX_MEMBERS},
                )
        return self


ASSESS_EXAMPLE = {
    "on": "2026-03-01",
    "policy": {"policy_version_id": 1},
    "household": {
        "registration": "urban",
        "members": [
            {
                "key": "m1",
                "name": "张大山",
                "birth_date": "1958-05-01",
                "relation": "head",
                "work_capacity": "none",
                "incomes": [{"kind": "retirement_pension", "amount": "600.00"}],
                "assets": [{"kind": "savings", "amount": "8000.00"}],
                "self_care": [
                    {
                        "assessed_on": "2026-01-10",
                        "assessor": "街道评估组",
                        "eating": True,
                        "dressing": True,
                        "bed_transfer": False,
                        "toileting": True,
                        "indoor_walking": True,
                        "bathing": False,
                    }
                ],
            },
            {
                "key": "m2",
                "name": "张小丽",
                "birth_date": "1990-09-12",
                "relation": "child",
                "disability_category": "physical",
                "disability_grade": 2,
                "incomes": [
                    {"kind": "wage", "amount": "1200.00", "valid_from": "2025-06-01"},
                    {"kind": "social_insurance", "amount": "150.00"},
                    {"kind": "scholarship", "amount": "200.00"},
                ],
                "expenditures": [
                    {"kind": "medical", "amount": "9000.00", "valid_from": "2025-11-03"}
                ],
                "supporters": [],
            },
        ],
    },
    "programs": ["minimum_living", "marginal", "extreme_poverty", "temporary"],
    "options": {"hardship_amount": "2000.00", "temporary_kind": "emergency"},
}
TRY_POLICY_EXAMPLE = {
    **ASSESS_EXAMPLE,
    "policy": {"policy_version_id": 1, "changes": {"standard": "850.00"}},
}
INLINE_POLICY_EXAMPLE = {
    **ASSESS_EXAMPLE,
    "policy": {"parameters": demo_parameters(rural=False).as_json()},
}


class AssessIn(Strict):
    model_config = {
        "json_schema_extra": {
            "examples": [ASSESS_EXAMPLE, TRY_POLICY_EXAMPLE, INLINE_POLICY_EXAMPLE]
        }
    }

    on: Date = Field(description="The date assessed; within the policy version's period.")
    policy: PolicyIn
    household: SnapshotHouseholdIn
    programs: list[ProgramCode] | None = Field(
        None, max_length=len(Program.values), description="Left out: every program."
    )
    options: OptionsIn = Field(default_factory=OptionsIn)


class StepOut(Schema):
    code: str = Field(description="Which rule; the sentence is chosen by it.")
    figures: dict[str, Any] = Field(description="The numbers and facts of the step.")
    outcome: str = Field(
        description="counted, exempt, deducted, not_counted, met, not_met, eligible, "
        "not_eligible, or empty."
    )
    sentence: str = Field(description="The step in words, in the request's language.")


class CoveredOut(Schema):
    key: str
    name: str
    classification: str
    monthly_amount: str = Field(description="Yuan, to the fen.")


class ResultOut(Schema):
    program: ProgramCode
    program_label: str
    eligible: bool
    classification: str = Field(
        description="低保: household or single_person; 特困: <arrangement>/<self-care level>; "
        "刚性支出: the larger kind of expenditure; 临时救助: the kind."
    )
    classification_label: str
    monthly_amount: str = Field(description="Monthly programs (低保, 特困): yuan a month.")
    amount: str = Field(description="One-off programs (临时救助, grants): yuan.")
    persons_covered: int
    covered: list[CoveredOut] = Field(description="Members covered one by one (特困, 单人保).")
    approval_tier: str = Field(description="临时救助: street or district.")
    trace: list[StepOut]
    sentences: list[str]


class AssessmentOut(Schema):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "on": "2026-03-01",
                    "language": "en",
                    "household_id": None,
                    "policy_version_id": 1,
                    "members_counted": 2,
                    "counted_income": "1410.00",
                    "per_capita": "705.00",
                    "assets_within_limits": True,
                    "trace": [
                        {
                            "code": "income.per_capita",
                            "figures": {"total": "1410.00", "members": 2, "per_capita": "705.00"},
                            "outcome": "",
                            "sentence": "Per-capita counted income: 1410.00 yuan ÷ 2 members = "
                            "705.00 yuan.",
                        }
                    ],
                    "sentences": [
                        "Per-capita counted income: 1410.00 yuan ÷ 2 members = 705.00 yuan."
                    ],
                    "results": {
                        "minimum_living": {
                            "program": "minimum_living",
                            "program_label": "Minimum living guarantee",
                            "eligible": True,
                            "classification": "household",
                            "classification_label": "The household as a whole",
                            "monthly_amount": "190.00",
                            "amount": "0.00",
                            "persons_covered": 2,
                            "covered": [],
                            "approval_tier": "",
                            "trace": [],
                            "sentences": [
                                "Per-capita counted income 705.00 yuan is below the standard "
                                "800.00 yuan.",
                                "Eligible. Monthly amount = standard 800.00 yuan × 2 members − "
                                "counted income 1410.00 yuan = 190.00 yuan.",
                            ],
                        }
                    },
                }
            ]
        }
    }

    on: dt.date
    language: str = Field(description="Language of the sentences (from Accept-Language).")
    household_id: int | None
    policy_version_id: int | None
    members_counted: int
    counted_income: str = Field(description="Counted household income, yuan a month.")
    per_capita: str = Field(description="Counted per-capita income, yuan a month, to the fen.")
    assets_within_limits: bool
    trace: list[StepOut] = Field(description="Steps every program shares.")
    sentences: list[str]
    results: dict[str, ResultOut]


class HouseholdAssessmentQuery(Schema):
    on: Date | None = Field(None, description="Default: today.")
    programs: list[ProgramCode] | None = Field(None, description="Default: every program.")


def _steps_out(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        step | {"sentence": engine.render_step(step["code"], step["figures"])} for step in steps
    ]


def assessment_out(assessment: engine.Assessment, version_id: int | None) -> dict[str, Any]:
    """The answer in the request's language: structured steps with their sentences."""
    data = assessment.as_json()
    results = {}
    for code, result in data["results"].items():
        trace = _steps_out(result["trace"])
        results[code] = result | {
            "program_label": str(Program(code).label),
            "classification_label": engine.classification_label(code, result["classification"]),
            "trace": trace,
            "sentences": [step["sentence"] for step in trace],
        }
    trace = _steps_out(data["trace"])
    return data | {
        "language": get_language() or "",
        "policy_version_id": version_id,
        "trace": trace,
        "sentences": [step["sentence"] for step in trace],
        "results": results,
    }


@router.post("/assess", response={200: AssessmentOut, **ERRORS})
def assess(request, payload: AssessIn):
    """Assess a household described in the request under a stored policy version, an inline
    policy, or a stored version with some figures changed. Stateless: nothing is stored.
    Sentences follow Accept-Language. A bad figure is a 422 naming the field, e.g.
    `household.members.1.incomes.0.amount`."""
    actor = actor_of(request)
    params, version = assess_service.policy_of(
        actor=actor,
        version_id=payload.policy.policy_version_id,
        parameters=payload.policy.parameters,
        changes=payload.policy.changes,
        on=payload.on,
    )
    data = payload.household.model_dump()
    assess_service.check_household(data)
    assessment = engine.assess(
        assess_service.snapshot_from_payload(data),
        params,
        payload.on,
        programs=payload.programs,
        **assess_service.options_of(payload.options.model_dump()),
    )
    return assessment_out(assessment, version.pk if version else None)


@router.get("/households/{household_id}/assessment", response={200: AssessmentOut, **ERRORS})
def household_assessment(request, household_id: Id, query: Query[HouseholdAssessmentQuery]):
    """Assess a registered household from the registry, under the policy version in force for
    its place and registration on the date (422 `no_policy` if there is none). Outside the
    caller's jurisdiction the household is not found (404)."""
    actor = actor_of(request)
    assessment, version = assess_service.household_assessment(
        actor=actor, household_id=household_id, on=query.on, programs=query.programs
    )
    return assessment_out(assessment, version.pk)
