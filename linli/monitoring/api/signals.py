"""Hardship signals (风险信号): the list, and imports of external-signal files (Excel or CSV)
with their progress and row errors; the template to fill in."""

import datetime as dt
import io
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import FileResponse
from ninja import Field, File, Query, Router, Schema, Status, UploadedFile
from ninja.pagination import paginate

from linli.core.api import ERRORS, Date, Id, Page, actor_of
from linli.core.errors import PermissionDenied
from linli.core.masking import mask_name
from linli.core.roles import Perm
from linli.core.uploads import declared_size_over

from .. import signals
from ..models import ImportState, Signal, SignalImport, SignalKind, SignalSource

router = Router(tags=["monitoring"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SignalFilter(Schema):
    kind: SignalKind | None = None
    source: SignalSource | None = None
    date_from: Date | None = Field(None, description="Signals on or after this date.")
    date_to: Date | None = Field(None, description="Signals on or before this date.")
    household: str | None = Field(None, max_length=32, description="A household number.")


class SignalOut(Schema):
    id: int
    household_id: int
    household_number: str
    person_id: int | None
    person_name: str = Field(description="Masked.")
    source: SignalSource
    kind: SignalKind
    kind_label: str
    occurred_on: dt.date
    amount: Decimal | None
    details: dict[str, Any]
    created_at: dt.datetime

    @staticmethod
    def resolve_household_number(obj: Signal) -> str:
        return obj.household.number

    @staticmethod
    def resolve_person_name(obj: Signal) -> str:
        return mask_name(obj.person.name) if obj.person else ""

    @staticmethod
    def resolve_kind_label(obj: Signal) -> str:
        return str(obj.get_kind_display())


class SignalImportErrorOut(Schema):
    sheet: str
    row: int
    column: str
    message: str


class SignalImportOut(Schema):
    id: int
    original_name: str
    state: ImportState
    total_rows: int
    processed_rows: int
    percent: int
    loaded: int = Field(description="Signals added.")
    already_present: int = Field(description="Good rows imported before: not added again.")
    error_count: int
    failure: str
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @staticmethod
    def resolve_error_count(obj: SignalImport) -> int:
        return getattr(obj, "error_total", len(obj.errors))


class SignalImportDetailOut(SignalImportOut):
    errors: list[SignalImportErrorOut] = Field(
        description="The first `errors_limit` problems from `errors_offset`."
    )


@router.get("/signals", response={200: list[SignalOut], **ERRORS})
@paginate(Page)
def signal_list(request, filters: Query[SignalFilter]):
    """The hardship signals of your jurisdiction, newest first."""
    actor = actor_of(request)
    if not actor.has_perm_code(Perm.MONITORING_VIEW):
        raise PermissionDenied()
    return signals.signals_for(
        actor,
        kind=filters.kind or "",
        source=filters.source or "",
        date_from=filters.date_from,
        date_to=filters.date_to,
        household=filters.household or "",
    )


@router.post("/signal-imports", response={202: SignalImportOut, **ERRORS})
def signal_import_create(request, file: File[UploadedFile | None] = None):
    """Queue an external-signal file (.xlsx or .csv; template: GET /monitoring/signal-template);
    poll /signal-imports/{id} until `state` is done or rejected. All or nothing."""
    length = declared_size_over(request, settings.LINLI_MAX_UPLOAD_BYTES)
    if length:
        # The body was not received (see core/uploads.py): say why, not "file missing".
        raise signals.upload_too_large_error(length)
    job = signals.signal_import_start(actor=actor_of(request), uploaded_file=file)
    return Status(202, job)


@router.get("/signal-imports/{import_id}", response={200: SignalImportDetailOut, **ERRORS})
def signal_import_status(request, import_id: Id, errors_offset: int = 0, errors_limit: int = 100):
    """Progress, counts and the row errors (sheet, row, column, reason)."""
    job = signals.signal_import_get(actor_of(request), import_id)
    start = max(0, errors_offset)
    job.error_total = len(job.errors)
    job.errors = job.errors[start : start + min(max(errors_limit, 0), 1000)]
    return job


@router.get(
    "/signal-template",
    response=ERRORS,
    openapi_extra={
        "responses": {
            200: {
                "description": "An .xlsx workbook",
                "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def signal_template(request):
    """The empty external-signal workbook, headers in the `Accept-Language` language."""
    if not actor_of(request).has_perm_code(Perm.MONITORING_IMPORT):
        raise PermissionDenied()
    return FileResponse(
        io.BytesIO(signals.template_workbook()),
        as_attachment=True,
        filename="linli-signals-template.xlsx",
        content_type=XLSX,
    )
