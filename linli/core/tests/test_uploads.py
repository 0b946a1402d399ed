"""Oversized uploads are not received, whoever reads the request body first."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory, override_settings


@override_settings(LINLI_MAX_UPLOAD_BYTES=1024)
def test_a_body_over_the_limit_is_not_spooled():
    big = RequestFactory().post("/x/", {"file": SimpleUploadedFile("a.xlsx", b"x" * 200_000)})
    assert not big.FILES  # parsing stopped before the file was stored
    small = RequestFactory().post("/x/", {"file": SimpleUploadedFile("a.xlsx", b"x" * 100)})
    assert small.FILES["file"].size == 100
