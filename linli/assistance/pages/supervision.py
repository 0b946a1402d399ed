"""Pages of fund supervision (阳光监管) and of the assistance statistics: the findings with their
linked records and the resolve form, the runs of the checks, staff relatives' declarations
(回避), and the figures by street and program with charts and an Excel export."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from linli.core.errors import PermissionDenied, ValidationFailed, validation_failed_from_form
from linli.core.pages import add_service_errors, list_page, redirect_after_save, requires
from linli.core.roles import Perm
from linli.places.models import Place, PlaceLevel

from .. import statistics, supervision
from ..models import FindingKind, FindingState, Program

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class PlaceField(forms.ModelChoiceField):
    """Places of the user's jurisdiction at the given levels; the choice list is scoped too."""

    def __init__(self, *, levels: tuple[int, ...], empty_label, **kwargs) -> None:
        super().__init__(queryset=Place.objects.none(), required=False, **kwargs)
        self.levels = levels
        self.empty_label = empty_label

    def restrict_to(self, actor) -> None:
        self.queryset = Place.objects.restrict(actor).filter(level__in=self.levels).order_by("path")

    def label_from_instance(self, obj: Place) -> str:
        return f"{obj.get_level_display()} · {obj.name}"


def _require_findings(request: HttpRequest) -> None:
    if not supervision.may_view_findings(request.user):
        raise PermissionDenied()


# --- findings ----------------------------------------------------------------------------------


class FindingFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"), choices=[("", "—"), *FindingKind.choices], required=False
    )
    state = forms.ChoiceField(
        label=gettext_lazy("State"), choices=[("", "—"), *FindingState.choices], required=False
    )
    street = PlaceField(
        label=gettext_lazy("Street"),
        levels=(PlaceLevel.STREET,),
        empty_label=gettext_lazy("Whole jurisdiction"),
    )
    still_found = forms.ChoiceField(
        label=gettext_lazy("At the last run"),
        choices=[
            ("", "—"),
            ("yes", gettext_lazy("Still found")),
            ("no", gettext_lazy("No longer found")),
        ],
        required=False,
    )

    def __init__(self, data=None, *, actor, **kwargs) -> None:
        super().__init__(data, **kwargs)
        self.fields["street"].restrict_to(actor)


class RunForm(forms.Form):
    place = PlaceField(
        label=gettext_lazy("Place to check"),
        levels=(PlaceLevel.CITY, PlaceLevel.DISTRICT, PlaceLevel.STREET),
        empty_label=gettext_lazy("Whole jurisdiction"),
    )

    def __init__(self, data=None, *, actor, **kwargs) -> None:
        super().__init__(data, **kwargs)
        self.fields["place"].restrict_to(actor)


def _run_place_path(actor, place: Place | None) -> str:
    """The place chosen, or the whole jurisdiction when it is one place (or everything)."""
    if place is not None:
        return place.path
    if len(actor.scope_paths) == 1:
        return actor.scope_paths[0]
    if actor.sees_everything:
        return ""
    message = _("Choose which of your places to check.")
    raise ValidationFailed(message, details={"place": [message]})


@login_required
def findings(request: HttpRequest) -> HttpResponse:
    """监管发现: what the checks found in the jurisdiction, filtered, with the latest runs."""
    _require_findings(request)
    user = request.user
    form = FindingFilterForm(request.GET or None, actor=user)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    still = {"yes": True, "no": False}.get(data.get("still_found") or "")
    queryset = supervision.finding_list(
        actor=user,
        kind=data.get("kind") or "",
        state=data.get("state") or "",
        place_path=data["street"].path if data.get("street") else "",
        still_found=still,
    )
    page = list_page(queryset, request.GET.get("page"))
    for finding in page.items:
        finding.text = supervision.finding_text(finding)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "may_resolve": supervision.may_resolve_findings(user),
        "run_form": RunForm(actor=user) if supervision.may_resolve_findings(user) else None,
        "runs": list(supervision.runs_for(user).select_related("requested_by")[:3]),
    }
    return render(request, "assistance/supervision_findings.html", context)


def _maybe_url(name: str, *args) -> str:
    """A link to another area's page, where that area has it."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


@login_required
def finding_detail(request: HttpRequest, finding_id: int) -> HttpResponse:
    _require_findings(request)
    user = request.user
    finding = supervision.finding_get(actor=user, finding_id=finding_id)
    linked = supervision.finding_records(actor=user, finding=finding)
    for person in linked.persons:
        person["url"] = (
            reverse("people:person_detail", args=[person["id"]]) if person["open"] else ""
        )
    for household in linked.households:
        household["url"] = (
            reverse("people:household_detail", args=[household["id"]]) if household["open"] else ""
        )
    for benefit in linked.benefits:
        benefit["url"] = _maybe_url("assistance:benefit_detail", benefit["id"])
    for payment in linked.payments:
        payment["url"] = _maybe_url("assistance:cycle_detail", payment["cycle_id"])
    visible = {p["id"] for p in linked.persons if p["open"]}
    for record in linked.finances:
        record["url"] = (
            reverse("people:person_detail", args=[record["person_id"]])
            if record["person_id"] in visible
            else ""
        )
    may_resolve = supervision.may_resolve_findings(user) and finding.state == FindingState.OPEN
    context = {
        "finding": finding,
        "text": supervision.finding_text(finding),
        "program_label": dict(Program.choices).get(finding.program, finding.program),
        "linked": linked,
        "figures": (finding.records or {}).get("figures", {}),
        "resolve_form": ResolveForm() if may_resolve else None,
    }
    return render(request, "assistance/supervision_finding_detail.html", context)


class ResolveForm(forms.Form):
    state = forms.ChoiceField(
        label=gettext_lazy("Outcome"),
        choices=[
            (FindingState.CONFIRMED, FindingState.CONFIRMED.label),
            (FindingState.EXPLAINED, FindingState.EXPLAINED.label),
        ],
        widget=forms.RadioSelect,
    )
    resolution = forms.CharField(
        label=gettext_lazy("What was found or done"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=300,
    )


@login_required
@require_POST
def finding_resolve(request: HttpRequest, finding_id: int) -> HttpResponse:
    """The service re-checks the role, the jurisdiction, the state and 回避."""
    _require_findings(request)
    finding = supervision.finding_get(actor=request.user, finding_id=finding_id)
    form = ResolveForm(request.POST)
    if not form.is_valid():
        raise validation_failed_from_form(form, _("Choose the outcome and say what was done."))
    supervision.finding_resolve(
        actor=request.user,
        finding_id=finding.pk,
        state=form.cleaned_data["state"],
        resolution=form.cleaned_data["resolution"],
    )
    messages.success(request, _("The finding is resolved."))
    return redirect_after_save(request, reverse("assistance:finding_detail", args=[finding.pk]))


@requires(Perm.ASSISTANCE_SUPERVISE)
@require_POST
def run_request(request: HttpRequest) -> HttpResponse:
    """Start the checks in the background; the findings page shows their progress."""
    form = RunForm(request.POST, actor=request.user)
    if not form.is_valid():
        raise validation_failed_from_form(form, _("Choose a place of your jurisdiction."))
    place_path = _run_place_path(request.user, form.cleaned_data["place"])
    supervision.supervision_run_request(actor=request.user, place_path=place_path)
    messages.success(request, _("The checks have started; the findings update when they end."))
    return redirect_after_save(request, reverse("assistance:findings"))


@login_required
def run_status(request: HttpRequest, run_id: int) -> HttpResponse:
    """One run's progress, polled by the findings page while it runs."""
    _require_findings(request)
    run = supervision.run_get(actor=request.user, run_id=run_id)
    return render(request, "assistance/supervision_run.html", {"run": run})


# --- staff relatives (回避) ----------------------------------------------------------------------


class DeclareForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Relative's name"), max_length=50)
    id_number = forms.CharField(label=gettext_lazy("Relative's ID number"), max_length=18)
    relation = forms.CharField(
        label=gettext_lazy("Relation"),
        max_length=40,
        help_text=gettext_lazy("Spouse, parent, child, sibling, …"),
    )


@login_required
def staff_relatives(request: HttpRequest) -> HttpResponse:
    """近亲属备案: my declared relatives (and, for supervisors, those of the jurisdiction)."""
    user = request.user
    if not user.is_staff_role:
        raise PermissionDenied()
    form = DeclareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            supervision.staff_relative_declare(actor=user, **form.cleaned_data)
        except ValidationFailed as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("The relative is declared."))
            return redirect_after_save(request, reverse("assistance:staff_relatives"))
    declarations = list_page(supervision.staff_relatives_for(actor=user), request.GET.get("page"))
    context = {"form": form, "page": declarations, "user_id": user.pk}
    return render(request, "assistance/supervision_staff_relatives.html", context)


@login_required
@require_POST
def staff_relative_remove(request: HttpRequest, relative_id: int) -> HttpResponse:
    supervision.staff_relative_remove(actor=request.user, relative_id=relative_id)
    messages.success(request, _("The declaration is withdrawn."))
    return redirect_after_save(request, reverse("assistance:staff_relatives"))


# --- statistics ---------------------------------------------------------------------------------

MONTH_INPUT = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")


class MonthField(forms.DateField):
    widget = MONTH_INPUT
    input_formats = ["%Y-%m", "%Y-%m-%d"]


class StatisticsForm(forms.Form):
    start = MonthField(label=gettext_lazy("From (month)"))
    end = MonthField(label=gettext_lazy("To (month)"))
    place = PlaceField(
        label=gettext_lazy("Within"),
        levels=(PlaceLevel.DISTRICT, PlaceLevel.STREET, PlaceLevel.COMMUNITY),
        empty_label=gettext_lazy("Whole jurisdiction"),
    )
    program = forms.ChoiceField(
        label=gettext_lazy("Program"),
        choices=[("", gettext_lazy("All programs")), *Program.choices],
        required=False,
    )

    def __init__(self, data=None, *, actor, **kwargs) -> None:
        super().__init__(data, **kwargs)
        self.fields["place"].restrict_to(actor)


def _statistics_defaults() -> dict:
    """The last twelve months, this one included."""
    this_month = timezone.localdate().replace(day=1)
    return {"start": statistics.add_months(this_month, -11), "end": this_month}


def _statistics_form(request: HttpRequest) -> StatisticsForm:
    data = request.GET.copy() if "start" in request.GET else None
    return StatisticsForm(data, actor=request.user, initial=_statistics_defaults())


def _statistics_query(form: StatisticsForm) -> dict:
    if not form.is_bound:
        return _statistics_defaults() | {"place": None, "program": ""}
    return form.cleaned_data


@requires(Perm.ASSISTANCE_VIEW)
def statistics_page(request: HttpRequest) -> HttpResponse:
    """救助统计: recipients by street and program, amounts per month and their change."""
    form = _statistics_form(request)
    stats = None
    if not form.is_bound or form.is_valid():
        try:
            stats = statistics.assistance_statistics(actor=request.user, **_statistics_query(form))
        except ValidationFailed as exc:
            add_service_errors(form, exc)
    context = {
        "form": form,
        "stats": stats,
        "chart": statistics.chart_data(stats) if stats else None,
        "export_query": request.GET.urlencode(),
        "may_see_findings": supervision.may_view_findings(request.user),
        "labels": {attr: label for attr, label, _f in statistics.MONTH_COLUMNS},
    }
    return render(request, "assistance/statistics_page.html", context)


@requires(Perm.ASSISTANCE_VIEW)
def statistics_export(request: HttpRequest) -> HttpResponse:
    """The same tables as an Excel file (aggregates only: nothing personal in them)."""
    form = _statistics_form(request)
    if form.is_bound and not form.is_valid():
        raise validation_failed_from_form(form, _("Correct the period first."))
    query = _statistics_query(form)
    stats = statistics.assistance_statistics(actor=request.user, **query)
    name = f"assistance-{stats.start:%Y%m}-{stats.end:%Y%m}.xlsx"
    return FileResponse(
        statistics.statistics_workbook(stats), as_attachment=True, filename=name, content_type=XLSX
    )


urlpatterns = [
    path("supervision/", findings, name="findings"),
    path("supervision/findings/<int:finding_id>/", finding_detail, name="finding_detail"),
    path("supervision/findings/<int:finding_id>/resolve/", finding_resolve, name="finding_resolve"),
    path("supervision/run/", run_request, name="supervision_run"),
    path("supervision/runs/<int:run_id>/", run_status, name="supervision_run_status"),
    path("supervision/relatives/", staff_relatives, name="staff_relatives"),
    path(
        "supervision/relatives/<int:relative_id>/remove/",
        staff_relative_remove,
        name="staff_relative_remove",
    ),
    path("statistics/", statistics_page, name="statistics"),
    path("statistics/export.xlsx", statistics_export, name="statistics_export"),
]
