"""Fund supervision (阳光监管) and assistance statistics in the API: findings and their
resolution, runs of the checks, staff relatives' declarations (回避), figures by street and
program. The services do every check; this layer translates JSON to their arguments."""

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from linli.core.api import ERRORS, Id, Page, actor_of
from linli.core.errors import PermissionDenied
from linli.core.masking import mask_id_number, mask_name
from linli.places.models import Place

from .. import statistics, supervision
from ..models import Finding, FindingKind, Program, StaffRelative, SupervisionRun

router = Router(tags=["assistance"])


# --- findings -----------------------------------------------------------------------------------


class FindingOut(Schema):
    id: int
    kind: str
    kind_label: str
    state: str
    state_label: str
    program: str
    summary: str = Field(description="What was found, names masked, in the request's language.")
    records: dict[str, Any] = Field(
        description="Ids of the records the finding rests on (persons, households, benefits, "
        "payments, finances, staff) and its figures."
    )
    found_at: dt.datetime
    last_seen_at: dt.datetime
    cleared_at: dt.datetime | None = Field(
        description="Set when a later run no longer found it; it stays open until resolved."
    )
    resolution: str
    resolved_by: str | None
    resolved_at: dt.datetime | None

    @staticmethod
    def resolve_kind_label(obj: Finding) -> str:
        return str(obj.get_kind_display())

    @staticmethod
    def resolve_state_label(obj: Finding) -> str:
        return str(obj.get_state_display())

    @staticmethod
    def resolve_summary(obj: Finding) -> str:
        return supervision.finding_text(obj)

    @staticmethod
    def resolve_resolved_by(obj: Finding) -> str | None:
        return str(obj.resolved_by) if obj.resolved_by_id else None


class FindingQuery(Schema):
    kind: Literal[tuple(FindingKind.values)] | None = None
    state: Literal["open", "confirmed", "explained"] | None = None
    place_id: Id | None = Field(None, description="Only findings under this place (a street).")
    still_found: bool | None = Field(
        None, description="true: found by the last run; false: no longer found."
    )


class ResolveIn(Schema):
    state: Literal["confirmed", "explained"]
    resolution: str = Field(max_length=300, description="What was found or done.")


def _place_path(actor, place_id: int | None) -> str:
    return "" if place_id is None else Place.objects.get_for(actor, place_id).path


@router.get("/findings", response={200: list[FindingOut], **ERRORS})
@paginate(Page)
def finding_list(request, filters: Query[FindingQuery]):
    """Findings of the caller's jurisdiction, newest first (supervisors and street officers)."""
    actor = actor_of(request)
    return supervision.finding_list(
        actor=actor,
        kind=filters.kind or "",
        state=filters.state or "",
        place_path=_place_path(actor, filters.place_id),
        still_found=filters.still_found,
    )


@router.get("/findings/{finding_id}", response={200: FindingOut, **ERRORS})
def finding_detail(request, finding_id: Id):
    actor = actor_of(request)
    if not supervision.may_view_findings(actor):
        raise PermissionDenied()
    return supervision.finding_get(actor=actor, finding_id=finding_id)


@router.post("/findings/{finding_id}/resolve", response={200: FindingOut, **ERRORS})
def finding_resolve(request, finding_id: Id, payload: ResolveIn):
    """Confirmed (a real problem, acted on) or explained (no problem), with what was done;
    refused to whoever is named in the finding or declared a relative in it (回避)."""
    return supervision.finding_resolve(
        actor=actor_of(request),
        finding_id=finding_id,
        state=payload.state,
        resolution=payload.resolution,
    )


# --- runs ---------------------------------------------------------------------------------------


class RunIn(Schema):
    place_id: Id | None = Field(
        None, description="The place to check; empty: the caller's jurisdiction (one place)."
    )


class RunOut(Schema):
    id: int
    state: str
    place_path: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    total: int
    processed: int
    counts: dict[str, dict[str, int]] = Field(
        description="Per kind of finding: found, new, reopened, cleared."
    )
    failure: str


@router.post("/supervision/runs", response={202: RunOut, **ERRORS})
def run_request(request, payload: RunIn):
    """Queue a run of every check over a place; poll the run for its progress."""
    actor = actor_of(request)
    if not supervision.may_resolve_findings(actor):
        raise PermissionDenied()
    if payload.place_id is not None:
        place_path = _place_path(actor, payload.place_id)
    elif len(actor.scope_paths) == 1:
        place_path = actor.scope_paths[0]
    else:
        place_path = ""
    return Status(202, supervision.supervision_run_request(actor=actor, place_path=place_path))


@router.get("/supervision/runs/{run_id}", response={200: RunOut, **ERRORS})
def run_detail(request, run_id: Id) -> SupervisionRun:
    return supervision.run_get(actor=actor_of(request), run_id=run_id)


# --- staff relatives ----------------------------------------------------------------------------


class StaffRelativeOut(Schema):
    id: int
    staff_id: int
    staff: str
    person_name: str = Field(description="Masked.")
    person_id_number: str = Field(description="Masked.")
    relation: str
    declared_at: dt.datetime

    @staticmethod
    def resolve_staff(obj: StaffRelative) -> str:
        return str(obj.staff)

    @staticmethod
    def resolve_person_name(obj: StaffRelative) -> str:
        return mask_name(obj.person.name)

    @staticmethod
    def resolve_person_id_number(obj: StaffRelative) -> str:
        return mask_id_number(obj.person.id_number)


class StaffRelativeIn(Schema):
    name: str = Field(max_length=50, description="The relative's name as registered.")
    id_number: str = Field(max_length=18, description="The relative's resident ID number.")
    relation: str = Field(max_length=40, examples=["母亲"])


@router.get("/staff-relatives", response={200: list[StaffRelativeOut], **ERRORS})
@paginate(Page)
def staff_relative_list(request):
    """The caller's declared relatives; for supervisors also those of their jurisdiction."""
    return supervision.staff_relatives_for(actor=actor_of(request))


@router.post("/staff-relatives", response={201: StaffRelativeOut, **ERRORS})
def staff_relative_declare(request, payload: StaffRelativeIn):
    """Declare a relative of one's own (近亲属备案), found by ID number and name together."""
    return Status(
        201, supervision.staff_relative_declare(actor=actor_of(request), **payload.dict())
    )


@router.delete("/staff-relatives/{relative_id}", response={204: None, **ERRORS})
def staff_relative_remove(request, relative_id: Id):
    supervision.staff_relative_remove(actor=actor_of(request), relative_id=relative_id)
    return Status(204, None)


# --- statistics ---------------------------------------------------------------------------------


def _month(value: Any) -> Any:
    """A month as YYYY-MM (the first of it)."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}", value):
        try:
            return dt.date(int(value[:4]), int(value[5:]), 1)
        except ValueError:
            pass
    raise PydanticCustomError("month_parsing", _("Enter a month as YYYY-MM."))


Month = Annotated[dt.date, BeforeValidator(_month), Field(examples=["2026-01"])]


class AssistanceStatisticsQuery(Schema):
    start: Month = Field(description="First month of the period.")
    end: Month = Field(description="Last month of the period, included.")
    place_id: Id | None = Field(None, description="Only under this place.")
    program: Literal[tuple(Program.values)] | None = None


class RecipientOut(Schema):
    street: str
    program: str
    households: int
    persons: int
    monthly_amount: Decimal


class MonthOut(Schema):
    street: str
    program: str
    month: str
    households: int
    persons: int
    payments: int
    amount: Decimal
    paid: Decimal
    change: Decimal | None
    change_rate: Decimal | None = Field(description="Change in per cent of the month before.")

    @staticmethod
    def resolve_month(obj: statistics.MonthLine) -> str:
        return f"{obj.month:%Y-%m}"


class AssistanceStatisticsOut(Schema):
    start: str
    end: str
    as_of: dt.datetime
    recipients: list[RecipientOut] = Field(description="Being paid now, by street and program.")
    recipients_total: list[RecipientOut] = Field(description="Being paid now, by program.")
    monthly: list[MonthOut] = Field(description="By program and month, all streets.")
    lines: list[MonthOut] = Field(description="By street, program and month.")


@router.get("/statistics", response={200: AssistanceStatisticsOut, **ERRORS})
def assistance_statistics(request, query: Query[AssistanceStatisticsQuery]):
    """Recipients by street and program, and per month the households and persons paid for,
    the amounts and their change from the month before (amounts in yuan)."""
    actor = actor_of(request)
    place = None if query.place_id is None else Place.objects.get_for(actor, query.place_id)
    stats = statistics.assistance_statistics(
        actor=actor, start=query.start, end=query.end, place=place, program=query.program or ""
    )
    return {
        "start": f"{stats.start:%Y-%m}",
        "end": f"{stats.end:%Y-%m}",
        "as_of": stats.now,
        "recipients": stats.recipients,
        "recipients_total": stats.recipients_total,
        "monthly": stats.monthly,
        "lines": stats.lines,
    }
