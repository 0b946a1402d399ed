"""Pages every user shares: login, display mode, the audit log. (The home page is the
workbench's: see linli.workbench.)"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from .models import AuditAction
from .pages import DATE_INPUT, is_htmx, list_page, requires
from .roles import Perm
from .selectors import audit_search


def _safe_next(request: HttpRequest, fallback: str = "/") -> str:
    target = request.POST.get("next") or fallback
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


@require_POST
def elder_mode(request: HttpRequest) -> HttpResponse:
    """Elder mode for older users (大字模式): large text, strong contrast, big targets
    (app.css), remembered on this device for a year."""
    response = HttpResponseRedirect(_safe_next(request))
    turning_on = request.COOKIES.get("elder_mode") != "1"
    response.set_cookie("elder_mode", "1" if turning_on else "0", max_age=365 * 24 * 3600)
    return response


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
            ("cases.case", _("Case")),
            ("places.place", _("Place")),
            ("people.household", _("Household")),
            ("people.person", _("Person")),
            ("people.financialrecord", _("Financial record")),
            ("core.user", _("User")),
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
