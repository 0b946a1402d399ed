"""Explicit audit writes, called by services inside their transaction (no signals)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils import timezone

from .context import current_source
from .inserts import insert_new
from .models import AuditAction, AuditEntry, User


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """Field values as JSON-ready data; foreign keys by id."""
    out: dict[str, Any] = {}
    for name in fields:
        field = instance._meta.get_field(name)
        raw = getattr(instance, field.attname)
        out[name] = _plain(raw)
    return out


def diff(
    before: dict[str, Any],
    after: dict[str, Any],
    masks: dict[str, Callable[[Any], str]] | None = None,
) -> dict[str, list[Any]]:
    """{field: [before, after]} for fields that changed; masked where a mask is given."""
    masks = masks or {}
    changes: dict[str, list[Any]] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name in masks:
            old = masks[name](old) if old not in (None, "") else old
            new = masks[name](new) if new not in (None, "") else new
        changes[name] = [old, new]
    return changes


def entry(
    *,
    actor: User | None,
    action: str | AuditAction,
    instance: models.Model,
    changes: dict[str, Any] | None = None,
    place_path: str = "",
    label: str | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """An unsaved entry: `record` saves one, `record_many` a batch."""
    known = actor is not None and actor.pk
    return AuditEntry(
        at=at or timezone.now(),
        actor=actor if known else None,
        actor_label=actor.get_username() if known else "system",
        source=current_source(),
        action=action,
        object_type=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_label=(label if label is not None else str(instance))[:200],
        place_path=place_path or getattr(instance, "place_path", "") or "",
        changes=changes or {},
    )


def record(
    *,
    actor: User | None,
    action: str | AuditAction,
    instance: models.Model,
    changes: dict[str, Any] | None = None,
    place_path: str = "",
    label: str | None = None,
) -> AuditEntry:
    """Write one entry now."""
    saved = entry(
        actor=actor,
        action=action,
        instance=instance,
        changes=changes,
        place_path=place_path,
        label=label,
    )
    insert_new([saved])
    return saved


def created_entry(actor: User | None, instance: Audited, at: datetime) -> AuditEntry:
    """The create entry of a row written in bulk, as `save_audited` would have recorded it."""
    return entry(
        actor=actor,
        action=AuditAction.CREATE,
        instance=instance,
        label=instance.audit_label(),
        changes=diff({}, instance.audit_snapshot(), instance.audit_masks),
        at=at,
    )


def record_many(entries: list[AuditEntry]) -> None:
    """Bulk form for imports: the caller builds unsaved AuditEntry rows."""
    AuditEntry.objects.bulk_create(entries, batch_size=2000)


class Audited(models.Model):
    """Mixin: models declare which fields are audited and how sensitive ones are masked."""

    audit_fields: tuple[str, ...] = ()
    audit_masks: dict[str, Callable[[Any], str]] = {}

    class Meta:
        abstract = True

    def audit_snapshot(self) -> dict[str, Any]:
        return snapshot(self, self.audit_fields)

    def audit_label(self) -> str:
        return str(self)


def save_audited(
    *,
    actor: User | None,
    instance: Audited,
    before: dict[str, Any] | None,
    exclude_validation: list[str] | None = None,
) -> AuditEntry | None:
    """Validate (model rules), save, and record a create or a field diff in one step.

    Callers hold the transaction. `before` is None for a create.
    """
    from django.core.exceptions import ValidationError

    from .errors import validation_failed_from

    try:
        instance.full_clean(exclude=exclude_validation)
    except ValidationError as exc:
        raise validation_failed_from(exc) from None
    instance.save()
    after = instance.audit_snapshot()
    if before is None:
        changes = diff({}, after, instance.audit_masks)
        return record(
            actor=actor,
            action=AuditAction.CREATE,
            instance=instance,
            changes=changes,
            label=instance.audit_label(),
        )
    changes = diff(before, after, instance.audit_masks)
    if not changes:
        return None
    return record(
        actor=actor,
        action=AuditAction.UPDATE,
        instance=instance,
        changes=changes,
        label=instance.audit_label(),
    )
