"""Policy sets and their dated versions (救助政策): read, create a set, add a version, import a
whole schedule, and look up the version in force for a place. Services do every check."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from linli.core.api import ERRORS, Date, Id, Page, actor_of
from linli.core.errors import NotFound
from linli.people.models import Registration
from linli.places.models import Place

from .. import policies
from ..models import PolicySet, PolicyVersion
from ..policy import demo_parameters

router = Router(tags=["assistance"])

PARAMETERS_EXAMPLE = demo_parameters(rural=False).as_json()
PARAMETERS_DESCRIPTION = (
    "Every figure of the policy (assistance.policy.PolicyParameters): money as strings in "
    "yuan to the fen, shares and multiples as decimals, limits in months or working days, "
    "income kinds as lists. A missing field takes its default; an unknown one is refused."
)


class ParameterChangeOut(Schema):
    field: str
    label: str
    before: Any
    after: Any


class PolicyVersionOut(Schema):
    id: int
    policy_set_id: int
    valid_from: dt.date
    valid_to: dt.date | None = Field(description="Open (null) for the latest version.")
    note: str
    created_by: str
    created_at: dt.datetime
    parameters: dict[str, Any] = Field(examples=[PARAMETERS_EXAMPLE])
    changed: list[ParameterChangeOut] = Field(
        description="Figures that differ from the previous version."
    )

    @staticmethod
    def resolve_created_by(obj: PolicyVersion) -> str:
        return str(obj.created_by) if obj.created_by_id else ""

    @staticmethod
    def resolve_changed(obj: PolicyVersion) -> list:
        return [c.__dict__ for c in getattr(obj, "changed", [])]


class PolicySetOut(Schema):
    id: int
    locality_id: int
    locality_name: str
    registration: Registration
    name: str

    @staticmethod
    def resolve_locality_name(obj: PolicySet) -> str:
        return obj.locality.name


class PolicySetDetailOut(PolicySetOut):
    may_edit: bool = Field(description="Whether the caller may add versions.")
    versions: list[PolicyVersionOut] = Field(description="Newest first.")

    @staticmethod
    def resolve_versions(obj: PolicySet) -> list:
        return obj.versions_out


class PolicySetIn(Schema):
    locality_id: Id = Field(description="A city or a district.")
    registration: Registration
    name: str = Field(max_length=policies.MAX_NAME)


class PolicyVersionIn(Schema):
    valid_from: Date = Field(
        description="After the latest version's start, and today or later: a change never "
        "rewrites past decisions."
    )
    parameters: dict[str, Any] = Field(
        description=PARAMETERS_DESCRIPTION, examples=[PARAMETERS_EXAMPLE]
    )
    note: str = Field("", max_length=policies.MAX_NOTE, description="What changed and why.")


class PolicyScheduleRowIn(Schema):
    valid_from: Date
    valid_to: Date | None = Field(None, description="Only the last row may be open.")
    parameters: dict[str, Any] = Field(
        description=PARAMETERS_DESCRIPTION, examples=[PARAMETERS_EXAMPLE]
    )
    note: str = Field("", max_length=policies.MAX_NOTE)


class PolicyScheduleIn(Schema):
    versions: list[PolicyScheduleRowIn] = Field(
        description="In date order, each starting the day after the previous one ends.",
        max_length=policies.MAX_SCHEDULE_ROWS,
    )


class PolicyLookupQuery(Schema):
    place_id: Id
    registration: Registration
    on: Date


def _with_changes(versions: list[PolicyVersion]) -> list[PolicyVersion]:
    """Each version with the figures that changed from the one before it (oldest first)."""
    previous = None
    for version in sorted(versions, key=lambda v: v.valid_from):
        version.changed = policies.changed_parameters(
            previous.parameters if previous else None, version.parameters
        )
        previous = version
    return versions


def _detail(actor, policy_set_id: int) -> PolicySet:
    policy_set = policies.policy_set_get(actor, policy_set_id)
    policy_set.may_edit = policies.may_edit(actor, policy_set)
    policy_set.versions_out = _with_changes(
        list(policy_set.versions.select_related("created_by").order_by("-valid_from"))
    )
    return policy_set


@router.get("/policies", response={200: list[PolicySetOut], **ERRORS})
@paginate(Page)
def policy_set_list(request):
    """Policy sets the caller may read: those of the localities within and above their places."""
    return policies.policy_sets(actor_of(request))


@router.post("/policies", response={201: PolicySetOut, **ERRORS})
def policy_set_create(request, payload: PolicySetIn):
    """A new policy set for a city or district (then import its schedule or add a version)."""
    policy_set = policies.policy_set_create(
        actor=actor_of(request),
        locality_id=payload.locality_id,
        registration=payload.registration,
        name=payload.name,
    )
    return Status(201, policy_set)


@router.get("/policies/lookup", response={200: PolicyVersionOut, **ERRORS})
def policy_lookup(request, query: Query[PolicyLookupQuery]):
    """The version in force on a date for households of a registration at a place (the nearest
    locality above it with a policy); 422 `no_policy` saying what is missing otherwise."""
    actor = actor_of(request)
    place = Place.objects.restrict(actor).filter(pk=query.place_id).first()
    if place is None:
        raise NotFound()
    version = policies.version_for(
        place_path=place.path, registration=query.registration, on=query.on
    )
    version.changed = policies.changes_from_previous(version)
    return version


@router.get("/policies/{policy_set_id}", response={200: PolicySetDetailOut, **ERRORS})
def policy_set_detail(request, policy_set_id: Id):
    """The set with its whole version history, newest first, each with what it changed."""
    return _detail(actor_of(request), policy_set_id)


@router.post("/policies/{policy_set_id}/versions", response={201: PolicyVersionOut, **ERRORS})
def policy_version_add(request, policy_set_id: Id, payload: PolicyVersionIn):
    """Add a version from a date; the current latest then ends the day before. A refusal names
    the field (`valid_from`, or the parameter) and the fix."""
    actor = actor_of(request)
    version = policies.policy_version_add(
        actor=actor,
        policy_set_id=policy_set_id,
        valid_from=payload.valid_from,
        parameters=payload.parameters,
        note=payload.note,
    )
    version.changed = policies.changes_from_previous(version)
    return Status(201, version)


@router.post("/policies/{policy_set_id}/schedule", response={201: list[PolicyVersionOut], **ERRORS})
def policy_schedule_import(request, policy_set_id: Id, payload: PolicyScheduleIn):
    """Load a whole schedule into a set without versions; a gap or an overlap is refused with
    the row named (`versions[2]`). All or nothing."""
    created = policies.policy_schedule_import(
        actor=actor_of(request),
        policy_set_id=policy_set_id,
        versions=[row.dict() for row in payload.versions],
    )
    return Status(201, _with_changes(created))


@router.get("/policy-versions/{version_id}", response={200: PolicyVersionOut, **ERRORS})
def policy_version_detail(request, version_id: Id):
    actor = actor_of(request)
    version = PolicyVersion.objects.select_related("policy_set", "created_by").get_for(
        actor, version_id
    )
    version.changed = policies.changes_from_previous(version)
    return version
