"""Statistics pages of the case loop: figures per department or place with a chart and an
Excel export, and the map of open cases."""

from __future__ import annotations

from django import forms
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.core.errors import ValidationFailed, validation_failed_from_form
from linli.core.pages import DATE_INPUT, add_service_errors, requires
from linli.core.roles import Perm
from linli.places.models import Place, PlaceLevel

from . import statistics
from .statistics import COLUMNS, Grouping

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Columns the page shows; the export has them all.
PAGE_COLUMNS = (
    "reported",
    "registration_rate",
    "dispatch_on_time_rate",
    "handle_on_time_rate",
    "close_on_time_rate",
    "overdue_open",
    "rework_rate",
    "average_handling_hours",
    "satisfaction_rate",
)


class PlaceChoiceField(forms.ModelChoiceField):
    """Places the user may see, down to communities: the choice list is scoped too."""

    def __init__(self, **kwargs) -> None:
        super().__init__(queryset=Place.objects.none(), required=False, **kwargs)
        self.empty_label = _("Whole jurisdiction")

    def restrict_to(self, actor) -> None:
        self.queryset = (
            Place.objects.restrict(actor)
            .filter(level__in=(PlaceLevel.DISTRICT, PlaceLevel.STREET, PlaceLevel.COMMUNITY))
            .order_by("path")
        )

    def label_from_instance(self, obj: Place) -> str:
        return f"{obj.get_level_display()} · {obj.name}"


class StatisticsForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=DATE_INPUT)
    end = forms.DateField(label=_("To"), widget=DATE_INPUT)
    grouping = forms.ChoiceField(label=_("Per"), choices=Grouping.CHOICES)
    place = PlaceChoiceField(label=_("Within"))

    def __init__(self, data=None, *, actor, **kwargs) -> None:
        super().__init__(data, **kwargs)
        self.fields["place"].restrict_to(actor)


def _defaults() -> dict:
    """This year so far, per street."""
    today = timezone.localdate()
    return {"start": today.replace(month=1, day=1), "end": today, "grouping": Grouping.STREET}


def _form(request: HttpRequest) -> StatisticsForm:
    data = request.GET.copy() if "start" in request.GET else None
    return StatisticsForm(data, actor=request.user, initial=_defaults())


def _query(form: StatisticsForm) -> dict:
    return form.cleaned_data if form.is_bound else _defaults() | {"place": None}


@requires(Perm.CASES_VIEW)
def statistics_page(request: HttpRequest) -> HttpResponse:
    """案件统计: the figures of a period, per department, street, community or grid."""
    form = _form(request)
    stats = None
    if not form.is_bound or form.is_valid():
        # The service owns the rules of a period; its refusal shows next to the fields.
        try:
            stats = statistics.case_statistics(actor=request.user, **_query(form))
        except ValidationFailed as exc:
            add_service_errors(form, exc)
    labels = {attr: label for attr, label, _f in COLUMNS}
    context = {
        "form": form,
        "stats": stats,
        "columns": [(attr, labels[attr]) for attr in PAGE_COLUMNS],
        "grouping_label": dict(Grouping.CHOICES)[stats.grouping] if stats else "",
        "rows": _table(stats, labels) if stats else [],
        "chart": _chart(stats) if stats else None,
        "export_query": request.GET.urlencode(),
    }
    return render(request, "cases/statistics.html", context)


def _table(stats: statistics.CaseStatistics, labels: dict) -> list[dict]:
    return [
        {
            "name": row.name,
            "is_total": row is stats.total,
            "values": [(labels[attr], getattr(row, attr)) for attr in PAGE_COLUMNS],
            "top": stats.top_of(row),
        }
        for row in [*stats.rows, stats.total]
    ]


def _chart(stats: statistics.CaseStatistics) -> dict:
    """What the ECharts bar chart draws: on-time rates per row (None draws no bar)."""

    def series(attr: str) -> list[float | None]:
        return [None if (v := getattr(r, attr)) is None else float(v) for r in stats.rows]

    return {
        "names": [r.name for r in stats.rows],
        "series": [
            {"name": str(label), "data": series(attr)}
            for attr, label, _f in COLUMNS
            if attr in ("dispatch_on_time_rate", "handle_on_time_rate", "close_on_time_rate")
        ],
    }


@requires(Perm.CASES_VIEW)
def statistics_export(request: HttpRequest) -> HttpResponse:
    """The same figures as an Excel file (aggregates only: nothing personal in them)."""
    form = _form(request)
    if form.is_bound and not form.is_valid():
        raise validation_failed_from_form(form, str(_("Correct the period first.")))
    query = _query(form)
    stats = statistics.case_statistics(actor=request.user, **query)
    name = f"cases-{query['grouping']}-{query['start']:%Y%m%d}-{query['end']:%Y%m%d}.xlsx"
    return FileResponse(
        statistics.statistics_workbook(stats), as_attachment=True, filename=name, content_type=XLSX
    )


class MapForm(forms.Form):
    place = PlaceChoiceField(label=_("Within"))

    def __init__(self, data=None, *, actor, **kwargs) -> None:
        super().__init__(data, **kwargs)
        self.fields["place"].restrict_to(actor)


MAP_GRIDS = 500


@requires(Perm.CASES_VIEW)
def open_cases_map(request: HttpRequest) -> HttpResponse:
    """Open cases on the map of grids, coloured by warning, the most urgent first."""
    form = MapForm(request.GET or None, actor=request.user)
    place = form.cleaned_data.get("place") if form.is_bound and form.is_valid() else None
    points, total = statistics.open_case_points(actor=request.user, place=place)
    grids = Place.objects.restrict(request.user).filter(
        level=PlaceLevel.GRID, boundary__isnull=False
    )
    if place is not None:
        grids = grids.filter(path__under=place.path)
    detail = reverse("cases:detail", args=[0]).removesuffix("0/")
    data = {
        "grids": [
            {"name": g.name, "boundary": g.boundary} for g in grids.order_by("path")[:MAP_GRIDS]
        ],
        "cases": [
            {
                "url": f"{detail}{p.id}/",
                "number": p.number,
                "lat": p.lat,
                "lng": p.lng,
                "warning": p.warning,
                "label": f"{p.category} · {p.state}",
            }
            for p in points
        ],
    }
    context = {"form": form, "map_data": data, "shown": len(points), "total": total}
    return render(request, "cases/map.html", context)
