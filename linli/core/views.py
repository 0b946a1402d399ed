"""Pages every user shares: login, the home page of each role, display mode, the audit log."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from linli.people.models import ELDERLY_AGE, Household, Person, years_ago
from linli.people.selectors import audit_search
from linli.places.selectors import place_roots_for

from .models import AuditAction, AuditEntry
from .pages import DATE_INPUT, is_htmx, list_page, requires
from .roles import Perm


def _safe_next(request: HttpRequest, fallback: str = "/") -> str:
    target = request.POST.get("next") or fallback
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


@require_POST
def elder_mode(request: HttpRequest) -> HttpResponse:
    """Large text for older users (长者模式), remembered on this device for a year."""
    response = HttpResponseRedirect(_safe_next(request))
    turning_on = request.COOKIES.get("elder_mode") != "1"
    response.set_cookie("elder_mode", "1" if turning_on else "0", max_age=365 * 24 * 3600)
    return response


def _place_summaries(user) -> list[dict]:
    """Counts for each place the user is bound to, each one indexed query on the path."""
    roots = list(place_roots_for(user).order_by("path")[:20])
    if not roots or not user.has_perm_code(Perm.PEOPLE_VIEW):
        return [{"place": place} for place in roots]
    elderly_born_before = years_ago(ELDERLY_AGE, timezone.localdate())
    summaries = []
    for place in roots:
        persons = Person.objects.filter(place_path__under=place.path, status="active").aggregate(
            total=Count("id"),
            elderly=Count("id", filter=Q(birth_date__lte=elderly_born_before)),
            living_alone=Count("id", filter=Q(living_alone=True)),
            disabled=Count("id", filter=~Q(disability_category="")),
        )
        households = Household.objects.filter(place_path__under=place.path, status="active").count()
        summaries.append({"place": place, "households": households, **persons})
    return summaries


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_resident:
        me = Person.objects.filter(account=user).select_related("household").first()
        members = (
            Person.objects.filter(household=me.household).order_by("-relation", "birth_date")
            if me and me.household_id
            else []
        )
        return render(request, "core/home_resident.html", {"me": me, "members": members})
    context = {
        "summaries": _place_summaries(user),
        "my_recent": AuditEntry.objects.filter(actor=user).order_by("-at")[:8],
        "can_view_people": user.has_perm_code(Perm.PEOPLE_VIEW),
        "can_view_audit": user.has_perm_code(Perm.AUDIT_VIEW),
        "reveals_today": AuditEntry.objects.restrict(user)
        .filter(action=AuditAction.REVEAL, at__date=timezone.localdate())
        .count()
        if user.has_perm_code(Perm.AUDIT_VIEW)
        else None,
    }
    return render(request, "core/home_staff.html", context)


class AuditFilterForm(forms.Form):
    text = forms.CharField(label=_("Record or id"), required=False, max_length=100)
    action = forms.ChoiceField(
        label=_("Action"), required=False, choices=[("", "—"), *AuditAction.choices]
    )
    object_type = forms.ChoiceField(
        label=_("Record type"),
        required=False,
        choices=[
            ("", "—"),
            ("places.place", _("Place")),
            ("people.household", _("Household")),
            ("people.person", _("Person")),
            ("people.financialrecord", _("Financial record")),
        ],
    )
    actor_username = forms.CharField(label=_("User name"), required=False, max_length=150)
    date_from = forms.DateField(label=_("From"), required=False, widget=DATE_INPUT)
    date_to = forms.DateField(label=_("To"), required=False, widget=DATE_INPUT)

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return data


@requires(Perm.AUDIT_VIEW)
def audit(request: HttpRequest) -> HttpResponse:
    """The jurisdiction's audit log (留痕查询). Searched by POST: labels are personal data."""
    form = AuditFilterForm(request.POST or None)
    filters: dict = {}
    if form.is_bound and form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v not in ("", None)}
    elif not form.is_bound:
        filters = {"date_from": timezone.localdate() - dt.timedelta(days=30)}
    page = (
        list_page(audit_search(request.user, **filters), request.POST.get("page"))
        if not form.errors
        else None
    )
    template = "core/_audit_results.html" if is_htmx(request) else "core/audit.html"
    return render(request, template, {"form": form, "page": page})
