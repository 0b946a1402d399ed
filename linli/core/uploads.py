"""Uploads larger than LINLI_MAX_UPLOAD_BYTES are not received at all.

The size check with a readable message is the form's; this handler makes sure a 100 MB body
is not spooled to disk (or memory) first, whatever middleware touches the request body.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

FORM_OVERHEAD = 64 * 1024  # room for the form's other fields around the file


def _limit() -> int:
    return settings.LINLI_MAX_UPLOAD_BYTES + FORM_OVERHEAD


def declared_size_over(request, limit: int) -> int | None:
    """The declared body size when it exceeds `limit` (plus form overhead), else None.

    Views answer such a request from the header alone: the body was not (and is not) read.
    """
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    return length if length > limit + FORM_OVERHEAD else None


class SizeLimitUploadHandler(FileUploadHandler):
    too_large = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.too_large = bool(content_length and content_length > _limit())

    def new_file(self, *args, **kwargs):
        # Raised here, the parser stops without reading (or storing) the rest of the body.
        if self.too_large:
            raise StopUpload(connection_reset=True)
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > _limit():
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None
