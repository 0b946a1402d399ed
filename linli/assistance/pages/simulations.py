"""Policy simulation pages (政策模拟): the list, the form ("what if the urban standard rises
from 800 to 850 from next month"), the run's progress polled by htmx, the result by street with
a chart and its Excel export."""

from __future__ import annotations

from django import forms
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.core.errors import Conflict, ValidationFailed
from linli.core.pages import (
    DATE_INPUT,
    add_service_errors,
    is_htmx,
    list_page,
    redirect_after_save,
    requires,
)
from linli.core.roles import Perm
from linli.places.models import PlaceLevel
from linli.places.selectors import places_for_choice

from .. import simulations
from ..models import PolicyVersion, SimulationState
from .policies import ParametersForm, next_month

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FINISHED = (SimulationState.DONE, SimulationState.FAILED)


class PlaceField(forms.ModelChoiceField):
    def label_from_instance(self, place) -> str:
        return f"{place.get_level_display()} · {place.name}"


class VersionField(forms.ModelChoiceField):
    def label_from_instance(self, version: PolicyVersion) -> str:
        return f"{version.policy_set.name} · {version.valid_from:%Y-%m-%d}"


def _versions(actor):
    return (
        PolicyVersion.objects.restrict(actor, "view")
        .select_related("policy_set")
        .order_by("policy_set__place_path", "policy_set__registration", "-valid_from")
    )


class BaseChoiceForm(forms.Form):
    """Step one: the version the variant starts from (the form below is prefilled with it)."""

    version = VersionField(label=_("Base policy version"), queryset=PolicyVersion.objects.none())

    def __init__(self, *args, actor, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = _versions(actor)
        self.fields["version"].widget.attrs["data-autosubmit"] = ""


class SimulationForm(ParametersForm):
    def __init__(self, *args, actor, version: PolicyVersion, **kwargs) -> None:
        super().__init__(*args, params=version.parameters, **kwargs)
        self.fields["name"] = forms.CharField(
            label=_("Name"),
            max_length=simulations.MAX_NAME,
            initial=_("What if"),
        )
        self.fields["place"] = PlaceField(
            label=_("Where"),
            queryset=places_for_choice(actor).filter(
                level__in=(
                    PlaceLevel.CITY,
                    PlaceLevel.DISTRICT,
                    PlaceLevel.STREET,
                    PlaceLevel.COMMUNITY,
                )
            ),
            initial=version.policy_set.locality_id,
        )
        self.fields["as_of"] = forms.DateField(
            label=_("As of"),
            widget=DATE_INPUT,
            initial=next_month(),
            help_text=_("Members, incomes and assets as recorded for this date."),
        )


@requires(Perm.ASSISTANCE_SIMULATE)
def simulation_list(request: HttpRequest) -> HttpResponse:
    page = list_page(simulations.simulations(request.user), request.GET.get("page"))
    return render(request, "assistance/simulations_list.html", {"page": page})


@requires(Perm.ASSISTANCE_SIMULATE)
def simulation_new(request: HttpRequest) -> HttpResponse:
    """Pick the base version, change any figure, choose where and as of when."""
    actor = request.user
    chooser = BaseChoiceForm(request.GET or None, actor=actor)
    version = None
    if chooser.is_bound and chooser.is_valid():
        version = chooser.cleaned_data["version"]
    if request.method == "POST":
        version = _versions(actor).filter(pk=request.POST.get("version")).first() or version
    if version is None:
        today = timezone.localdate()
        versions = _versions(actor)
        version = versions.filter(valid_from__lte=today).first() or versions.first()
        if version is not None:
            chooser = BaseChoiceForm(initial={"version": version.pk}, actor=actor)
    form = None
    if version is not None:
        form = SimulationForm(request.POST or None, actor=actor, version=version)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                simulation = simulations.simulation_start(
                    actor=actor,
                    policy_version_id=version.pk,
                    changes=form.parameters(),
                    place_id=data["place"].pk,
                    as_of=data["as_of"],
                    name=data["name"],
                )
            except ValidationFailed as exc:
                add_service_errors(form, exc)
            else:
                return redirect_after_save(
                    request, reverse("assistance:simulation_detail", args=[simulation.pk])
                )
    context = {"chooser": chooser, "version": version, "form": form}
    return render(request, "assistance/simulations_new.html", context)


def _chart(simulation) -> dict:
    """What the bar chart draws: households newly and no longer eligible per street."""
    streets = simulation.result.get("streets", [])
    return {
        "names": [row["name"] for row in streets],
        "series": [
            {
                "name": str(label),
                "data": [row.get(key, 0) for row in streets],
            }
            for key, label in simulations.FIGURES
            if key in ("newly_eligible_households", "no_longer_eligible_households")
        ],
    }


def _rows(simulation) -> list[dict]:
    result = simulation.result
    rows = [
        {
            "name": row["name"],
            "values": [(label, row.get(key)) for key, label in simulations.FIGURES],
        }
        for row in result.get("streets", [])
    ]
    if result.get("totals"):
        rows.append(
            {
                "name": str(_("Total")),
                "is_total": True,
                "values": [
                    (label, result["totals"].get(key)) for key, label in simulations.FIGURES
                ],
            }
        )
    return rows


@requires(Perm.ASSISTANCE_SIMULATE)
def simulation_detail(request: HttpRequest, simulation_id: int) -> HttpResponse:
    """Progress while it runs (htmx polls the status part); the result once done."""
    simulation = simulations.simulation_get(request.user, simulation_id)
    if is_htmx(request) and request.GET.get("status"):
        if simulation.state in FINISHED:
            # The whole page again, with the result and its chart.
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
        return render(
            request,
            "assistance/simulations_status.html",
            {"simulation": simulation, "percent": simulations.percent(simulation)},
        )
    changes = [
        {
            "label": simulations.field_label(name),
            "before": simulations.shown(simulation.result.get("base", {}).get(name))
            if simulation.result
            else None,
            "after": simulations.shown(value),
        }
        for name, value in simulation.changes.items()
    ]
    done = simulation.state == SimulationState.DONE
    context = {
        "simulation": simulation,
        "percent": simulations.percent(simulation),
        "finished": simulation.state in FINISHED,
        "changes": changes,
        "labels": [label for _key, label in simulations.FIGURES],
        "rows": _rows(simulation) if done else [],
        "chart": _chart(simulation) if done and simulation.result.get("streets") else None,
        "registration": simulation.policy_version.policy_set.get_registration_display(),
    }
    return render(request, "assistance/simulations_detail.html", context)


@requires(Perm.ASSISTANCE_SIMULATE)
def simulation_export(request: HttpRequest, simulation_id: int) -> HttpResponse:
    """The result as Excel (figures by street only: nothing personal)."""
    simulation = simulations.simulation_get(request.user, simulation_id)
    if simulation.state != SimulationState.DONE:
        raise Conflict(simulations.not_done_message(simulation))
    return FileResponse(
        simulations.simulation_workbook(simulation),
        as_attachment=True,
        filename=f"simulation-{simulation.pk}.xlsx",
        content_type=XLSX,
    )


urlpatterns = [
    path("simulations/", simulation_list, name="simulations"),
    path("simulations/new/", simulation_new, name="simulation_new"),
    path("simulations/<int:simulation_id>/", simulation_detail, name="simulation_detail"),
    path(
        "simulations/<int:simulation_id>/export.xlsx",
        simulation_export,
        name="simulation_export",
    ),
]
