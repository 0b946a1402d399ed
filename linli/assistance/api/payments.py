"""Payment cycles API: start, progress, payments, approve, bank file, bank return. The services
do every check; this layer only translates JSON to their arguments."""

import datetime as dt
import io
from decimal import Decimal
from typing import Literal

from django.conf import settings
from django.http import FileResponse
from django.utils.translation import gettext as _
from ninja import Field, File, Query, Router, Schema, Status, UploadedFile
from ninja.pagination import paginate

from linli.core.api import ERRORS, Date, Id, Page, actor_of
from linli.core.errors import ValidationFailed
from linli.core.uploads import declared_size_over

from .. import bankfiles, payments
from ..models import CycleState, PaymentCycle, PaymentStatus

router = Router(tags=["assistance: payments"])

CycleProgram = Literal[tuple(str(p) for p in payments.CYCLE_PROGRAMS)]


class CycleStartIn(Schema):
    program: CycleProgram = Field(description="Program paid (monthly ones or grants).")
    street_id: Id = Field(description="The street (街道/乡镇) whose recipients are paid.")
    month: Date = Field(description="The month paid for, as its first day.")


class CycleOut(Schema):
    id: int
    program: str
    street_id: int
    street: str
    month: dt.date
    state: CycleState
    prepared_by: str
    approved_by: str
    approved_at: dt.datetime | None
    total: int = Field(description="Benefits to go through (progress of a generation).")
    processed: int
    heartbeat_at: dt.datetime | None
    payment_count: int
    total_amount: Decimal
    failure: str
    actions: list[str] = Field(description="Actions the caller could take now.")

    @staticmethod
    def resolve_street(obj: PaymentCycle) -> str:
        return obj.street.name

    @staticmethod
    def resolve_prepared_by(obj: PaymentCycle) -> str:
        return obj.prepared_by.get_username()

    @staticmethod
    def resolve_approved_by(obj: PaymentCycle) -> str:
        return obj.approved_by.get_username() if obj.approved_by_id else ""

    @staticmethod
    def resolve_actions(obj: PaymentCycle, context) -> list[str]:
        return payments.available_actions(context["request"].auth, obj)


class CommunityTotalsOut(Schema):
    community: str
    count: int
    amount: Decimal
    without_account: int = Field(description="Payments with no bank account on record.")
    arrears: int = Field(description="Failed payments of earlier months paid again.")
    withheld: Decimal = Field(description="Withheld for recoveries (追回).")
    last_month_count: int
    last_month_amount: Decimal


class CycleDetailOut(CycleOut):
    communities: list[CommunityTotalsOut]


class PaymentOut(Schema):
    id: int
    recipient_id: int
    recipient: str
    month: dt.date
    entitlement: Decimal
    recovery_deducted: Decimal
    amount: Decimal
    bank: str
    account_masked: str
    status: PaymentStatus
    failure_reason: str

    @staticmethod
    def resolve_recipient(obj) -> str:
        return obj.recipient.name

    @staticmethod
    def resolve_account_masked(obj) -> str:
        return payments.account_masked(obj)


class BankReturnOut(Schema):
    id: int
    original_name: str
    imported_at: dt.datetime
    accepted: bool
    paid: int
    failed: int
    errors: list[dict] = Field(description="Each problem: row, column, message.")


class CycleFilterIn(Schema):
    program: CycleProgram | None = None
    state: CycleState | None = None
    street_id: Id | None = None
    month: Date | None = None


class PaymentFilterIn(Schema):
    status: PaymentStatus | None = None
    community_id: Id | None = None
    without_account: bool = False


def _detail(request, cycle_id: int) -> PaymentCycle:
    actor = actor_of(request)
    cycle = payments.cycle_get(actor=actor, cycle_id=cycle_id)
    cycle.communities = [
        {
            "community": t.name,
            "count": t.count,
            "amount": t.amount,
            "without_account": t.without_account,
            "arrears": t.arrears,
            "withheld": t.withheld,
            "last_month_count": t.last_count,
            "last_month_amount": t.last_amount,
        }
        for t in payments.cycle_totals_by_community(actor=actor, cycle=cycle)
    ]
    return cycle


@router.post("/payment-cycles", response={201: CycleOut, **ERRORS})
def cycle_start(request, payload: CycleStartIn):
    """Open a payment cycle (the maker) and queue its generation; poll the cycle for progress.
    A second cycle of the same program, street and month is refused (409)."""
    cycle = payments.cycle_start(
        actor=actor_of(request),
        program=payload.program,
        street_id=payload.street_id,
        month=payload.month,
    )
    return Status(201, payments.cycle_get(actor=actor_of(request), cycle_id=cycle.pk))


@router.get("/payment-cycles", response={200: list[CycleOut], **ERRORS})
@paginate(Page)
def cycle_list(request, filters: Query[CycleFilterIn]):
    """Payment cycles of the caller's jurisdiction, newest month first."""
    return payments.cycle_list(
        actor=actor_of(request),
        filters=payments.CycleFilter(
            program=filters.program or "",
            state=filters.state or "",
            street_id=filters.street_id,
            month=filters.month,
        ),
    )


@router.get("/payment-cycles/{cycle_id}", response={200: CycleDetailOut, **ERRORS})
def cycle_detail(request, cycle_id: Id):
    """A cycle: its state and progress, totals by community beside last month's, and the
    actions the caller may take."""
    return _detail(request, cycle_id)


@router.get("/payment-cycles/{cycle_id}/payments", response={200: list[PaymentOut], **ERRORS})
@paginate(Page)
def cycle_payments(request, cycle_id: Id, filters: Query[PaymentFilterIn]):
    """The cycle's payments (account numbers masked)."""
    actor = actor_of(request)
    cycle = payments.cycle_get(actor=actor, cycle_id=cycle_id)
    return payments.cycle_payments(
        actor=actor,
        cycle=cycle,
        filters=payments.PaymentFilter(
            status=filters.status or "",
            community_id=filters.community_id,
            without_account=filters.without_account,
        ),
    )


@router.post("/payment-cycles/{cycle_id}/resume", response={200: CycleDetailOut, **ERRORS})
def cycle_resume(request, cycle_id: Id):
    """Start a failed generation again; nothing already generated is generated twice."""
    payments.cycle_resume(actor=actor_of(request), cycle_id=cycle_id)
    return _detail(request, cycle_id)


@router.post("/payment-cycles/{cycle_id}/approve", response={200: CycleDetailOut, **ERRORS})
def cycle_approve(request, cycle_id: Id):
    """Approve a reviewed cycle (the checker): refused to the officer who prepared it (403),
    and to a second approver (409)."""
    payments.cycle_approve(actor=actor_of(request), cycle_id=cycle_id)
    return _detail(request, cycle_id)


_FILE_RESPONSE = {
    "responses": {
        200: {
            "description": "The bank file: account, name, amount; a total and a SHA-256 row.",
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in bankfiles.FORMATS.values()
            },
        }
    }
}


class ExportIn(Schema):
    file_format: Literal["xlsx", "csv"] = "xlsx"


@router.post("/payment-cycles/{cycle_id}/bank-file", response=ERRORS, openapi_extra=_FILE_RESPONSE)
def cycle_export(request, cycle_id: Id, payload: ExportIn):
    """The bank file of an approved cycle, with full account numbers: audited each time."""
    bank_file = payments.cycle_export(
        actor=actor_of(request), cycle_id=cycle_id, file_format=payload.file_format
    )
    return FileResponse(
        io.BytesIO(bank_file.content),
        as_attachment=True,
        filename=bank_file.name,
        content_type=bank_file.content_type,
    )


@router.post("/payment-cycles/{cycle_id}/return", response={200: BankReturnOut, **ERRORS})
def bank_return_import(request, cycle_id: Id, file: File[UploadedFile | None] = None):
    """Import the bank's return file (multipart field `file`, .csv or .xlsx; columns account,
    name, amount, result paid/failed, reason). Any unknown, duplicate, changed-amount or
    missing row refuses the whole file (422, each problem by row and column); otherwise the
    payments are marked paid or failed and the cycle is reconciled."""
    payments.cycle_get(actor=actor_of(request), cycle_id=cycle_id)
    length = declared_size_over(request, settings.LINLI_MAX_UPLOAD_BYTES)
    if length or file is None:
        message = (
            _("The file is %(size).1f MB; the largest accepted is %(limit).0f MB.")
            % {
                "size": length / (1024 * 1024),
                "limit": settings.LINLI_MAX_UPLOAD_BYTES / (1024 * 1024),
            }
            if length
            else _("Attach the bank's return file.")
        )
        raise ValidationFailed(message, details={"file": [message]})
    return payments.bank_return_import(
        actor=actor_of(request), cycle_id=cycle_id, uploaded_file=file
    )
