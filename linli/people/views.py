"""Registry pages: household and person lists, details with history, forms, full view."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from linli.core.errors import ValidationFailed, validation_failed_from_form
from linli.core.pages import add_service_errors, is_htmx, list_page, redirect_after_save, requires
from linli.core.roles import Perm

from . import fact_views, selectors, services
from .forms import (
    DeclineForm,
    FinancialRecordForm,
    HouseholdForm,
    HouseholdSearchForm,
    PersonForm,
    PersonSearchForm,
    StatusForm,
    VoidForm,
)
from .idnumbers import InvalidIdNumber, parse_id_number
from .models import FinancialRecord, Household, Person, RecordStatus, TransferRequest


def _initial_place(request: HttpRequest) -> dict:
    """A place id may come in the URL (from the place page); nothing personal ever does."""
    place_id = request.GET.get("place_id", "")
    return {"place": place_id} if place_id.isdigit() else {}


def _search_data(request: HttpRequest) -> dict | None:
    if request.method == "POST":
        return request.POST
    initial = _initial_place(request)
    return {"status": RecordStatus.ACTIVE, **initial} if initial else None


@requires(Perm.PEOPLE_VIEW)
def persons(request: HttpRequest) -> HttpResponse:
    """Person search (人员查询): POSTed, because names and ID digits are personal data."""
    form = PersonSearchForm(
        _search_data(request), actor=request.user, initial={"status": RecordStatus.ACTIVE}
    )
    page = None
    if not form.is_bound:
        page = list_page(selectors.person_list(request.user), None)
    elif form.is_valid():
        found = selectors.person_list(request.user, form.to_filter())
        page = list_page(found, request.POST.get("page"))
    template = "people/_person_results.html" if is_htmx(request) else "people/persons.html"
    return render(
        request,
        template,
        {
            "form": form,
            "page": page,
            "can_export": request.user.has_perm_code(Perm.PEOPLE_EXPORT),
            "can_export_full": request.user.has_perm_code(Perm.PEOPLE_EXPORT_FULL),
        },
    )


@requires(Perm.PEOPLE_VIEW)
def households(request: HttpRequest) -> HttpResponse:
    form = HouseholdSearchForm(
        _search_data(request), actor=request.user, initial={"status": RecordStatus.ACTIVE}
    )
    page = None
    if not form.is_bound:
        page = list_page(selectors.household_list(request.user), None)
    elif form.is_valid():
        found = selectors.household_list(request.user, form.to_filter())
        page = list_page(found, request.POST.get("page"))
    template = "people/_household_results.html" if is_htmx(request) else "people/households.html"
    return render(
        request,
        template,
        {
            "form": form,
            "page": page,
            "can_change": request.user.has_perm_code(Perm.PEOPLE_CHANGE),
            "can_export": request.user.has_perm_code(Perm.PEOPLE_EXPORT),
        },
    )


@requires(Perm.PEOPLE_VIEW)
def person_detail(request: HttpRequest, person_id: int) -> HttpResponse:
    user = request.user
    person = selectors.person_get_for(user, person_id)
    can_change = user.has_perm_code(Perm.PEOPLE_CHANGE)
    context = {
        "person": person,
        "members": selectors.household_members(user, person.household).exclude(pk=person.pk)
        if person.household_id
        else [],
        "records": selectors.financial_records_for(user, person, include_void=True),
        "history": selectors.person_history(user, person)[:50],
        "can_change": can_change,
        "can_reveal": user.has_perm_code(Perm.PEOPLE_REVEAL),
        "status_form": StatusForm(initial={"status": person.status}) if can_change else None,
        "finance_form": FinancialRecordForm() if can_change else None,
        "facts": selectors.person_facts(user, person),
        "fact_forms": fact_views.fact_forms(person) if can_change else {},
    }
    return render(request, "people/person_detail.html", context)


@requires(Perm.PEOPLE_REVEAL)
@require_POST
def person_reveal(request: HttpRequest, person_id: int) -> HttpResponse:
    """The full ID number and phone, shown once to this user and logged (查看完整信息)."""
    full = services.person_reveal(actor=request.user, person_id=person_id)
    return render(request, "people/_revealed.html", {"full": full})


def _person_changes(form: PersonForm, *, editing: bool) -> dict:
    data = dict(form.cleaned_data)
    clear_phone = data.pop("clear_phone", False)
    if editing:
        if not data["id_number"]:
            del data["id_number"]
        if clear_phone:
            data["phone"] = ""
        elif not data["phone"]:
            del data["phone"]
    return data


def _registered(exc: ValidationFailed) -> dict:
    """What the form adds to "already registered": a link to the record if the user may open
    it, else where the transfer request filed for it is followed; never where it is held."""
    if not isinstance(exc, services.AlreadyRegistered):
        return {}
    return {"registered": True, "registered_person_id": exc.person_id}


@requires(Perm.PEOPLE_CHANGE)
def person_new(request: HttpRequest, household_id: int) -> HttpResponse:
    household = Household.objects.get_for(request.user, household_id, "change")
    form = PersonForm(request.POST or None)
    context: dict = {"form": form, "household": household}
    if request.method == "POST" and form.is_valid():
        try:
            person = services.person_create(
                actor=request.user,
                household_id=household.pk,
                **_person_changes(form, editing=False),
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc)
            context.update(_registered(exc))
        else:
            return redirect_after_save(request, reverse("people:person_detail", args=[person.pk]))
    return render(request, "people/person_form.html", context)


@requires(Perm.PEOPLE_CHANGE)
def person_edit(request: HttpRequest, person_id: int) -> HttpResponse:
    person = Person.objects.select_related("household").get_for(request.user, person_id, "change")
    registered: dict = {}
    if request.method == "POST":
        form = PersonForm(request.POST, editing=True)
        if form.is_valid():
            try:
                services.person_update(
                    actor=request.user, person_id=person.pk, **_person_changes(form, editing=True)
                )
            except ValidationFailed as exc:
                add_service_errors(form, exc)
                registered = _registered(exc)
            else:
                url = reverse("people:person_detail", args=[person.pk])
                return redirect_after_save(request, url)
    else:
        form = PersonForm(
            editing=True,
            initial={
                name: getattr(person, name)
                for name in PersonForm.base_fields
                if name not in ("id_number", "phone")
            },
        )
        form.fields["phone"].widget.attrs["placeholder"] = person.phone_masked
        form.fields["id_number"].widget.attrs["placeholder"] = person.id_masked
    return render(
        request,
        "people/person_form.html",
        {"form": form, "person": person, "household": person.household, **registered},
    )


@requires(Perm.PEOPLE_CHANGE)
@require_POST
def person_status(request: HttpRequest, person_id: int) -> HttpResponse:
    person = Person.objects.get_for(request.user, person_id, "change")
    form = StatusForm(request.POST)
    if not form.is_valid():
        raise validation_failed_from_form(form)
    services.person_set_status(
        actor=request.user, person_id=person.pk, status=form.cleaned_data["status"]
    )
    return redirect_after_save(request, reverse("people:person_detail", args=[person.pk]))


@requires(Perm.PEOPLE_CHANGE)
@require_POST
def check_id_number(request: HttpRequest) -> HttpResponse:
    """Inline check while typing: reads birth date and sex from the number, or says what is off."""
    value = request.POST.get("id_number", "")
    context: dict = {"value": value}
    if value.strip():
        try:
            _number, context["birth_date"], context["sex"] = parse_id_number(value)
        except InvalidIdNumber as exc:
            context["problem"] = str(exc)
    return render(request, "people/_id_check.html", context)


@requires(Perm.PEOPLE_VIEW)
def household_detail(request: HttpRequest, household_id: int) -> HttpResponse:
    user = request.user
    household = selectors.household_get_for(user, household_id)
    context = {
        "household": household,
        "members": selectors.household_members(user, household),
        "records": FinancialRecord.objects.restrict(user)
        .filter(household=household)
        .current()
        .select_related("person"),
        "history": selectors.history_for(user, household)[:50],
        "can_change": user.has_perm_code(Perm.PEOPLE_CHANGE),
        "can_assess": user.has_perm_code(Perm.ASSISTANCE_VIEW),
    }
    return render(request, "people/household_detail.html", context)


@requires(Perm.PEOPLE_CHANGE)
def household_new(request: HttpRequest) -> HttpResponse:
    form = HouseholdForm(request.POST or None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            household = services.household_create(
                actor=request.user,
                number=data["number"],
                address=data["address"],
                building_id=data["building"].pk,
                registration=data["registration"],
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc)
        else:
            url = reverse("people:household_detail", args=[household.pk])
            return redirect_after_save(request, url)
    return render(request, "people/household_form.html", {"form": form})


@requires(Perm.PEOPLE_CHANGE)
def household_edit(request: HttpRequest, household_id: int) -> HttpResponse:
    household = Household.objects.get_for(request.user, household_id, "change")
    if request.method == "POST":
        form = HouseholdForm(request.POST, actor=request.user, editing=True)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.household_update(
                    actor=request.user,
                    household_id=household.pk,
                    address=data["address"],
                    building_id=data["building"].pk,
                    registration=data["registration"],
                )
            except ValidationFailed as exc:
                add_service_errors(form, exc)
            else:
                url = reverse("people:household_detail", args=[household.pk])
                return redirect_after_save(request, url)
    else:
        form = HouseholdForm(
            actor=request.user,
            editing=True,
            initial={
                "address": household.address,
                "building": household.building_id,
                "registration": household.registration,
            },
        )
    return render(request, "people/household_form.html", {"form": form, "household": household})


@requires(Perm.PEOPLE_CHANGE)
@require_POST
def finance_new(request: HttpRequest, person_id: int) -> HttpResponse:
    person = Person.objects.get_for(request.user, person_id, "change")
    form = FinancialRecordForm(request.POST)
    if form.is_valid():
        try:
            services.financial_record_create(
                actor=request.user, person_id=person.pk, **form.cleaned_data
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc)
        else:
            return redirect_after_save(request, reverse("people:person_detail", args=[person.pk]))
    return render(request, "people/_finance_form.html", {"finance_form": form, "person": person})


@requires(Perm.PEOPLE_CHANGE)
@require_POST
def finance_void(request: HttpRequest, record_id: int) -> HttpResponse:
    record = FinancialRecord.objects.get_for(request.user, record_id, "change")
    form = VoidForm(request.POST)
    if not form.is_valid():
        raise validation_failed_from_form(form)
    services.financial_record_void(
        actor=request.user, record_id=record.pk, reason=form.cleaned_data["reason"]
    )
    return redirect_after_save(request, reverse("people:person_detail", args=[record.person_id]))


@requires(Perm.PEOPLE_CHANGE)
def transfers(request: HttpRequest) -> HttpResponse:
    """Transfer requests (迁入申请): to answer for the persons held here, and those sent."""
    user = request.user
    context = {
        "to_answer": list(selectors.transfer_requests_to_answer(user)[:200]),
        "sent": list(selectors.transfer_requests_sent(user)[:50]),
        "decline_form": DeclineForm(),
    }
    return render(request, "people/transfers.html", context)


@requires(Perm.PEOPLE_CHANGE)
@require_POST
def transfer_accept(request: HttpRequest, transfer_id: int) -> HttpResponse:
    services.transfer_request_accept(actor=request.user, request_id=transfer_id)
    return redirect_after_save(request, reverse("people:transfers"))


@requires(Perm.PEOPLE_CHANGE)
@require_POST
def transfer_decline(request: HttpRequest, transfer_id: int) -> HttpResponse:
    TransferRequest.objects.get_for(request.user, transfer_id, "change")
    form = DeclineForm(request.POST)
    if not form.is_valid():
        raise validation_failed_from_form(form)
    services.transfer_request_decline(
        actor=request.user, request_id=transfer_id, reason=form.cleaned_data["reason"]
    )
    return redirect_after_save(request, reverse("people:transfers"))
