"""Resident identity numbers (居民身份证号码, GB 11643) via python-stdnum."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from django.utils.translation import gettext as _
from stdnum import exceptions as stdnum_exceptions
from stdnum.cn import ric

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE_RE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


class InvalidIdNumber(ValueError):
    pass


def parse_id_number(value: str, *, today: dt.date | None = None) -> tuple[str, dt.date, str]:
    """Return (normalised number, birth date, sex 'M'/'F') or raise with a readable reason."""
    number = ric.compact(value or "")
    if len(number) != 18:
        raise InvalidIdNumber(
            _("An ID number has 18 characters; this one has %(n)d.") % {"n": len(number)}
        )
    if not number[:17].isdigit():
        raise InvalidIdNumber(_("The first 17 characters of an ID number are digits."))
    try:
        birth = ric.get_birth_date(number)
    except stdnum_exceptions.ValidationError:
        raise InvalidIdNumber(
            _("Characters 7–14 of the ID number (%(date)s) are not a real date.")
            % {"date": number[6:14]}
        ) from None
    if birth > (today or dt.date.today()):
        raise InvalidIdNumber(_("The birth date in the ID number is in the future."))
    if birth.year < 1890:
        raise InvalidIdNumber(_("The birth date in the ID number is before 1890."))
    expected = ric.calc_check_digit(number)
    if number[-1] != expected:
        raise InvalidIdNumber(
            _(
                "The check digit is wrong: the last character should be %(digit)s. "
                "Check the number for a typing error."
            )
            % {"digit": expected}
        )
    sex = "M" if int(number[16]) % 2 else "F"
    return number, birth, sex


def normalise_id_digits(value: str) -> str:
    """Digits of an ID number as typed: full-width (１２３４) and lower-case x made plain."""
    return unicodedata.normalize("NFKC", value or "").strip().upper()


def normalise_phone(value: str) -> str:
    return re.sub(r"[\s()]", "", value or "").removeprefix("+86")


def phone_problem(value: str) -> str | None:
    if not value:
        return None
    if MOBILE_RE.match(value) or LANDLINE_RE.match(value):
        return None
    return _(
        "Give an 11-digit mobile number (13800138000) or a landline with area code (0546-8221234)."
    )
