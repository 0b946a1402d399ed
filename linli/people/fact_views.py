"""Person-page forms for the facts assistance decisions cite: capacity to work, date of death,
serious illnesses, self-care assessments, legal supporters and the bank account for payments.

Adding: the form comes back with the service's refusal next to its fields, or the page reloads.
Voiding and the other one-button actions: a refusal shows in the box beside the button pressed
(core/middleware.py renders it into the request's HX-Target)."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from linli.core.errors import Conflict, ValidationFailed, validation_failed_from_form
from linli.core.pages import add_service_errors, redirect_after_save, requires
from linli.core.roles import Perm

from . import services
from .forms import (
    BankAccountForm,
    DeathForm,
    IllnessForm,
    SelfCareForm,
    SupporterForm,
    VoidForm,
    WorkCapacityForm,
)
from .models import BankAccount, LegalSupporter, Person, SelfCareAssessment, SeriousIllness

# Form class, service, URL name and button label of each form that adds a fact; the person
# page renders the same partial (people/_fact_form.html).
ADDERS: dict[str, tuple[type[forms.Form], Callable, str, str]] = {
    "capacity": (
        WorkCapacityForm,
        services.person_set_work_capacity,
        "people:work_capacity_set",
        _("Save"),
    ),
    "death": (DeathForm, services.person_record_death, "people:death_record", _("Record death")),
    "illness": (
        IllnessForm,
        services.serious_illness_record,
        "people:illness_new",
        _("Add illness"),
    ),
    "selfcare": (
        SelfCareForm,
        services.self_care_assessment_record,
        "people:self_care_new",
        _("Record assessment"),
    ),
    "supporter": (
        SupporterForm,
        services.legal_supporter_add,
        "people:supporter_new",
        _("Add supporter"),
    ),
    "bank": (
        BankAccountForm,
        services.bank_account_set,
        "people:bank_account_set",
        _("Save account"),
    ),
}

VOIDERS: dict[str, tuple[type, Callable, str]] = {
    "illness": (SeriousIllness, services.serious_illness_void, "illness_id"),
    "selfcare": (SelfCareAssessment, services.self_care_assessment_void, "assessment_id"),
    "supporter": (LegalSupporter, services.legal_supporter_void, "supporter_id"),
    "bank": (BankAccount, services.bank_account_void, "account_id"),
}


def fact_forms(person: Person) -> dict[str, dict]:
    """Context for each add form on the person page, unbound."""
    initial = {"capacity": {"work_capacity": person.work_capacity}}
    return {
        key: _form_context(person, key, form_class(initial=initial.get(key)))
        for key, (form_class, _service, _url, _label) in ADDERS.items()
    }


def _form_context(person: Person, key: str, form: forms.Form) -> dict:
    _form_class, _service, url_name, label = ADDERS[key]
    return {
        "form": form,
        "form_id": f"{key}-form",
        "action": reverse(url_name, args=[person.pk]),
        "submit_label": label,
    }


def _add(request: HttpRequest, person_id: int, key: str) -> HttpResponse:
    form_class, service, _url, _label = ADDERS[key]
    person = Person.objects.get_for(request.user, person_id, "change")
    form = form_class(request.POST)
    if form.is_valid():
        try:
            service(actor=request.user, person_id=person.pk, **form.cleaned_data)
        except (ValidationFailed, Conflict) as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_save(request, reverse("people:person_detail", args=[person.pk]))
    return render(request, "people/_fact_form.html", _form_context(person, key, form))


def _void(request: HttpRequest, fact_id: int, key: str) -> HttpResponse:
    model, service, id_name = VOIDERS[key]
    fact = model.objects.get_for(request.user, fact_id, "change")
    form = VoidForm(request.POST)
    if not form.is_valid():
        raise validation_failed_from_form(form)
    service(actor=request.user, **{id_name: fact.pk}, reason=form.cleaned_data["reason"])
    return redirect_after_save(request, reverse("people:person_detail", args=[fact.person_id]))


def _adder(key: str) -> Callable:
    @requires(Perm.PEOPLE_CHANGE)
    @require_POST
    def view(request: HttpRequest, person_id: int) -> HttpResponse:
        return _add(request, person_id, key)

    view.__name__ = f"{key}_add"
    return view


def _voider(key: str) -> Callable:
    @requires(Perm.PEOPLE_CHANGE)
    @require_POST
    def view(request: HttpRequest, fact_id: int) -> HttpResponse:
        return _void(request, fact_id, key)

    view.__name__ = f"{key}_void"
    return view


work_capacity_set = _adder("capacity")
death_record = _adder("death")
illness_new = _adder("illness")
self_care_new = _adder("selfcare")
supporter_new = _adder("supporter")
bank_account_set = _adder("bank")
illness_void = _voider("illness")
self_care_void = _voider("selfcare")
supporter_void = _voider("supporter")
bank_account_void = _voider("bank")


@requires(Perm.PEOPLE_REVEAL)
@require_POST
def bank_account_reveal(request: HttpRequest, account_id: int) -> HttpResponse:
    """The full account number, shown once to this user and logged (查看完整信息)."""
    full = services.bank_account_reveal(actor=request.user, account_id=account_id)
    return render(request, "people/_bank_revealed.html", {"full": full})
