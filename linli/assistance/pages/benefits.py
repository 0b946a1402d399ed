"""Benefit pages (动态管理): the recipients list with its Excel export, a benefit with its
amount, status history, reviews, recoveries, payments and the decision's trace, and the queue
of reviews due and overdue. Every action is an htmx form whose refusal appears where it was
pressed; each offers exactly what the service accepts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from linli.core.errors import NotFound, validation_failed_from_form
from linli.core.masking import mask_name
from linli.core.pages import is_htmx, list_page, redirect_after_save, requires
from linli.core.roles import Perm
from linli.places.models import PlaceLevel
from linli.places.selectors import places_for_choice

from .. import benefits
from ..models import BenefitStatus, Program, ReviewKind, ReviewOutcome

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class PlaceField(forms.ModelChoiceField):
    def label_from_instance(self, place) -> str:
        return f"{'· ' * max(0, place.level - 2)}{place.name}"


class RecipientSearchForm(forms.Form):
    search = forms.CharField(
        label=_("Household number or name starts with"), required=False, max_length=50
    )
    program = forms.ChoiceField(
        label=_("Program"), required=False, choices=[("", _("Any")), *Program.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("running", _("Receiving or suspended")), ("", _("Any")), *BenefitStatus.choices],
        initial="running",
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        levels = (PlaceLevel.DISTRICT, PlaceLevel.STREET, PlaceLevel.COMMUNITY)
        self.fields["place"] = PlaceField(
            label=_("Place"),
            required=False,
            queryset=places_for_choice(actor).filter(level__in=levels),
        )

    def to_filter(self) -> benefits.BenefitFilter:
        data = self.cleaned_data
        place = data.get("place")
        return benefits.BenefitFilter(
            program=data["program"],
            status=data["status"],
            place_id=place.pk if place else None,
            search=data["search"],
        )


@requires(Perm.ASSISTANCE_VIEW)
def recipients(request: HttpRequest) -> HttpResponse:
    """救助对象: searched by POST, since names are personal data; names shown masked."""
    form = RecipientSearchForm(
        request.POST if request.method == "POST" else None,
        actor=request.user,
        initial={"status": "running"},
    )
    page = None
    if not form.is_bound:
        found = benefits.benefit_list(
            actor=request.user, filters=benefits.BenefitFilter(status="running")
        )
        page = list_page(found, None)
    elif form.is_valid():
        found = benefits.benefit_list(actor=request.user, filters=form.to_filter())
        page = list_page(found, request.POST.get("page"))
    if page is not None:
        for benefit in page.items:
            benefit.recipient_masked = mask_name(benefit.recipient.name)
    template = (
        "assistance/benefits_results.html" if is_htmx(request) else "assistance/benefits_list.html"
    )
    return render(request, template, {"form": form, "page": page})


@requires(Perm.ASSISTANCE_VIEW)
@require_POST
def recipients_export(request: HttpRequest) -> HttpResponse:
    """The list the search shows, as Excel (POSTed like the search)."""
    form = RecipientSearchForm(request.POST, actor=request.user)
    if not form.is_valid():
        raise validation_failed_from_form(form, str(_("Correct the search first.")))
    name, content = benefits.benefits_export(actor=request.user, filters=form.to_filter())
    return FileResponse(content, as_attachment=True, filename=name, content_type=XLSX)


# --- one benefit -----------------------------------------------------------------------------


class _ReasonForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=200, widget=forms.TextInput())


# Each action: its service (all take a reason).
ACTIONS: dict[str, Callable[..., Any]] = {
    "suspend": benefits.benefit_suspend,
    "resume": benefits.benefit_resume,
    "stop": benefits.benefit_stop,
    "change_amount": benefits.benefit_change_amount,
}
CONFIRM = {
    "stop": _("Stop this benefit? Nothing more will be paid after this month."),
    "change_amount": _("Re-assess the amount with today's records and policy?"),
}


class ReviewForm(forms.Form):
    outcome = forms.ChoiceField(label=_("outcome"))
    note = forms.CharField(
        label=_("note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    income_unstable = forms.NullBooleanField(
        label=_("Income unstable (review half-yearly)"),
        required=False,
        widget=forms.Select(choices=[("", _("Unchanged")), ("true", _("Yes")), ("false", _("No"))]),
    )

    def __init__(self, *args, outcomes: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["outcome"].choices = [(o, ReviewOutcome(o).label) for o in outcomes]


class ReviewOpenForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("kind"),
        choices=[(k, ReviewKind(k).label) for k in (ReviewKind.INCOME_RISE, ReviewKind.PERIODIC)],
    )
    note = forms.CharField(label=_("note"), required=False, max_length=2000)


class RepaymentForm(forms.Form):
    amount = forms.DecimalField(
        label=_("amount repaid (yuan)"), max_digits=12, decimal_places=2, min_value=0
    )


def _trace(benefit) -> list[str]:
    """The decision's trace in the reader's language (the engine's stored assessment)."""
    from .. import engine

    application = benefit.application
    if application is None or not application.assessment:
        return []
    return engine.explain(application.assessment, benefit.program)


@requires(Perm.ASSISTANCE_VIEW)
def benefit_detail(request: HttpRequest, benefit_id: int) -> HttpResponse:
    from .. import engine

    user = request.user
    benefit = benefits.benefit_get(actor=user, benefit_id=benefit_id)
    reviews = list(benefits.benefit_reviews(actor=user, benefit=benefit))
    for review in reviews:
        review.warning = benefits.review_warning(review)
        outcomes = benefits.review_outcomes(user, review)
        review.form = ReviewForm(outcomes=outcomes, prefix=f"r{review.pk}") if outcomes else None
        review.trace = (
            engine.explain(review.assessment, benefit.program) if review.assessment else []
        )
    recoveries = list(benefits.benefit_recoveries(actor=user, benefit=benefit))
    may_repay = benefits.may_handle_money(user)
    for recovery in recoveries:
        recovery.outstanding = recovery.amount - recovery.recovered
        recovery.form = (
            RepaymentForm(prefix=f"p{recovery.pk}")
            if may_repay and recovery.outstanding > 0
            else None
        )
    actions = benefits.available_actions(user, benefit)
    context = {
        "benefit": benefit,
        "recipient_masked": mask_name(benefit.recipient.name),
        "actions": [
            (a, benefits.ACTIONS[a].label, _ReasonForm(prefix=a), CONFIRM.get(a, ""))
            for a in actions
        ],
        "reviews": reviews,
        "open_form": ReviewOpenForm()
        if benefits.may_review(user) and benefit.status in benefits.RUNNING
        else None,
        "recoveries": recoveries,
        "payments": list(benefits.benefit_payments(actor=user, benefit=benefit)[:24]),
        "history": list(benefits.benefit_history(actor=user, benefit=benefit)[:50]),
        "trace": _trace(benefit),
    }
    return render(request, "assistance/benefits_detail.html", context)


@requires(Perm.ASSISTANCE_VIEW)
@require_POST
def benefit_act(request: HttpRequest, benefit_id: int) -> HttpResponse:
    """One action on the benefit; the service re-checks role, jurisdiction and status."""
    benefit = benefits.benefit_get(actor=request.user, benefit_id=benefit_id)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        raise NotFound()
    form = _ReasonForm(request.POST, prefix=action)
    if not form.is_valid():
        raise validation_failed_from_form(form, str(_("Check the fields of this action.")))
    ACTIONS[action](actor=request.user, benefit_id=benefit.pk, reason=form.cleaned_data["reason"])
    return redirect_after_save(request, reverse("assistance:benefit_detail", args=[benefit.pk]))


@requires(Perm.ASSISTANCE_VIEW)
@require_POST
def review_open(request: HttpRequest, benefit_id: int) -> HttpResponse:
    benefit = benefits.benefit_get(actor=request.user, benefit_id=benefit_id)
    form = ReviewOpenForm(request.POST)
    if not form.is_valid():
        raise validation_failed_from_form(form, str(_("Check the fields of this action.")))
    benefits.review_open(actor=request.user, benefit_id=benefit.pk, **form.cleaned_data)
    return redirect_after_save(request, reverse("assistance:benefit_detail", args=[benefit.pk]))


@requires(Perm.ASSISTANCE_VIEW)
@require_POST
def review_complete(request: HttpRequest, review_id: int) -> HttpResponse:
    review = benefits.review_get(actor=request.user, review_id=review_id)
    form = ReviewForm(
        request.POST, prefix=f"r{review.pk}", outcomes=list(benefits.REVIEW_OUTCOMES[review.kind])
    )
    if not form.is_valid():
        raise validation_failed_from_form(form, str(_("Check the fields of this action.")))
    benefits.review_complete(actor=request.user, review_id=review.pk, **form.cleaned_data)
    return redirect_after_save(
        request, reverse("assistance:benefit_detail", args=[review.benefit_id])
    )


@requires(Perm.ASSISTANCE_VIEW)
@require_POST
def recovery_repay(request: HttpRequest, recovery_id: int) -> HttpResponse:
    recovery = benefits.recovery_list(actor=request.user).filter(pk=recovery_id).first()
    if recovery is None:
        raise NotFound()
    form = RepaymentForm(request.POST, prefix=f"p{recovery.pk}")
    if not form.is_valid():
        raise validation_failed_from_form(form, str(_("Check the fields of this action.")))
    benefits.recovery_record_repayment(
        actor=request.user, recovery_id=recovery.pk, amount=form.cleaned_data["amount"]
    )
    return redirect_after_save(
        request, reverse("assistance:benefit_detail", args=[recovery.benefit_id])
    )


# --- the review queue --------------------------------------------------------------------------


class ReviewQueueForm(forms.Form):
    QUEUES = (
        ("open", _("Open")),
        ("due", _("Due")),
        ("overdue", _("Overdue")),
        ("done", _("Done")),
    )
    queue = forms.ChoiceField(label=_("Queue"), choices=QUEUES, required=False)
    kind = forms.ChoiceField(
        label=_("kind"), choices=[("", _("Any")), *ReviewKind.choices], required=False
    )


@requires(Perm.ASSISTANCE_VIEW)
def reviews(request: HttpRequest) -> HttpResponse:
    """Reviews of the jurisdiction: due, overdue (red) and done (no personal data in the URL)."""
    form = ReviewQueueForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    queue = data.get("queue") or "open"
    f = benefits.ReviewFilter(queue=queue, kind=data.get("kind") or "")
    page = list_page(benefits.review_list(actor=request.user, filters=f), request.GET.get("page"))
    for review in page.items:
        review.warning = benefits.review_warning(review)
        review.recipient_masked = mask_name(review.benefit.recipient.name)
    counts = {c.key.partition(".")[2]: c.count for c in benefits.workbench_counts(request.user)}
    return render(
        request,
        "assistance/benefits_reviews.html",
        {"form": form, "page": page, "queue": queue, "kind": f.kind, "counts": counts},
    )


urlpatterns = [
    path("benefits/", recipients, name="benefits"),
    path("benefits/export.xlsx", recipients_export, name="benefits_export"),
    path("benefits/<int:benefit_id>/", benefit_detail, name="benefit_detail"),
    path("benefits/<int:benefit_id>/act", benefit_act, name="benefit_act"),
    path("benefits/<int:benefit_id>/reviews", review_open, name="benefit_review_open"),
    path("reviews/", reviews, name="reviews"),
    path("reviews/<int:review_id>/complete", review_complete, name="review_complete"),
    path("recoveries/<int:recovery_id>/repay", recovery_repay, name="recovery_repay"),
]
