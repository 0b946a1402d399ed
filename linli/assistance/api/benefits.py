"""Benefits API (动态管理): recipients with their status, the actions the caller may take,
reviews and their completion, recoveries and repayments. Services do every check; this layer
only translates JSON to their arguments. Names are masked."""

import datetime as dt
from decimal import Decimal
from typing import Literal

from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from linli.core.api import ERRORS, Id, Page, actor_of
from linli.core.errors import NotFound
from linli.core.masking import mask_name

from .. import benefits
from ..models import (
    Benefit,
    BenefitStatus,
    Program,
    Recovery,
    Review,
    ReviewKind,
    ReviewOutcome,
    ReviewState,
)

router = Router(tags=["assistance: benefits"])

Yuan = Decimal


class BenefitOut(Schema):
    id: int
    household_id: int
    household_number: str
    recipient_id: int
    recipient_masked: str = Field(description="The recipient's name, masked (张*三).")
    program: Program
    classification: str
    covers_person_only: bool
    persons_covered: int
    monthly_amount: Yuan
    start_month: dt.date
    end_month: dt.date | None
    status: BenefitStatus
    status_reason: str
    phase_out_until: dt.date | None = Field(description="Gradual exit (渐退): paid until.")
    income_unstable: bool = Field(description="Reviewed half-yearly (收入不稳定).")
    review_months: int
    next_review_on: dt.date | None
    application_id: int | None
    policy_version_id: int

    @staticmethod
    def resolve_household_number(obj: Benefit) -> str:
        return obj.household.number

    @staticmethod
    def resolve_recipient_masked(obj: Benefit) -> str:
        return mask_name(obj.recipient.name)


class ReviewOut(Schema):
    id: int
    benefit_id: int
    kind: ReviewKind
    due_on: dt.date
    state: ReviewState
    overdue: bool = Field(description="Past its date and not done (shown red).")
    outcome: str
    note: str
    assessment: dict = Field(description="The engine's re-assessment the outcome rests on.")
    done_by: str
    done_at: dt.datetime | None

    @staticmethod
    def resolve_overdue(obj: Review) -> bool:
        return benefits.review_warning(obj) == 2

    @staticmethod
    def resolve_done_by(obj: Review) -> str:
        return str(obj.done_by) if obj.done_by_id else ""


class RecoveryOut(Schema):
    id: int
    benefit_id: int
    amount: Yuan
    recovered: Yuan
    outstanding: Yuan
    reason: str
    created_at: dt.datetime

    @staticmethod
    def resolve_outstanding(obj: Recovery) -> Decimal:
        return obj.amount - obj.recovered


class BenefitPaymentOut(Schema):
    id: int
    month: dt.date
    amount: Yuan
    recovery_deducted: Yuan
    status: str


class BenefitDetailOut(BenefitOut):
    actions: list[str] = Field(description="What the caller may do now: suspend, resume, …")
    reviews: list[ReviewOut]
    recoveries: list[RecoveryOut]
    payments: list[BenefitPaymentOut]
    decision_trace: list[str] = Field(
        description="The decision's assessment, as sentences in the request's language."
    )

    @staticmethod
    def resolve_reviews(obj) -> list:
        return obj.reviews_out

    @staticmethod
    def resolve_recoveries(obj) -> list:
        return obj.recoveries_out

    @staticmethod
    def resolve_payments(obj) -> list:
        return obj.payments_out


class BenefitQuery(Schema):
    program: Program | None = None
    status: BenefitStatus | Literal["running"] | None = Field(
        None, description="A status, or `running` for active, gradual exit and suspended."
    )
    place_id: Id | None = None


class BenefitSearch(BenefitQuery):
    search: str = Field(
        "", max_length=50, description="Household number or recipient's name starts with."
    )


class ReasonIn(Schema):
    reason: str = Field(max_length=200)


class ReviewQuery(Schema):
    queue: Literal["open", "due", "overdue", "done"] = "open"
    kind: ReviewKind | None = None
    place_id: Id | None = None


class ReviewCompleteIn(Schema):
    outcome: ReviewOutcome
    note: str = Field("", max_length=2000)
    income_unstable: bool | None = Field(
        None, description="Set (true/false) whether the household's income is unstable."
    )


class RecoveryQuery(Schema):
    benefit_id: Id | None = None
    open: bool = Field(False, description="Only those not yet repaid in full.")


class RepaymentIn(Schema):
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)


def _filters(query: BenefitQuery, search: str = "") -> benefits.BenefitFilter:
    return benefits.BenefitFilter(
        program=query.program or "",
        status=query.status or "",
        place_id=query.place_id,
        search=search,
    )


def _detail(request, benefit_id: int) -> Benefit:
    from .. import engine

    actor = actor_of(request)
    benefit = benefits.benefit_get(actor=actor, benefit_id=benefit_id)
    benefit.actions = benefits.available_actions(actor, benefit)
    benefit.reviews_out = list(benefits.benefit_reviews(actor=actor, benefit=benefit))
    benefit.recoveries_out = list(benefits.benefit_recoveries(actor=actor, benefit=benefit))
    benefit.payments_out = list(benefits.benefit_payments(actor=actor, benefit=benefit)[:24])
    application = benefit.application
    benefit.decision_trace = (
        engine.explain(application.assessment, benefit.program)
        if application is not None and application.assessment
        else []
    )
    return benefit


@router.get("/benefits", response={200: list[BenefitOut], **ERRORS})
@paginate(Page)
def benefit_list(request, filters: Query[BenefitQuery]):
    """Recipients (救助对象) of the caller's jurisdiction, newest first."""
    return benefits.benefit_list(actor=actor_of(request), filters=_filters(filters))


@router.post("/benefits/search", response={200: list[BenefitOut], **ERRORS})
@paginate(Page)
def benefit_search(request, payload: BenefitSearch):
    """The same list searched by household number or name: POSTed, so a name never appears in
    a URL or an access log."""
    return benefits.benefit_list(actor=actor_of(request), filters=_filters(payload, payload.search))


@router.get("/benefits/{benefit_id}", response={200: BenefitDetailOut, **ERRORS})
def benefit_detail(request, benefit_id: Id):
    """A benefit with its reviews, recoveries, latest payments, the decision's trace and what
    the caller may do now."""
    return _detail(request, benefit_id)


def _act(request, benefit_id: int, service, reason: str) -> Benefit:
    actor = actor_of(request)
    benefits.benefit_get(actor=actor, benefit_id=benefit_id)  # outside reach: 404 first
    service(actor=actor, benefit_id=benefit_id, reason=reason)
    return _detail(request, benefit_id)


@router.post("/benefits/{benefit_id}/suspend", response={200: BenefitDetailOut, **ERRORS})
def benefit_suspend(request, benefit_id: Id, payload: ReasonIn):
    """Suspend (暂停): nothing is paid while suspended."""
    return _act(request, benefit_id, benefits.benefit_suspend, payload.reason)


@router.post("/benefits/{benefit_id}/resume", response={200: BenefitDetailOut, **ERRORS})
def benefit_resume(request, benefit_id: Id, payload: ReasonIn):
    """Resume: back to active, or to the gradual exit it was in."""
    return _act(request, benefit_id, benefits.benefit_resume, payload.reason)


@router.post("/benefits/{benefit_id}/stop", response={200: BenefitDetailOut, **ERRORS})
def benefit_stop(request, benefit_id: Id, payload: ReasonIn):
    """Stop (停发): paid through the current month, then no more."""
    return _act(request, benefit_id, benefits.benefit_stop, payload.reason)


@router.post("/benefits/{benefit_id}/reassess", response={200: BenefitDetailOut, **ERRORS})
def benefit_reassess(request, benefit_id: Id, payload: ReasonIn):
    """Re-assess the amount with the engine on today's registry and policy (409 when the
    household is no longer eligible: then a gradual exit or a stop)."""
    return _act(request, benefit_id, benefits.benefit_change_amount, payload.reason)


@router.get("/reviews", response={200: list[ReviewOut], **ERRORS})
@paginate(Page)
def review_list(request, filters: Query[ReviewQuery]):
    """Reviews of the jurisdiction: open (due and overdue), due, overdue or done."""
    return benefits.review_list(
        actor=actor_of(request),
        filters=benefits.ReviewFilter(
            queue=filters.queue, kind=filters.kind or "", place_id=filters.place_id
        ),
    )


@router.post("/reviews/{review_id}/complete", response={200: ReviewOut, **ERRORS})
def review_complete(request, review_id: Id, payload: ReviewCompleteIn):
    """Complete a review. Outcomes by kind: periodic, income rise and death — unchanged,
    reassessed, phase_out (渐退), stopped; verification — verified, verification_failed (the
    benefit stops, a recovery is opened and a credit penalty starts)."""
    actor = actor_of(request)
    benefits.review_get(actor=actor, review_id=review_id)
    review = benefits.review_complete(
        actor=actor,
        review_id=review_id,
        outcome=payload.outcome,
        note=payload.note,
        income_unstable=payload.income_unstable,
    )
    return benefits.review_get(actor=actor, review_id=review.pk)


@router.get("/recoveries", response={200: list[RecoveryOut], **ERRORS})
@paginate(Page)
def recovery_list(request, filters: Query[RecoveryQuery]):
    """Money to recover (追回) from overpaid benefits of the jurisdiction."""
    return benefits.recovery_list(
        actor=actor_of(request), benefit_id=filters.benefit_id, open_only=filters.open
    )


@router.post("/recoveries/{recovery_id}/repay", response={200: RecoveryOut, **ERRORS})
def recovery_repay(request, recovery_id: Id, payload: RepaymentIn):
    """Record a repayment; more than is still owed is refused (422)."""
    actor = actor_of(request)
    if not benefits.recovery_list(actor=actor).filter(pk=recovery_id).exists():
        raise NotFound()
    return benefits.recovery_record_repayment(
        actor=actor, recovery_id=recovery_id, amount=payload.amount
    )
