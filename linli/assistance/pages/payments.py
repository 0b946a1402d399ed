"""Payment cycle pages: the list with filters and the form to start one; a cycle's page with
its progress (polled while generating), totals by community beside last month's, its payments
a page at a time, the actions the service would accept from this user, the bank file and the
bank's return file with every problem by row and column."""

from __future__ import annotations

import io

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from linli.core.errors import Conflict, NotFound, ValidationFailed, validation_failed_from_form
from linli.core.pages import (
    add_service_errors,
    is_htmx,
    list_page,
    redirect_after_save,
    requires,
    sequence_page,
)
from linli.core.roles import Perm
from linli.core.uploads import declared_size_over
from linli.people.imports import upload_too_large_error
from linli.places.models import Place, PlaceLevel

from .. import payments
from ..models import BankReturn, CycleState, PaymentStatus, Program

PROGRAM_CHOICES = [(p, Program(p).label) for p in payments.CYCLE_PROGRAMS]
MONTH_INPUT = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")
MONTH_FORMATS = ["%Y-%m", "%Y-%m-%d"]


def _streets(user):
    return Place.objects.restrict(user).filter(level=PlaceLevel.STREET).order_by("code")


class CycleFilterForm(forms.Form):
    program = forms.ChoiceField(
        label=_("program"), choices=[("", "—"), *PROGRAM_CHOICES], required=False
    )
    state = forms.ChoiceField(
        label=_("state"), choices=[("", "—"), *CycleState.choices], required=False
    )
    street = forms.ModelChoiceField(
        label=_("Street"), queryset=Place.objects.none(), required=False
    )
    month = forms.DateField(
        label=_("month"), widget=MONTH_INPUT, input_formats=MONTH_FORMATS, required=False
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["street"].queryset = _streets(user)


class CycleStartForm(forms.Form):
    program = forms.ChoiceField(label=_("program"), choices=PROGRAM_CHOICES)
    street = forms.ModelChoiceField(label=_("Street"), queryset=Place.objects.none())
    month = forms.DateField(label=_("month"), widget=MONTH_INPUT, input_formats=MONTH_FORMATS)

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, prefix="start", **kwargs)
        self.fields["street"].queryset = _streets(user)


@requires(Perm.ASSISTANCE_VIEW)
def cycles(request: HttpRequest) -> HttpResponse:
    """发放批次: the cycles of the jurisdiction, and (for those who pay) a new one."""
    user = request.user
    may_start = user.has_perm_code(Perm.ASSISTANCE_PAY)
    start_form = CycleStartForm(request.POST or None, user=user) if may_start else None
    if request.method == "POST":
        if start_form is None:
            raise NotFound()
        if start_form.is_valid():
            data = start_form.cleaned_data
            try:
                cycle = payments.cycle_start(
                    actor=user,
                    program=data["program"],
                    street_id=data["street"].pk,
                    month=data["month"],
                )
            except ValidationFailed as exc:
                add_service_errors(start_form, exc)
            except Conflict as exc:
                start_form.add_error(None, exc.message)
            else:
                return redirect_after_save(
                    request, reverse("assistance:cycle_detail", args=[cycle.pk])
                )
    form = CycleFilterForm(request.GET or None, user=user)
    data = form.cleaned_data if form.is_valid() else {}
    street = data.get("street")
    month = data.get("month")
    found = payments.cycle_list(
        actor=user,
        filters=payments.CycleFilter(
            program=data.get("program") or "",
            state=data.get("state") or "",
            street_id=street.pk if street else None,
            month=month.replace(day=1) if month else None,
        ),
    )
    page = list_page(found, request.GET.get("page"))
    return render(
        request,
        "assistance/payments_cycles.html",
        {"form": form, "start_form": start_form, "page": page},
    )


class PaymentFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("status"), choices=[("", "—"), *PaymentStatus.choices], required=False
    )
    community = forms.ModelChoiceField(
        label=_("Community"), queryset=Place.objects.none(), required=False
    )
    without_account = forms.BooleanField(label=_("Without a bank account"), required=False)

    def __init__(self, *args, cycle, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["community"].queryset = Place.objects.filter(
            level=PlaceLevel.COMMUNITY, path__startswith=cycle.street.path
        ).order_by("code")


class ReturnForm(forms.Form):
    file = forms.FileField(
        label=_("Bank's return file (.xlsx or .csv)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv"}),
    )


def _context(request: HttpRequest, cycle) -> dict:
    user = request.user
    actions = payments.available_actions(user, cycle)
    percent = int(100 * cycle.processed / cycle.total) if cycle.total else 0
    return {
        "cycle": cycle,
        "percent": min(percent, 100),
        "generating": cycle.state == CycleState.GENERATING,
        "actions": [(a, payments.ACTIONS[a].label) for a in actions if a in ("approve", "resume")],
        # The preparer sees why the approve button is not theirs to press.
        "awaiting_other_approver": cycle.state == CycleState.REVIEW
        and cycle.prepared_by_id == user.pk
        and user.has_perm_code(Perm.ASSISTANCE_APPROVE_PAYMENT),
        "may_export": "export" in actions,
        "return_form": ReturnForm() if "import_return" in actions else None,
    }


@login_required  # the cycle's queryset decides: outside reach, the same 404 as missing
def cycle_detail(request: HttpRequest, cycle_id: int) -> HttpResponse:
    user = request.user
    cycle = payments.cycle_get(actor=user, cycle_id=cycle_id)
    context = _context(request, cycle)
    if is_htmx(request) and request.headers.get("HX-Target") == "cycle-progress":
        response = render(request, "assistance/payments_progress.html", context)
        if not context["generating"]:
            # Generation finished: the whole page (totals, actions) is now worth reloading.
            response["HX-Refresh"] = "true"
        return response
    form = PaymentFilterForm(request.GET or None, cycle=cycle)
    data = form.cleaned_data if form.is_valid() else {}
    community = data.get("community")
    found = payments.cycle_payments(
        actor=user,
        cycle=cycle,
        filters=payments.PaymentFilter(
            status=data.get("status") or "",
            community_id=community.pk if community else None,
            without_account=bool(data.get("without_account")),
        ),
    )
    page = list_page(found, request.GET.get("page"))
    for payment in page.items:
        payment.account_shown = payments.account_masked(payment)
    totals = payments.cycle_totals_by_community(actor=user, cycle=cycle)
    context.update(
        form=form,
        page=page,
        totals=totals,
        last_cycle=payments.previous_cycle(cycle),
        returns=payments.bank_returns(actor=user, cycle=cycle)[:10],
    )
    return render(request, "assistance/payments_cycle.html", context)


ACTION_SERVICES = {"approve": payments.cycle_approve, "resume": payments.cycle_resume}


@login_required
@require_POST
def cycle_act(request: HttpRequest, cycle_id: int) -> HttpResponse:
    """Approve or resume; the service re-checks role, maker-checker and state."""
    cycle = payments.cycle_get(actor=request.user, cycle_id=cycle_id)
    service = ACTION_SERVICES.get(request.POST.get("action", ""))
    if service is None:
        raise NotFound()
    service(actor=request.user, cycle_id=cycle.pk)
    return redirect_after_save(request, reverse("assistance:cycle_detail", args=[cycle.pk]))


@login_required
@require_POST
def cycle_export(request: HttpRequest, cycle_id: int) -> HttpResponse:
    """The bank file, Excel or CSV (audited in the service)."""
    cycle = payments.cycle_get(actor=request.user, cycle_id=cycle_id)
    bank_file = payments.cycle_export(
        actor=request.user, cycle_id=cycle.pk, file_format=request.POST.get("file_format", "")
    )
    return FileResponse(
        io.BytesIO(bank_file.content),
        as_attachment=True,
        filename=bank_file.name,
        content_type=bank_file.content_type,
    )


@login_required
@require_POST
def cycle_return(request: HttpRequest, cycle_id: int) -> HttpResponse:
    """Import the bank's return file; a refused file answers with its problems by row."""
    cycle = payments.cycle_get(actor=request.user, cycle_id=cycle_id)
    length = declared_size_over(request, settings.LINLI_MAX_UPLOAD_BYTES)
    if length:
        raise upload_too_large_error(length)
    form = ReturnForm(request.POST, request.FILES)
    if not form.is_valid():
        raise validation_failed_from_form(form, str(_("Choose the bank's return file.")))
    try:
        payments.bank_return_import(
            actor=request.user, cycle_id=cycle.pk, uploaded_file=form.cleaned_data["file"]
        )
    except payments.BankReturnRefused as exc:
        page = sequence_page(exc.problems, 1, per_page=200)
        return render(
            request,
            "assistance/payments_return_problems.html",
            {"bank_return": exc.bank_return, "error": exc, "page": page, "cycle": cycle},
            status=exc.status,
        )
    return redirect_after_save(request, reverse("assistance:cycle_detail", args=[cycle.pk]))


@login_required
def return_detail(request: HttpRequest, cycle_id: int, return_id: int) -> HttpResponse:
    """A return file as imported: its outcome, or every problem that refused it."""
    cycle = payments.cycle_get(actor=request.user, cycle_id=cycle_id)
    bank_return = BankReturn.objects.filter(cycle=cycle, pk=return_id).first()
    if bank_return is None:
        raise NotFound()
    page = sequence_page(bank_return.errors, request.GET.get("page"))
    return render(
        request,
        "assistance/payments_return.html",
        {"cycle": cycle, "bank_return": bank_return, "page": page},
    )


urlpatterns = [
    path("payments/", cycles, name="cycles"),
    path("payments/<int:cycle_id>/", cycle_detail, name="cycle_detail"),
    path("payments/<int:cycle_id>/act/", cycle_act, name="cycle_act"),
    path("payments/<int:cycle_id>/bank-file/", cycle_export, name="cycle_export"),
    path("payments/<int:cycle_id>/return/", cycle_return, name="cycle_return"),
    path(
        "payments/<int:cycle_id>/returns/<int:return_id>/",
        return_detail,
        name="cycle_return_detail",
    ),
]
