"""Screening rounds (排查) and risk rules (预警规则): start a round, follow it, read its report;
list the rules and add a new version of one from a date."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from linli.core.api import ERRORS, Date, Id, Page, actor_of
from linli.core.errors import Conflict

from .. import rules as rule_data
from .. import screening
from ..models import RiskRule, RoundState, RuleKind, ScreeningRound

router = Router(tags=["monitoring"])


class RoundIn(Schema):
    place_id: Id = Field(description="A street, a district or the city in your jurisdiction.")
    as_of: Date = Field(description="Screen the registry as on this date.")


class RoundOut(Schema):
    id: int
    place_id: int
    place_name: str
    as_of: dt.date
    state: RoundState
    total: int = Field(description="Streets to screen.")
    processed: int
    percent: int
    failure: str
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @staticmethod
    def resolve_place_name(obj: ScreeningRound) -> str:
        return obj.place.name

    @staticmethod
    def resolve_percent(obj: ScreeningRound) -> int:
        return screening.percent(obj)


class RuleCountOut(Schema):
    code: str
    name: str
    severity: int | None
    hits: int = Field(description="Households the rule flags (open alerts after the round).")


class SeverityCountOut(Schema):
    severity: int
    label: str
    hits: int


class StreetCountOut(Schema):
    street: str = Field(description="The street's place path.")
    name: str
    hits: int


class ReportOut(Schema):
    id: int
    households: int
    opened: int = Field(description="New alerts this round raised.")
    resolved: int = Field(description="Open alerts resolved: their condition no longer holds.")
    held: int = Field(
        0,
        description="Hits not raised again: people closed the household's alert of the rule "
        "within the rule's quiet period (quiet_days).",
    )
    by_rule: list[RuleCountOut]
    by_severity: list[SeverityCountOut]
    by_street: list[StreetCountOut]


class RuleOut(Schema):
    id: int
    code: str
    name: str
    kind: RuleKind
    parameters: dict[str, Any]
    severity: int
    template: str = Field(description="English explanation template; placeholders name figures.")
    translations: dict[str, str] = Field(description="The template in other languages.")
    program: str = Field(description="Recipients of this assistance program are not flagged.")
    valid_from: dt.date
    valid_to: dt.date | None


class RuleVersionIn(Schema):
    code: str = Field(max_length=40, examples=["marginal-income"])
    valid_from: Date = Field(description="The new version applies from this date.")
    parameters: dict[str, Any] | None = Field(
        None, description="Changed parameters; the others are kept.", examples=[{"multiple": 1.3}]
    )
    severity: int | None = Field(None, ge=1, le=4)
    template: str | None = Field(None, max_length=rule_data.MAX_TEMPLATE)
    translations: dict[str, str] | None = None
    program: str | None = None
    name: str | None = Field(None, max_length=100)
    kind: RuleKind | None = Field(None, description="Only for a new rule code.")


@router.post("/screening-rounds", response={202: RoundOut, **ERRORS})
def round_start(request, payload: RoundIn):
    """Queue a screening round; follow it at /screening-rounds/{id} until `state` is done. A
    second round of the same place while one runs is refused (409)."""
    actor = actor_of(request)
    screening_round = screening.round_start(
        actor=actor, place_id=payload.place_id, as_of=payload.as_of
    )
    return Status(202, screening.round_get(actor, screening_round.pk))


@router.get("/screening-rounds", response={200: list[RoundOut], **ERRORS})
@paginate(Page)
def round_list(request):
    return screening.screening_rounds(actor_of(request))


@router.get("/screening-rounds/{round_id}", response={200: RoundOut, **ERRORS})
def round_status(request, round_id: Id):
    """State and progress (streets screened of total)."""
    return screening.round_get(actor_of(request), round_id)


@router.get("/screening-rounds/{round_id}/report", response={200: ReportOut, **ERRORS})
def round_report(request, round_id: Id):
    """Counts by rule, severity and street; 409 while the round has not finished."""
    screening_round = screening.round_get(actor_of(request), round_id)
    if screening_round.state != RoundState.DONE:
        raise Conflict(screening.not_done_message(screening_round))
    return {"id": screening_round.pk, **screening.round_report(screening_round)}


@router.get("/risk-rules", response={200: list[RuleOut], **ERRORS})
def rule_list(request):
    """Every version of every rule, newest first within a code."""
    return list(rule_data.risk_rules(actor_of(request)))


@router.post("/risk-rules", response={201: RuleOut, **ERRORS})
def rule_version_add(request, payload: RuleVersionIn):
    """Add a version of a rule from a date (the previous one ends the day before); unset
    fields are copied from the previous version."""
    rule: RiskRule = rule_data.rule_version_add(actor=actor_of(request), **payload.dict())
    return Status(201, rule)
