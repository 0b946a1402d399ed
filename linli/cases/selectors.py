"""Reads of cases, always through the actor's jurisdiction."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet

from linli.core.models import User
from linli.core.refcache import ProcessCache

from .models import (
    TIMED_STATES,
    Case,
    CaseEvent,
    CaseState,
    Category,
    Tier,
    WarningLevel,
    Whistle,
    WhistleSummons,
)
from .transitions import TRANSITIONS, actor_level

EARTH_RADIUS_M = 6_371_000


def _build_reportable_categories() -> dict[tuple[str, Any], Category]:
    found = Category.objects.filter(is_active=True, parent__isnull=False)
    return {key: c for c in found for key in (("code", c.code), ("id", c.pk))}


# Every report reads its category; administrators tune them now and then (a minute to reach
# the other processes).
reportable_categories: ProcessCache[dict[tuple[str, Any], Category]] = ProcessCache(
    _build_reportable_categories, seconds=60
)


def reportable_category(*, code: str = "", pk: Any = None) -> Category:
    """An active minor class by code or id (Category.DoesNotExist if none), from the cache or,
    for one made in another process in the last minute, the database."""
    try:
        key = ("code", code) if code else ("id", int(pk))
    except (TypeError, ValueError):
        raise Category.DoesNotExist from None
    category = reportable_categories.get().get(key)
    if category is None:
        category = Category.objects.get(**{key[0]: key[1]}, is_active=True, parent__isnull=False)
        reportable_categories.clear()
    return category


def case_get(*, actor: User, case_id: Any) -> Case:
    return Case.objects.select_related(
        "category__parent", "grid__parent", "department", "handler"
    ).get_for(actor, case_id)


def case_whistle(*, actor: User, case_id: Any) -> Whistle | None:
    """The whistle blown on the case (吹哨), with every summoned department — the lead first —
    and who reported in (报到) for it; None if there was none."""
    case = Case.objects.get_for(actor, case_id)
    summons = WhistleSummons.objects.select_related("department", "reported_in_by").order_by(
        "-is_lead", "department__code"
    )
    return (
        Whistle.objects.filter(case=case)
        .select_related("blown_by")
        .prefetch_related(Prefetch("summons", queryset=summons))
        .first()
    )


def case_timeline(*, actor: User, case_id: Any) -> QuerySet[CaseEvent]:
    case = Case.objects.get_for(actor, case_id)
    return CaseEvent.objects.filter(case=case).select_related("actor").order_by("at", "id")


@dataclass
class CaseFilter:
    states: tuple[str, ...] = ()
    warning: int | None = None  # at least this warning level
    category_id: int | None = None
    department_id: int | None = None
    place_path: str = ""  # under this place


def case_list(*, actor: User, filters: CaseFilter | None = None) -> QuerySet[Case]:
    f = filters or CaseFilter()
    qs = Case.objects.restrict(actor).select_related(
        "category", "grid__parent", "department", "handler"
    )
    if f.states:
        qs = qs.filter(state__in=f.states)
    if f.warning is not None:
        qs = qs.filter(warning__gte=f.warning)
    if f.category_id is not None:
        qs = qs.filter(Q(category_id=f.category_id) | Q(category__parent_id=f.category_id))
    if f.department_id is not None:
        qs = qs.filter(department_id=f.department_id)
    if f.place_path:
        qs = qs.filter(place_path__under=f.place_path)
    return qs.order_by("-warning", "stage_deadline", "-id")


def handler_inbox(*, actor: User) -> QuerySet[Case]:
    """Cases waiting for this person: dispatched to them, or to their department and not yet
    taken on by anyone, or in their hands."""
    departments = actor.departments.values("pk")
    return (
        Case.objects.restrict(actor)
        .filter(
            Q(handler=actor, state__in=(CaseState.DISPATCHED, CaseState.IN_HAND))
            | Q(department__in=departments, handler__isnull=True, state=CaseState.DISPATCHED)
        )
        .select_related("category", "grid__parent")
        .order_by("-warning", "stage_deadline")
    )


# The step each kind of staff takes next, by the state it starts from (re-dispatch and the
# alternatives — reject, merge, close without a fix — are choices on these same cases).
_NEXT_STEPS = {
    "register": (CaseState.REPORTED,),
    "dispatch": (CaseState.REGISTERED,),
    "verify": (CaseState.HANDLED,),
    "close_fixed": (CaseState.VERIFIED,),
}


def waiting_for(*, actor: User) -> QuerySet[Case]:
    """待办: cases waiting for this person's next step. Held at their own tier and in a state
    their role moves on (a grid worker registers, dispatches, verifies and closes grid cases;
    a street officer the cases escalated to the street); whistled cases held at the district
    not yet whistled, for the command centre; and a handler's inbox (see handler_inbox)."""
    level = actor_level(actor)
    departments = actor.departments.values("pk")
    wanted = Q(handler=actor, state__in=(CaseState.DISPATCHED, CaseState.IN_HAND)) | Q(
        department__in=departments, handler__isnull=True, state=CaseState.DISPATCHED
    )
    for action, states in _NEXT_STEPS.items():
        if actor.has_perm_code(TRANSITIONS[action].perm):
            wanted |= Q(state__in=states, tier=level)
    whistle = TRANSITIONS["whistle"]
    if actor.has_perm_code(whistle.perm) and level <= Tier.DISTRICT:
        wanted |= Q(state__in=whistle.sources, tier=Tier.DISTRICT, whistle__isnull=True)
    return (
        Case.objects.restrict(actor)
        .filter(wanted)
        .select_related("category", "grid__parent")
        .order_by("-warning", "stage_deadline")
    )


def overdue_queue(*, actor: User) -> QuerySet[Case]:
    """Open cases already red, for the command-centre board."""
    return case_list(actor=actor, filters=CaseFilter(states=TIMED_STATES, warning=WarningLevel.RED))


def due_soon(*, actor: User) -> QuerySet[Case]:
    """Waiting for this person with the stage's deadline near (yellow warning)."""
    return waiting_for(actor=actor).filter(warning=WarningLevel.YELLOW)


def overdue_for(*, actor: User) -> QuerySet[Case]:
    """Waiting for this person and already past the stage's deadline (red warning)."""
    return waiting_for(actor=actor).filter(warning=WarningLevel.RED)


# A case in a handler's hands: the tier that holds it no longer has a step of its own to take.
_IN_HANDS = (CaseState.DISPATCHED, CaseState.IN_HAND)


def supervised(*, actor: User) -> QuerySet[Case]:
    """督办: cases this person presses others to finish, or is pressed to finish.

    - A dispatcher's tier: open cases still in a handler's hands that the overdue sweep moved
      up to the tier this person holds (supervision passes up, the handler keeps the work).
    - A handler: their own cases (or their department's not yet taken on) that the sweep has
      moved up, and cases the command centre whistled to their department that still wait
      for its report-in (报到).
    """
    level = actor_level(actor)
    departments = actor.departments.values("pk")
    mine = Q(handler=actor) | Q(department__in=departments, handler__isnull=True)
    wanted = Q(state__in=_IN_HANDS, escalation_count__gt=0) & mine
    if actor.has_perm_code(TRANSITIONS["dispatch"].perm):
        wanted |= Q(state__in=_IN_HANDS, escalation_count__gt=0, tier=level)
    summoned = WhistleSummons.objects.filter(
        department__in=departments, reported_in_at__isnull=True
    ).values("whistle__case_id")
    wanted |= Q(pk__in=summoned, state__in=TIMED_STATES)
    return (
        Case.objects.restrict(actor)
        .filter(wanted)
        .select_related("category", "grid__parent")
        .order_by("-warning", "stage_deadline")
    )


def reported_by(*, actor: User) -> QuerySet[Case]:
    """Cases this person reported, or typed in for a caller (12345 hotline), newest first."""
    return (
        Case.objects.restrict(actor)
        .filter(Q(reporter=actor) | Q(entered_by=actor))
        .select_related("category", "grid__parent")
        .order_by("-reported_at", "-id")
    )


def case_counts(*, actor: User, place_path: str = "") -> dict[str, int]:
    """Open cases of the jurisdiction (under `place_path` if given): all, and yellow and red."""
    qs = Case.objects.restrict(actor).filter(state__in=TIMED_STATES)
    if place_path:
        qs = qs.filter(place_path__under=place_path)
    return qs.aggregate(
        open=Count("id"),
        yellow=Count("id", filter=Q(warning=WarningLevel.YELLOW)),
        red=Count("id", filter=Q(warning=WarningLevel.RED)),
    )


def category_tree() -> QuerySet[Category]:
    """Active major classes with their active minor classes (for the report form)."""
    minors = Category.objects.filter(is_active=True).select_related("department")
    return (
        Category.objects.filter(parent__isnull=True, is_active=True)
        .prefetch_related(Prefetch("minors", queryset=minors))
        .order_by("code")
    )


def metres_between(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def case_duplicate_candidates(*, actor: User, case_id: Any) -> list[Case]:
    """Open cases of the same category within LINLI_DUPLICATE_METRES and reported within
    LINLI_DUPLICATE_HOURS of this one, nearest first (each with `.distance_m`): offered for
    merging before registration."""
    case = Case.objects.get_for(actor, case_id)
    if case.lat is None or case.lng is None:
        return []
    metres = settings.LINLI_DUPLICATE_METRES
    window = dt.timedelta(hours=settings.LINLI_DUPLICATE_HOURS)
    # A bounding box the index can use, then the exact distance.
    dlat = math.degrees(metres / EARTH_RADIUS_M)
    dlng = dlat / max(math.cos(math.radians(case.lat)), 0.01)
    candidates = (
        Case.objects.restrict(actor)
        .filter(
            state__in=TIMED_STATES,
            category_id=case.category_id,
            reported_at__gte=case.reported_at - window,
            reported_at__lte=case.reported_at + window,
            lat__range=(case.lat - dlat, case.lat + dlat),
            lng__range=(case.lng - dlng, case.lng + dlng),
        )
        .exclude(pk=case.pk)
    )
    out = []
    for other in candidates:
        other.distance_m = metres_between(case.lat, case.lng, other.lat, other.lng)
        if other.distance_m <= metres:
            out.append(other)
    return sorted(out, key=lambda c: (c.distance_m, c.reported_at))
