from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.core.scoping import ScopedQuerySet

from .common import StaffOnlyQuerySet


class SupervisionQuerySet(ScopedQuerySet):
    """Findings and runs: staff of the jurisdiction only; residents see none (they name no
    household of the resident's)."""

    permission_prefix = "assistance"


class FindingKind(models.TextChoices):
    """What fund supervision (阳光监管) looks for."""

    SHARED_ACCOUNT = "shared_account", _("One bank account, unrelated recipients")
    PAID_AFTER_DEATH = "paid_after_death", _("Paid to someone recorded dead")
    OVER_ASSET_LIMIT = "over_asset_limit", _("Over a vehicle, housing or savings limit")
    STAFF_RELATIVE = "staff_relative", _("Recipient is staff or a staff relative")  # 回避
    AMOUNT_OUT_OF_LINE = "amount_out_of_line", _("Amount out of line with the standard")


class FindingState(models.TextChoices):
    OPEN = "open", _("To be resolved")
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
    # Set when a run over the finding's place no longer finds it (the records were put right,
    # or the benefit stopped); cleared when a run finds it again. Such a finding is not closed
    # by the run: a person decides whether it was a real problem (see supervision.py).
    cleared_at = models.DateTimeField(_("no longer found since"), null=True, blank=True)
    # The lowest place holding every record the finding names (a district for an account
    # shared across streets), so each office sees the findings wholly in its jurisdiction.
    place_path = models.CharField(max_length=255)

    objects = SupervisionQuerySet.as_manager()

    class Meta:
        verbose_name = _("supervision finding")
        verbose_name_plural = _("supervision findings")
        ordering = ["-found_at", "-id"]
        indexes = [
            models.Index(
                fields=["place_path"], name="finding_path_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["state", "kind"], name="finding_state_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="one_finding_per_key"),
            models.CheckConstraint(
                condition=Q(state="open") | ~Q(resolution=""),
                name="resolved_finding_has_resolution",
                violation_error_message=_("Say what was found or done."),
            ),
        ]

    def __str__(self) -> str:
        return self.summary


class SupervisionRunState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class SupervisionRun(models.Model):
    """One run of the supervision checks over a place (every check, set-based), started from the
    findings page or by the daily job; `counts` says per kind how many were found, new, found
    again after being cleared, and no longer found."""

    place_path = models.CharField(max_length=255)  # "" for the whole registry (the daily job)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    state = models.CharField(
        _("state"),
        max_length=8,
        choices=SupervisionRunState.choices,
        default=SupervisionRunState.QUEUED,
    )
    created_at = models.DateTimeField(_("run requested at"), default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    total = models.PositiveSmallIntegerField(default=0)  # checks to run
    processed = models.PositiveSmallIntegerField(default=0)  # checks done
    counts = models.JSONField(default=dict, blank=True)
    failure = models.TextField(blank=True)

    objects = SupervisionQuerySet.as_manager()

    class Meta:
        verbose_name = _("supervision run")
        verbose_name_plural = _("supervision runs")
        ordering = ["-created_at", "-id"]
        constraints = [
            # A second request for the same place while one waits or runs would do the work
            # twice; it is refused (see supervision.supervision_run_request).
            models.UniqueConstraint(
                fields=["place_path"],
                condition=Q(state__in=["queued", "running"]),
                name="one_pending_supervision_run_per_place",
                violation_error_message=_("A run for this place is already under way."),
            ),
            models.CheckConstraint(
                condition=Q(processed__lte=models.F("total")) | Q(total=0),
                name="supervision_run_progress_bounded",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.get_state_display()}"

    @property
    def finished(self) -> bool:
        return self.state in (SupervisionRunState.DONE, SupervisionRunState.FAILED)

    @property
    def totals(self) -> dict[str, int]:
        """The counts of every check added up: found, new, reopened, cleared."""
        out = dict.fromkeys(("found", "new", "reopened", "cleared"), 0)
        for counts in (self.counts or {}).values():
            for name in out:
                out[name] += int(counts.get(name, 0))
        return out


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

    objects = StaffOnlyQuerySet.as_manager()

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
