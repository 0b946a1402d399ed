"""Pages of the alerts (预警) and the monitoring overview: the alerts list with filters and its
Excel export, each alert with its explanation, figures, visits and referrals (and the
community's dismissal), and the overview of a place with a chart by rule, a map of open
alerts and drill-down to the places below, exported to Excel too."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from linli.core.errors import validation_failed_from_form
from linli.core.pages import list_page, redirect_after_save, requires
from linli.core.roles import Perm
from linli.places.models import Place, PlaceLevel

from .. import alerts as alert_services
from .. import selectors, statistics
from ..models import AlertState, Severity

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _maybe_url(name: str, *args) -> str:
    """A link to another area's page, where that area has it."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


class PlaceField(forms.ModelChoiceField):
    """Places of the user's jurisdiction at the given levels; the choice list is scoped too."""

    def __init__(self, *, levels: tuple[int, ...], **kwargs) -> None:
        super().__init__(queryset=Place.objects.none(), required=False, **kwargs)
        self.levels = levels
        self.empty_label = gettext_lazy("Whole jurisdiction")

    def restrict_to(self, actor) -> None:
        self.queryset = Place.objects.restrict(actor).filter(level__in=self.levels).order_by("path")

    def label_from_instance(self, obj: Place) -> str:
        return f"{obj.get_level_display()} · {obj.name}"


STATE_CHOICES = [
    ("", gettext_lazy("All states")),
    ("active", gettext_lazy("Open or being visited")),
    *AlertState.choices,
]


class AlertFilterForm(forms.Form):
    number = forms.CharField(label=gettext_lazy("Household number"), max_length=32, required=False)
    rule = forms.ChoiceField(label=gettext_lazy("Rule"), required=False)
    severity = forms.TypedChoiceField(
        label=gettext_lazy("Severity"),
        choices=[("", gettext_lazy("Any severity")), *Severity.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    state = forms.ChoiceField(label=gettext_lazy("State"), choices=STATE_CHOICES, required=False)
    place = PlaceField(
        label=gettext_lazy("Within"),
        levels=(PlaceLevel.STREET, PlaceLevel.COMMUNITY, PlaceLevel.GRID),
    )
    building = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    def __init__(self, data=None, *, actor, **kwargs) -> None:
        super().__init__(data, **kwargs)
        self.fields["place"].restrict_to(actor)
        self.fields["rule"].choices = [
            ("", gettext_lazy("All rules")),
            *selectors.rule_choices(actor),
        ]
        self.actor = actor

    def clean_building(self):
        building_id = self.cleaned_data.get("building")
        if building_id is None:
            return None
        # Outside the jurisdiction: the same 404 as a missing place.
        return Place.objects.get_for(self.actor, building_id)


def _filters(request: HttpRequest) -> tuple[AlertFilterForm, selectors.AlertFilter]:
    """The filter form (bound when the query has anything) and what it selects; by default
    the alerts still open."""
    data = request.GET if any(k != "page" for k in request.GET) else None
    form = AlertFilterForm(data, actor=request.user, initial={"state": "active"})
    if form.is_bound:
        if not form.is_valid():
            raise validation_failed_from_form(form, _("Correct the filters."))
        d = form.cleaned_data
        place = d.get("building") or d.get("place")
        return form, selectors.AlertFilter(
            rule=d.get("rule") or "",
            severity=d.get("severity"),
            state=d.get("state") or "",
            place_path=place.path if place else "",
            number=d.get("number") or "",
        )
    return form, selectors.AlertFilter(state="active")


@requires(Perm.MONITORING_VIEW)
def alert_list(request: HttpRequest) -> HttpResponse:
    """预警列表: the alerts of the jurisdiction, most severe first, filtered and paginated."""
    form, filters = _filters(request)
    page = list_page(selectors.alert_list(request.user, filters), request.GET.get("page"))
    heads = selectors.masked_heads(page.items)
    names = dict(selectors.rule_choices(request.user))
    for alert in page.items:
        alert.head_masked = heads.get(alert.household_id, "")
        alert.rule_label = names.get(alert.rule_code, alert.rule_code)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "may_export": request.user.has_perm_code(Perm.PEOPLE_EXPORT),
        "building": form.cleaned_data.get("building") if form.is_bound else None,
    }
    return render(request, "monitoring/alerts_list.html", context)


@requires(Perm.MONITORING_VIEW)
def alerts_export(request: HttpRequest) -> HttpResponse:
    """The filtered alerts as an Excel file, householders' names masked; logged."""
    _form, filters = _filters(request)
    name, out = alert_services.alerts_export(actor=request.user, filters=filters)
    return FileResponse(out, as_attachment=True, filename=name, content_type=XLSX)


class DismissForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why the alert needs no visit"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=alert_services.REASON_LENGTH,
    )


@requires(Perm.MONITORING_VIEW)
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    """One alert: its explanation in the household's figures, the rule version, the visits
    with their records and what they referred to, and the household's other alerts."""
    user = request.user
    detail = selectors.alert_detail(user, alert_id)
    alert = detail.alert
    visits = []
    for visit in detail.visits:
        records = []
        for record in visit.records.all():
            links = []
            for kind, pk in selectors.referrals_of(record):
                if kind == "application":
                    links.append(
                        (
                            _("Assistance application %(id)s") % {"id": pk},
                            _maybe_url("assistance:application_detail", pk),
                        )
                    )
                else:
                    links.append((_("Case %(id)s") % {"id": pk}, _maybe_url("cases:detail", pk)))
            records.append({"record": record, "links": links, "photos": len(record.photos or [])})
        visits.append(
            {
                "visit": visit,
                "url": _maybe_url("monitoring:visit_detail", visit.pk),
                "records": records,
            }
        )
    active = selectors.is_active(alert)
    key_new = ""
    if active and detail.key_household is None and user.has_perm_code(Perm.MONITORING_KEY):
        key_new = _maybe_url("monitoring:key_new")
        key_new = f"{key_new}?alert={alert.pk}" if key_new else ""
    key_url = (
        _maybe_url("monitoring:key_detail", detail.key_household.pk) if detail.key_household else ""
    )
    names = dict(selectors.rule_choices(user))
    for other in detail.other_alerts:
        other.rule_label = names.get(other.rule_code, other.rule_code)
    context = {
        "detail": detail,
        "alert": alert,
        "visits": visits,
        "household_url": (
            reverse("people:household_detail", args=[alert.household_id])
            if user.has_perm_code(Perm.PEOPLE_VIEW)
            else ""
        ),
        "key_new_url": key_new,
        "key_url": key_url,
        "dismiss_form": DismissForm() if active and selectors.may_dismiss(user) else None,
    }
    return render(request, "monitoring/alerts_detail.html", context)


@requires(Perm.MONITORING_KEY)
@require_POST
def alert_dismiss(request: HttpRequest, alert_id: int) -> HttpResponse:
    """The service re-checks the role, the jurisdiction and that the alert is still open."""
    selectors.alert_get(request.user, alert_id)  # 404 outside the places first, as missing
    form = DismissForm(request.POST)
    if not form.is_valid():
        raise validation_failed_from_form(form, _("Say why the alert needs no visit."))
    alert_services.alert_dismiss(
        actor=request.user, alert_id=alert_id, reason=form.cleaned_data["reason"]
    )
    messages.success(request, _("The alert is dismissed."))
    return redirect_after_save(request, reverse("monitoring:alert_detail", args=[alert_id]))


# --- overview -----------------------------------------------------------------------------------


class OverviewForm(forms.Form):
    place = PlaceField(
        label=gettext_lazy("Place"),
        levels=(
            PlaceLevel.CITY,
            PlaceLevel.DISTRICT,
            PlaceLevel.STREET,
            PlaceLevel.COMMUNITY,
            PlaceLevel.GRID,
        ),
    )

    def __init__(self, data=None, *, actor, **kwargs) -> None:
        super().__init__(data, **kwargs)
        self.fields["place"].restrict_to(actor)


def _overview_place(request: HttpRequest) -> tuple[OverviewForm, Place | None]:
    form = OverviewForm(request.GET or None, actor=request.user)
    if form.is_bound and not form.is_valid():
        raise validation_failed_from_form(form, _("Choose a place of your jurisdiction."))
    return form, form.cleaned_data.get("place") if form.is_bound else None


@requires(Perm.MONITORING_VIEW)
def overview(request: HttpRequest) -> HttpResponse:
    """监测预警概况: a community's or street's alerts by rule, severity and place, visits to do and
    overdue, key households; the chart by rule and the map of open alerts."""
    form, place = _overview_place(request)
    user = request.user
    data = statistics.monitoring_overview(actor=user, place=place)
    columns = statistics.place_columns()
    rows = [
        {"row": row, "values": [(str(h), g(row)) for h, g in columns]}
        for row in [*data.rows, data.total]
    ]
    point_place = data.place
    points, total, unlocated = statistics.open_alert_points(actor=user, place=point_place)
    alerts_url = reverse("monitoring:alerts")
    map_data = {
        "grids": statistics.map_grids(user, point_place),
        "buildings": statistics.points_geojson(points),
        "alerts_url": alerts_url,
        "labels": {"alerts": _("open alerts"), "show": _("Show the alerts")},
    }
    context = {
        "form": form,
        "overview": data,
        "columns": [str(h) for h, _g in columns],
        "rows": rows,
        "rule_rows": [(code, name, data.rule_total(code)) for code, name in data.rules],
        "chart": statistics.chart_data(data) if data.rules else None,
        "map_data": map_data,
        "map_points": len(points),
        "map_total": total,
        "map_unlocated": unlocated,
        "export_query": request.GET.urlencode(),
    }
    return render(request, "monitoring/overview_page.html", context)


@requires(Perm.MONITORING_VIEW)
def overview_export(request: HttpRequest) -> HttpResponse:
    """The overview's tables as an Excel file (aggregates only: nothing personal in them)."""
    _form, place = _overview_place(request)
    data = statistics.monitoring_overview(actor=request.user, place=place)
    code = data.place.code if data.place else "all"
    return FileResponse(
        statistics.overview_workbook(data),
        as_attachment=True,
        filename=f"monitoring-{code}.xlsx",
        content_type=XLSX,
    )


urlpatterns = [
    path("alerts/", alert_list, name="alerts"),
    path("alerts/export.xlsx", alerts_export, name="alerts_export"),
    path("alerts/<int:alert_id>/", alert_detail, name="alert_detail"),
    path("alerts/<int:alert_id>/dismiss/", alert_dismiss, name="alert_dismiss"),
    path("overview/", overview, name="overview"),
    path("overview/export.xlsx", overview_export, name="overview_export"),
]
