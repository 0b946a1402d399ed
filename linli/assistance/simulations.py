"""Policy simulation (政策模拟): a variant of a policy version run over the registry of a place,
reporting by street the households and persons who would newly qualify or stop qualifying for
the minimum living guarantee (低保) and the marginal band (低保边缘), and the monthly budget change.

Everything runs set-based in SQL that PostgreSQL and SQLite both execute: one statement per
street computes every household's counted income under the base and the variant side by side
and adds them up by street. `household_figures` exposes the per-household part (the payment
bench and the agreement test with `engine.assess` use it). The definitions are the engine's:

- members: the household's persons whose status is active;
- income records of members in force on the date (not voided); counted kinds add, exempt kinds
  are ignored, deducted kinds subtract; a new-employment wage within its exempt months is exempt
  up to cap_multiple × standard a month, the rest counted;
- employment cost per member with a counted wage w > 0: min(w × share, cap);
- counted income = max(0, counted − deducted − employment cost); per capita to the fen;
- 低保 if per capita < standard and assets within limits; amount = standard × members − counted;
- marginal if not 低保, per capita < (≤ when inclusive) multiple × standard, assets within limits.

Money is computed in whole fen (and ten-thousandths of a fen where a share multiplies it), all
integers, so both databases give the same figures to the fen as the engine's Decimals.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.core import audit
from linli.core.errors import NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.roles import Perm
from linli.people.models import FinancialRecord, Household, Person, SeriousIllness
from linli.places.models import Place, PlaceLevel
from linli.places.selectors import place_in_jurisdiction

from .engine import add_months
from .models import PolicySet, PolicyVersion, Simulation, SimulationState
from .policies import clean_text, field_label, same_value, shown, validate_parameters
from .policy import PolicyParameters

logger = logging.getLogger(__name__)

FEN = Decimal("0.01")
SCALE = 10_000  # shares and multiples have at most four decimals
MAX_NAME = 100

# The figures a simulation reports per street and in total, in the order shown.
FIGURES: tuple[tuple[str, Any], ...] = (
    ("households", gettext_lazy("Households")),
    ("base_eligible_households", gettext_lazy("Eligible now")),
    ("variant_eligible_households", gettext_lazy("Eligible under the variant")),
    ("newly_eligible_households", gettext_lazy("Newly eligible households")),
    ("newly_eligible_persons", gettext_lazy("Newly eligible persons")),
    ("no_longer_eligible_households", gettext_lazy("No longer eligible households")),
    ("no_longer_eligible_persons", gettext_lazy("No longer eligible persons")),
    ("newly_marginal_households", gettext_lazy("Newly marginal households")),
    ("no_longer_marginal_households", gettext_lazy("No longer marginal households")),
    ("base_budget", gettext_lazy("Monthly budget now (yuan)")),
    ("variant_budget", gettext_lazy("Monthly budget under the variant (yuan)")),
    ("budget_change", gettext_lazy("Monthly budget change (yuan)")),
)
MONEY_FIGURES = ("base_budget", "variant_budget", "budget_change")


# ---------------------------------------------------------------------------------------------
# The set-based computation


def to_fen(value: Decimal) -> int:
    return int((value * 100).to_integral_value(rounding=ROUND_HALF_UP))


def _scaled(value: Decimal) -> int:
    return int((value * SCALE).to_integral_value(rounding=ROUND_HALF_UP))


def new_employment_cutoff(on: dt.date, months: int) -> dt.date:
    """A new-employment wage starting after this date is still within its exempt months on `on`
    (on < start + months, with month ends clamped): the latest start that is no longer."""
    # start + months is non-decreasing in start, so the exempt starts are those after the
    # last start whose exemption has ended; search back from on − months (at most a few days).
    day = add_months(on, -months)
    while add_months(day + dt.timedelta(days=1), months) <= on:
        day += dt.timedelta(days=1)
    while add_months(day, months) > on:
        day -= dt.timedelta(days=1)
    return day


@dataclass(frozen=True)
class Terms:
    """One parameter set as the integers (fen, ten-thousandths) and lists the SQL needs."""

    standard: int
    counted: tuple[str, ...]
    deducted: tuple[str, ...]
    wage_counted: bool
    exempt_after: dt.date | None  # new-employment wages starting after this day are exempt
    exempt_cap: int  # per record per month
    cost_share: int  # ten-thousandths
    cost_cap: int
    marginal_bound: int  # money(multiple × standard), as the engine rounds it
    marginal_inclusive: bool
    savings_limit: int  # per member
    vehicles_allowed: int
    extra_housing_allowed: bool
    single_disability_grade_max: int
    single_mental_grade_max: int
    single_serious_illness: bool

    @classmethod
    def of(cls, params: PolicyParameters, on: dt.date) -> Terms:
        months = params.new_employment_exempt_months
        return cls(
            standard=to_fen(params.standard),
            counted=tuple(params.counted_income_kinds),
            deducted=tuple(params.deducted_income_kinds),
            wage_counted="wage" in params.counted_income_kinds,
            exempt_after=new_employment_cutoff(on, months) if months else None,
            exempt_cap=to_fen(params.new_employment_exempt_cap_multiple * params.standard),
            cost_share=_scaled(params.employment_cost_share),
            cost_cap=to_fen(params.employment_cost_cap),
            marginal_bound=to_fen(params.marginal_multiple * params.standard),
            marginal_inclusive=params.marginal_bound_inclusive,
            savings_limit=to_fen(params.savings_per_person_limit),
            vehicles_allowed=params.vehicles_allowed,
            extra_housing_allowed=params.extra_housing_allowed,
            single_disability_grade_max=params.single_person_disability_grade_max,
            single_mental_grade_max=params.single_person_mental_grade_max,
            single_serious_illness=params.single_person_serious_illness,
        )


class Sql:
    """SQL text built in order with its parameters beside it, so they cannot drift apart."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list = []

    def add(self, text: str, *params: Any) -> Sql:
        self.parts.append(text)
        self.params.extend(params)
        return self

    def extend(self, other: Sql) -> Sql:
        self.parts.extend(other.parts)
        self.params.extend(other.params)
        return self

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _kinds_in(sql: Sql, kinds: tuple[str, ...]) -> None:
    if not kinds:
        sql.add("1 = 0")
    else:
        sql.add("f.kind IN (" + ", ".join(["%s"] * len(kinds)) + ")", *kinds)


def _minus_exemption(sql: Sql, t: Terms) -> None:
    """f.fen less a new-employment wage's exempt part."""
    if t.exempt_after is None:
        sql.add("f.fen")
    else:
        sql.add(
            "f.fen - CASE WHEN f.kind = 'wage' AND f.new_employment AND f.valid_from > %s "
            "THEN CASE WHEN f.fen < %s THEN f.fen ELSE %s END ELSE 0 END",
            t.exempt_after,
            t.exempt_cap,
            t.exempt_cap,
        )


def _income_columns(sql: Sql, t: Terms, s: str) -> None:
    """Per member: counted income, counted wage and deducted amounts."""
    sql.add("CAST(COALESCE(SUM(CASE WHEN ")
    _kinds_in(sql, t.counted)
    sql.add(" THEN ")
    _minus_exemption(sql, t)
    sql.add(f" ELSE 0 END), 0) AS BIGINT) AS counted_{s}, ")
    if t.wage_counted:
        sql.add("CAST(COALESCE(SUM(CASE WHEN f.kind = 'wage' THEN ")
        _minus_exemption(sql, t)
        sql.add(f" ELSE 0 END), 0) AS BIGINT) AS wage_{s}, ")
    else:
        sql.add(f"0 AS wage_{s}, ")
    sql.add("CAST(COALESCE(SUM(CASE WHEN ")
    _kinds_in(sql, t.deducted)
    sql.add(f" THEN f.fen ELSE 0 END), 0) AS BIGINT) AS deducted_{s}, ")


def _cost_columns(sql: Sql, t: Terms, s: str) -> None:
    """Per member: the employment cost, min(wage × share, cap) to the fen half up."""
    share = f"((2 * m.wage_{s} * %s + {SCALE}) / (2 * {SCALE}))"
    sql.add(
        f"m.counted_{s}, m.deducted_{s}, CASE WHEN m.wage_{s} <= 0 THEN 0 "
        f"WHEN {share} < %s THEN {share} ELSE %s END AS cost_{s}, ",
        t.cost_share,
        t.cost_cap,
        t.cost_share,
        t.cost_cap,
    )


def _alone_columns(sql: Sql, t: Terms, s: str) -> None:
    """Per member: whether they may be covered alone (单人保) and what they would receive,
    standard − own counted income when that is below the standard."""
    own = (
        f"CASE WHEN c.counted_{s} - c.deducted_{s} - c.cost_{s} > 0 "
        f"THEN c.counted_{s} - c.deducted_{s} - c.cost_{s} ELSE 0 END"
    )
    illness = " OR c.ill = 1" if t.single_serious_illness else ""
    qualifies = (
        "((c.disability_category <> '' AND c.disability_grade IS NOT NULL "
        "AND (c.disability_grade <= %s OR (c.disability_category IN ('intellectual', 'mental') "
        f"AND c.disability_grade <= %s))){illness})"
    )
    sql.add(
        f"c.counted_{s}, c.deducted_{s}, c.cost_{s}, "
        f"CASE WHEN {qualifies} AND {own} < %s THEN %s - {own} ELSE 0 END AS alone_{s}, ",
        t.single_disability_grade_max,
        t.single_mental_grade_max,
        t.standard,
        t.standard,
    )


def _household_columns(sql: Sql, t: Terms, s: str) -> None:
    """Per household: the sums, the single-person cover and the assets test."""
    housing = "" if t.extra_housing_allowed else " AND SUM(a.housing) = 0"
    sql.add(
        f"CAST(SUM(a.counted_{s}) - SUM(a.deducted_{s}) - SUM(a.cost_{s}) AS BIGINT) AS net_{s}, "
        f"CAST(SUM(a.alone_{s}) AS BIGINT) AS alone_{s}, "
        f"SUM(CASE WHEN a.alone_{s} > 0 THEN 1 ELSE 0 END) AS alone_n_{s}, "
        f"CASE WHEN SUM(a.savings) <= %s * COUNT(*) AND SUM(a.vehicles) <= %s{housing} "
        f"THEN 1 ELSE 0 END AS assets_ok_{s}, ",
        t.savings_limit,
        t.vehicles_allowed,
    )


def _income_and_per_capita(sql: Sql, s: str) -> None:
    """Counted income, never below zero, and per capita to the fen half up."""
    u = f"(CASE WHEN h.net_{s} > 0 THEN h.net_{s} ELSE 0 END)"
    sql.add(
        f"{u} AS u_{s}, ((2 * {u} + h.members) / (2 * h.members)) AS pc_{s}, "
        f"h.alone_{s}, h.alone_n_{s}, h.assets_ok_{s}, "
    )


def _decision_columns(sql: Sql, t: Terms, s: str) -> None:
    """低保 for the household, the marginal band, single-person cover; the amount."""
    comparison = "<=" if t.marginal_inclusive else "<"
    sql.add(
        f"CASE WHEN x.assets_ok_{s} = 1 AND x.pc_{s} < %s THEN 1 ELSE 0 END AS household_{s}, "
        f"CASE WHEN x.assets_ok_{s} = 1 AND x.pc_{s} {comparison} %s THEN 1 ELSE 0 END "
        f"AS band_{s}, x.u_{s}, x.pc_{s}, x.alone_{s}, x.alone_n_{s}, "
        f"x.members * %s - x.u_{s} AS whole_{s}, ",
        t.standard,
        t.marginal_bound,
        t.standard,
    )


def _result_columns(sql: Sql, s: str) -> None:
    """eligible, persons covered, amount, marginal; per capita and counted income in fen."""
    single = f"(y.band_{s} = 1 AND y.alone_n_{s} > 0)"
    sql.add(
        f"CASE WHEN y.household_{s} = 1 OR {single} THEN 1 ELSE 0 END AS eligible_{s}, "
        f"CASE WHEN y.household_{s} = 1 THEN y.members WHEN {single} THEN y.alone_n_{s} "
        f"ELSE 0 END AS persons_{s}, "
        f"CASE WHEN y.household_{s} = 1 THEN (CASE WHEN {single} AND y.alone_{s} > y.whole_{s} "
        f"THEN y.alone_{s} ELSE y.whole_{s} END) WHEN {single} THEN y.alone_{s} ELSE 0 END "
        f"AS amount_{s}, "
        f"CASE WHEN y.band_{s} = 1 AND y.household_{s} = 0 THEN 1 ELSE 0 END AS marginal_{s}, "
        f"y.pc_{s}, y.u_{s}, "
    )


def households_sql(scope: Sql, on: dt.date, terms: dict[str, Terms]) -> Sql:
    """One row per household of the scope with a member on the date: household_id,
    street_path, members, then per parameter set (suffix): eligible (低保), persons covered,
    amount, marginal (低保边缘), per capita and counted income (fen)."""
    person = Person._meta.db_table
    record = FinancialRecord._meta.db_table
    illness = SeriousIllness._meta.db_table
    sql = Sql().add("SELECT y.household_id, y.street_path, y.members, ")
    for s in terms:
        _result_columns(sql, s)
    sql.add("1 AS one FROM (SELECT x.household_id, x.street_path, x.members, ")
    for s, t in terms.items():
        _decision_columns(sql, t, s)
    sql.add("1 AS one FROM (SELECT h.household_id, h.street_path, h.members, ")
    for s in terms:
        _income_and_per_capita(sql, s)
    sql.add(
        "1 AS one FROM (SELECT a.household_id, MIN(a.street_path) AS street_path, "
        "COUNT(*) AS members, "
    )
    for s, t in terms.items():
        _household_columns(sql, t, s)
    sql.add(
        "1 AS one FROM (SELECT c.household_id, c.street_path, c.savings, c.vehicles, c.housing, "
    )
    for s, t in terms.items():
        _alone_columns(sql, t, s)
    sql.add(
        "1 AS one FROM (SELECT m.household_id, m.person_id, m.street_path, m.savings, "
        "m.vehicles, m.housing, m.disability_category, m.disability_grade, "
        "CASE WHEN i.person_id IS NULL THEN 0 ELSE 1 END AS ill, "
    )
    for s, t in terms.items():
        _cost_columns(sql, t, s)
    sql.add(
        "1 AS one FROM (SELECT p.household_id, p.id AS person_id, p.street_path, "
        "p.disability_category, p.disability_grade, "
    )
    for s, t in terms.items():
        _income_columns(sql, t, s)
    sql.add(
        "CAST(COALESCE(SUM(CASE WHEN f.kind IN ('savings', 'securities') THEN f.fen ELSE 0 END),"
        " 0) AS BIGINT) AS savings, "
        "COALESCE(SUM(CASE WHEN f.kind = 'vehicle' THEN 1 ELSE 0 END), 0) AS vehicles, "
        "COALESCE(SUM(CASE WHEN f.kind = 'extra_housing' THEN 1 ELSE 0 END), 0) AS housing "
        f"FROM {person} p LEFT JOIN ("
        "SELECT r.person_id, r.kind, r.new_employment, r.valid_from, "
        f"CAST(ROUND(r.amount * 100) AS BIGINT) AS fen FROM {record} r "
        "WHERE r.voided_at IS NULL AND r.category IN ('income', 'asset') "
        "AND r.valid_from <= %s AND (r.valid_to IS NULL OR r.valid_to >= %s)"
        ") f ON f.person_id = p.id "
        "WHERE p.status = 'active' AND p.birth_date <= %s "
        "AND (p.died_on IS NULL OR p.died_on > %s) AND p.household_id IN (",
        on,
        on,
        on,
        on,
    )
    sql.extend(scope)
    sql.add(
        ") GROUP BY p.household_id, p.id, p.street_path, p.disability_category, "
        "p.disability_grade) m LEFT JOIN ("
        f"SELECT DISTINCT person_id FROM {illness} WHERE voided_at IS NULL "
        "AND diagnosed_on <= %s AND (ended_on IS NULL OR ended_on >= %s)"
        ") i ON i.person_id = m.person_id) c) a GROUP BY a.household_id) h) x) y",
        on,
        on,
    )
    return sql


def household_ids_sql(households: QuerySet | str, registration: str | None = None) -> Sql:
    """The SQL of the household ids: a queryset as given, or a place path's active ones."""
    if isinstance(households, str):
        queryset = Household.objects.filter(place_path__under=households, status="active")
        if registration:
            queryset = queryset.filter(registration=registration)
    else:
        queryset = households
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    return Sql().add(sql, *params)


@dataclass(frozen=True)
class HouseholdFigures:
    """One household's figures as the set-based run computes them (yuan to the fen)."""

    household_id: int
    street_path: str
    members: int
    counted_income: Decimal  # counted household income
    per_capita: Decimal
    eligible: bool  # 低保, for the household or for members covered alone (单人保)
    persons_covered: int
    monthly_amount: Decimal  # the 低保 amount, 0 when not eligible
    marginal: bool  # 低保边缘


def _yuan(fen: Any) -> Decimal:
    return (Decimal(int(fen or 0)) / 100).quantize(FEN)


def household_figures(
    households: QuerySet | str, params: PolicyParameters, on: dt.date
) -> Iterator[HouseholdFigures]:
    """Each household's 低保 and marginal figures under one parameter set on a date, in one
    statement whatever the number of households. `households` is a queryset of households or
    a place path (its active households). Households without a member on the date are left
    out (the engine finds none eligible)."""
    sql = households_sql(household_ids_sql(households), on, {"p": Terms.of(params, on)})
    with connection.cursor() as cursor:
        cursor.execute(sql.text + " ORDER BY y.household_id", sql.params)
        for row in cursor.fetchall():
            household_id, street, members, eligible, persons, amount, marginal, pc, u, _one = row
            yield HouseholdFigures(
                household_id=household_id,
                street_path=street or "",
                members=int(members),
                counted_income=_yuan(u),
                per_capita=_yuan(pc),
                eligible=bool(eligible),
                persons_covered=int(persons),
                monthly_amount=_yuan(amount),
                marginal=bool(marginal),
            )


def _comparison_sql(scope: Sql, on: dt.date, base: Terms, variant: Terms) -> Sql:
    """Per street: households, and base against variant (see FIGURES). Persons are those
    covered: the household's members, or the members covered alone."""
    inner = households_sql(scope, on, {"b": base, "v": variant})
    newly = "w.eligible_v = 1 AND w.eligible_b = 0"
    lost = "w.eligible_b = 1 AND w.eligible_v = 0"
    sql = Sql().add(
        "SELECT w.street_path, COUNT(*), SUM(w.eligible_b), SUM(w.eligible_v), "
        f"SUM(CASE WHEN {newly} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {newly} THEN w.persons_v ELSE 0 END), "
        f"SUM(CASE WHEN {lost} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {lost} THEN w.persons_b ELSE 0 END), "
        "SUM(CASE WHEN w.marginal_v = 1 AND w.marginal_b = 0 THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN w.marginal_b = 1 AND w.marginal_v = 0 THEN 1 ELSE 0 END), "
        "SUM(w.amount_b), SUM(w.amount_v) FROM ("
    )
    return sql.extend(inner).add(") w GROUP BY w.street_path")


def compare(
    households: QuerySet | str,
    base: PolicyParameters,
    variant: PolicyParameters,
    on: dt.date,
    registration: str | None = None,
) -> dict[str, dict[str, Any]]:
    """{street_path: figures} of the variant against the base (see FIGURES); one statement."""
    sql = _comparison_sql(
        household_ids_sql(households, registration), on, Terms.of(base, on), Terms.of(variant, on)
    )
    out: dict[str, dict[str, Any]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql.text, sql.params)
        for row in cursor.fetchall():
            street, *numbers = row
            counts = [int(n or 0) for n in numbers]
            figures = dict(zip([f for f, _label in FIGURES[:9]], counts[:9], strict=True))
            base_budget = _yuan(counts[9])
            variant_budget = _yuan(counts[10])
            figures["base_budget"] = base_budget
            figures["variant_budget"] = variant_budget
            figures["budget_change"] = variant_budget - base_budget
            out[street or ""] = figures
    return out


# ---------------------------------------------------------------------------------------------
# Simulations: the row, the run, the result

STALE_AFTER = dt.timedelta(minutes=10)


def simulations(actor: User) -> QuerySet[Simulation]:
    return (
        Simulation.objects.restrict(actor, "view")
        .select_related("policy_version__policy_set", "place", "created_by")
        .order_by("-created_at", "-id")
    )


def simulation_get(actor: User, simulation_id: int) -> Simulation:
    return Simulation.objects.select_related(
        "policy_version__policy_set", "place", "created_by"
    ).get_for(actor, simulation_id)


def variant_of(base: PolicyVersion, changes: Any) -> tuple[PolicyParameters, dict[str, Any]]:
    """The variant's parameters and the changes that differ from the base, normalised (the
    figures as stored: "850.00" for 850). Errors name the field and the fix."""
    if not isinstance(changes, dict):
        message = _("Give the changes as an object of parameter names and values.")
        raise ValidationFailed(message, details={"changes": [message]})
    unknown = sorted(set(changes) - set(PolicyParameters.model_fields))
    if unknown:
        message = _("There is no parameter called %(names)s.") % {"names": ", ".join(unknown)}
        raise ValidationFailed(message, details={name: [message] for name in unknown})
    before = base.params.as_json()
    variant = validate_parameters({**before, **changes})
    after = variant.as_json()
    normalised = {name: after[name] for name in after if not same_value(after[name], before[name])}
    if not normalised:
        message = _("Change at least one figure: the variant is the same as the base policy.")
        raise ValidationFailed(message, details={"changes": [message]})
    return variant, normalised


def _scope_path(policy_set: PolicySet, place: Place) -> str:
    """The deeper of the place and the policy's locality; refused if they do not overlap."""
    if place.path.startswith(policy_set.place_path):
        return place.path
    if policy_set.place_path.startswith(place.path):
        return policy_set.place_path
    message = _("%(place)s is outside %(locality)s, where this policy applies.") % {
        "place": place.name,
        "locality": policy_set.locality.name,
    }
    raise ValidationFailed(message, details={"place": [message]})


@transaction.atomic
def simulation_start(
    *,
    actor: User,
    policy_version_id: int,
    changes: dict,
    place_id: int,
    as_of: dt.date,
    name: str,
) -> Simulation:
    """Queue a simulation of a variant of a policy version over the households of a place;
    the run happens in the background (`simulation_run`) after this transaction commits."""
    if not actor.has_perm_code(Perm.ASSISTANCE_SIMULATE):
        raise PermissionDenied()
    try:
        version = PolicyVersion.objects.select_related("policy_set__locality").get_for(
            actor, policy_version_id
        )
    except NotFound:
        raise NotFound(_("No such policy version within your reach.")) from None
    place = place_in_jurisdiction(actor, place_id)
    _scope_path(version.policy_set, place)
    if not isinstance(as_of, dt.date):
        message = _("Give a date as YYYY-MM-DD.")
        raise ValidationFailed(message, details={"as_of": [message]})
    _variant, normalised = variant_of(version, changes)
    simulation = Simulation(
        policy_version=version,
        name=clean_text(name, "name", MAX_NAME, required=True),
        changes=normalised,
        place=place,
        as_of=as_of,
        created_by=actor,
    )
    simulation.save()
    audit.record(
        actor=actor,
        action=AuditAction.CREATE,
        instance=simulation,
        label=simulation.name,
        changes={
            "policy_version": [None, str(version)],
            "place": [None, place.name],
            "as_of": [None, as_of.isoformat()],
            "changes": [[field_label(k), str(v)] for k, v in normalised.items()],
        },
    )
    from .simulations_tasks import simulation_run_task

    transaction.on_commit(lambda: simulation_run_task.enqueue(simulation.pk))
    return simulation


def simulation_scope(simulation: Simulation) -> QuerySet[Household]:
    """The households the simulation covers: active, of the policy's registration, under the
    place, and not under a smaller locality with its own policy for that registration (those
    follow their own policy, which the variant does not change)."""
    policy_set = simulation.policy_version.policy_set
    path = _scope_path(policy_set, simulation.place)
    households = Household.objects.filter(
        place_path__under=path, status="active", registration=policy_set.registration
    )
    for other in (
        PolicySet.objects.filter(
            registration=policy_set.registration, place_path__under=policy_set.place_path
        )
        .exclude(pk=policy_set.pk)
        .values_list("place_path", flat=True)
    ):
        households = households.exclude(place_path__under=other)
    return households


def _chunks(simulation: Simulation) -> list[Place]:
    """The streets under the place (or the place itself below street level), one statement
    each, so progress moves street by street."""
    place = simulation.place
    if place.level >= PlaceLevel.STREET:
        return [place]
    return list(
        Place.objects.filter(level=PlaceLevel.STREET, path__under=place.path).order_by("path")
    )


def _progress(simulation_id: int, **fields) -> None:
    # Outside any transaction: the page polling the simulation sees it at once.
    Simulation.objects.filter(pk=simulation_id).update(heartbeat_at=timezone.now(), **fields)


def _json_figures(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in figures.items()}


def _add(total: dict[str, Any], figures: dict[str, Any]) -> None:
    for key, value in figures.items():
        total[key] = total.get(key, 0) + value


def simulation_run(*, simulation_id: int) -> Simulation:
    """Run a queued simulation street by street; idempotent (a claimed one is left alone).
    It reads the registry and writes only the simulation row."""
    claimed = Simulation.objects.filter(pk=simulation_id, state=SimulationState.QUEUED).update(
        state=SimulationState.RUNNING, heartbeat_at=timezone.now()
    )
    simulation = Simulation.objects.select_related(
        "policy_version__policy_set__locality", "place"
    ).get(pk=simulation_id)
    if not claimed:
        return simulation
    try:
        result = _run(simulation)
    except Exception:
        logger.exception("simulation %s failed", simulation_id)
        _progress(
            simulation_id,
            state=SimulationState.FAILED,
            failure=_("The simulation stopped on an unexpected error. Start it again."),
            finished_at=timezone.now(),
        )
    else:
        _progress(
            simulation_id,
            state=SimulationState.DONE,
            result=result,
            finished_at=timezone.now(),
        )
    simulation.refresh_from_db()
    return simulation


def _run(simulation: Simulation) -> dict[str, Any]:
    base = simulation.policy_version.params
    variant, _changes = variant_of(simulation.policy_version, simulation.changes)
    households = simulation_scope(simulation)
    chunks = _chunks(simulation)
    total = households.count()
    _progress(simulation.pk, total=total, processed=0)
    streets: list[dict[str, Any]] = []
    totals: dict[str, Any] = {}
    processed = 0
    for chunk in chunks:
        in_chunk = households.filter(place_path__under=chunk.path)
        by_street = compare(in_chunk, base, variant, simulation.as_of)
        for street_path, figures in sorted(by_street.items()):
            streets.append({"street": street_path, **_json_figures(figures)})
            _add(totals, figures)
        processed = min(total, processed + in_chunk.count())
        _progress(simulation.pk, processed=processed)
    _progress(simulation.pk, processed=total)
    names = dict(
        Place.objects.filter(path__in=[row["street"] for row in streets]).values_list(
            "path", "name"
        )
    )
    for row in streets:
        row["name"] = names.get(row["street"], row["street"])
    return {
        "streets": streets,
        "totals": _json_figures(totals or {key: 0 for key, _label in FIGURES}),
        "registration": simulation.policy_version.policy_set.registration,
        "base": {k: v for k, v in base.as_json().items() if k in simulation.changes},
    }


def simulations_fail_stale(now: dt.datetime | None = None) -> int:
    """Simulations whose worker died (no heartbeat for STALE_AFTER) are marked failed."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    return Simulation.objects.filter(state=SimulationState.RUNNING, heartbeat_at__lt=cutoff).update(
        state=SimulationState.FAILED,
        failure=_("The simulation stopped without finishing (its worker ended). Start it again."),
        finished_at=now or timezone.now(),
    )


def simulation_workbook(simulation: Simulation):
    """The result as an .xlsx (aggregates by street only: nothing personal)."""
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font

    from linli.core.text import excel_safe

    wb = Workbook()
    ws = wb.active
    ws.title = str(_("Simulation"))
    ws.append([excel_safe(simulation.name)])
    ws.append(
        [
            str(_("Policy %(policy)s from %(start)s, as of %(date)s, in %(place)s"))
            % {
                "policy": excel_safe(simulation.policy_version.policy_set.name),
                "start": simulation.policy_version.valid_from.isoformat(),
                "date": simulation.as_of.isoformat(),
                "place": excel_safe(simulation.place.name),
            }
        ]
    )
    for name, value in simulation.changes.items():
        base = simulation.result.get("base", {}).get(name)
        ws.append([field_label(name), shown(base), shown(value)])
    ws.append([])
    ws.append([str(_("Street")), *(str(label) for _key, label in FIGURES)])
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for row in simulation.result.get("streets", []):
        ws.append([excel_safe(row["name"]), *(_cell(key, row.get(key)) for key, _l in FIGURES)])
    ws.append(
        [
            str(_("Total")),
            *(_cell(key, simulation.result.get("totals", {}).get(key)) for key, _l in FIGURES),
        ]
    )
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    ws.column_dimensions["A"].width = 24
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return out


def _cell(key: str, value: Any):
    if value is None:
        return None
    if key in MONEY_FIGURES:
        return Decimal(str(value))
    return int(value)


def percent(simulation: Simulation) -> int:
    if simulation.state == SimulationState.DONE:
        return 100
    if not simulation.total:
        return 0
    return min(100, simulation.processed * 100 // simulation.total)


def not_done_message(simulation: Simulation) -> str:
    if simulation.state == SimulationState.FAILED:
        return simulation.failure or _("The simulation failed. Start it again.")
    return _("The simulation has not finished yet; try again when its state is done.")


# Old private names, kept until monitoring/screening.py and bench/monitoring_screen.py import
# the public ones above (Terms, households_sql, household_ids_sql, to_fen, engine.add_months).
_Terms = Terms
_households_sql = households_sql
_scope = household_ids_sql
_fen = to_fen
_add_months = add_months
