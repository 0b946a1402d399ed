"""The case workflow as an explicit table: action → states it starts from, state it leads to,
and who may take it, plus the few rules a state alone does not decide (whose hands the case is
in, the whistle, the rating window). Services call `check()` before changing anything; pages and
the API call `available_actions()`, which runs the same `check()`, so they offer exactly what
the service accepts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.core.errors import Conflict, PermissionDenied
from linli.core.models import User
from linli.core.roles import Perm
from linli.core.scoping import PATH_SEPARATOR

from .models import Case, Tier, Whistle, WhistleSummons
from .models import CaseState as S


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    # None: the service decides (escalation keeps or resets the state; report-in keeps it).
    target: str | None
    # The permission that allows it; None when only the reporter may (rating).
    perm: str | None
    # The reporter may take it too (verification, rating), whatever their role.
    reporter_may: bool = False
    # Only staff whose jurisdiction reaches the case's tier (see Tier).
    tiered: bool = False
    label: str = ""


_OPEN_UNHANDLED = frozenset({S.REPORTED, S.REGISTERED, S.DISPATCHED, S.IN_HAND})

TRANSITIONS: dict[str, Transition] = {
    "register": Transition(
        frozenset({S.REPORTED}), S.REGISTERED, Perm.CASES_REGISTER, tiered=True,
        label=gettext_lazy("Register"),
    ),
    "reject": Transition(
        frozenset({S.REPORTED}), S.REJECTED, Perm.CASES_REGISTER, tiered=True,
        label=gettext_lazy("Do not register"),
    ),
    "merge": Transition(
        frozenset({S.REPORTED, S.REGISTERED}), S.CLOSED_OTHER, Perm.CASES_REGISTER, tiered=True,
        label=gettext_lazy("Merge into another case"),
    ),
    "dispatch": Transition(
        frozenset({S.REGISTERED, S.DISPATCHED}), S.DISPATCHED, Perm.CASES_DISPATCH, tiered=True,
        label=gettext_lazy("Dispatch"),
    ),
    "accept": Transition(
        frozenset({S.DISPATCHED}), S.IN_HAND, Perm.CASES_HANDLE, label=gettext_lazy("Take on"),
    ),
    "report_handled": Transition(
        frozenset({S.IN_HAND}), S.HANDLED, Perm.CASES_HANDLE,
        label=gettext_lazy("Report handled"),
    ),
    "verify": Transition(
        frozenset({S.HANDLED}), S.VERIFIED, Perm.CASES_VERIFY, reporter_may=True,
        label=gettext_lazy("Verify"),
    ),
    "verify_fail": Transition(
        frozenset({S.HANDLED}), S.DISPATCHED, Perm.CASES_VERIFY, reporter_may=True,
        label=gettext_lazy("Send back for rework"),
    ),
    "close_fixed": Transition(
        frozenset({S.VERIFIED}), S.CLOSED_FIXED, Perm.CASES_CLOSE, tiered=True,
        label=gettext_lazy("Close as fixed"),
    ),
    "close_other": Transition(
        frozenset({S.REGISTERED, S.DISPATCHED, S.IN_HAND, S.HANDLED}), S.CLOSED_OTHER,
        Perm.CASES_CLOSE, tiered=True, label=gettext_lazy("Close without a fix"),
    ),
    "rate": Transition(
        frozenset({S.CLOSED_FIXED, S.CLOSED_OTHER}), S.RATED, None, reporter_may=True,
        label=gettext_lazy("Rate"),
    ),
    # Not offered to anyone: a bad rating within the window takes it (see case_rate).
    "rework": Transition(frozenset({S.RATED}), S.DISPATCHED, None),
    "escalate": Transition(
        _OPEN_UNHANDLED, None, Perm.CASES_ESCALATE, tiered=True, label=gettext_lazy("Escalate"),
    ),
    "whistle": Transition(
        frozenset({S.REGISTERED, S.DISPATCHED, S.IN_HAND}), S.DISPATCHED, Perm.CASES_WHISTLE,
        tiered=True, label=gettext_lazy("Blow the whistle"),
    ),
    "report_in": Transition(
        frozenset({S.DISPATCHED, S.IN_HAND, S.HANDLED, S.VERIFIED}), None, Perm.CASES_HANDLE,
        label=gettext_lazy("Report in"),
    ),
}  # fmt: skip


def actor_level(actor: User) -> int:
    """The highest level the actor's jurisdiction reaches (2 = district … 5 = grid).

    Path depth is the level: "370500/370502/" is a district. Administrators reach everything.
    """
    if actor.sees_everything:
        return 0
    depths = [p.count(PATH_SEPARATOR) for p in actor.scope_paths]
    return min(depths) if depths else 99


def holds_tier(actor: User, case: Case) -> bool:
    return actor_level(actor) <= case.tier


def is_department_holder(actor: User, case: Case) -> bool:
    """The actor works in the department the case is dispatched to."""
    return bool(case.department_id) and actor.departments.filter(pk=case.department_id).exists()


def rating_window() -> dt.timedelta:
    return dt.timedelta(days=getattr(settings, "LINLI_RATING_DAYS", 7))


def whistle_of(case: Case) -> Whistle | None:
    try:
        return case.whistle
    except Whistle.DoesNotExist:
        return None


def _not_whistled(actor: User, case: Case) -> None:
    if whistle_of(case) is not None:
        raise Conflict(
            _("The whistle named the lead department; this case is not re-dispatched."),
            code="whistled",
        )


def _whistle_not_blown(actor: User, case: Case) -> None:
    if whistle_of(case) is not None:
        raise Conflict(_("The whistle has already been blown on this case."), code="whistled")


def _in_actors_hands(actor: User, case: Case) -> None:
    """Taking on: the case was dispatched to this person, or to a department they work in."""
    if actor.sees_everything:
        return
    if case.handler_id is not None:
        if case.handler_id != actor.pk:
            raise PermissionDenied(_("This case was dispatched to someone else."))
    elif not is_department_holder(actor, case):
        raise PermissionDenied(_("This case was dispatched to a department you do not work in."))


def _taken_on_by_actor(actor: User, case: Case) -> None:
    if case.handler_id != actor.pk and not actor.sees_everything:
        raise PermissionDenied(_("Only the person who took the case on can report it handled."))


def _lead_handled(actor: User, case: Case) -> None:
    """A whistled case closes only after its lead department reported it handled."""
    lead = WhistleSummons.objects.filter(whistle__case_id=case.pk, is_lead=True).first()
    if lead is not None and lead.handled_at is None:
        raise Conflict(
            _("The lead department has not reported this case handled yet."),
            code="lead_not_handled",
        )


def _within_rating_window(actor: User, case: Case) -> None:
    if case.closed_at is None or timezone.now() - case.closed_at > rating_window():
        raise Conflict(_("The time for rating this case has passed."), code="rating_window_closed")


def _summoned_and_not_reported_in(actor: User, case: Case) -> None:
    """One of the actor's departments was summoned by the whistle and has not reported in."""
    reported = list(
        WhistleSummons.objects.filter(
            whistle__case_id=case.pk, department__in=actor.departments.all()
        ).values_list("reported_in_at", flat=True)
    )
    if not reported:
        raise PermissionDenied(_("Your department was not summoned to this case."))
    if None not in reported:
        raise Conflict(_("Your department has already reported in."), code="already_reported_in")


# What each action needs beyond its role, tier and state: the same rule refuses the service
# call and hides the button.
GUARDS: dict[str, Callable[[User, Case], None]] = {
    "dispatch": _not_whistled,
    "accept": _in_actors_hands,
    "report_handled": _taken_on_by_actor,
    "close_fixed": _lead_handled,
    "close_other": _lead_handled,
    "rate": _within_rating_window,
    "whistle": _whistle_not_blown,
    "report_in": _summoned_and_not_reported_in,
}


def check(actor: User, case: Case, action: str) -> Transition:
    """Refuse with 403 (role, tier, whose case it is) or 409 (state, whistle, rating window);
    the caller already proved visibility."""
    rule = TRANSITIONS[action]
    is_reporter = case.reporter_id is not None and case.reporter_id == actor.pk
    allowed = (rule.reporter_may and is_reporter) or (
        rule.perm is not None and not actor.is_resident and actor.has_perm_code(rule.perm)
    )
    if not allowed:
        if rule.perm is None:
            raise PermissionDenied(_("Only the person who reported this case may do this."))
        raise PermissionDenied()
    if case.state not in rule.sources:
        raise Conflict(
            _("This case is %(state)s: “%(action)s” is not possible now.")
            % {"state": case.get_state_display(), "action": rule.label or action},
            code="wrong_state",
        )
    if action == "whistle" and case.tier != Tier.DISTRICT:
        raise Conflict(_("Only a case held at the district can be whistled."), code="wrong_tier")
    if action == "escalate" and case.tier == Tier.DISTRICT:
        raise Conflict(
            _("The case is already at the district: blow the whistle instead."), code="top_tier"
        )
    if rule.tiered and not holds_tier(actor, case):
        if action == "escalate" and is_department_holder(actor, case):
            return rule
        raise PermissionDenied(
            _("This case is held at the %(tier)s tier; your jurisdiction does not reach it.")
            % {"tier": Tier(case.tier).label}
        )
    guard = GUARDS.get(action)
    if guard is not None:
        guard(actor, case)
    return rule


def available_actions(actor: User, case: Case) -> list[str]:
    """Actions the actor could take on the case now: those `check()` lets through, the check
    each service makes (for the page's buttons and the API's `actions`)."""
    out = []
    for action in TRANSITIONS:
        if action == "rework":
            continue
        try:
            check(actor, case, action)
        except (PermissionDenied, Conflict):
            continue
        out.append(action)
    return out


# What happens next, by state, in words for the person who reported the case.
_NEXT_STEP = {
    S.REPORTED: gettext_lazy("Waiting to be registered by the grid or community."),
    S.REGISTERED: gettext_lazy("Registered: waiting to be dispatched to a handler."),
    S.DISPATCHED: gettext_lazy("Dispatched: waiting for the handler to take it on."),
    S.IN_HAND: gettext_lazy("Being handled."),
    S.HANDLED: gettext_lazy("Handled: waiting for an on-the-spot check."),
    S.VERIFIED: gettext_lazy("Checked on the spot: waiting to be closed."),
    S.CLOSED_FIXED: gettext_lazy("Closed as fixed."),
    S.CLOSED_OTHER: gettext_lazy("Closed without a fix: see the reason on the case page."),
    S.REJECTED: gettext_lazy("Not registered: see the reason on the case page."),
    S.RATED: gettext_lazy("Done: thank you for your rating."),
}
# The reporter's own steps, offered when check() lets them through.
_REPORTER_STEP = {
    "verify": gettext_lazy("Your turn: check whether it is fixed, then verify it or send it back."),
    "rate": gettext_lazy("Your turn: rate how it was handled."),
}


def next_step(actor: User, case: Case) -> str:
    """The case's next step as its reporter sees it (the "my reports" list)."""
    for action, text in _REPORTER_STEP.items():
        try:
            check(actor, case, action)
        except (PermissionDenied, Conflict):
            continue
        return str(text)
    return str(_NEXT_STEP[case.state])
