"""The eligibility check page (资格测算): a caseworker picks a household by its number and a date
and sees each program's answer with its trace, sentence by sentence, to read to the household.
Nothing is stored; `?household=<id>` opens it from a household's page."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.core.api import MAX_DATE, MIN_DATE
from linli.core.errors import ApplicationError, NotFound
from linli.core.pages import DATE_INPUT, requires
from linli.core.roles import Perm

from .. import assessments, engine
from ..models import MONTHLY_PROGRAMS, Program
from ..models.applications import ApprovalTier, TemporaryKind


class AssessForm(forms.Form):
    household = forms.CharField(
        label=_("household number"),
        max_length=32,
        help_text=_("The number on the household's page."),
    )
    on = forms.DateField(label=_("date assessed"), widget=DATE_INPUT)
    programs = forms.MultipleChoiceField(
        label=_("programs"),
        choices=Program.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave all unticked to check every program."),
    )
    hardship_amount = forms.DecimalField(
        label=_("hardship amount for temporary assistance (yuan)"),
        min_value=0,
        max_value=10_000_000,
        max_digits=12,
        decimal_places=2,
        required=False,
    )
    temporary_kind = forms.ChoiceField(
        label=_("kind of temporary assistance"),
        choices=TemporaryKind.choices,
        initial=TemporaryKind.EMERGENCY,
        required=False,
    )
    especially_hard = forms.BooleanField(label=_("especially hard"), required=False)
    extreme_poverty_arrangement = forms.ChoiceField(
        label=_("extreme-poverty care arrangement"),
        choices=engine.CareArrangement.choices,
        initial=engine.CareArrangement.DISPERSED,
        required=False,
    )

    def clean_on(self):
        on = self.cleaned_data["on"]
        if not MIN_DATE <= on <= MAX_DATE:
            raise forms.ValidationError(_("Choose a date between 1900 and 2999."))
        return on


def _program_rows(assessment: engine.Assessment) -> list[dict[str, Any]]:
    rows = []
    for code, result in assessment.results.items():
        rows.append(
            {
                "code": code,
                "label": Program(code).label,
                "result": result,
                "classification": engine.classification_label(code, result.classification),
                "monthly": code in MONTHLY_PROGRAMS,
                "approval_tier": ApprovalTier(result.approval_tier).label
                if result.approval_tier
                else "",
                "sentences": result.sentences(),
            }
        )
    return rows


@requires(Perm.ASSISTANCE_VIEW)
def assess(request: HttpRequest) -> HttpResponse:
    """GET only: the form, and once it is filled in, the answer below it."""
    actor = request.user
    initial: dict[str, Any] = {"on": timezone.localdate()}
    submitted = "on" in request.GET
    household_id = request.GET.get("household")
    if household_id and not submitted:
        # Opened from a household's page (?household=<id>): its number, if within the area.
        with suppress(NotFound):
            household = assessments.household_for_assessment(actor, household_id)
            initial["household"] = household.number
    form = AssessForm(request.GET if submitted else None, initial=initial)
    context: dict[str, Any] = {"form": form}
    if submitted and form.is_valid():
        data = form.cleaned_data
        household = (
            assessments.assessable_households(actor).filter(number=data["household"]).first()
        )
        if household is None:
            form.add_error("household", _("No household with this number in your area."))
        else:
            options = {
                "hardship_amount": data.get("hardship_amount"),
                "temporary_kind": data.get("temporary_kind") or TemporaryKind.EMERGENCY,
                "especially_hard": data.get("especially_hard", False),
                "extreme_poverty_arrangement": data.get("extreme_poverty_arrangement") or None,
            }
            try:
                assessment, version = assessments.household_assessment(
                    actor=actor,
                    household_id=household.pk,
                    on=data["on"],
                    programs=data.get("programs") or None,
                    **assessments.options_of(options),
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                context |= {
                    "household": household,
                    "assessment": assessment,
                    "version": version,
                    "shared": [step.sentence() for step in assessment.trace],
                    "rows": _program_rows(assessment),
                }
    return render(request, "assistance/assess.html", context)


urlpatterns = [path("assess/", assess, name="assess")]
