"""Masking of personal data in lists, exports, audit diffs and logs."""

from __future__ import annotations

import logging
import re


def mask_id_number(value: str | None) -> str:
    """3201**********123X: region prefix and last four kept, the rest starred."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str:
    """138****5678 for mobiles; other numbers keep only their last four."""
    if not value:
        return ""
    if len(value) == 11:
        return value[:3] + "****" + value[-4:]
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


def mask_name(value: str | None) -> str:
    """张*三 / 李* — for public notices and audit object labels."""
    if not value:
        return ""
    if len(value) == 1:
        return value
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


_ID_RE = re.compile(r"(?<!\d)(\d{6})(\d{8})(\d{3}[\dXx])(?!\d)")
_MOBILE_RE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def scrub(text: str) -> str:
    text = _ID_RE.sub(lambda m: mask_id_number(m.group(0)), text)
    return _MOBILE_RE.sub(lambda m: mask_phone(m.group(0)), text)


class PersonalDataLogFilter(logging.Filter):
    """Last line of defence: no ID number or mobile number reaches a log in plain text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
