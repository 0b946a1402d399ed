"""Reads of what core itself keeps: the audit log."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import AuditEntry, User


def audit_search(
    actor: User,
    *,
    text: str = "",
    action: str = "",
    object_type: str = "",
    actor_username: str = "",
    date_from=None,
    date_to=None,
) -> QuerySet[AuditEntry]:
    qs = AuditEntry.objects.restrict(actor)
    if action:
        qs = qs.filter(action=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if actor_username:
        qs = qs.filter(actor_label=actor_username)
    if text:
        qs = qs.filter(Q(object_label__contains=text) | Q(object_id=text))
    if date_from:
        qs = qs.filter(at__date__gte=date_from)
    if date_to:
        qs = qs.filter(at__date__lte=date_to)
    return qs.select_related("actor")
