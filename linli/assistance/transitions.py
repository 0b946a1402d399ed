"""The application workflow (救助申请审核审批) as an explicit table: action → states it starts from,
the state it leads to, who may take it, and the few rules a state alone does not decide (the
program's path, the deciding tier, the notice period, the pledge). Services call `check()`
before changing anything; pages and the API call `available_actions()`, which runs the same
`check()`, so they offer exactly what the service accepts.

Paths by program (PATHS):
- 低保, 低保边缘, 支出型: accept (street) → investigate (community) → public notice (7 days)
  → decide at the program's tier;
- 特困: the same, decided by the street; the district samples a share of the street's
  approvals and decides those itself (state `sampled`);
- 临时救助: accept → investigate → decide, by the street up to its ceiling and the district
  above it; an emergency (急难型) may be paid first (先行救助) and documented afterwards.
A credit pledge (信用承诺) skips the investigation and the notice: accepted, it awaits the decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.core.errors import Conflict, PermissionDenied
from linli.core.models import User
from linli.core.roles import Perm
from linli.core.scoping import PATH_SEPARATOR
from linli.places.models import PlaceLevel

from .models import Application, ApprovalTier, Program, TemporaryKind
from .models import ApplicationState as S


@dataclass(frozen=True)
class Path:
    """How a program's applications travel."""

    notice: bool  # a public notice (公示) before the decision
    # The tier that decides; None: by the amount (the street up to its approval ceiling).
    tier: str | None
    sampled: bool = False  # the district samples the street's approvals (特困)
    credit: bool = False  # a credit pledge may replace investigation and notice
    extendable: bool = True  # the total time limit may be extended once


# Which tier decides each program (configurable here, in one place).
PATHS: dict[str, Path] = {
    Program.MINIMUM_LIVING: Path(notice=True, tier=ApprovalTier.DISTRICT, credit=True),
    Program.MARGINAL: Path(notice=True, tier=ApprovalTier.STREET, credit=True),
    Program.RIGID_EXPENDITURE: Path(notice=True, tier=ApprovalTier.STREET, credit=True),
    Program.EXTREME_POVERTY: Path(
        notice=True, tier=ApprovalTier.STREET, sampled=True, extendable=False
    ),
    Program.TEMPORARY: Path(notice=False, tier=None),
}
# Standard-based grants (heating, one-off, price subsidy) are paid to recipients by their
# standard: nobody applies for them.
APPLICABLE_PROGRAMS = tuple(PATHS)

OPEN_STATES = frozenset(
    {S.SUBMITTED, S.ACCEPTED, S.INVESTIGATED, S.IN_NOTICE, S.AWAITING_DECISION, S.SAMPLED}
)
DECISION_STATES = frozenset({S.AWAITING_DECISION, S.SAMPLED})


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    # None: the state stays, or the program's path decides (see next_state).
    target: str | None
    # The permission that allows it; None when no role may (the applicant alone).
    perm: str | None
    # Only staff at the tier that decides the application (see actor_tier).
    tiered: bool = False
    # The applicant may take it too, through their resident account.
    applicant_may: bool = False
    label: Any = ""


TRANSITIONS: dict[str, Transition] = {
    "accept": Transition(
        frozenset({S.SUBMITTED}), None, Perm.ASSISTANCE_ACCEPT, label=gettext_lazy("Accept"),
    ),
    "investigate": Transition(
        frozenset({S.ACCEPTED}), None, Perm.ASSISTANCE_INVESTIGATE,
        label=gettext_lazy("Record the household investigation"),
    ),
    "start_notice": Transition(
        frozenset({S.INVESTIGATED}), S.IN_NOTICE, Perm.ASSISTANCE_ACCEPT,
        label=gettext_lazy("Start the public notice"),
    ),
    "object": Transition(
        frozenset({S.IN_NOTICE}), None, Perm.ASSISTANCE_INVESTIGATE,
        label=gettext_lazy("Record an objection"),
    ),
    "end_notice": Transition(
        frozenset({S.IN_NOTICE}), S.AWAITING_DECISION, Perm.ASSISTANCE_ACCEPT,
        label=gettext_lazy("End the public notice"),
    ),
    "approve": Transition(
        DECISION_STATES, None, Perm.ASSISTANCE_DECIDE, tiered=True,
        label=gettext_lazy("Approve"),
    ),
    "reject": Transition(
        DECISION_STATES, S.REJECTED, Perm.ASSISTANCE_DECIDE, tiered=True,
        label=gettext_lazy("Reject"),
    ),
    "extend": Transition(
        frozenset({S.ACCEPTED, S.INVESTIGATED, S.IN_NOTICE, S.AWAITING_DECISION}), None,
        Perm.ASSISTANCE_DECIDE, tiered=True, label=gettext_lazy("Extend the time limit"),
    ),
    "pay_first": Transition(
        frozenset({S.SUBMITTED, S.ACCEPTED}), S.APPROVED, Perm.ASSISTANCE_DECIDE, tiered=True,
        label=gettext_lazy("Pay first (emergency)"),
    ),
    "record_documents": Transition(
        frozenset({S.APPROVED}), None, Perm.ASSISTANCE_ACCEPT,
        label=gettext_lazy("Record the documents received"),
    ),
    "withdraw": Transition(
        OPEN_STATES, S.WITHDRAWN, Perm.ASSISTANCE_ACCEPT, applicant_may=True,
        label=gettext_lazy("Withdraw the application"),
    ),
}  # fmt: skip


def path_of(application: Application) -> Path:
    return PATHS[application.program]


def actor_tier(actor: User) -> str | None:
    """The tier the actor decides at: the street for staff bound to a street, the district for
    staff bound to a district or above (administrators too); None below the street."""
    if actor.sees_everything:
        return ApprovalTier.DISTRICT
    depths = [p.count(PATH_SEPARATOR) for p in actor.scope_paths]
    if not depths:
        return None
    level = min(depths)
    if level <= PlaceLevel.DISTRICT:
        return ApprovalTier.DISTRICT
    if level == PlaceLevel.STREET:
        return ApprovalTier.STREET
    return None


def is_applicant(actor: User, application: Application) -> bool:
    return actor.is_resident and application.applicant.account_id == actor.pk


def next_state(application: Application, action: str) -> str | None:
    """The state an action leads to on this application (None: it stays). 特困 approvals by
    the street may go to the district's sample instead: the service draws that."""
    rule = TRANSITIONS[action]
    if rule.target is not None:
        return rule.target
    path = path_of(application)
    if action == "accept":
        return S.AWAITING_DECISION if application.credit_route else S.ACCEPTED
    if action == "investigate":
        return S.INVESTIGATED if path.notice else S.AWAITING_DECISION
    if action == "approve":
        return S.APPROVED
    return None


def stored_result(application: Application) -> dict[str, Any] | None:
    """The engine's answer for the application's program in the stored assessment."""
    results = (application.assessment or {}).get("results") or {}
    result = results.get(application.program)
    return result if isinstance(result, dict) else None


def stored_eligible(application: Application) -> bool:
    result = stored_result(application)
    return bool(result and result.get("eligible"))


# --- guards: what each action needs beyond its role, tier and state ----------------------------


def _today() -> dt.date:
    return timezone.localdate()


def _has_notice(actor: User, application: Application) -> None:
    if not path_of(application).notice or application.credit_route:
        raise Conflict(
            _("Applications for %(program)s are decided without a public notice.")
            % {"program": application.get_program_display()},
            code="no_notice",
        )


def _notice_over(actor: User, application: Application) -> None:
    if application.notice_to is not None and application.notice_to >= _today():
        raise Conflict(
            _("The public notice runs until %(day)s; it can end the day after.")
            % {"day": application.notice_to.isoformat()},
            code="notice_running",
        )


def _eligible(actor: User, application: Application) -> None:
    if not stored_eligible(application):
        raise Conflict(
            _(
                "The assessment finds the household not eligible for %(program)s: correct the "
                "registry's records if they are wrong, or reject the application."
            )
            % {"program": application.get_program_display()},
            code="not_eligible",
        )


def _approvable(actor: User, application: Application) -> None:
    _eligible(actor, application)
    if application.credit_route:
        credit_penalty_check(application.applicant_id, _today())


def _extendable(actor: User, application: Application) -> None:
    if not path_of(application).extendable:
        raise Conflict(
            _("The time limits of %(program)s cannot be extended.")
            % {"program": application.get_program_display()},
            code="not_extendable",
        )
    if application.extended:
        raise Conflict(_("The time limit was already extended once."), code="already_extended")


def _emergency(actor: User, application: Application) -> None:
    if (
        application.program != Program.TEMPORARY
        or application.temporary_kind != TemporaryKind.EMERGENCY
    ):
        raise Conflict(
            _("Only emergency temporary assistance (急难型) may be paid first."),
            code="not_emergency",
        )
    _eligible(actor, application)


def _documents_awaited(actor: User, application: Application) -> None:
    if not application.paid_first:
        raise Conflict(
            _("This application was not paid first: there are no documents to follow."),
            code="not_paid_first",
        )
    if application.documents_received_on is not None:
        raise Conflict(
            _("The documents were recorded on %(day)s.")
            % {"day": application.documents_received_on.isoformat()},
            code="documents_recorded",
        )


GUARDS: dict[str, Callable[[User, Application], None]] = {
    "start_notice": _has_notice,
    "end_notice": _notice_over,
    "approve": _approvable,
    "extend": _extendable,
    "pay_first": _emergency,
    "record_documents": _documents_awaited,
}


def credit_penalty_check(person_id: int, today: dt.date) -> None:
    """Refuse the credit route to a person within a credit penalty (失信惩戒)."""
    from .benefits import active_credit_penalty

    penalty = active_credit_penalty(person_id=person_id, on=today)
    if penalty is not None:
        raise Conflict(
            _(
                "The applicant may not use the credit route until %(day)s (a pledge failed its "
                "verification): apply with a household investigation instead."
            )
            % {"day": penalty.ends_on.isoformat()},
            code="credit_penalty",
        )


def check(application: Application, actor: User | None, action: str) -> Transition:
    """Refuse with 403 (role, tier) or 409 (state, path, notice period, eligibility); the caller
    already proved visibility. `actor` None is the system (the periodic jobs)."""
    rule = TRANSITIONS[action]
    if actor is not None:
        allowed = (rule.applicant_may and is_applicant(actor, application)) or (
            rule.perm is not None
            and actor.is_active
            and not actor.is_resident
            and actor.has_perm_code(rule.perm)
        )
        if not allowed:
            raise PermissionDenied()
    if application.state not in rule.sources:
        raise Conflict(
            _("This application is %(state)s: “%(action)s” is not possible now.")
            % {"state": application.get_state_display(), "action": rule.label or action},
            code="wrong_state",
        )
    if rule.tiered and actor is not None:
        tier = actor_tier(actor)
        if tier != application.approval_tier:
            raise PermissionDenied(
                _(
                    "This application is decided at the %(tier)s tier; your jurisdiction "
                    "decides at another."
                )
                % {"tier": ApprovalTier(application.approval_tier).label}
            )
    guard = GUARDS.get(action)
    if guard is not None:
        guard(actor, application)
    return rule


def available_actions(application: Application, actor: User) -> list[str]:
    """Actions the actor could take on the application now: those `check()` lets through, the
    check each service makes (for the page's buttons and the API's `actions`)."""
    out = []
    for action in TRANSITIONS:
        try:
            check(application, actor, action)
        except (PermissionDenied, Conflict):
            continue
        out.append(action)
    return out
