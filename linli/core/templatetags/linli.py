"""Template helpers shared by the staff pages."""

from __future__ import annotations

from django import template

from linli.core.audit import Readable
from linli.core.audit import readable as readable_entry
from linli.core.models import AuditEntry

register = template.Library()


@register.filter
def readable(entry: AuditEntry) -> Readable:
    """An audit entry in the reader's language (core/audit.py)."""
    return readable_entry(entry)
