from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from functools import cached_property

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .roles import ROLE_PERMISSIONS, STAFF_ROLES, Role
from .scoping import ScopedQuerySet


class Department(models.Model):
    """A department (职能部门) that receives dispatched work."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    district = models.ForeignKey(
        "places.Place", on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("district")
    )

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """An account. Staff are bound to one or more places (their jurisdiction)."""

    role = models.CharField(_("role"), max_length=32, choices=Role.choices, default=Role.RESIDENT)
    display_name = models.CharField(_("display name"), max_length=64, blank=True)
    places = models.ManyToManyField(
        "places.Place", blank=True, related_name="staff", verbose_name=_("jurisdiction")
    )
    departments = models.ManyToManyField(
        Department, blank=True, related_name="handlers", verbose_name=_("departments")
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def is_resident(self) -> bool:
        return self.role == Role.RESIDENT and not self.is_superuser

    @property
    def is_staff_role(self) -> bool:
        return self.role in STAFF_ROLES or self.is_superuser

    @property
    def sees_everything(self) -> bool:
        return self.is_superuser or self.role == Role.ADMIN

    def has_perm_code(self, code: str) -> bool:
        if self.is_superuser:
            return True
        return code in ROLE_PERMISSIONS.get(self.role, frozenset())

    @cached_property
    def scope_paths(self) -> list[str]:
        """Materialised paths of the places this account may see, outermost only."""
        paths = sorted(self.places.values_list("path", flat=True))
        outermost: list[str] = []
        for path in paths:
            if not any(path.startswith(kept) for kept in outermost):
                outermost.append(path)
        return outermost


class ApiToken(models.Model):
    """A bearer token for API clients. Only a hash is stored; the key is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def new_key() -> str:
        return "ll_" + secrets.token_urlsafe(32)


class AuditAction(models.TextChoices):
    CREATE = "create", _("Created")
    UPDATE = "update", _("Updated")
    DELETE = "delete", _("Deleted")
    REVEAL = "reveal", _("Viewed in full")
    IMPORT = "import", _("Imported")
    EXPORT = "export", _("Exported")


class AuditEntryQuerySet(ScopedQuerySet):
    permission_prefix = "audit"

    def for_object(self, instance: models.Model) -> AuditEntryQuerySet:
        return self.filter(object_type=instance._meta.label_lower, object_id=str(instance.pk))


class AuditEntry(models.Model):
    """One change or full view (留痕): who, when, from where, and a field-level diff.

    Sensitive values are stored masked in `changes`: the log must not become a second copy of
    the ID numbers it guards. Rows are only ever inserted.
    """

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(  # indexed by audit_actor_idx (actor, at)
        User,
        db_index=False,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(_("actor"), max_length=150, blank=True)
    source = models.CharField(_("source"), max_length=64, blank=True)
    action = models.CharField(_("action"), max_length=16, choices=AuditAction.choices)
    object_type = models.CharField(_("record type"), max_length=64)
    object_id = models.CharField(_("record id"), max_length=64)
    object_label = models.CharField(_("record"), max_length=200, blank=True)
    place_path = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    # What a reader needs, taken when the entry is written and kept in the source language
    # (English): the record type, the changed fields' names, the labels of choice and related
    # values. Shown through the live model when it still knows them (core/audit.py, `readable`).
    labels = models.JSONField(null=True, blank=True, editable=False)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(
                fields=["place_path"], name="audit_path_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["actor", "at"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_label}"


class CalendarDay(models.Model):
    """An exception to Monday–Friday work (工作日历): a public holiday, or a make-up working day
    (调休). Days without a row follow the week: Monday to Friday work, weekends off."""

    date = models.DateField(_("date"), unique=True)
    is_workday = models.BooleanField(_("working day"))
    name = models.CharField(_("name"), max_length=100, blank=True)
    # Statutory days of a year whose official schedule is not published yet.
    provisional = models.BooleanField(_("provisional"), default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class JobSchedule(models.Model):
    """When each registered periodic job (see core/jobs.py) was last enqueued."""

    name = models.CharField(max_length=100, unique=True)
    last_enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("periodic job")
        verbose_name_plural = _("periodic jobs")

    def __str__(self) -> str:
        return self.name

    def is_due(self, now: dt.datetime, every: dt.timedelta) -> bool:
        return self.last_enqueued_at is None or now - self.last_enqueued_at >= every
