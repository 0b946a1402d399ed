"""The case workflow as an explicit table: action → states it starts from, state it leads to,
and who may take it. Services call `check()` before changing anything; pages call
`available_actions()` to offer only what would succeed."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.core.errors import Conflict, PermissionDenied
from linli.core.models import User
from linli.core.roles import Perm
from linli.core.scoping import PATH_SEPARATOR

from .models import Case, Tier
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


def check(actor: User, case: Case, action: str) -> Transition:
    """Refuse with 403 (role, tier) or 409 (state); the caller already proved visibility."""
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
    return rule


def available_actions(actor: User, case: Case) -> list[str]:
    """Actions the actor could take on the case now (for buttons; services re-check)."""
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
