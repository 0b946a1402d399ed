"""Pages for Excel: the template, uploads with live progress, error reports, exports."""

from __future__ import annotations

import io

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from openpyxl import Workbook

from linli.core.errors import ValidationFailed, validation_failed_from_form
from linli.core.pages import add_service_errors, redirect_after_save, requires, sequence_page
from linli.core.roles import Perm
from linli.core.text import excel_safe
from linli.core.uploads import declared_size_over

from . import exports, imports, spreadsheets
from .forms import HouseholdSearchForm, PersonSearchForm
from .models import ImportJob, ImportMode

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("Excel file (.xlsx)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx," + XLSX}),
    )
    mode = forms.ChoiceField(
        label=_("If some rows are bad"),
        choices=ImportMode.choices,
        initial=ImportMode.ALL_OR_NOTHING,
        widget=forms.RadioSelect,
    )


@requires(Perm.PEOPLE_IMPORT)
def import_template(request: HttpRequest) -> HttpResponse:
    return FileResponse(
        io.BytesIO(spreadsheets.template_workbook()),
        as_attachment=True,
        filename="linli-import-template.xlsx",
        content_type=XLSX,
    )


@requires(Perm.PEOPLE_IMPORT)
def import_new(request: HttpRequest) -> HttpResponse:
    form = UploadForm()
    if request.method == "POST":
        # Refuse an oversized upload from its declared length, before reading the body.
        length = declared_size_over(request, settings.LINLI_MAX_UPLOAD_BYTES)
        if length:
            form = UploadForm(data={"mode": ImportMode.ALL_OR_NOTHING}, files={})
            form.full_clean()
            form.errors["file"] = form.error_class([imports.upload_too_large_error(length).message])
        else:
            form = UploadForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    job = imports.import_job_create(
                        actor=request.user,
                        upload=form.cleaned_data["file"],
                        mode=form.cleaned_data["mode"],
                    )
                except ValidationFailed as exc:
                    add_service_errors(form, exc)
                else:
                    return redirect_after_save(
                        request, reverse("people:import_detail", args=[job.pk])
                    )
    jobs = ImportJob.objects.restrict(request.user)[:10]
    return render(request, "people/import_new.html", {"form": form, "jobs": jobs})


@login_required  # the job's queryset checks the role: without it, the same 404 as missing
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job's progress (polled by htmx until it finishes) and its errors, a page at a time."""
    job = ImportJob.objects.get_for(request.user, job_id)
    page = sequence_page(job.errors, request.GET.get("page"))
    template = (
        "people/_import_status.html"
        if request.headers.get("HX-Request") == "true"
        else "people/import_detail.html"
    )
    return render(request, template, {"job": job, "page": page})


@login_required  # the job's queryset checks the role: without it, the same 404 as missing
def import_errors(request: HttpRequest, job_id: int) -> HttpResponse:
    job = ImportJob.objects.get_for(request.user, job_id)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(str(_("Errors")))
    ws.append([str(_("Sheet")), str(_("Row")), str(_("Column")), str(_("Problem"))])
    for e in job.errors:
        ws.append([excel_safe(e[key]) for key in ("sheet", "row", "column", "message")])
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return FileResponse(
        out, as_attachment=True, filename=f"import-{job.pk}-errors.xlsx", content_type=XLSX
    )


def _export_response(name: str, content) -> FileResponse:
    return FileResponse(content, as_attachment=True, filename=name, content_type=XLSX)


def _valid_search(form) -> None:
    if not form.is_valid():
        raise validation_failed_from_form(form, str(_("Correct the search first.")))


@requires(Perm.PEOPLE_EXPORT)
@require_POST
def persons_export(request: HttpRequest) -> HttpResponse:
    """Exports the list the search form shows, POSTed like the search itself."""
    form = PersonSearchForm(request.POST, actor=request.user)
    _valid_search(form)
    name, content = exports.persons_export(
        actor=request.user, filters=form.to_filter(), full=request.POST.get("full") == "1"
    )
    return _export_response(name, content)


@requires(Perm.PEOPLE_EXPORT)
@require_POST
def households_export(request: HttpRequest) -> HttpResponse:
    form = HouseholdSearchForm(request.POST, actor=request.user)
    _valid_search(form)
    name, content = exports.households_export(actor=request.user, filters=form.to_filter())
    return _export_response(name, content)
