"""Key households API (重点户): the list with its filters, counts per grid, adding a household,
recording a follow-up (idempotent: send the same `idempotency_key` again and the stored one
comes back with 200, nothing doubled) and releasing with a reason. Services do every check."""

import datetime as dt
from typing import Literal

from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from linli.core.api import ERRORS, Date, Id, Page, actor_of

from .. import keys
from ..models import FollowUp, KeyHousehold

router = Router(tags=["monitoring: key households"])


class KeyHouseholdOut(Schema):
    id: int
    household_id: int
    household_number: str
    reason: str
    alert_id: int | None
    since: dt.date
    follow_up_months: int
    last_follow_up_on: dt.date | None
    next_follow_up_on: dt.date
    overdue: bool = Field(description="Open and past its follow-up date (shown red).")
    due_soon: bool = Field(description=f"Due within {keys.DUE_SOON_DAYS} days.")
    released_on: dt.date | None
    release_reason: str

    @staticmethod
    def resolve_household_number(obj: KeyHousehold) -> str:
        return obj.household.number

    @staticmethod
    def resolve_overdue(obj: KeyHousehold) -> bool:
        return keys.warning(obj) == 2

    @staticmethod
    def resolve_due_soon(obj: KeyHousehold) -> bool:
        return keys.warning(obj) == 1


class FollowUpOut(Schema):
    id: int
    key_household_id: int
    done_on: dt.date
    by: str
    note: str
    idempotency_key: str

    @staticmethod
    def resolve_by(obj: FollowUp) -> str:
        return str(obj.by)


class KeyHouseholdDetailOut(KeyHouseholdOut):
    actions: list[str] = Field(description="What the caller may do now: follow_up, release.")
    follow_ups: list[FollowUpOut]

    @staticmethod
    def resolve_follow_ups(obj) -> list:
        return obj.follow_ups_out


class GridCountOut(Schema):
    grid_id: int | None
    grid_name: str
    community_name: str
    open: int = Field(description="Key households not released.")
    due_soon: int
    overdue: int = Field(description="Open ones past their follow-up date.")
    released: int


class KeyQuery(Schema):
    state: Literal["open", "due_soon", "overdue", "released", "all"] = "open"
    place_id: Id | None = None
    number: str = Field("", max_length=32, description="Household number starts with.")


class GridQuery(Schema):
    place_id: Id | None = Field(None, description="Only the grids under this place.")


class KeyIn(Schema):
    household_id: Id
    reason: str = Field(max_length=300)
    follow_up_months: int = Field(1, ge=1, le=keys.MAX_MONTHS)
    alert_id: Id | None = Field(None, description="The alert that led to it, if any.")


class FollowUpIn(Schema):
    done_on: Date
    note: str = Field(max_length=keys.MAX_NOTE)
    idempotency_key: str = Field(
        min_length=8,
        max_length=64,
        description="Made by the client once per follow-up (a UUID) and sent again unchanged "
        "when resending.",
    )


class KeyReasonIn(Schema):
    reason: str = Field(max_length=300)


def _detail(request, key_household_id: int) -> KeyHousehold:
    actor = actor_of(request)
    key = keys.key_household_get(actor=actor, key_household_id=key_household_id)
    key.actions = keys.available_actions(actor, key)
    key.follow_ups_out = list(keys.key_household_follow_ups(actor=actor, key_household=key)[:100])
    return key


@router.get("/key-households", response={200: list[KeyHouseholdOut], **ERRORS})
@paginate(Page)
def key_household_list(request, filters: Query[KeyQuery]):
    """Key households (重点户) of the jurisdiction: open (by next follow-up), due soon,
    overdue, released or all."""
    return keys.key_household_list(
        actor=actor_of(request),
        filters=keys.KeyFilter(
            state=filters.state, place_id=filters.place_id, number=filters.number
        ),
    )


@router.get("/key-households/grids", response={200: list[GridCountOut], **ERRORS})
def key_household_grids(request, filters: Query[GridQuery]):
    """Counts per grid: open, due soon, overdue, released."""
    actor = actor_of(request)
    path = None
    if filters.place_id is not None:
        path = keys.place_path_of(filters.place_id)
        if path is None:
            return []
    return keys.grid_counts(actor=actor, place_path=path)


@router.post("/key-households", response={201: KeyHouseholdDetailOut, **ERRORS})
def key_household_add(request, payload: KeyIn):
    """Add a household to the key households; 409 if it already is one."""
    key = keys.key_household_add(
        actor=actor_of(request),
        household_id=payload.household_id,
        reason=payload.reason,
        follow_up_months=payload.follow_up_months,
        alert_id=payload.alert_id,
    )
    return Status(201, _detail(request, key.pk))


@router.get("/key-households/{key_household_id}", response={200: KeyHouseholdDetailOut, **ERRORS})
def key_household_detail(request, key_household_id: Id):
    """A key household with its follow-ups and what the caller may do now."""
    return _detail(request, key_household_id)


@router.post(
    "/key-households/{key_household_id}/follow-ups",
    response={200: FollowUpOut, 201: FollowUpOut, **ERRORS},
)
def follow_up_record(request, key_household_id: Id, payload: FollowUpIn):
    """Record a follow-up: 201 when stored, 200 when the same idempotency key was already
    stored (the first one comes back)."""
    actor = actor_of(request)
    keys.key_household_get(actor=actor, key_household_id=key_household_id)  # 404 first
    follow_up = keys.follow_up_record(
        actor=actor,
        key_household_id=key_household_id,
        done_on=payload.done_on,
        note=payload.note,
        idempotency_key=payload.idempotency_key,
    )
    return Status(200 if getattr(follow_up, "resent", False) else 201, follow_up)


@router.post(
    "/key-households/{key_household_id}/release", response={200: KeyHouseholdDetailOut, **ERRORS}
)
def key_household_release(request, key_household_id: Id, payload: KeyReasonIn):
    """Release with a reason (required); 409 if already released."""
    actor = actor_of(request)
    keys.key_household_get(actor=actor, key_household_id=key_household_id)
    keys.key_household_release(
        actor=actor, key_household_id=key_household_id, reason=payload.reason
    )
    return _detail(request, key_household_id)
