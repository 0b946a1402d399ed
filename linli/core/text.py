"""Free-text hygiene shared by every app: control characters and invisible-only values.

A control character (Unicode category Cc: NUL, BEL, ESC, DEL, …) has no place in a name, an
address or a note; once stored it breaks the Excel files built from it (openpyxl refuses most
of them), so input is refused and already stored text is escaped on export.
"""

from __future__ import annotations

import unicodedata

from django.utils.text import capfirst
from django.utils.translation import gettext as _

# Each control character below U+0020, and DEL, shown as its Unicode "control picture"
# (U+2400–U+2421): visible in the cell and plainly not part of the data.
# (C1 controls, U+0080–U+009F, are valid in the file format and left as they are.)
_EXCEL_SAFE = str.maketrans({code: 0x2400 + code for code in range(0x20)} | {0x7F: 0x2421})


def control_character(value: str) -> str | None:
    """The first control character in the text, or None."""
    for char in value:
        if unicodedata.category(char) == "Cc":
            return char
    return None


def is_invisible(char: str) -> bool:
    """Whitespace or a format character (zero-width space, joiners, BOM, …)."""
    return char.isspace() or unicodedata.category(char) == "Cf"


def strip_invisible(value: str) -> str:
    """The text without whitespace and zero-width characters at either end."""
    start, end = 0, len(value)
    while start < end and is_invisible(value[start]):
        start += 1
    while end > start and is_invisible(value[end - 1]):
        end -= 1
    return value[start:end]


def control_character_errors(instance, fields: tuple[str, ...]) -> dict[str, list[str]]:
    """{field: [message naming the field and the character]} for a model's text fields."""
    errors: dict[str, list[str]] = {}
    for name in fields:
        char = control_character(getattr(instance, name) or "")
        if char is not None:
            label = capfirst(instance._meta.get_field(name).verbose_name)
            errors[name] = [control_character_message(label, char)]
    return errors


def control_character_message(label: str, char: str) -> str:
    return _("%(field)s contains an invisible control character (%(code)s); remove it.") % {
        "field": label,
        "code": f"U+{ord(char):04X}",
    }


def excel_safe(value):
    """A cell value Excel (and openpyxl) accepts: control characters made visible."""
    return value.translate(_EXCEL_SAFE) if isinstance(value, str) else value
