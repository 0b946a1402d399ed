"""Excel import of households and persons (批量导入): upload, check in the worker, load.

The upload is checked for size and kind before anything is queued. The worker checks every
row (committing progress as it goes), then loads in one transaction: all of it, or, in
"good rows" mode, every good row; never half a row, and on any failure nothing at all.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from linli.core.audit import created_entry, record, record_many
from linli.core.context import acting_from
from linli.core.errors import PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.roles import Perm

from . import spreadsheets
from .models import (
    FinancialRecord,
    Household,
    ImportJob,
    ImportMode,
    ImportStatus,
    Person,
    jurisdiction_path,
    street_path_of,
)

logger = logging.getLogger(__name__)

# A running job writes progress every 500 rows (seconds apart) and once before its load, which
# takes about a second per 2,000 rows: a quarter of an hour of silence means its worker is gone.
STALE_AFTER = dt.timedelta(minutes=15)


def upload_too_large_error(size: int) -> ValidationFailed:
    limit_mb = settings.LINLI_MAX_UPLOAD_BYTES / (1024 * 1024)
    message = _("The file is %(size).1f MB; the largest accepted is %(limit).0f MB.") % {
        "size": size / (1024 * 1024),
        "limit": limit_mb,
    }
    return ValidationFailed(message, details={"file": [message]})


@transaction.atomic
def import_job_create(*, actor: User, upload: UploadedFile, mode: str) -> ImportJob:
    """Accept an upload and queue its import; the file is refused here if it cannot work."""
    if not actor.has_perm_code(Perm.PEOPLE_IMPORT):
        raise PermissionDenied()
    if mode not in ImportMode.values:
        raise ValidationFailed(
            _("Choose how to treat bad rows."), details={"mode": [_("Choose one.")]}
        )
    if upload.size > settings.LINLI_MAX_UPLOAD_BYTES:
        raise upload_too_large_error(upload.size)
    name = Path(upload.name or "").name[:200]
    if not name.lower().endswith(".xlsx"):
        message = _("Upload an Excel workbook saved as .xlsx.")
        raise ValidationFailed(message, details={"file": [message]})
    job = ImportJob(
        created_by=actor,
        original_name=name,
        mode=mode,
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )
    job.file.save(name, upload, save=False)
    try:
        wb = spreadsheets.open_workbook(job.file.path)
        wb.close()
    except spreadsheets.NotAWorkbook as exc:
        job.file.delete(save=False)
        raise ValidationFailed(str(exc), details={"file": [str(exc)]}) from None
    job.save()
    from .tasks import import_job_run_task

    transaction.on_commit(lambda: import_job_run_task.enqueue(job.pk))
    return job


def _progress(job_id: int, **fields) -> None:
    # Outside the load's transaction: the page polling the job sees it at once.
    ImportJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now(), **fields)


def import_job_run(*, job_id: int) -> ImportJob:
    """Check and load one queued import. Idempotent: a job already claimed is left alone."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.VALIDATING, heartbeat_at=timezone.now()
    )
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    if not claimed:
        return job
    with acting_from(f"import:{job.pk}"), translation.override(job.language):
        try:
            _run(job)
        except Exception:
            logger.exception("import %s failed", job.pk)
            _progress(
                job.pk,
                status=ImportStatus.FAILED,
                failure=_("The import stopped on an unexpected error; nothing was loaded."),
                households_created=0,
                persons_created=0,
                finished_at=timezone.now(),
            )
    job.refresh_from_db()
    return job


def _run(job: ImportJob) -> None:
    actor = job.created_by
    wb = spreadsheets.open_workbook(job.file.path)
    try:
        _progress(job.pk, total_rows=spreadsheets.count_rows(wb))
        plan = spreadsheets.check_workbook(
            wb, actor=actor, progress=lambda n: _progress(job.pk, processed_rows=n)
        )
    finally:
        wb.close()
    if plan.registered_elsewhere:
        # Each ID number found outside the uploader's jurisdiction is logged, as on the form.
        record(
            actor=actor,
            action=AuditAction.IMPORT,
            instance=job,
            label=job.original_name,
            place_path=jurisdiction_path(actor),
            changes={"registered_elsewhere": plan.registered_elsewhere},
        )
    errors = [e.as_dict() for e in plan.errors]
    _progress(job.pk, processed_rows=plan.rows, errors=errors, error_count=len(plan.bad_rows))
    loadable = plan.households or plan.persons or plan.finances
    if errors and (job.mode == ImportMode.ALL_OR_NOTHING or not loadable):
        _progress(job.pk, status=ImportStatus.REJECTED, finished_at=timezone.now())
        return
    _progress(job.pk, status=ImportStatus.LOADING)
    households, persons = _load(job, plan)
    _progress(
        job.pk,
        status=ImportStatus.DONE,
        households_created=households,
        persons_created=persons,
        finished_at=timezone.now(),
    )


@transaction.atomic
def _load(job: ImportJob, plan: spreadsheets.Plan) -> tuple[int, int]:
    """Every good row in one transaction, each created row audited like a form save."""
    actor = job.created_by
    now = timezone.now()
    new_households = [
        Household(
            number=h["number"],
            address=h["address"],
            building=h["building"],
            registration=h["registration"],
            place_path=h["building"].path,
            created_at=now,
        )
        for h in plan.households
    ]
    Household.objects.bulk_create(new_households, batch_size=1000)
    by_number = {h.number: h for h in new_households}
    new_persons = []
    for p in plan.persons:
        household = p.get("household") or by_number[p["household_number"]]
        new_persons.append(
            Person(
                household=household,
                relation=p["relation"],
                name=p["name"],
                id_number=p["id_number"],
                id_reversed=p["id_number"][::-1],
                birth_date=p["birth_date"],
                sex=p["sex"],
                phone=p["phone"],
                living_alone=p["living_alone"],
                disability_category=p["disability_category"],
                disability_grade=p["disability_grade"],
                party_member=p["party_member"],
                veteran=p["veteran"],
                left_behind_child=p["left_behind_child"],
                chronic_illness=p["chronic_illness"],
                place_path=household.place_path,
                street_path=street_path_of(household.place_path),
                created_at=now,
            )
        )
    Person.objects.bulk_create(new_persons, batch_size=1000)
    by_id_number = {p.id_number: p for p in new_persons}
    new_records = []
    for r in plan.finances:
        person = r.get("person") or by_id_number[r["id_number"]]
        new_records.append(
            FinancialRecord(
                person=person,
                household_id=person.household_id,
                category=r["category"],
                kind=r["kind"],
                amount=r["amount"],
                valid_from=r["valid_from"],
                valid_to=r["valid_to"],
                new_employment=r["new_employment"],
                note=r["note"],
                place_path=person.place_path,
                created_at=now,
            )
        )
    FinancialRecord.objects.bulk_create(new_records, batch_size=1000)
    record_many(
        [created_entry(actor, row, now) for row in [*new_households, *new_persons, *new_records]]
    )
    record(
        actor=actor,
        action=AuditAction.IMPORT,
        instance=job,
        label=job.original_name,
        place_path=jurisdiction_path(actor),
        changes={
            "households": len(new_households),
            "persons": len(new_persons),
            "finances": len(new_records),
            "bad_rows": len(plan.bad_rows),
            "mode": job.mode,
        },
    )
    return len(new_households), len(new_persons)


def import_jobs_fail_stale(*, now: dt.datetime | None = None) -> int:
    """Mark failed the jobs left checking or loading by a worker that died (killed, machine
    lost): nothing of theirs was loaded, since the load is one transaction. Returns how many."""
    now = now or timezone.now()
    cutoff = now - STALE_AFTER
    stale = ImportJob.objects.filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff),
        status__in=(ImportStatus.VALIDATING, ImportStatus.LOADING),
    )
    failed = 0
    for job in stale:
        with translation.override(job.language):
            failure = _(
                "The import stopped: the worker running it was interrupted. Nothing was loaded; "
                "upload the file again."
            )
        # Only if untouched since read: a worker still writing progress keeps its job.
        failed += ImportJob.objects.filter(
            pk=job.pk, status=job.status, heartbeat_at=job.heartbeat_at
        ).update(
            status=ImportStatus.FAILED,
            failure=failure,
            households_created=0,
            persons_created=0,
            finished_at=now,
        )
        logger.warning("import %s marked failed: no progress since %s", job.pk, job.heartbeat_at)
    return failed
