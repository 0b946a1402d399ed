"""Photos: accepted by content, EXIF (and so GPS) gone from the public copy only, limits."""

import datetime as dt
import io
import os
import time

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image

from linli.cases import photos
from linli.cases.models import CaseEvent, CasePhoto
from linli.core.errors import NotFound, PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry

GPS = {1: "N", 2: (37.0, 0.0, 18.0), 3: "E", 4: (118.0, 0.0, 18.0)}


def image_bytes(fmt="JPEG", size=(40, 30), *, gps=True, orientation=None, mode="RGB") -> bytes:
    """A photo as a phone writes it: camera model and GPS position in the EXIF."""
    exif = Image.Exif()
    exif[ExifTags.Base.Model] = "Phone"
    if gps:
        exif[ExifTags.Base.GPSInfo] = GPS
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    out = io.BytesIO()
    Image.new(mode, size, "red" if mode == "RGB" else 1).save(out, fmt, exif=exif)
    return out.getvalue()


def upload(content: bytes, name="photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def exif_of(content: bytes) -> Image.Exif:
    with Image.open(io.BytesIO(content)) as image:
        return image.getexif()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_the_public_copy_loses_the_exif_and_the_original_keeps_it(actors, report, fmt):
    case = report()
    content = image_bytes(fmt)
    assert dict(exif_of(content).get_ifd(ExifTags.IFD.GPSInfo)) == GPS

    photo = photos.case_photo_add(actor=actors.resident, case_id=case.pk, upload=upload(content))

    public = photo.public.read()
    assert not exif_of(public).get_ifd(ExifTags.IFD.GPSInfo)
    assert len(exif_of(public)) == 0  # not even the camera model
    with Image.open(io.BytesIO(public)) as image:
        assert (image.format, image.size) == (fmt, (40, 30))
    assert dict(exif_of(photo.original.read()).get_ifd(ExifTags.IFD.GPSInfo)) == GPS
    assert photo.content_type == photos.FORMATS[fmt][0]
    assert photo.public.name != photo.original.name
    assert "photo" not in photo.original.name  # stored under our name, not the uploader's


def test_a_sideways_photo_is_turned_upright_before_its_orientation_tag_goes(actors, report):
    case = report()
    content = image_bytes(size=(40, 30), orientation=6)  # "rotate 90° to view"
    photo = photos.case_photo_add(actor=actors.resident, case_id=case.pk, upload=upload(content))
    assert (photo.width, photo.height) == (30, 40)
    assert ExifTags.Base.Orientation not in exif_of(photo.public.read())


@pytest.mark.parametrize(
    "content, name",
    [
        (b"this is not a picture at all", "photo.jpg"),
        (b"<script>alert(1)</script>", "photo.png"),
        (image_bytes("GIF", gps=False), "animation.jpg"),  # an image, but not one we take
        (image_bytes("JPEG")[:200], "cut.jpg"),  # truncated
        (b"", "empty.jpg"),
    ],
)
def test_files_that_are_not_photos_are_refused_by_content(actors, report, content, name):
    case = report()
    with pytest.raises(ValidationFailed, match="not a photo") as exc:
        photos.case_photo_add(actor=actors.resident, case_id=case.pk, upload=upload(content, name))
    assert "file" in exc.value.details
    assert not CasePhoto.objects.exists()


def test_a_png_named_jpg_is_taken_for_what_it_is(actors, report):
    case = report()
    photo = photos.case_photo_add(
        actor=actors.resident, case_id=case.pk, upload=upload(image_bytes("PNG"), "x.jpg")
    )
    assert photo.content_type == "image/png" and photo.public.name.endswith(".png")


def test_too_many_bytes_or_pixels_are_refused(actors, report):
    case = report()
    big = upload(b"\xff\xd8" + b"\0" * photos.MAX_PHOTO_BYTES)
    with pytest.raises(ValidationFailed, match="largest accepted is 10 MB") as exc:
        photos.case_photo_add(actor=actors.resident, case_id=case.pk, upload=big)
    assert "file" in exc.value.details
    # 50 megapixels that compress to a few kilobytes: refused before decoding.
    bomb = image_bytes("PNG", size=(10_000, 5_000), gps=False, mode="1")
    assert len(bomb) < 100_000
    with pytest.raises(ValidationFailed, match="megapixels"):
        photos.case_photo_add(actor=actors.resident, case_id=case.pk, upload=upload(bomb))
    assert not CasePhoto.objects.exists()


def test_a_case_takes_nine_photos_and_no_more(actors, report):
    case = report()
    content = image_bytes(gps=False)
    for _ in range(photos.MAX_PHOTOS_PER_CASE):
        photos.case_photo_add(actor=actors.grid, case_id=case.pk, upload=upload(content))
    with pytest.raises(ValidationFailed, match="at most 9 photos"):
        photos.case_photo_add(actor=actors.grid, case_id=case.pk, upload=upload(content))
    assert CasePhoto.objects.filter(case=case).count() == 9


def test_who_may_add_photos(actors, report):
    case = report()
    content = image_bytes(gps=False)
    for outsider in (actors.neighbour, actors.other_resident):
        with pytest.raises(NotFound):
            photos.case_photo_add(actor=outsider, case_id=case.pk, upload=upload(content))
    with pytest.raises(PermissionDenied):  # sees the case, but only to audit it
        photos.case_photo_add(actor=actors.auditor, case_id=case.pk, upload=upload(content))
    photo = photos.case_photo_add(actor=actors.grid, case_id=case.pk, upload=upload(content))
    event = CaseEvent.objects.get(case=case, action="photo")
    assert (event.actor, event.data) == (actors.grid, {"photo_id": photo.pk, "stage": "before"})
    entry = AuditEntry.objects.get(object_type="cases.casephoto", object_id=str(photo.pk))
    assert entry.place_path == case.place_path and entry.actor == actors.grid


def test_the_report_page_takes_photos_with_the_report_all_or_nothing(client, actors, taxonomy):
    from django.urls import reverse

    from linli.cases.models import Case

    from .conftest import HERE

    client.force_login(actors.resident)
    data = {
        "category": taxonomy.cat["SJ0101"].pk,
        "description": "井盖坏了",
        "lat": HERE[0],
        "lng": HERE[1],
        "idempotency_key": "with-photos",
    }
    bad = client.post(
        reverse("cases:report"),
        {**data, "photos": [upload(image_bytes()), upload(b"<html>", "fake.jpg")]},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "fake.jpg: This file is not a photo" in bad.content.decode()
    assert not Case.objects.exists() and not CasePhoto.objects.exists()

    good = client.post(
        reverse("cases:report"),
        {**data, "photos": [upload(image_bytes()), upload(image_bytes("PNG"), "b.png")]},
    )
    case = Case.objects.get()
    assert good["Location"] == reverse("cases:detail", args=[case.pk])
    assert case.photos.count() == 2
    resent = client.post(reverse("cases:report"), {**data, "photos": [upload(image_bytes())]})
    assert resent["Location"] == good["Location"] and case.photos.count() == 2

    page = client.get(good["Location"]).content.decode()
    for photo in case.photos.all():
        url = reverse("api:case_photo", kwargs={"case_id": case.pk, "photo_id": photo.pk})
        assert f'src="{url}"' in page
        served = b"".join(client.get(url).streaming_content)
        assert ExifTags.IFD.GPSInfo not in exif_of(served)


def test_photos_added_on_the_case_page_and_an_oversized_body_refused_unread(
    client, actors, report, settings
):
    from django.urls import reverse

    case = report()
    client.force_login(actors.grid)
    url = reverse("cases:photo_add", args=[case.pk])
    added = client.post(url, {"photos": [upload(image_bytes())]})
    assert added.status_code == 302 and case.photos.count() == 1
    assert CaseEvent.objects.filter(case=case, action="photo").count() == 1

    settings.LINLI_MAX_UPLOAD_BYTES = 1024
    big = client.post(
        url,
        {"photos": [upload(image_bytes() + b"\0" * 200_000)]},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert big.status_code == 422 and case.photos.count() == 1

    client.force_login(actors.neighbour)  # outside the jurisdiction: the same as missing
    assert client.post(url, {"photos": [upload(image_bytes())]}).status_code == 404


def stored_files(media) -> set[str]:
    return {str(p.relative_to(media)) for p in media.rglob("*") if p.is_file()}


def test_files_of_photos_rolled_back_are_deleted_once_old_enough(actors, report, media):
    # The sweep compares the files' times with the clock: both are set here, not read.
    with time_machine.travel(dt.datetime(2026, 12, 2, 2, 30, tzinfo=dt.UTC), tick=False):
        _files_of_photos_rolled_back_are_deleted_once_old_enough(actors, report, media)


def _files_of_photos_rolled_back_are_deleted_once_old_enough(actors, report, media):
    case = report()
    content = image_bytes(gps=False)
    for _ in range(photos.MAX_PHOTOS_PER_CASE - 1):
        photos.case_photo_add(actor=actors.grid, case_id=case.pk, upload=upload(content))
    kept = stored_files(media)
    # All or none: the first of the two takes the last place, the second is refused, and the
    # first's row rolls back while its two files stay behind.
    with pytest.raises(ValidationFailed, match="at most 9 photos"):
        photos.case_photos_add(
            actor=actors.grid, case_id=case.pk, uploads=[upload(content), upload(content)]
        )
    orphans = stored_files(media) - kept
    assert len(orphans) == 2 and CasePhoto.objects.count() == 8

    def written(seconds_ago):
        for name in stored_files(media):
            os.utime(media / name, (time.time() - seconds_ago, time.time() - seconds_ago))

    written(59 * 60)
    assert photos.photo_orphans_delete() == 0  # too recent: their upload may still be open
    written(2 * 3600)
    assert photos.photo_orphans_delete() == 2
    assert stored_files(media) == kept
    assert all(p.original.read() and p.public.read() for p in CasePhoto.objects.all())
    assert photos.photo_orphans_delete() == 0


def test_the_orphan_sweep_looks_at_recent_month_folders_only(media, db):
    old = media / "cases/public/2020/01/lost.jpg"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"x")
    os.utime(old, (0, 0))  # 1970: older than any age
    assert photos.photo_orphans_delete() == 0 and old.exists()
    assert photos.photo_orphans_delete(months=12 * 100) == 1 and not old.exists()
