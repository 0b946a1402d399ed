"""What happens to a benefit after approval (动态管理): suspension, resumption and stopping;
amounts re-assessed by the engine; reviews — periodic (年审/半年审), income rise (渐退), a
member's death, the verification of a credit pledge (先办后核) — and the money to recover
(追回) when a pledge failed.

Services `<entity>_<verb>(*, actor, …)` find the row within the actor's reach (404 outside),
lock it, check the action table below (403 for role, 409 for state) and write the change and
its audit entry in one transaction. Pages and the API offer `available_actions()`, which runs
the same check. The periodic work (reviews falling due, deaths, gradual exits ending, overdue
reviews) is set-based: a few queries whatever the number of benefits (see benefits_tasks.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook

from linli.core import audit
from linli.core.errors import Conflict, PermissionDenied, ValidationFailed
from linli.core.masking import mask_name
from linli.core.models import AuditAction, AuditEntry, User
from linli.core.roles import Perm
from linli.core.text import excel_safe
from linli.core.workbench import Count, Kind, Listing, Row
from linli.people.models import Person, RecordStatus, jurisdiction_path
from linli.places.models import Place

from .applications import _text
from .engine import add_months
from .models import (
    Application,
    Benefit,
    BenefitStatus,
    CreditPenalty,
    Payment,
    PaymentStatus,
    PolicyVersion,
    Program,
    Recovery,
    Review,
    ReviewKind,
    ReviewOutcome,
    ReviewState,
)

if TYPE_CHECKING:
    from .policy import PolicyParameters

S = BenefitStatus
RUNNING = (S.ACTIVE, S.PHASING_OUT, S.SUSPENDED)
OPEN_REVIEW = (ReviewState.DUE, ReviewState.OVERDUE)
MAX_REASON = 200
MAX_NOTE = 2000
MAX_SEARCH = 50
MAX_YUAN = Decimal("10000000")
FEN = Decimal("0.01")
# A periodic review appears in the queue this many days before its date, so the community can
# plan the visit; it is overdue the day after (Review.due_on).
REVIEW_LEAD_DAYS = 30
# A credit pledge (先办后核) is verified within this many days of the decision.
VERIFICATION_DAYS = 30
# Reviews shown as "due soon" (yellow) this many days before their date.
DUE_SOON_DAYS = 7


# ---------------------------------------------------------------------------------------------
# Months


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def months_between(first: dt.date, last: dt.date) -> int:
    """Months from `first`'s month to `last`'s, both counted; 0 when `last` is earlier."""
    return max(0, (last.year - first.year) * 12 + last.month - first.month + 1)


def today() -> dt.date:
    return timezone.localdate()


# ---------------------------------------------------------------------------------------------
# The action table


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    # None: the service decides (resume returns to active or to the gradual exit).
    target: str | None
    perm: str
    label: Any = ""


ACTIONS: dict[str, Transition] = {
    "suspend": Transition(
        frozenset({S.ACTIVE, S.PHASING_OUT}), S.SUSPENDED, Perm.ASSISTANCE_DECIDE,
        gettext_lazy("Suspend"),
    ),
    "resume": Transition(
        frozenset({S.SUSPENDED}), None, Perm.ASSISTANCE_DECIDE, gettext_lazy("Resume"),
    ),
    "stop": Transition(
        frozenset(RUNNING), S.STOPPED, Perm.ASSISTANCE_DECIDE, gettext_lazy("Stop"),
    ),
    "change_amount": Transition(
        frozenset({S.ACTIVE, S.SUSPENDED}), None, Perm.ASSISTANCE_DECIDE,
        gettext_lazy("Re-assess the amount"),
    ),
}  # fmt: skip


def _may(actor: User, perm: str) -> bool:
    return actor.is_active and not actor.is_resident and actor.has_perm_code(perm)


def check(actor: User, benefit: Benefit, action: str) -> Transition:
    """Refuse with 403 (role) or 409 (status); the caller already proved visibility."""
    rule = ACTIONS[action]
    if not _may(actor, rule.perm):
        raise PermissionDenied(
            _(
                "Suspending, resuming, stopping or changing a benefit is decided by the street or "
                "the civil-affairs bureau."
            )
        )
    if benefit.status not in rule.sources:
        raise Conflict(
            _("This benefit is %(status)s: “%(action)s” is not possible now.")
            % {"status": benefit.get_status_display(), "action": rule.label},
            code="wrong_status",
        )
    return rule


def available_actions(actor: User, benefit: Benefit) -> list[str]:
    """What the actor could do to the benefit now: exactly what `check()` lets through."""
    out = []
    for action in ACTIONS:
        try:
            check(actor, benefit, action)
        except (PermissionDenied, Conflict):
            continue
        out.append(action)
    return out


# Outcomes each kind of review may end with; those that change the benefit need DECIDE.
REVIEW_OUTCOMES: dict[str, tuple[str, ...]] = {
    ReviewKind.PERIODIC: (
        ReviewOutcome.UNCHANGED,
        ReviewOutcome.REASSESSED,
        ReviewOutcome.PHASE_OUT,
        ReviewOutcome.STOPPED,
    ),
    ReviewKind.INCOME_RISE: (
        ReviewOutcome.UNCHANGED,
        ReviewOutcome.REASSESSED,
        ReviewOutcome.PHASE_OUT,
        ReviewOutcome.STOPPED,
    ),
    ReviewKind.DEATH: (
        ReviewOutcome.UNCHANGED,
        ReviewOutcome.REASSESSED,
        ReviewOutcome.PHASE_OUT,
        ReviewOutcome.STOPPED,
    ),
    ReviewKind.VERIFICATION: (ReviewOutcome.VERIFIED, ReviewOutcome.VERIFICATION_FAILED),
}
CHANGING_OUTCOMES = frozenset(
    {
        ReviewOutcome.REASSESSED,
        ReviewOutcome.PHASE_OUT,
        ReviewOutcome.STOPPED,
        ReviewOutcome.VERIFICATION_FAILED,
    }
)


def may_review(actor: User) -> bool:
    return _may(actor, Perm.ASSISTANCE_INVESTIGATE) or _may(actor, Perm.ASSISTANCE_DECIDE)


def review_check(actor: User, review: Review, outcome: str) -> None:
    """Refuse a review outcome with 403 (role), 409 (state) or 422 (an outcome this kind of
    review cannot have)."""
    if not may_review(actor):
        raise PermissionDenied(_("Reviews are completed by community or street staff."))
    if outcome not in REVIEW_OUTCOMES[review.kind]:
        allowed = ", ".join(str(ReviewOutcome(o).label) for o in REVIEW_OUTCOMES[review.kind])
        raise ValidationFailed(
            _("A %(kind)s ends with one of: %(allowed)s.")
            % {"kind": review.get_kind_display().lower(), "allowed": allowed},
            details={"outcome": [_("Not possible for this kind of review.")]},
        )
    if outcome in CHANGING_OUTCOMES and not _may(actor, Perm.ASSISTANCE_DECIDE):
        raise PermissionDenied(
            _(
                "Changing, phasing out or stopping a benefit is decided by the street: record the "
                "review as “continues unchanged” or pass it on."
            )
        )
    if review.state not in OPEN_REVIEW:
        raise Conflict(_("This review is already completed."), code="review_done")
    if review.benefit.status not in RUNNING:
        raise Conflict(_("The benefit has stopped: there is nothing to review."), code="stopped")


def review_outcomes(actor: User, review: Review) -> list[str]:
    """The outcomes the actor may record for the review now (for the page and the API)."""
    out = []
    for outcome in REVIEW_OUTCOMES[review.kind]:
        try:
            review_check(actor, review, outcome)
        except (PermissionDenied, Conflict, ValidationFailed):
            continue
        out.append(outcome)
    return out


# ---------------------------------------------------------------------------------------------
# Input hygiene


def _yuan(value: Any, field_name: str) -> Decimal:
    """A positive amount in yuan to the fen; anything else is refused, never rounded."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        amount = None
    if amount is None or not amount.is_finite():
        raise ValidationFailed(
            _("Enter an amount such as 1234.50."),
            details={field_name: [_("Not an amount.")]},
        )
    if amount <= 0:
        raise ValidationFailed(
            _("The amount must be more than zero."), details={field_name: [_("Too small.")]}
        )
    if amount != amount.quantize(FEN) or amount > MAX_YUAN:
        raise ValidationFailed(
            _("Give the amount in yuan with at most two decimal places (fen)."),
            details={field_name: [_("Use at most two decimal places (fen).")]},
        )
    return amount.quantize(FEN)


# ---------------------------------------------------------------------------------------------
# Reads


def benefit_get(*, actor: User, benefit_id: Any) -> Benefit:
    return Benefit.objects.select_related(
        "household", "recipient", "policy_version__policy_set", "application"
    ).get_for(actor, benefit_id)


@dataclass(frozen=True)
class BenefitFilter:
    program: str = ""
    status: str = ""  # a status, or "running" for every status still paid or paused
    place_id: int | None = None
    # A household number (its beginning) or the recipient's name (its beginning); the list shows
    # names masked, so the search is not an oracle for more than the user typed.
    search: str = ""


def benefit_list(*, actor: User, filters: BenefitFilter | None = None) -> QuerySet[Benefit]:
    f = filters or BenefitFilter()
    qs = Benefit.objects.restrict(actor).select_related("household", "recipient")
    if f.program:
        qs = qs.filter(program=f.program)
    if f.status == "running":
        qs = qs.filter(status__in=RUNNING)
    elif f.status:
        qs = qs.filter(status=f.status)
    if f.place_id is not None:
        path = Place.objects.filter(pk=f.place_id).values_list("path", flat=True).first()
        if path is None:
            return qs.none()
        qs = qs.filter(place_path__under=path)
    search = f.search.strip()[:MAX_SEARCH]
    if search:
        qs = qs.filter(
            Q(household__number__startswith=search) | Q(recipient__name__startswith=search)
        )
    return qs.order_by("-start_month", "-id")


def benefit_history(*, actor: User, benefit: Benefit) -> QuerySet[AuditEntry]:
    """Status history: the benefit's own audit entries and those of its reviews and recoveries
    (the caller fetched the benefit within the actor's reach)."""
    review_ids = [str(pk) for pk in benefit.reviews.values_list("pk", flat=True)]
    recovery_ids = [str(pk) for pk in benefit.recoveries.values_list("pk", flat=True)]
    return (
        AuditEntry.objects.filter(
            Q(object_type=Benefit._meta.label_lower, object_id=str(benefit.pk))
            | Q(object_type=Review._meta.label_lower, object_id__in=review_ids)
            | Q(object_type=Recovery._meta.label_lower, object_id__in=recovery_ids)
        )
        .select_related("actor")
        .order_by("-at", "-id")
    )


def benefit_reviews(*, actor: User, benefit: Benefit) -> QuerySet[Review]:
    return benefit.reviews.select_related("done_by").order_by("-due_on", "-id")


def benefit_recoveries(*, actor: User, benefit: Benefit) -> QuerySet[Recovery]:
    return benefit.recoveries.order_by("-created_at", "-id")


def benefit_payments(*, actor: User, benefit: Benefit) -> QuerySet[Payment]:
    return benefit.payments.order_by("-month", "-id")


@dataclass(frozen=True)
class ReviewFilter:
    queue: str = "open"  # open (due and overdue), due, overdue, done
    kind: str = ""
    place_id: int | None = None


def review_list(*, actor: User, filters: ReviewFilter | None = None) -> QuerySet[Review]:
    """Reviews of the actor's jurisdiction; open ones only of benefits still running."""
    f = filters or ReviewFilter()
    qs = Review.objects.restrict(actor).select_related(
        "benefit__household", "benefit__recipient", "done_by"
    )
    if f.queue == "done":
        qs = qs.filter(state=ReviewState.DONE)
    else:
        states = {"due": (ReviewState.DUE,), "overdue": (ReviewState.OVERDUE,)}
        qs = qs.filter(state__in=states.get(f.queue, OPEN_REVIEW), benefit__status__in=RUNNING)
    if f.kind:
        qs = qs.filter(kind=f.kind)
    if f.place_id is not None:
        path = Place.objects.filter(pk=f.place_id).values_list("path", flat=True).first()
        if path is None:
            return qs.none()
        qs = qs.filter(place_path__under=path)
    if f.queue == "done":
        return qs.order_by("-done_at", "-id")
    return qs.order_by("due_on", "id")


def review_get(*, actor: User, review_id: Any) -> Review:
    return Review.objects.select_related(
        "benefit__household", "benefit__recipient", "done_by"
    ).get_for(actor, review_id)


def review_warning(review: Review, on: dt.date | None = None) -> int:
    """0 on time, 1 due within DUE_SOON_DAYS, 2 overdue (red), as the workbench counts it."""
    if review.state == ReviewState.DONE:
        return 0
    on = on or today()
    if review.state == ReviewState.OVERDUE or review.due_on < on:
        return 2
    return 1 if review.due_on <= on + dt.timedelta(days=DUE_SOON_DAYS) else 0


def recovery_list(
    *, actor: User, benefit_id: int | None = None, open_only: bool = False
) -> QuerySet[Recovery]:
    qs = Recovery.objects.restrict(actor).select_related("benefit__household", "benefit__recipient")
    if benefit_id is not None:
        qs = qs.filter(benefit_id=benefit_id)
    if open_only:
        qs = qs.filter(recovered__lt=F("amount"))
    return qs.order_by("-created_at", "-id")


def open_recoveries_for(benefit_ids: Iterable[int]) -> dict[int, list[Recovery]]:
    """Open recoveries (recovered < amount) by benefit, oldest first: what a payment cycle
    deducts (one query; the payments service checks its own actor)."""
    out: dict[int, list[Recovery]] = defaultdict(list)
    ids = list(benefit_ids)
    if not ids:
        return {}
    for recovery in Recovery.objects.filter(benefit_id__in=ids, recovered__lt=F("amount")).order_by(
        "created_at", "id"
    ):
        out[recovery.benefit_id].append(recovery)
    return dict(out)


def active_credit_penalty(*, person_id: int, on: dt.date | None = None) -> CreditPenalty | None:
    """The credit penalty (失信惩戒) in force for the person on the date, if any: while one is,
    the person cannot use the credit route (信用承诺)."""
    on = on or today()
    return (
        CreditPenalty.objects.filter(person_id=person_id, starts_on__lte=on, ends_on__gte=on)
        .order_by("-ends_on")
        .first()
    )


# --- the engine's view of a running benefit ------------------------------------------------


@dataclass
class Reassessment:
    """The engine's answer for a benefit's household today, under today's policy version."""

    version: PolicyVersion
    assessment: Any  # engine.Assessment
    result: Any  # engine.ProgramResult of the benefit's program
    on: dt.date

    @property
    def eligible(self) -> bool:
        return bool(self.result.eligible)

    @property
    def monthly_amount(self) -> Decimal:
        return Decimal(self.result.monthly_amount).quantize(FEN)

    def sentences(self) -> list[str]:
        return self.assessment.sentences(self.result.program)


def _reassess(benefit: Benefit, on: dt.date) -> Reassessment:
    from . import engine, policies, snapshot

    household = benefit.household
    version = policies.version_for(
        place_path=household.place_path, registration=household.registration, on=on
    )
    facts = snapshot.household_snapshot(household, on)
    assessment = engine.assess(facts, version.params, on, programs=[benefit.program])
    return Reassessment(version, assessment, assessment.results[benefit.program], on)


def benefit_reassessment(
    *, actor: User, benefit_id: Any, on: dt.date | None = None
) -> Reassessment:
    """What the engine would decide for the benefit now (nothing is written)."""
    benefit = benefit_get(actor=actor, benefit_id=benefit_id)
    return _reassess(benefit, on or today())


# --- workbench ----------------------------------------------------------------------------


def _review_row(review: Review) -> Row:
    benefit = review.benefit
    detail = " · ".join(
        [
            benefit.get_program_display(),
            review.get_state_display(),
            _("due %(when)s") % {"when": review.due_on.isoformat()},
        ]
    )
    return Row(
        title=f"{review.get_kind_display()} · {benefit.household.number}",
        detail=detail,
        url=reverse("assistance:benefit_detail", args=[benefit.pk]) + f"#review-{review.pk}",
        warning=review_warning(review),
    )


def _workbench_lists(actor: User) -> dict[str, tuple[Any, str, ReviewFilter]]:
    if not may_review(actor):
        return {}
    return {
        "assistance.reviews_due": (
            gettext_lazy("Benefit reviews due"),
            Kind.WAITING,
            ReviewFilter(queue="due"),
        ),
        "assistance.reviews_overdue": (
            gettext_lazy("Overdue benefit reviews"),
            Kind.OVERDUE,
            ReviewFilter(queue="overdue"),
        ),
    }


def workbench_counts(actor: User) -> list[Count]:
    """Reviews of the jurisdiction waiting, and those overdue (red), for the workbench."""
    return [
        Count(key, str(label), review_list(actor=actor, filters=f).order_by().count(), kind)
        for key, (label, kind, f) in _workbench_lists(actor).items()
    ]


def workbench_listing(actor: User, key: str) -> Listing | None:
    found = _workbench_lists(actor).get(key)
    if found is None:
        return None
    label, _kind, f = found
    return Listing(label=str(label), queryset=review_list(actor=actor, filters=f), row=_review_row)


# --- Excel export ------------------------------------------------------------------------


@transaction.atomic
def benefits_export(*, actor: User, filters: BenefitFilter) -> tuple[str, IO[bytes]]:
    """The recipients list the filter selects (救助对象名册) as Excel, names masked; logged."""
    if not _may(actor, Perm.ASSISTANCE_VIEW):
        raise PermissionDenied()
    queryset = benefit_list(actor=actor, filters=filters)
    count = queryset.count()
    if count > settings.LINLI_EXPORT_MAX_ROWS:
        raise ValidationFailed(
            _("%(count)s rows match; an export holds at most %(limit)s. Narrow the filter.")
            % {"count": count, "limit": settings.LINLI_EXPORT_MAX_ROWS}
        )
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(str(_("Recipients")))
    ws.append(
        [
            str(_("household number")),
            str(_("recipient")),
            str(_("program")),
            str(_("classification")),
            str(_("persons covered")),
            str(_("monthly amount (yuan)")),
            str(_("paid from (month)")),
            str(_("paid to (month)")),
            str(_("status")),
            str(_("next review")),
        ]
    )
    for benefit in queryset.iterator(chunk_size=2000):
        row = [
            benefit.household.number,
            mask_name(benefit.recipient.name),
            benefit.get_program_display(),
            benefit.classification_label,
            benefit.persons_covered,
            benefit.monthly_amount,
            benefit.start_month.strftime("%Y-%m"),
            benefit.end_month.strftime("%Y-%m") if benefit.end_month else "",
            benefit.get_status_display(),
            benefit.next_review_on,
        ]
        ws.append([excel_safe(value) for value in row])
    # Handed to the response, which closes it.
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    wb.save(out)
    out.seek(0)
    shown = {k: v for k, v in dataclasses.asdict(filters).items() if v not in ("", None)}
    if shown.get("search"):
        shown["search"] = "*" * len(shown["search"])  # a name typed is personal data
    audit.record(
        actor=actor,
        action=AuditAction.EXPORT,
        instance=Benefit(pk=0),
        label=_("%(count)s rows") % {"count": count},
        place_path=jurisdiction_path(actor),
        changes={"filters": shown, "rows": count},
    )
    return f"recipients-{today():%Y%m%d}.xlsx", out


# ---------------------------------------------------------------------------------------------
# Writes: one benefit


def _locked(actor: User, benefit_id: Any) -> Benefit:
    return (
        Benefit.objects.select_for_update(of=("self",))
        .select_related("household", "recipient", "policy_version", "application")
        .get_for(actor, benefit_id)
    )


def _save(actor: User | None, benefit: Benefit, before: dict[str, Any]) -> None:
    audit.save_audited(actor=actor, instance=benefit, before=before)


def _close_open_reviews(actor: User | None, benefit: Benefit, note: str) -> None:
    """A stopped benefit has nothing left to review: its open reviews end with it."""
    benefit.reviews.filter(state__in=OPEN_REVIEW).update(
        state=ReviewState.DONE,
        outcome=ReviewOutcome.STOPPED,
        note=note[:MAX_NOTE],
        done_by=actor if actor is not None and actor.pk else None,
        done_at=timezone.now(),
    )


def _stop(actor: User | None, benefit: Benefit, reason: str, *, last_month: dt.date | None) -> None:
    """Stop: paid through `last_month` (None: nothing more), never before its start."""
    before = benefit.audit_snapshot()
    benefit.status = S.STOPPED
    benefit.status_reason = reason[:MAX_REASON]
    benefit.end_month = (
        last_month if last_month is not None and last_month >= benefit.start_month else None
    )
    benefit.next_review_on = None
    _save(actor, benefit, before)
    _close_open_reviews(actor, benefit, reason)


def _begin(
    actor: User, benefit_id: Any, action: str, reason: str, message: str
) -> tuple[Benefit, str]:
    """The reason checked (`message` when missing), the benefit locked, the action allowed."""
    reason = _text(reason, "reason", required=True, limit=MAX_REASON, message=message)
    benefit = _locked(actor, benefit_id)
    check(actor, benefit, action)
    return benefit, reason


def _set_status(actor: User, benefit: Benefit, status: str, reason: str) -> None:
    before = benefit.audit_snapshot()
    benefit.status, benefit.status_reason = status, reason
    _save(actor, benefit, before)


@transaction.atomic
def benefit_suspend(*, actor: User, benefit_id: Any, reason: str) -> Benefit:
    """Suspend (暂停): nothing is paid while suspended; the benefit stays the person's."""
    message = _("Give the reason for suspending the benefit.")
    benefit, reason = _begin(actor, benefit_id, "suspend", reason, message)
    _set_status(actor, benefit, S.SUSPENDED, reason)
    return benefit


@transaction.atomic
def benefit_resume(*, actor: User, benefit_id: Any, reason: str) -> Benefit:
    """Resume (恢复): back to active, or to its gradual exit if it was in one."""
    message = _("Give the reason for resuming the benefit.")
    benefit, reason = _begin(actor, benefit_id, "resume", reason, message)
    _set_status(actor, benefit, S.PHASING_OUT if benefit.phase_out_until else S.ACTIVE, reason)
    return benefit


@transaction.atomic
def benefit_stop(*, actor: User, benefit_id: Any, reason: str) -> Benefit:
    """Stop (停发): paid through the current month, then no more; its open reviews end."""
    message = _("Give the reason for stopping the benefit.")
    benefit, reason = _begin(actor, benefit_id, "stop", reason, message)
    _stop(actor, benefit, reason, last_month=month_start(today()))
    return benefit


def _apply_reassessment(
    actor: User, benefit: Benefit, found: Reassessment, reason: str
) -> dict[str, Any]:
    """The engine's amount, classification and persons covered, under today's version; a
    benefit in its gradual exit that is eligible again is active again."""
    if not found.eligible:
        raise Conflict(
            _(
                "The re-assessment finds the household no longer eligible for %(program)s: choose "
                "a gradual exit (income above the standard) or stop the benefit."
            )
            % {"program": benefit.get_program_display()},
            code="not_eligible",
        )
    before = benefit.audit_snapshot()
    benefit.monthly_amount = found.monthly_amount
    benefit.classification = str(getattr(found.result, "classification", "") or "")[:40]
    covered = getattr(found.result, "persons_covered", None)
    if covered:
        benefit.persons_covered = int(covered)
    benefit.policy_version = found.version
    benefit.status_reason = reason[:MAX_REASON]
    if benefit.status == S.PHASING_OUT:
        benefit.status, benefit.phase_out_until = S.ACTIVE, None
    _save(actor, benefit, before)
    return found.assessment.as_json()


@transaction.atomic
def benefit_change_amount(
    *, actor: User, benefit_id: Any, reason: str, on: dt.date | None = None
) -> Benefit:
    """Re-assess the amount (调整救助金额) with the engine on today's registry and policy: every
    amount a benefit pays is one the engine explained. Refused when the household is no longer
    eligible (then: gradual exit or stop)."""
    message = _("Give the reason for re-assessing the amount.")
    benefit, reason = _begin(actor, benefit_id, "change_amount", reason, message)
    _apply_reassessment(actor, benefit, _reassess(benefit, on or today()), reason)
    return benefit


# ---------------------------------------------------------------------------------------------
# Writes: reviews


def _review_audit(actor: User | None, review: Review, action: str, changes: dict) -> None:
    audit.record(
        actor=actor,
        action=action,
        instance=review,
        changes=changes,
        label=f"{review.get_kind_display()} · {review.benefit.household.number}",
    )


@transaction.atomic
def review_open(
    *,
    actor: User,
    benefit_id: Any,
    kind: str,
    due_on: dt.date | None = None,
    note: str = "",
) -> Review:
    """Open a review by hand — typically "income rose" (渐退 check) when a caseworker learns of
    a new job — due in REVIEW_LEAD_DAYS unless a date is given."""
    if not may_review(actor):
        raise PermissionDenied(_("Reviews are completed by community or street staff."))
    if kind not in ReviewKind.values:
        raise ValidationFailed(
            _("Choose the kind of review."), details={"kind": [_("Unknown kind.")]}
        )
    note = _text(note, "note", required=False, limit=MAX_NOTE, lines=True)
    benefit = _locked(actor, benefit_id)
    if benefit.status not in RUNNING:
        raise Conflict(_("The benefit has stopped: there is nothing to review."), code="stopped")
    on = today()
    due_on = due_on or on + dt.timedelta(days=REVIEW_LEAD_DAYS)
    if due_on < on:
        raise ValidationFailed(
            _("A review cannot be due before today."), details={"due_on": [_("In the past.")]}
        )
    if Review.objects.filter(benefit=benefit, kind=kind, due_on=due_on).exists():
        raise Conflict(_("This benefit already has such a review due that day."), code="duplicate")
    review = Review(benefit=benefit, kind=kind, due_on=due_on, note=note)
    review.save()
    _review_audit(
        actor,
        review,
        AuditAction.CREATE,
        {"kind": [None, kind], "due_on": [None, due_on.isoformat()]},
    )
    return review


def _recovery_amount(benefit: Benefit, on: dt.date) -> Decimal:
    """What was overpaid: the payments made for the benefit, or — before any payment was
    recorded — the months it ran (through this month) times its monthly amount."""
    paid = Payment.objects.filter(benefit=benefit, status=PaymentStatus.PAID).aggregate(
        total=Sum("amount")
    )["total"]
    if paid is not None:
        return Decimal(paid).quantize(FEN)
    if Payment.objects.filter(benefit=benefit).exists():
        return Decimal("0.00")  # payments exist, none reached the person
    return (benefit.monthly_amount * months_between(benefit.start_month, on)).quantize(FEN)


def _verification_failed(actor: User, benefit: Benefit) -> dict:
    """The pledge was false: the benefit stops (nothing more paid), what was paid is to be
    recovered, and the applicant may not use the credit route for the penalty period."""
    application = benefit.application
    if application is None:
        raise Conflict(
            _("This benefit was not decided on a credit pledge."), code="not_credit_route"
        )
    on = today()
    params = benefit.policy_version.params
    reason = _("The credit pledge failed verification.")
    amount = _recovery_amount(benefit, on)
    # Stopped from this month: the last month paid is the one before (or none).
    _stop(actor, benefit, reason, last_month=add_months(month_start(on), -1))
    done: dict[str, Any] = {"recovery": None, "penalty_until": None}
    if amount > 0:
        recovery = Recovery(benefit=benefit, amount=amount, reason=reason, created_by=actor)
        recovery.save()
        audit.record(
            actor=actor,
            action=AuditAction.CREATE,
            instance=recovery,
            changes={"amount": [None, str(amount)], "reason": [None, reason]},
            label=f"{benefit.household.number} {amount}",
        )
        done["recovery"] = recovery.pk
    if params.credit_penalty_months > 0:
        ends_on = add_months(on, params.credit_penalty_months) - dt.timedelta(days=1)
        penalty = CreditPenalty(
            person=application.applicant,
            application=application,
            starts_on=on,
            ends_on=max(on, ends_on),
            reason=reason,
        )
        penalty.save()
        audit.record(
            actor=actor,
            action=AuditAction.CREATE,
            instance=penalty,
            changes={
                "starts_on": [None, on.isoformat()],
                "ends_on": [None, penalty.ends_on.isoformat()],
            },
            label=application.applicant.audit_label(),
        )
        done["penalty_until"] = penalty.ends_on.isoformat()
    _mark_application(actor, application, failed=True)
    return done


def _mark_application(actor: User, application: Application, *, failed: bool) -> None:
    """The application records how its pledge's verification ended."""
    application.verified_at = timezone.now()
    application.verification_failed = failed
    application.save(update_fields=["verified_at", "verification_failed", "updated_at"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        instance=application,
        changes={
            "verified_at": [None, application.verified_at.isoformat()],
            "verification_failed": [False, failed],
        },
        label=application.audit_label(),
    )


def _phase_out(actor: User, benefit: Benefit, found: Reassessment, note: str) -> dict:
    """渐退: the household's income rose above the standard; the benefit is paid on for the
    policy's phase-out months, then stopped by `end_gradual_exits`."""
    if benefit.program != Program.MINIMUM_LIVING:
        raise Conflict(
            _("Only the minimum living guarantee has a gradual exit; stop the benefit instead."),
            code="no_gradual_exit",
        )
    if benefit.status != S.ACTIVE:
        raise Conflict(
            _("This benefit is %(status)s: a gradual exit starts from an active benefit.")
            % {"status": benefit.get_status_display()},
            code="wrong_status",
        )
    if found.eligible:
        raise Conflict(
            _(
                "The re-assessment finds the household still eligible: record the new amount "
                "instead of a gradual exit."
            ),
            code="still_eligible",
        )
    standard = found.version.params.standard
    if found.assessment.per_capita < standard:
        raise Conflict(
            _(
                "A gradual exit is for income above the standard; the per-capita income of "
                "%(income)s yuan is below the standard of %(standard)s yuan. Stop the benefit "
                "instead, giving the reason."
            )
            % {"income": found.assessment.per_capita, "standard": standard},
            code="income_below_standard",
        )
    months = found.version.params.phase_out_months
    this_month = month_start(found.on)
    reason = note or _("Income above the standard: gradual exit.")
    if months == 0:
        _stop(actor, benefit, reason, last_month=this_month)
        return found.assessment.as_json()
    before = benefit.audit_snapshot()
    benefit.status = S.PHASING_OUT
    benefit.phase_out_until = add_months(this_month, months)
    benefit.status_reason = reason[:MAX_REASON]
    benefit.next_review_on = None
    _save(actor, benefit, before)
    return found.assessment.as_json()


def _set_review_rhythm(benefit: Benefit, unstable: bool | None, params: PolicyParameters) -> None:
    if unstable is not None:
        benefit.income_unstable = unstable
    benefit.review_months = (
        params.unstable_review_months if benefit.income_unstable else params.review_months
    ) or 12


@transaction.atomic
def review_complete(
    *,
    actor: User,
    review_id: Any,
    outcome: str,
    note: str = "",
    income_unstable: bool | None = None,
) -> Review:
    """Complete a review with its outcome (see REVIEW_OUTCOMES). Outcomes that change the
    benefit need ASSISTANCE_DECIDE; "re-assessed" and "gradual exit" run the engine and keep
    its assessment on the review. A periodic review schedules the next one, half a year away
    when the household's income is unstable (`income_unstable` sets that flag)."""
    note = _text(
        note,
        "note",
        required=outcome in (ReviewOutcome.STOPPED, ReviewOutcome.VERIFICATION_FAILED),
        limit=MAX_NOTE,
        message=_("Say what the review found."),
        lines=True,
    )
    review = (
        Review.objects.select_for_update(of=("self",))
        .select_related("benefit__household")
        .get_for(actor, review_id)
    )
    benefit = _locked(actor, review.benefit_id)
    review.benefit = benefit
    review_check(actor, review, outcome)
    on = today()
    reason = note or str(ReviewOutcome(outcome).label)
    data: dict[str, Any] = {}
    if outcome == ReviewOutcome.REASSESSED:
        review.assessment = _apply_reassessment(actor, benefit, _reassess(benefit, on), reason)
    elif outcome == ReviewOutcome.PHASE_OUT:
        review.assessment = _phase_out(actor, benefit, _reassess(benefit, on), note)
    elif outcome == ReviewOutcome.STOPPED:
        _stop(actor, benefit, note, last_month=month_start(on))
    elif outcome == ReviewOutcome.VERIFIED:
        if benefit.application is not None:
            _mark_application(actor, benefit.application, failed=False)
    elif outcome == ReviewOutcome.VERIFICATION_FAILED:
        data = _verification_failed(actor, benefit)
    if benefit.status in RUNNING and (
        review.kind == ReviewKind.PERIODIC or income_unstable is not None
    ):
        before = benefit.audit_snapshot()
        _set_review_rhythm(benefit, income_unstable, benefit.policy_version.params)
        if review.kind == ReviewKind.PERIODIC and benefit.status != S.PHASING_OUT:
            benefit.next_review_on = add_months(on, benefit.review_months)
        _save(actor, benefit, before)
    was = review.state
    review.state, review.outcome, review.note = ReviewState.DONE, outcome, note
    review.done_by, review.done_at = actor, timezone.now()
    review.save(update_fields=["state", "outcome", "note", "assessment", "done_by", "done_at"])
    _review_audit(
        actor,
        review,
        AuditAction.UPDATE,
        {
            "state": [was, ReviewState.DONE],
            "outcome": [None, outcome],
            **({"note": [None, note]} if note else {}),
            **data,
        },
    )
    return review


# ---------------------------------------------------------------------------------------------
# Writes: recoveries


def may_handle_money(actor: User) -> bool:
    return _may(actor, Perm.ASSISTANCE_PAY) or _may(actor, Perm.ASSISTANCE_DECIDE)


@transaction.atomic
def recovery_record_repayment(*, actor: User, recovery_id: Any, amount: Any) -> Recovery:
    """Record money repaid (退回) against a recovery; never more than is still owed."""
    value = _yuan(amount, "amount")
    recovery = (
        Recovery.objects.select_for_update(of=("self",))
        .select_related("benefit__household")
        .get_for(actor, recovery_id)
    )
    if not may_handle_money(actor):
        raise PermissionDenied()
    outstanding = recovery.amount - recovery.recovered
    if outstanding <= 0:
        raise Conflict(_("This recovery is already repaid in full."), code="repaid")
    if value > outstanding:
        raise ValidationFailed(
            _("Only %(left)s yuan is still owed; record at most that.") % {"left": outstanding},
            details={"amount": [_("More than is owed.")]},
        )
    before = recovery.recovered
    recovery.recovered = before + value
    recovery.save(update_fields=["recovered"])
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        instance=recovery,
        changes={"recovered": [str(before), str(recovery.recovered)]},
        label=f"{recovery.benefit.household.number} {recovery.amount}",
    )
    return recovery


@transaction.atomic
def recoveries_record_deductions(*, actor: User | None, deductions: dict[int, Decimal]) -> None:
    """For payment cycles: add each deducted amount to its recovery's `recovered` in one
    statement per recovery id set; the database refuses any that would pass the amount
    (constraint recovery_within_amount), so a cycle cannot recover twice."""
    rows = {pk: Decimal(v).quantize(FEN) for pk, v in deductions.items() if Decimal(v) > 0}
    if not rows:
        return
    recoveries = Recovery.objects.select_for_update().in_bulk(list(rows))
    entries = []
    for pk, value in rows.items():
        recovery = recoveries.get(pk)
        if recovery is None:
            raise Conflict(_("A recovery to deduct from no longer exists."), code="missing")
        before = recovery.recovered
        recovery.recovered = before + value
        entries.append(
            audit.entry(
                actor=actor,
                action=AuditAction.UPDATE,
                instance=recovery,
                changes={"recovered": [str(before), str(recovery.recovered)]},
                label=f"{recovery.pk} {recovery.amount}",
            )
        )
    Recovery.objects.bulk_update(list(recoveries.values()), ["recovered"], batch_size=2000)
    audit.record_many(entries)


# ---------------------------------------------------------------------------------------------
# Periodic work, set-based (called by benefits_tasks; idempotent: run twice, same result)


@dataclass
class JobResult:
    created: int = 0
    stopped: int = 0
    marked: int = 0
    details: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "stopped": self.stopped,
            "marked": self.marked,
            **self.details,
        }


def _params_by_version(version_ids: Iterable[int]) -> dict[int, PolicyParameters]:
    return {v.pk: v.params for v in PolicyVersion.objects.filter(pk__in=set(version_ids))}


def _create_reviews(rows: list[Review]) -> int:
    """Insert the reviews the unique constraint (benefit, kind, day) does not already hold;
    a concurrent run inserting the same ones is ignored, so each exists once."""
    if not rows:
        return 0
    Review.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    return len(rows)


def _has_review(kind: str, day_field: str) -> Exists:
    return Exists(
        Review.objects.filter(benefit_id=OuterRef("pk"), kind=kind, due_on=OuterRef(day_field))
    )


def schedule_periodic_reviews(on: dt.date | None = None) -> JobResult:
    """Reviews (年审) for running benefits whose next review falls within REVIEW_LEAD_DAYS;
    benefits without a date get one (start month + their review months) first."""
    on = on or today()
    result = JobResult()
    undated = list(
        Benefit.objects.filter(
            status__in=(S.ACTIVE, S.SUSPENDED), next_review_on__isnull=True
        ).only("pk", "start_month", "review_months")
    )
    for benefit in undated:
        benefit.next_review_on = add_months(benefit.start_month, benefit.review_months or 12)
    Benefit.objects.bulk_update(undated, ["next_review_on"], batch_size=2000)
    result.details["dated"] = len(undated)
    due = (
        Benefit.objects.filter(
            status__in=(S.ACTIVE, S.SUSPENDED),
            next_review_on__lte=on + dt.timedelta(days=REVIEW_LEAD_DAYS),
        )
        .filter(~_has_review(ReviewKind.PERIODIC, "next_review_on"))
        .values_list("pk", "place_path", "next_review_on")
    )
    rows = [
        Review(benefit_id=pk, kind=ReviewKind.PERIODIC, due_on=day, place_path=path)
        for pk, path, day in due.iterator(chunk_size=2000)
    ]
    result.created = _create_reviews(rows)
    return result


def schedule_death_rechecks(on: dt.date | None = None) -> JobResult:
    """A member of a household with a running benefit died after the decision: the benefit is
    re-checked within the policy's death_recheck_months (a review due then). When the person
    who died was the benefit's sole recipient (covered alone, or no living member left), the
    benefit stops from the month after the death instead."""
    on = on or today()
    result = JobResult()
    died_after_decision = Person.objects.filter(
        household_id=OuterRef("household_id"),
        died_on__isnull=False,
        died_on__gte=OuterRef("decided_on"),
        died_on__lte=on,
    )
    benefits = list(
        Benefit.objects.filter(status__in=RUNNING)
        .annotate(decided_on=TruncDate("created_at"))
        .filter(Exists(died_after_decision))
        .values(
            "pk",
            "place_path",
            "policy_version_id",
            "recipient_id",
            "household_id",
            "covers_person_only",
            "decided_on",
        )
    )
    if not benefits:
        return result
    households = {b["household_id"] for b in benefits}
    dead: dict[int, list[tuple[int, dt.date]]] = defaultdict(list)
    for person_id, household_id, died_on in Person.objects.filter(
        household_id__in=households, died_on__isnull=False, died_on__lte=on
    ).values_list("pk", "household_id", "died_on"):
        dead[household_id].append((person_id, died_on))
    deaths = [
        {**b, "dead_id": person_id, "died_on": died_on}
        for b in benefits
        for person_id, died_on in dead[b["household_id"]]
        if died_on >= b["decided_on"]
    ]
    params = _params_by_version(d["policy_version_id"] for d in deaths)
    living = set(
        Person.objects.filter(
            household_id__in=households, status=RecordStatus.ACTIVE, died_on__isnull=True
        ).values_list("household_id", flat=True)
    )
    sole = {}
    reviews = []
    for d in deaths:
        if d["dead_id"] == d["recipient_id"] and (
            d["covers_person_only"] or d["household_id"] not in living
        ):
            sole[d["pk"]] = d["died_on"]
            continue
        due_on = add_months(d["died_on"], params[d["policy_version_id"]].death_recheck_months)
        reviews.append((d["pk"], d["place_path"], due_on))
    existing = set(
        Review.objects.filter(
            kind=ReviewKind.DEATH, benefit_id__in={pk for pk, _p, _d in reviews}
        ).values_list("benefit_id", "due_on")
    )
    rows = [
        Review(benefit_id=pk, kind=ReviewKind.DEATH, due_on=due_on, place_path=path)
        for pk, path, due_on in dict.fromkeys(reviews)
        if (pk, due_on) not in existing and pk not in sole
    ]
    result.created = _create_reviews(rows)
    result.stopped = _stop_for_death(sole)
    return result


@transaction.atomic
def _stop_for_death(sole: dict[int, dt.date]) -> int:
    """Stop the benefits whose sole recipient died: paid through the month of the death."""
    if not sole:
        return 0
    benefits = list(
        Benefit.objects.select_for_update()
        .filter(pk__in=list(sole), status__in=RUNNING)
        .select_related("household")
    )
    entries = []
    now = timezone.now()
    for benefit in benefits:
        before = benefit.audit_snapshot()
        died_on = sole[benefit.pk]
        last = month_start(died_on)
        benefit.status = S.STOPPED
        benefit.status_reason = (_("The recipient died on %(day)s.") % {"day": died_on})[
            :MAX_REASON
        ]
        benefit.end_month = last if last >= benefit.start_month else None
        benefit.next_review_on = None
        benefit.updated_at = now
        entries.append(
            audit.entry(
                actor=None,
                action=AuditAction.UPDATE,
                instance=benefit,
                changes=audit.diff(before, benefit.audit_snapshot()),
                label=benefit.audit_label(),
                at=now,
            )
        )
    Benefit.objects.bulk_update(
        benefits, ["status", "status_reason", "end_month", "next_review_on", "updated_at"]
    )
    Review.objects.filter(benefit__in=benefits, state__in=OPEN_REVIEW).update(
        state=ReviewState.DONE,
        outcome=ReviewOutcome.STOPPED,
        done_at=now,
        note=_("The recipient died."),
    )
    audit.record_many(entries)
    return len(benefits)


def schedule_credit_verifications(on: dt.date | None = None) -> JobResult:
    """A verification review (先办后核) for each running benefit decided on a credit pledge that
    is not verified yet, due VERIFICATION_DAYS after the decision."""
    result = JobResult()
    pending = (
        Benefit.objects.filter(
            status__in=RUNNING,
            application__credit_route=True,
            application__verified_at__isnull=True,
        )
        .filter(
            ~Exists(Review.objects.filter(benefit_id=OuterRef("pk"), kind=ReviewKind.VERIFICATION))
        )
        .annotate(decided_on=TruncDate("created_at"))
        .values_list("pk", "place_path", "decided_on")
    )
    rows = [
        Review(
            benefit_id=pk,
            kind=ReviewKind.VERIFICATION,
            due_on=decided_on + dt.timedelta(days=VERIFICATION_DAYS),
            place_path=path,
        )
        for pk, path, decided_on in pending.iterator(chunk_size=2000)
    ]
    result.created = _create_reviews(rows)
    return result


@transaction.atomic
def end_gradual_exits(on: dt.date | None = None) -> JobResult:
    """Stop the benefits whose gradual exit (渐退) ran out: paid through `phase_out_until`."""
    on = on or today()
    result = JobResult()
    benefits = list(
        Benefit.objects.select_for_update()
        .filter(status=S.PHASING_OUT, phase_out_until__lt=month_start(on))
        .select_related("household")
    )
    now = timezone.now()
    entries = []
    reason = _("The gradual exit ended.")
    for benefit in benefits:
        before = benefit.audit_snapshot()
        benefit.status, benefit.status_reason = S.STOPPED, reason
        benefit.end_month = benefit.phase_out_until
        benefit.updated_at = now
        entries.append(
            audit.entry(
                actor=None,
                action=AuditAction.UPDATE,
                instance=benefit,
                changes=audit.diff(before, benefit.audit_snapshot()),
                label=benefit.audit_label(),
                at=now,
            )
        )
    Benefit.objects.bulk_update(
        benefits, ["status", "status_reason", "end_month", "updated_at"], batch_size=2000
    )
    Review.objects.filter(benefit__in=benefits, state__in=OPEN_REVIEW).update(
        state=ReviewState.DONE, outcome=ReviewOutcome.STOPPED, done_at=now, note=reason
    )
    audit.record_many(entries)
    result.stopped = len(benefits)
    return result


def mark_overdue_reviews(on: dt.date | None = None) -> JobResult:
    """Open reviews past their date turn red (state overdue): one UPDATE."""
    on = on or today()
    marked = Review.objects.filter(state=ReviewState.DUE, due_on__lt=on).update(
        state=ReviewState.OVERDUE
    )
    return JobResult(marked=marked)
