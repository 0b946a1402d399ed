"""Zip bombs: an .xlsx is a zip archive, and its parts are measured before openpyxl opens it."""

import io
import tracemalloc
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from linli.core.errors import ValidationFailed
from linli.core.roles import Role
from linli.core.testing.factories import make_user
from linli.people import imports, spreadsheets
from linli.people.models import ImportJob

CHUNK = b"<row>" + b"0" * (1024 * 1024 - 5)


def _bomb(path, *, unpacked_mb: int, name="xl/worksheets/sheet1.xml") -> int:
    """A real archive whose one sheet inflates to `unpacked_mb` MB of XML-ish bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open(name, "w", force_zip64=True) as member:
            for _ in range(unpacked_mb):
                member.write(CHUNK)
    return path.stat().st_size


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.xlsx"
    assert _bomb(path, unpacked_mb=300) < 2 * 1024 * 1024  # small on disk, 300 MB unpacked
    return path


def test_a_bomb_is_refused_before_anything_is_inflated(bomb):
    tracemalloc.start()
    try:
        with pytest.raises(spreadsheets.NotAWorkbook, match="unpacks to 300 MB; at most 256 MB"):
            spreadsheets.open_workbook(str(bomb))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024


def test_a_part_compressed_beyond_any_real_sheet_is_refused(tmp_path):
    path = tmp_path / "dense.xlsx"
    _bomb(path, unpacked_mb=40)  # under the total limit, but ~1000 times over
    with pytest.raises(spreadsheets.NotAWorkbook, match=r"compressed \d+ times over"):
        spreadsheets.open_workbook(str(path))


def test_an_archive_of_thousands_of_parts_is_refused(tmp_path):
    path = tmp_path / "parts.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(spreadsheets.MAX_MEMBERS + 1):
            zf.writestr(f"xl/part{i}.xml", "<x/>")
    with pytest.raises(spreadsheets.NotAWorkbook, match="1001 parts"):
        spreadsheets.open_workbook(str(path))


def test_the_template_passes(tmp_path):
    path = tmp_path / "template.xlsx"
    path.write_bytes(spreadsheets.template_workbook())
    spreadsheets.open_workbook(str(path)).close()
    spreadsheets.check_archive(str(path))


@pytest.mark.django_db
def test_the_upload_is_refused_with_the_reason_on_the_file_field(town, bomb):
    importer = make_user("importer", Role.COMMUNITY_WORKER, [town.community])
    upload = SimpleUploadedFile("people.xlsx", bomb.read_bytes())
    with pytest.raises(ValidationFailed) as refused:
        imports.import_job_create(actor=importer, upload=upload, mode="good_rows")
    assert "unpacks to 300 MB" in refused.value.details["file"][0]
    assert not ImportJob.objects.exists()


def test_a_damaged_archive_is_still_just_not_a_workbook(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
    path = tmp_path / "broken.xlsx"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(spreadsheets.NotAWorkbook, match="could not be read"):
        spreadsheets.open_workbook(str(path))
