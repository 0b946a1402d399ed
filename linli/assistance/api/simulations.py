"""Policy simulation (政策模拟): start a variant's run, follow its progress, read its result by
street. The run happens in the background; nothing it computes touches real decisions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from linli.core.api import ERRORS, Date, Id, Page, actor_of
from linli.core.errors import Conflict

from .. import simulations
from ..models import Simulation, SimulationState

router = Router(tags=["assistance"])


class SimulationIn(Schema):
    policy_version_id: Id = Field(description="The base: a version of a policy set.")
    changes: dict[str, Any] = Field(
        description="Parameters of the variant that differ from the base, by field name.",
        examples=[{"standard": "850.00"}],
    )
    place_id: Id = Field(description="Where: a district, a street, a community…")
    as_of: Date = Field(description="Incomes, assets and members as on this date.")
    name: str = Field(max_length=simulations.MAX_NAME, examples=["Urban standard 850"])


class SimulationOut(Schema):
    id: int
    name: str
    policy_version_id: int
    policy_set_id: int
    registration: str = Field(
        description="Only households of this registration, under the policy's locality, are "
        "simulated."
    )
    changes: dict[str, Any]
    place_id: int
    place_name: str
    as_of: dt.date
    state: SimulationState
    total: int = Field(description="Households to go through.")
    processed: int
    percent: int
    failure: str
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @staticmethod
    def resolve_policy_set_id(obj: Simulation) -> int:
        return obj.policy_version.policy_set_id

    @staticmethod
    def resolve_registration(obj: Simulation) -> str:
        return obj.policy_version.policy_set.registration

    @staticmethod
    def resolve_place_name(obj: Simulation) -> str:
        return obj.place.name

    @staticmethod
    def resolve_percent(obj: Simulation) -> int:
        return simulations.percent(obj)


class SimulationTotalsOut(Schema):
    households: int
    base_eligible_households: int
    variant_eligible_households: int
    newly_eligible_households: int
    newly_eligible_persons: int
    no_longer_eligible_households: int
    no_longer_eligible_persons: int
    newly_marginal_households: int
    no_longer_marginal_households: int
    base_budget: str = Field(description="Yuan a month, to the fen.", examples=["123456.00"])
    variant_budget: str
    budget_change: str


class SimulationStreetOut(SimulationTotalsOut):
    street: str = Field(description="The street's place path.")
    name: str


class SimulationResultOut(Schema):
    id: int
    streets: list[SimulationStreetOut]
    totals: SimulationTotalsOut
    base: dict[str, Any] = Field(description="The changed parameters' base figures.")
    changes: dict[str, Any]


@router.post("/simulations", response={202: SimulationOut, **ERRORS})
def simulation_start(request, payload: SimulationIn):
    """Queue a simulation; follow it at /simulations/{id} until `state` is done."""
    simulation = simulations.simulation_start(
        actor=actor_of(request),
        policy_version_id=payload.policy_version_id,
        changes=payload.changes,
        place_id=payload.place_id,
        as_of=payload.as_of,
        name=payload.name,
    )
    return Status(202, simulations.simulation_get(actor_of(request), simulation.pk))


@router.get("/simulations", response={200: list[SimulationOut], **ERRORS})
@paginate(Page)
def simulation_list(request):
    return simulations.simulations(actor_of(request))


@router.get("/simulations/{simulation_id}", response={200: SimulationOut, **ERRORS})
def simulation_status(request, simulation_id: Id):
    """State and progress (households processed of total)."""
    return simulations.simulation_get(actor_of(request), simulation_id)


@router.get("/simulations/{simulation_id}/result", response={200: SimulationResultOut, **ERRORS})
def simulation_result(request, simulation_id: Id):
    """The result by street and in total; 409 while the simulation has not finished."""
    simulation = simulations.simulation_get(actor_of(request), simulation_id)
    if simulation.state != SimulationState.DONE:
        raise Conflict(simulations.not_done_message(simulation))
    return {
        "id": simulation.pk,
        "streets": simulation.result.get("streets", []),
        "totals": simulation.result.get("totals", {}),
        "base": simulation.result.get("base", {}),
        "changes": simulation.changes,
    }
