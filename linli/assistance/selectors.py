"""Reads of applications, always through the actor's jurisdiction: the queues of each role
(what waits for me), filters, counts for the workbench, and the public notice (公示)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from linli.core.audit import readable
from linli.core.masking import mask_name
from linli.core.models import AuditEntry, User
from linli.core.roles import Perm
from linli.core.workdays import current_calendar
from linli.places.models import Place, PlaceLevel

from .applications import overdue_q
from .models import (
    Application,
    ApplicationState,
    Benefit,
    BenefitStatus,
    InvestigationVisit,
    Objection,
    Program,
)
from .transitions import DECISION_STATES, OPEN_STATES, PATHS, actor_tier

S = ApplicationState
# A deadline this many working days away or nearer is shown in yellow.
NEAR_WORKING_DAYS = 2
RUNNING_BENEFITS = (BenefitStatus.ACTIVE, BenefitStatus.PHASING_OUT, BenefitStatus.SUSPENDED)
_NOTICE_PROGRAMS = [p for p, path in PATHS.items() if path.notice]


def _today() -> dt.date:
    return timezone.localdate()


def near_day(today: dt.date) -> dt.date:
    return current_calendar().add_working_days(today, NEAR_WORKING_DAYS)


def stage_due(application: Application) -> dt.date | None:
    """The time limit of the stage the application is in, if it has one."""
    if application.state == S.ACCEPTED:
        return application.investigation_due
    if application.state in (S.INVESTIGATED, S.IN_NOTICE, S.AWAITING_DECISION, S.SAMPLED):
        return application.decision_due
    if (
        application.state == S.APPROVED
        and application.paid_first
        and application.documents_received_on is None
    ):
        return application.documents_due
    return None


def warning_of(application: Application, today: dt.date | None = None) -> int:
    """0 on time, 1 deadline near (yellow), 2 overdue (red)."""
    today = today or _today()
    due = stage_due(application)
    if due is None:
        return 0
    if due < today:
        return 2
    return 1 if due <= near_day(today) else 0


def _due_within(lo: dt.date, hi: dt.date) -> Q:
    """Applications whose stage's time limit falls in [lo, hi]."""
    return (
        Q(state=S.ACCEPTED, investigation_due__range=(lo, hi))
        | Q(
            state__in=[S.INVESTIGATED, S.IN_NOTICE, S.AWAITING_DECISION, S.SAMPLED],
            decision_due__range=(lo, hi),
        )
        | Q(
            state=S.APPROVED,
            paid_first=True,
            documents_received_on__isnull=True,
            documents_due__range=(lo, hi),
        )
    )


def _base(actor: User) -> QuerySet[Application]:
    return Application.objects.restrict(actor).select_related("household", "applicant")


def application_get(*, actor: User, application_id: Any) -> Application:
    return Application.objects.select_related(
        "household", "applicant", "policy_version", "proxy", "created_by", "decided_by"
    ).get_for(actor, application_id)


def application_visits(*, actor: User, application_id: Any) -> QuerySet[InvestigationVisit]:
    application = Application.objects.get_for(actor, application_id)
    return InvestigationVisit.objects.filter(application=application).select_related("recorded_by")


def application_objections(*, actor: User, application_id: Any) -> QuerySet[Objection]:
    application = Application.objects.get_for(actor, application_id)
    return Objection.objects.filter(application=application).select_related("recorded_by")


def application_history(*, actor: User, application_id: Any) -> list[tuple[AuditEntry, Any]]:
    """The application's audit entries and those of its visits, objections and benefit, oldest
    first, each with its readable form: who did what, when."""
    application = Application.objects.get_for(actor, application_id)
    related = [("assistance.application", [application.pk])]
    for model, rows in (
        ("assistance.investigationvisit", application.visits.values_list("pk", flat=True)),
        ("assistance.objection", application.objections.values_list("pk", flat=True)),
        ("assistance.benefit", application.benefits.values_list("pk", flat=True)),
    ):
        related.append((model, list(rows)))
    wanted = Q(pk__in=[])
    for object_type, ids in related:
        if ids:
            wanted |= Q(object_type=object_type, object_id__in=[str(i) for i in ids])
    entries = AuditEntry.objects.filter(wanted).select_related("actor").order_by("at", "id")
    return [(entry, readable(entry)) for entry in entries]


# --- queues ------------------------------------------------------------------------------------


def to_accept(*, actor: User) -> QuerySet[Application]:
    """Submitted, waiting for the street to accept them (受理)."""
    if not actor.has_perm_code(Perm.ASSISTANCE_ACCEPT):
        return Application.objects.none()
    return _base(actor).filter(state=S.SUBMITTED).order_by("created_at", "id")


def to_investigate(*, actor: User) -> QuerySet[Application]:
    """Accepted, waiting for the household investigation (入户调查)."""
    if not actor.has_perm_code(Perm.ASSISTANCE_INVESTIGATE):
        return Application.objects.none()
    return _base(actor).filter(state=S.ACCEPTED).order_by("investigation_due", "id")


def to_notify(*, actor: User) -> QuerySet[Application]:
    """Investigated, waiting for the public notice to start; and notices that are over."""
    if not actor.has_perm_code(Perm.ASSISTANCE_ACCEPT):
        return Application.objects.none()
    return (
        _base(actor)
        .filter(
            Q(state=S.INVESTIGATED, program__in=_NOTICE_PROGRAMS, credit_route=False)
            | Q(state=S.IN_NOTICE, notice_to__lt=_today())
        )
        .order_by("decision_due", "id")
    )


def in_notice(*, actor: User) -> QuerySet[Application]:
    return _base(actor).filter(state=S.IN_NOTICE).order_by("notice_to", "id")


def to_decide(*, actor: User) -> QuerySet[Application]:
    """Waiting for a decision at the actor's tier (the district's sample included)."""
    tier = actor_tier(actor)
    if tier is None or not actor.has_perm_code(Perm.ASSISTANCE_DECIDE):
        return Application.objects.none()
    return (
        _base(actor)
        .filter(state__in=DECISION_STATES, approval_tier=tier)
        .order_by("decision_due", "id")
    )


def sampled(*, actor: User) -> QuerySet[Application]:
    """特困 approvals of the streets drawn for the district's own decision."""
    if actor_tier(actor) is None or not actor.has_perm_code(Perm.ASSISTANCE_DECIDE):
        return Application.objects.none()
    return _base(actor).filter(state=S.SAMPLED).order_by("decision_due", "id")


def documents_due(*, actor: User) -> QuerySet[Application]:
    """Emergencies paid first whose documents have not come in."""
    if not actor.has_perm_code(Perm.ASSISTANCE_ACCEPT):
        return Application.objects.none()
    return (
        _base(actor)
        .filter(state=S.APPROVED, paid_first=True, documents_received_on__isnull=True)
        .order_by("documents_due", "id")
    )


def waiting_for(*, actor: User) -> QuerySet[Application]:
    """Everything waiting for this person's next step (the union of the queues above)."""
    wanted = Q(pk__in=[])
    for queue in (to_accept, to_investigate, to_notify, to_decide, documents_due):
        qs = queue(actor=actor)
        if qs.query.is_empty():
            continue
        wanted |= Q(pk__in=qs.values("pk"))
    return _base(actor).filter(wanted).order_by("decision_due", "id")


def overdue_for(*, actor: User) -> QuerySet[Application]:
    """Waiting for this person and past the stage's time limit."""
    return waiting_for(actor=actor).filter(overdue_q(_today()))


def due_soon_for(*, actor: User) -> QuerySet[Application]:
    """Waiting for this person with the stage's time limit near."""
    today = _today()
    return waiting_for(actor=actor).filter(_due_within(today, near_day(today)))


def overdue(*, actor: User) -> QuerySet[Application]:
    """Every application of the jurisdiction past its stage's time limit."""
    return _base(actor).filter(overdue_q(_today())).order_by("decision_due", "id")


def entered_by(*, actor: User) -> QuerySet[Application]:
    """Applications this person entered, or (a resident) made or that cover their household."""
    if actor.is_resident:
        qs = Application.objects.restrict(actor)
    else:
        qs = Application.objects.restrict(actor).filter(created_by=actor)
    return qs.select_related("household", "applicant").order_by("-created_at", "-id")


# --- the list with filters ---------------------------------------------------------------------

QUEUES = {
    "mine": waiting_for,
    "to_accept": to_accept,
    "to_investigate": to_investigate,
    "to_notify": to_notify,
    "in_notice": in_notice,
    "to_decide": to_decide,
    "sampled": sampled,
    "documents": documents_due,
    "overdue": overdue,
}


@dataclass
class ApplicationFilter:
    queue: str = ""  # a key of QUEUES; empty: all
    program: str = ""
    state: str = ""
    place_path: str = ""  # under this place
    overdue: bool = False
    search: str = ""  # household number, or the start of the applicant's name


def application_list(
    *, actor: User, filters: ApplicationFilter | None = None
) -> QuerySet[Application]:
    f = filters or ApplicationFilter()
    qs = QUEUES[f.queue](actor=actor) if f.queue in QUEUES else _base(actor)
    if f.program:
        qs = qs.filter(program=f.program)
    if f.state:
        qs = qs.filter(state=f.state)
    if f.place_path:
        qs = qs.filter(place_path__under=f.place_path)
    if f.overdue:
        qs = qs.filter(overdue_q(_today()))
    search = f.search.strip()
    if search:
        # A masked name as shown (张*三) searches by its visible first character.
        name = search.split("*", 1)[0]
        wanted = Q(household__number__istartswith=search)
        if name:
            wanted |= Q(applicant__name__startswith=name)
        qs = qs.filter(wanted)
    if not qs.query.order_by:
        qs = qs.order_by("-created_at", "-id")
    return qs


def application_counts(*, actor: User, place_path: str = "") -> dict[str, int]:
    """Open applications of the jurisdiction (under `place_path` if given): all, in notice,
    awaiting a decision, overdue."""
    qs = Application.objects.restrict(actor).filter(state__in=OPEN_STATES)
    if place_path:
        qs = qs.filter(place_path__under=place_path)
    return qs.aggregate(
        open=Count("id"),
        in_notice=Count("id", filter=Q(state=S.IN_NOTICE)),
        deciding=Count("id", filter=Q(state__in=DECISION_STATES)),
        overdue=Count("id", filter=overdue_q(_today())),
    )


def recipient_count(*, actor: User, place_path: str) -> int:
    """Running benefits (救助对象) under the place."""
    return (
        Benefit.objects.restrict(actor)
        .filter(place_path__under=place_path, status__in=RUNNING_BENEFITS)
        .count()
    )


# --- the public notice -------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeRow:
    """One line of a public notice: no ID numbers, names masked."""

    applicant: str
    program: str
    classification: str
    members: int
    amount: str
    notice_from: dt.date
    notice_to: dt.date


def public_community(community_id: Any) -> Place:
    """The community a notice page is for; any other id is not found."""
    from linli.core.errors import NotFound

    try:
        return Place.objects.get(pk=int(community_id), level=PlaceLevel.COMMUNITY)
    except (Place.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound() from None


def public_notice(*, community: Place) -> list[NoticeRow]:
    """Applications of the community in public notice (公示) now, for the page anyone may read:
    the applicant's name masked (张*三), the program, the persons covered and the amount the
    assessment found; nothing that identifies the household further."""
    from .transitions import stored_result

    rows = (
        Application.objects.filter(state=S.IN_NOTICE, place_path__under=community.path)
        .select_related("applicant")
        .order_by("notice_from", "id")
    )
    out = []
    for application in rows:
        result = stored_result(application) or {}
        amount = result.get("monthly_amount") or result.get("amount") or ""
        out.append(
            NoticeRow(
                applicant=mask_name(application.applicant.name),
                program=Program(application.program).label,
                classification=application.classification_label,
                members=int(result.get("persons_covered") or 0),
                amount=str(amount),
                notice_from=application.notice_from,
                notice_to=application.notice_to,
            )
        )
    return out
