from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.core.scoping import ScopedQuerySet

from .common import AssistanceQuerySet


class FindingKind(models.TextChoices):
    """What fund supervision (阳光监管) looks for."""

    SHARED_ACCOUNT = "shared_account", _("One bank account, unrelated recipients")
    PAID_AFTER_DEATH = "paid_after_death", _("Paid to someone recorded dead")
    OVER_ASSET_LIMIT = "over_asset_limit", _("Over a vehicle, housing or savings limit")
    STAFF_RELATIVE = "staff_relative", _("Recipient is staff or a staff relative")  # 回避
    AMOUNT_OUT_OF_LINE = "amount_out_of_line", _("Amount out of line with the standard")


class FindingState(models.TextChoices):
    OPEN = "open", _("Open")
    CONFIRMED = "confirmed", _("Confirmed: action taken")
    EXPLAINED = "explained", _("Explained: no problem")


class Finding(models.Model):
    """An anomaly found by a supervision run, linked to the records it rests on. `key` names
    the anomaly (kind + the records' ids) so a later run finds it again instead of adding it."""

    kind = models.CharField(_("kind"), max_length=20, choices=FindingKind.choices)
    key = models.CharField(max_length=200)
    program = models.CharField(_("program"), max_length=20, blank=True)
    summary = models.CharField(_("summary"), max_length=300)
    # {"benefits": [...], "payments": [...], "persons": [...], "figures": {...}}
    records = models.JSONField(_("records"), default=dict)
    state = models.CharField(
        _("state"), max_length=10, choices=FindingState.choices, default=FindingState.OPEN
    )
    resolution = models.CharField(_("resolution"), max_length=300, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    found_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    place_path = models.CharField(max_length=255)

    objects = AssistanceQuerySet.as_manager()

    class Meta:
        verbose_name = _("supervision finding")
        verbose_name_plural = _("supervision findings")
        ordering = ["-found_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="one_finding_per_key"),
        ]

    def __str__(self) -> str:
        return self.summary


class StaffRelativeQuerySet(ScopedQuerySet):
    permission_prefix = "assistance"


class StaffRelative(models.Model):
    """A relative a staff member declared (近亲属备案), so supervision can flag their benefits
    and the staff member is kept out of deciding them (回避)."""

    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="declared_relatives",
        verbose_name=_("staff member"),
    )
    person = models.ForeignKey(
        "people.Person", on_delete=models.PROTECT, related_name="+", verbose_name=_("relative")
    )
    relation = models.CharField(_("relation"), max_length=40)
    declared_at = models.DateTimeField(default=timezone.now)
    place_path = models.CharField(max_length=255, editable=False)

    objects = StaffRelativeQuerySet.as_manager()

    class Meta:
        verbose_name = _("declared relative of staff")
        verbose_name_plural = _("declared relatives of staff")
        constraints = [
            models.UniqueConstraint(fields=["staff", "person"], name="one_declaration_per_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.staff} · {self.relation}"

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.person.place_path
        super().save(*args, **kwargs)


class SimulationState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class Simulation(models.Model):
    """A policy simulation (政策模拟): a variant of a policy version run over the registry of a
    place, reporting who would newly qualify or stop qualifying and the budget change, by
    street. It reads real data and writes only its own result."""

    policy_version = models.ForeignKey(
        "assistance.PolicyVersion",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("base policy"),
    )
    name = models.CharField(_("name"), max_length=100)
    # Parameters changed from the base version ({"standard": "850.00"}).
    changes = models.JSONField(_("changes"))
    place = models.ForeignKey("places.Place", on_delete=models.PROTECT, related_name="+")
    as_of = models.DateField(_("as of"))
    state = models.CharField(
        _("state"), max_length=8, choices=SimulationState.choices, default=SimulationState.QUEUED
    )
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    # {"streets": [{"street", "name", "newly_eligible_households", ...}], "totals": {...}}
    result = models.JSONField(default=dict, blank=True)
    failure = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    place_path = models.CharField(max_length=255, editable=False)

    objects = AssistanceQuerySet.as_manager()

    class Meta:
        verbose_name = _("policy simulation")
        verbose_name_plural = _("policy simulations")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed__lte=models.F("total")) | Q(total=0),
                name="simulation_progress_bounded",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.place.path
        super().save(*args, **kwargs)
