"""Screening pages (排查): the rounds with a form to start one, a round's progress (polled by
htmx while it runs) and its report by rule, severity and street; the risk rules with their
parameters and versions, and a form to add a version of a rule from a date."""

from __future__ import annotations

import json

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.assistance.models import Program
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

from .. import rules as rule_data
from .. import screening
from ..models import RiskRule, RoundState, Severity

FINISHED = (RoundState.DONE, RoundState.FAILED)


class PlaceField(forms.ModelChoiceField):
    def label_from_instance(self, place) -> str:
        return f"{place.get_level_display()} · {place.name}"


class RoundForm(forms.Form):
    place = PlaceField(label=_("Where"), queryset=None)
    as_of = forms.DateField(label=_("As of"), widget=DATE_INPUT)

    def __init__(self, *args, actor, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["place"].queryset = places_for_choice(actor).filter(
            level__in=(PlaceLevel.CITY, PlaceLevel.DISTRICT, PlaceLevel.STREET)
        )
        self.fields["as_of"].initial = timezone.localdate()


@requires(Perm.MONITORING_VIEW)
def round_list(request: HttpRequest) -> HttpResponse:
    """The rounds, newest first; those who may screen start one here."""
    actor = request.user
    may_screen = actor.has_perm_code(Perm.MONITORING_SCREEN)
    form = RoundForm(request.POST or None, actor=actor) if may_screen else None
    if form is not None and request.method == "POST" and form.is_valid():
        try:
            screening_round = screening.round_start(
                actor=actor,
                place_id=form.cleaned_data["place"].pk,
                as_of=form.cleaned_data["as_of"],
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
        else:
            return redirect_after_save(
                request, reverse("monitoring:round_detail", args=[screening_round.pk])
            )
    page = list_page(screening.screening_rounds(actor), request.GET.get("page"))
    return render(request, "monitoring/screening_rounds.html", {"page": page, "form": form})


@requires(Perm.MONITORING_VIEW)
def round_detail(request: HttpRequest, round_id: int) -> HttpResponse:
    """Progress while it runs (htmx polls the status part); the report once done."""
    screening_round = screening.round_get(request.user, round_id)
    finished = screening_round.state in FINISHED
    if is_htmx(request) and request.GET.get("status"):
        if finished:
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
        return render(
            request,
            "monitoring/screening_status.html",
            {"round": screening_round, "percent": screening.percent(screening_round)},
        )
    report = screening.round_report(screening_round) if screening_round.state == "done" else None
    context = {
        "round": screening_round,
        "percent": screening.percent(screening_round),
        "finished": finished,
        "report": report,
    }
    return render(request, "monitoring/screening_round.html", context)


class RuleVersionForm(forms.Form):
    valid_from = forms.DateField(label=_("Effective from"), widget=DATE_INPUT)
    parameters = forms.CharField(
        label=_("Parameters"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_('As JSON, for example {"multiple": "1.3"}; the others are kept.'),
        required=False,
    )
    severity = forms.TypedChoiceField(label=_("Severity"), choices=Severity.choices, coerce=int)
    template = forms.CharField(
        label=_("Explanation template (English)"), max_length=rule_data.MAX_TEMPLATE
    )
    template_zh = forms.CharField(
        label=_("Explanation template (Chinese)"), max_length=rule_data.MAX_TEMPLATE, required=False
    )

    def clean_parameters(self) -> dict:
        text = self.cleaned_data["parameters"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            raise forms.ValidationError(_("Write the parameters as JSON.")) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(_("Write the parameters as a JSON object."))
        return value


def _rule_rows(rules: list[RiskRule]) -> list[dict]:
    return [
        {
            "rule": rule,
            "name": rule_data.rule_name(rule),
            "parameters": sorted(rule.parameters.items()),
            "figures": ", ".join(rule_data.FIGURES.get(rule.kind, ())),
            "explanation": rule_data.template_for(rule, None),
            "program": Program(rule.program).label if rule.program in Program.values else "",
        }
        for rule in rules
    ]


@requires(Perm.MONITORING_VIEW)
def rule_list(request: HttpRequest) -> HttpResponse:
    """Every rule with its versions; civil affairs add a version from a date."""
    actor = request.user
    rules = list(rule_data.risk_rules(actor))
    may_edit = actor.has_perm_code(Perm.MONITORING_RULES)
    code = request.POST.get("code") or request.GET.get("code") or ""
    base = next((r for r in rules if r.code == code), None)
    form = None
    if may_edit and base is not None:
        initial = {
            "severity": base.severity,
            "template": base.template,
            "template_zh": (base.translations or {}).get("zh-hans", ""),
            "parameters": json.dumps(base.parameters, ensure_ascii=False),
        }
        form = RuleVersionForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            translations = dict(base.translations or {})
            if data["template_zh"]:
                translations["zh-hans"] = data["template_zh"]
            try:
                rule_data.rule_version_add(
                    actor=actor,
                    code=base.code,
                    valid_from=data["valid_from"],
                    parameters=data["parameters"],
                    severity=data["severity"],
                    template=data["template"],
                    translations=translations,
                )
            except ValidationFailed as exc:
                add_service_errors(form, exc)
            except Conflict as exc:
                form.add_error(None, str(exc))
            else:
                return redirect_after_save(request, reverse("monitoring:rules"))
    context = {"rows": _rule_rows(rules), "form": form, "base": base, "may_edit": may_edit}
    return render(request, "monitoring/screening_rules.html", context)


urlpatterns = [
    path("rounds/", round_list, name="rounds"),
    path("rounds/<int:round_id>/", round_detail, name="round_detail"),
    path("rules/", rule_list, name="rules"),
]
