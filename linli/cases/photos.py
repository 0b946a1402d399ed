"""Photos of a case: checked by their content (not their name), the original kept privately and
a public copy re-encoded without EXIF, so a resident's photo never publishes where they stand.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from linli.core import audit
from linli.core.errors import Conflict, PermissionDenied, ValidationFailed
from linli.core.models import AuditAction, User
from linli.core.roles import Perm

from . import services
from .models import Case, CaseEvent, CasePhoto, PhotoStage

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTOS_PER_CASE = 9
# A small file can declare a huge canvas (a decompression bomb); 40 megapixels is any phone's.
MAX_PIXELS = 40_000_000
# Pillow's format name → (content type, file extension).
FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
# Who may add photos besides the reporter: staff who file, handle or verify cases.
PHOTO_PERMS = (Perm.CASES_REPORT, Perm.CASES_HANDLE, Perm.CASES_VERIFY)


def photo_too_large_error(size: int) -> ValidationFailed:
    message = _("The photo is %(size).1f MB; the largest accepted is %(limit)d MB.") % {
        "size": size / (1024 * 1024),
        "limit": MAX_PHOTO_BYTES // (1024 * 1024),
    }
    return ValidationFailed(message, details={"file": [message]})


def photos_too_large_error(size: int) -> ValidationFailed:
    """The photos of one request together over the upload limit: their body was not read (see
    core.uploads), so say why instead of losing them silently."""
    message = _("The photos together are %(size).1f MB; send at most %(limit)d MB at once.") % {
        "size": size / 2**20,
        "limit": settings.LINLI_MAX_UPLOAD_BYTES // 2**20,
    }
    return ValidationFailed(message, details={"photos": [message]})


def _not_a_photo() -> ValidationFailed:
    message = _("This file is not a photo: send a JPEG, PNG or WebP image.")
    return ValidationFailed(message, details={"file": [message]})


def check_photo(upload: UploadedFile) -> str:
    """The Pillow format of an acceptable photo; ValidationFailed on field `file` otherwise."""
    if upload.size is not None and upload.size > MAX_PHOTO_BYTES:
        raise photo_too_large_error(upload.size)
    upload.seek(0)
    try:
        with Image.open(upload) as image:
            fmt = image.format
            if image.width * image.height > MAX_PIXELS:
                message = _("The photo is too large in pixels; send at most 40 megapixels.")
                raise ValidationFailed(message, details={"file": [message]})
            image.verify()
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise _not_a_photo() from None
    finally:
        upload.seek(0)
    if fmt not in FORMATS:
        raise _not_a_photo()
    return fmt


def public_copy(upload: UploadedFile, fmt: str) -> tuple[bytes, int, int]:
    """The photo re-encoded without EXIF, XMP or text chunks; turned upright first, since the
    orientation tag goes with the rest of the EXIF."""
    upload.seek(0)
    try:
        with Image.open(upload) as image:
            image.seek(0)  # the first frame of an animation
            upright = ImageOps.exif_transpose(image)
            upright.load()
    except (OSError, SyntaxError, ValueError):
        raise _not_a_photo() from None
    finally:
        upload.seek(0)
    # A fresh image carries pixels only: no metadata of the original can follow it.
    clean = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    if fmt == "JPEG" and clean.mode not in ("RGB", "L"):
        clean = clean.convert("RGB")
    if fmt == "WEBP" and clean.mode not in ("RGB", "RGBA"):
        clean = clean.convert("RGBA")
    if fmt == "PNG" and clean.mode not in ("1", "L", "LA", "RGB", "RGBA", "I"):
        clean = clean.convert("RGBA")
    out = io.BytesIO()
    options = {"quality": 85} if fmt in ("JPEG", "WEBP") else {"optimize": True}
    clean.save(out, format=fmt, **options)
    return out.getvalue(), clean.width, clean.height


def _role_may_add(actor: User, case: Case) -> bool:
    if case.reporter_id is not None and case.reporter_id == actor.pk:
        return True
    return not actor.is_resident and any(actor.has_perm_code(p) for p in PHOTO_PERMS)


def may_add(actor: User, case: Case) -> bool:
    """Whether the page offers the upload: the checks `case_photo_add` makes."""
    return actor.is_active and _role_may_add(actor, case) and case.accepts_photos


def _stage(case: Case, stage: str | None) -> str:
    """The given stage, or by the case: after handling once it was reported handled."""
    if stage in (None, ""):
        return PhotoStage.AFTER if case.handled_at is not None else PhotoStage.BEFORE
    if stage not in PhotoStage.values:
        message = _("Say whether the photo shows the problem (before) or the result (after).")
        raise ValidationFailed(message, details={"stage": [message]})
    return stage


@transaction.atomic
def case_photo_add(
    *, actor: User, case_id: int, upload: UploadedFile, stage: str | None = None
) -> CasePhoto:
    """Attach a photo to an open case within the actor's reach: the reporter, or staff who
    file, handle or verify cases. `stage` says whether it shows the problem or the result of
    the handling (PhotoStage; by default after handling once the case was reported handled).
    At most MAX_PHOTOS_PER_CASE per case (the case row is locked, so two uploads at once
    cannot both take the last place)."""
    case = Case.objects.select_for_update(of=("self",)).get_for(actor, case_id)
    if not actor.is_active or not _role_may_add(actor, case):
        raise PermissionDenied()
    if not case.accepts_photos:
        raise Conflict(
            _("This case is %(state)s: photos can no longer be added.")
            % {"state": case.get_state_display()},
            code="case_closed",
        )
    stage = _stage(case, stage)
    if CasePhoto.objects.filter(case=case).count() >= MAX_PHOTOS_PER_CASE:
        message = _("A case has at most %(n)d photos.") % {"n": MAX_PHOTOS_PER_CASE}
        raise ValidationFailed(message, details={"file": [message]})
    fmt = check_photo(upload)
    content, width, height = public_copy(upload, fmt)
    content_type, ext = FORMATS[fmt]
    # Stored names are ours: the uploaded name may carry personal data or path tricks.
    name = f"{uuid.uuid4().hex}.{ext}"
    photo = CasePhoto(
        case=case,
        content_type=content_type,
        width=width,
        height=height,
        size=upload.size or 0,
        uploaded_by=actor,
        stage=stage,
    )
    photo.original.save(name, upload, save=False)
    photo.public.save(name, ContentFile(content), save=False)
    # Files are not transactional: remove them if the rows cannot be written.
    try:
        photo.save()
        CaseEvent.objects.create(
            case=case,
            actor=actor,
            action="photo",
            from_state=case.state,
            to_state=case.state,
            data={"photo_id": photo.pk, "stage": stage},
        )
        audit.record(
            actor=actor,
            action=AuditAction.CREATE,
            instance=photo,
            changes={
                "case": [None, case.number],
                "content_type": [None, content_type],
                "stage": [None, stage],
            },
            place_path=case.place_path,
            label=f"{case.number} photo",
        )
    except Exception:
        photo.original.delete(save=False)
        photo.public.delete(save=False)
        raise
    return photo


def _check_all(uploads: list[UploadedFile]) -> None:
    """Check every photo before anything is stored; errors name the form field `photos`."""
    if len(uploads) > MAX_PHOTOS_PER_CASE:
        message = _("A case has at most %(n)d photos.") % {"n": MAX_PHOTOS_PER_CASE}
        raise ValidationFailed(message, details={"photos": [message]})
    for upload in uploads:
        try:
            check_photo(upload)
        except ValidationFailed as exc:
            message = f"{upload.name}: {exc.message}"
            raise ValidationFailed(message, details={"photos": [message]}) from None


@transaction.atomic
def case_photos_add(
    *, actor: User, case_id: int, uploads: list[UploadedFile], stage: str | None = None
) -> list[CasePhoto]:
    """Attach several photos at once, all or none."""
    if not uploads:
        raise ValidationFailed(_("Choose a photo first."), details={"photos": [_("Required.")]})
    _check_all(uploads)
    return [
        case_photo_add(actor=actor, case_id=case_id, upload=upload, stage=stage)
        for upload in uploads
    ]


@transaction.atomic
def case_report_with_photos(*, actor: User, uploads: list[UploadedFile], **report) -> Case:
    """File a report (see services.case_report) with its photos, all or nothing: every photo is
    checked before the report is stored. A resent report (same idempotency key) returns the
    first one and adds no photos twice."""
    _check_all(uploads)
    case = services.case_report(actor=actor, **report)
    if not case.is_replay:
        for upload in uploads:
            case_photo_add(actor=actor, case_id=case.pk, upload=upload, stage=PhotoStage.BEFORE)
    return case


@transaction.atomic
def case_report_handled_with_photos(
    *, actor: User, case_id: int, evidence: str, uploads: list[UploadedFile]
) -> Case:
    """Report the case handled (see services.case_report_handled) with photos of the result,
    labelled "after handling", all or nothing: every photo is checked first."""
    _check_all(uploads)
    case = services.case_report_handled(actor=actor, case_id=case_id, evidence=evidence)
    for upload in uploads:
        case_photo_add(actor=actor, case_id=case.pk, upload=upload, stage=PhotoStage.AFTER)
    return case


# Files written by an upload whose transaction is still open must not be taken for orphans.
ORPHAN_AGE = dt.timedelta(hours=1)
PHOTO_DIRECTORIES = ("cases/originals", "cases/public")  # each with a folder per year/month


def _recent_files(storage: Storage, since: dt.date) -> Iterator[str]:
    """Stored photo files in the month folders from `since`'s month on."""
    for directory in PHOTO_DIRECTORIES:
        if not storage.exists(directory):
            continue
        for year in storage.listdir(directory)[0]:
            for month in storage.listdir(f"{directory}/{year}")[0]:
                if f"{year}/{month}" >= f"{since:%Y/%m}":
                    folder = f"{directory}/{year}/{month}"
                    yield from (f"{folder}/{name}" for name in storage.listdir(folder)[1])


def photo_orphans_delete(
    *, older_than: dt.timedelta = ORPHAN_AGE, months: int = 2, batch: int = 500
) -> int:
    """Delete stored photo files that no photo row names, older than `older_than`, in the last
    `months` month folders (a daily run sees each orphan in time); the number deleted. Files are
    written before their rows and cannot roll back with them: an enclosing transaction that
    fails later (the second photo of a report refused, the connection lost at commit) or a
    process killed in between leaves them behind."""
    storage = default_storage
    now = timezone.now()
    cutoff, since = now - older_than, (now - dt.timedelta(days=31 * (months - 1))).date()
    names = list(_recent_files(storage, since))
    deleted = 0
    for start in range(0, len(names), batch):
        chunk = names[start : start + batch]
        known = set()
        for original, public in CasePhoto.objects.filter(
            Q(original__in=chunk) | Q(public__in=chunk)
        ).values_list("original", "public"):
            known.update((original, public))
        for name in chunk:
            if name not in known and storage.get_modified_time(name) < cutoff:
                storage.delete(name)
                deleted += 1
    return deleted
