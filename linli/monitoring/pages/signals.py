"""Hardship-signal pages (风险信号): the list with filters; uploading an external-signal file
(Excel or CSV), its progress (polled by htmx) and its row errors; the template to fill in."""

from __future__ import annotations

import io

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from linli.core.errors import ValidationFailed
from linli.core.masking import mask_name
from linli.core.pages import (
    DATE_INPUT,
    add_service_errors,
    is_htmx,
    list_page,
    redirect_after_save,
    requires,
    sequence_page,
)
from linli.core.roles import Perm
from linli.core.uploads import declared_size_over

from .. import signals
from ..models import SignalKind, SignalSource

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SignalFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("kind"), choices=[("", _("All kinds")), *SignalKind.choices], required=False
    )
    source = forms.ChoiceField(
        label=_("source"), choices=[("", _("All sources")), *SignalSource.choices], required=False
    )
    date_from = forms.DateField(label=_("From"), widget=DATE_INPUT, required=False)
    date_to = forms.DateField(label=_("To"), widget=DATE_INPUT, required=False)
    household = forms.CharField(label=_("Household number"), max_length=32, required=False)


class SignalUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Excel (.xlsx) or CSV file"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv," + XLSX + ",text/csv"}),
    )


@requires(Perm.MONITORING_VIEW)
def signal_list(request: HttpRequest) -> HttpResponse:
    form = SignalFilterForm(request.GET or None)
    filters = {}
    if form.is_bound and form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v}
    rows = signals.signals_for(request.user, **filters)
    page = list_page(rows, request.GET.get("page"))
    for signal in page.items:
        signal.person_masked = mask_name(signal.person.name) if signal.person else ""
    query = urlencode(
        {k: v for k, v in request.GET.items() if k != "page" and v and k in form.fields}
    )
    return render(
        request,
        "monitoring/signals_list.html",
        {
            "form": form,
            "page": page,
            "query": query,
            "may_import": request.user.has_perm_code(Perm.MONITORING_IMPORT),
        },
    )


@requires(Perm.MONITORING_IMPORT)
def signal_template(request: HttpRequest) -> HttpResponse:
    return FileResponse(
        io.BytesIO(signals.template_workbook()),
        as_attachment=True,
        filename="linli-signals-template.xlsx",
        content_type=XLSX,
    )


@requires(Perm.MONITORING_IMPORT)
def signal_import_new(request: HttpRequest) -> HttpResponse:
    form = SignalUploadForm()
    if request.method == "POST":
        # Refuse an oversized upload from its declared length, before reading the body.
        length = declared_size_over(request, settings.LINLI_MAX_UPLOAD_BYTES)
        if length:
            form = SignalUploadForm(data={}, files={})
            form.full_clean()
            form.errors["file"] = form.error_class([signals.upload_too_large_error(length).message])
        else:
            form = SignalUploadForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    job = signals.signal_import_start(
                        actor=request.user, uploaded_file=form.cleaned_data["file"]
                    )
                except ValidationFailed as exc:
                    add_service_errors(form, exc)
                else:
                    return redirect_after_save(
                        request, reverse("monitoring:signal_import_detail", args=[job.pk])
                    )
    jobs = signals.signal_imports(request.user)[:10]
    return render(request, "monitoring/signals_import_new.html", {"form": form, "jobs": jobs})


@login_required  # the import's queryset checks the role: without it, the same 404 as missing
def signal_import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    """The import's progress (polled by htmx until it finishes) and its errors, a page at a
    time."""
    job = signals.signal_import_get(request.user, import_id)
    page = sequence_page(job.errors, request.GET.get("page"))
    template = (
        "monitoring/signals_import_status.html"
        if is_htmx(request)
        else "monitoring/signals_import_detail.html"
    )
    return render(request, template, {"job": job, "page": page})


urlpatterns = [
    path("signals/", signal_list, name="signals"),
    path("signals/template/", signal_template, name="signal_template"),
    path("signals/imports/new/", signal_import_new, name="signal_import_new"),
    path("signals/imports/<int:import_id>/", signal_import_detail, name="signal_import_detail"),
]
