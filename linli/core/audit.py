"""Explicit audit writes, called by services inside their transaction (no signals)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

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


def _field_of(model: type[models.Model] | None, name: str) -> models.Field | None:
    if model is None:
        return None
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if isinstance(field, models.Field) else None  # not a reverse relation


def _choice_label(field: models.Field, value: Any) -> str | None:
    for key, label in field.flatchoices:
        if str(key) == str(value):
            return str(label)
    return None


def _related_label(instance: models.Model, field: models.Field, value: Any) -> str | None:
    """The related row as a reader knows it (masked where its model masks its label).

    Only ids, as `snapshot` takes them, are looked up: a caller that wrote a text (a case
    number, a user name) already wrote what a reader needs."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    related = field.get_cached_value(instance) if field.is_cached(instance) else None
    if related is None or related.pk != value:
        related = field.related_model._base_manager.filter(pk=value).first()
    if related is None:
        return None
    return related.audit_label() if isinstance(related, Audited) else str(related)


@dataclass(frozen=True)
class _Source:
    """A field as written in the code (the catalogue's msgids)."""

    field: models.Field
    verbose_name: str
    choices: dict[str, str]


@cache
def _sources(model: type[models.Model]) -> tuple[str, dict[str, _Source]]:
    """A model's name and its fields' names and choice labels in the source language, once per
    process: entries are written by the thousand in an import."""
    with translation.override(None):
        return str(model._meta.verbose_name), {
            field.name: _Source(
                field, str(field.verbose_name), {str(k): str(v) for k, v in field.flatchoices}
            )
            for field in model._meta.get_fields()
            if isinstance(field, models.Field)
        }


def labels_for(instance: models.Model, changes: dict[str, Any]) -> dict[str, Any]:
    """What a reader of the entry needs that the ids and codes in `changes` do not say.

    Field names and choice labels in the source language (English, the catalogue's msgids), so
    any reader's language can be shown later; related rows by their label at this moment, so
    renaming or deleting them does not blur the history."""
    type_name, sources = _sources(type(instance))
    named = list(changes)
    if isinstance(changes.get("fields"), list):  # a full view lists the fields it showed
        named += [name for name in changes["fields"] if isinstance(name, str)]
    fields: dict[str, str] = {}
    values: dict[str, list[str | None]] = {}
    for name in named:
        source = sources.get(name)
        if source is None:
            continue
        fields[name] = source.verbose_name
        change = changes.get(name)
        if not (isinstance(change, list) and len(change) == 2):
            continue
        field = source.field
        if source.choices:
            shown = [None if v is None else source.choices.get(str(v)) for v in change]
        elif field.many_to_one or field.one_to_one:
            shown = [_related_label(instance, field, v) for v in change]
        else:
            continue
        if shown[0] is not None or shown[1] is not None:
            values[name] = shown
    labels: dict[str, Any] = {"type": type_name, "fields": fields}
    if values:
        labels["values"] = values
    return labels


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
        labels=labels_for(instance, changes or {}),
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


# --- reading ----------------------------------------------------------------------------------

# Keys some services write that are not fields of the record.
NOTE_LABELS = {
    "fields": _("Fields"),
    "filters": _("Filters"),
    "rows": _("Rows"),
    "full": _("Unmasked"),
    "households": _("Households"),
    "persons": _("Persons"),
    "bad_rows": _("Bad rows"),
    "registered_elsewhere": _("Registered elsewhere"),
    "finances": _("Incomes, assets and expenditure"),
}


@dataclass(frozen=True)
class ChangeRow:
    label: str
    after: str
    before: str | None = None  # None: nothing to strike through (a create, or a note)


@dataclass(frozen=True)
class Readable:
    """An entry in the reader's language: the record's type, its changes, or what was viewed."""

    type: str
    actor: str
    rows: list[ChangeRow]
    viewed: list[str]


def _model_of(object_type: str) -> type[models.Model] | None:
    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None


def _field_label(model: type[models.Model] | None, labels: dict[str, Any], name: str) -> str:
    field = _field_of(model, name)
    if field is not None:
        return str(capfirst(field.verbose_name))
    stored = labels.get("fields", {}).get(name)
    if stored:
        return capfirst(gettext(stored))
    if name in NOTE_LABELS:
        return str(NOTE_LABELS[name])
    return capfirst(name.replace("_", " "))


def _shown(field: models.Field | None, stored: str | None, value: Any) -> str:
    """One value as a reader wants it: choices by label, related rows by the label stored at
    write time, yes/no, local times; masked values stay masked."""
    if field is not None and field.choices and value not in (None, ""):
        live = _choice_label(field, value)
        if live is not None:
            return live
    if stored:
        # Related rows' labels are data; choice labels are msgids of the catalogue.
        return stored if field is not None and field.is_relation else gettext(stored)
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if field is not None and field.is_relation and isinstance(value, int):
        return f"#{value}"  # an entry older than stored labels: the id, marked as one
    if isinstance(value, str) and isinstance(field, models.DateTimeField):
        moment = parse_datetime(value)
        if moment is not None:
            if timezone.is_aware(moment):
                moment = timezone.localtime(moment)
            return f"{moment:%Y-%m-%d %H:%M}"
    if isinstance(value, list):
        return ", ".join(_shown(None, None, v) for v in value) if value else "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(None, None, v)}" for k, v in value.items())
    return str(value)


def readable(entry: AuditEntry) -> Readable:
    """How the audit pages show an entry. Entries written before labels were stored are read
    through the live model (field names, choice labels) and fall back to the raw values."""
    model = _model_of(entry.object_type)
    labels = entry.labels or {}
    if model is not None:
        type_label = str(capfirst(model._meta.verbose_name))
    elif labels.get("type"):
        type_label = capfirst(gettext(labels["type"]))
    else:
        type_label = entry.object_type
    if entry.actor_id and entry.actor is not None:
        actor = entry.actor.display_name or entry.actor_label
    else:
        actor = gettext("System") if entry.actor_label == "system" else entry.actor_label
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    stored_values = labels.get("values", {})
    # In the order of the form (the model's fields), not the alphabetical order of the diff.
    order = list(_sources(model)[1]) if model is not None else []
    names = sorted(changes, key=lambda n: order.index(n) if n in order else len(order))
    rows: list[ChangeRow] = []
    viewed: list[str] = []
    for name in names:
        value = changes[name]
        if entry.action == AuditAction.REVEAL and name == "fields" and isinstance(value, list):
            viewed = [_field_label(model, labels, str(field)) for field in value]
            continue
        field = _field_of(model, name)
        label = _field_label(model, labels, name)
        known = field is not None or name in labels.get("fields", {})
        if isinstance(value, list) and len(value) == 2 and known:
            before_label, after_label = stored_values.get(name) or (None, None)
            after = _shown(field, after_label, value[1])
            if entry.action == AuditAction.CREATE and value[0] is None:
                if value[1] not in (None, "", False):  # a new record: what was filled in
                    rows.append(ChangeRow(label, after))
            else:
                rows.append(ChangeRow(label, after, _shown(field, before_label, value[0])))
        else:
            rows.append(ChangeRow(label, _shown(field, None, value)))
    return Readable(type=type_label, actor=actor, rows=rows, viewed=viewed)
