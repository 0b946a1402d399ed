from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.core.scoping import ScopedQuerySet


class MonitoringQuerySet(ScopedQuerySet):
    """Scoped by the household's place; residents see nothing of monitoring."""

    permission_prefix = "monitoring"


class Severity(models.IntegerChoices):
    LOW = 1, _("Low")
    MEDIUM = 2, _("Medium")
    HIGH = 3, _("High")
    SEVERE = 4, _("Severe")  # visited by the clock, not the working-day calendar


class RuleKind(models.TextChoices):
    """The evaluators a rule can use; each rule row gives one its parameters (see rules.py)."""

    MARGINAL_INCOME = "marginal_income", _("Income near or below the minimum")
    EXPENDITURE_SHARE = "expenditure_share", _("Medical or education spending over a share")
    EARNER_LOSS = "earner_loss", _("Loss of the main earner")
    ELDERLY_ALONE = "elderly_alone", _("Elderly person living alone or disabled")
    DISABLED_WITHOUT_CARE = "disabled_without_care", _("Severely disabled without care")
    REPEATED_SIGNALS = "repeated_signals", _("Repeated hardship signals")
    EXTERNAL_SIGNAL = "external_signal", _("External signal")


class RiskRule(models.Model):
    """A risk rule (预警规则) as data: an evaluator with parameters, a severity and a sentence
    template that explains a hit in the household's own figures; in force between dates."""

    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=24, choices=RuleKind.choices)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    severity = models.PositiveSmallIntegerField(_("severity"), choices=Severity.choices)
    # Placeholders name the figures of the snapshot: "per-capita income {per_capita} 元 …".
    template = models.CharField(_("explanation template"), max_length=300)
    # The same template in other languages by language code: {"zh-hans": "人均收入{per_capita}元…"}
    # `template` is the English one; alerts store the text in the site language (see rules.py).
    translations = models.JSONField(_("template translations"), default=dict, blank=True)
    # The assistance program whose recipients this rule does not flag (blank: none).
    program = models.CharField(_("matching assistance program"), max_length=20, blank=True)
    valid_from = models.DateField(_("effective from"))
    valid_to = models.DateField(_("effective to"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("risk rule")
        verbose_name_plural = _("risk rules")
        ordering = ["code", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "valid_from"], name="one_rule_version_per_start"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="rule_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SignalSource(models.TextChoices):
    CASES = "cases", _("Cases loop")
    ELDERCARE = "eldercare", _("Elderly-care alarms")
    EXTERNAL = "external", _("External file")


class SignalKind(models.TextChoices):
    HOSPITAL_BILL = "hospital_bill", _("Hospital bill")  # 大额医疗费用
    UTILITY_ARREARS = "utility_arrears", _("Utility arrears")  # 水电气欠费
    SCHOOL_FEE_WAIVER = "school_fee_waiver", _("School-fee waiver")  # 学费减免
    UNEMPLOYMENT = "unemployment", _("Unemployment registration")  # 失业登记
    HARDSHIP_CASE = "hardship_case", _("Hardship-related case")
    ALARM = "alarm", _("Repeated alarm")


class Signal(models.Model):
    """A hardship signal (风险信号) about a household, fed by other modules or imported. `key`
    makes feeding idempotent: the same signal from the same source is stored once."""

    household = models.ForeignKey(
        "people.Household", on_delete=models.PROTECT, related_name="risk_signals"
    )
    person = models.ForeignKey(
        "people.Person", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source = models.CharField(_("source"), max_length=12, choices=SignalSource.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=SignalKind.choices)
    occurred_on = models.DateField(_("date"))
    amount = models.DecimalField(
        _("amount (yuan)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    details = models.JSONField(_("details"), default=dict, blank=True)
    key = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    place_path = models.CharField(max_length=255, editable=False)

    objects = MonitoringQuerySet.as_manager()

    class Meta:
        verbose_name = _("risk signal")
        verbose_name_plural = _("risk signals")
        ordering = ["-occurred_on", "-id"]
        indexes = [models.Index(fields=["household", "kind", "occurred_on"], name="signal_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="signal_amount_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.occurred_on}"

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.household.place_path
        super().save(*args, **kwargs)


class RoundState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ScreeningRound(models.Model):
    """A screening round (排查) over a place, run in the background; its report is `counts`."""

    place = models.ForeignKey("places.Place", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(
        _("state"), max_length=8, choices=RoundState.choices, default=RoundState.QUEUED
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    as_of = models.DateField(_("as of"))
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    # {"by_rule": {...}, "by_severity": {...}, "by_street": {...}, "opened": n, "resolved": n}
    counts = models.JSONField(default=dict, blank=True)
    failure = models.TextField(blank=True)
    place_path = models.CharField(max_length=255, editable=False)

    objects = MonitoringQuerySet.as_manager()

    class Meta:
        verbose_name = _("screening round")
        verbose_name_plural = _("screening rounds")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["place"],
                condition=Q(state__in=["queued", "running"]),
                name="one_running_round_per_place",
                violation_error_message=_("A screening round of this place is already running."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.place} {self.as_of}"

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.place.path
        super().save(*args, **kwargs)


class AlertState(models.TextChoices):
    OPEN = "open", _("Open")  # waiting for a visit
    VISITING = "visiting", _("Visit in progress")
    REFERRED = "referred", _("Referred")
    RESOLVED = "resolved", _("Resolved")
    # Dismissed by the community with a reason (a false alarm); `resolution` holds the reason.
    DISMISSED = "dismissed", _("Dismissed")


OPEN_ALERT_STATES = ("open", "visiting")


class Alert(models.Model):
    """An alert (预警): a rule's hit on a household, with the figures it was computed from, so it
    stays explainable after the data change. One open alert per household and rule."""

    household = models.ForeignKey(
        "people.Household", on_delete=models.PROTECT, related_name="alerts"
    )
    rule = models.ForeignKey(RiskRule, on_delete=models.PROTECT, related_name="alerts")
    # The rule's code, repeated: "one open alert per household and rule" spans rule versions.
    rule_code = models.SlugField(max_length=40)
    severity = models.PositiveSmallIntegerField(_("severity"), choices=Severity.choices)
    explanation = models.CharField(_("explanation"), max_length=500)
    snapshot = models.JSONField(_("figures"), default=dict)
    state = models.CharField(
        _("state"), max_length=10, choices=AlertState.choices, default=AlertState.OPEN
    )
    resolution = models.CharField(_("resolution"), max_length=300, blank=True)
    screening_round = models.ForeignKey(
        ScreeningRound, on_delete=models.PROTECT, null=True, blank=True, related_name="alerts"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Set when screening resolved the alert itself (its condition no longer held); an alert
    # closed by people (a visit, a referral, a dismissal) keeps False, and screening does not
    # raise it again within the rule's quiet period (see screening.py).
    closed_by_screening = models.BooleanField(
        _("closed by screening"), default=False, editable=False
    )
    place_path = models.CharField(max_length=255, editable=False)
    street_path = models.CharField(max_length=255, editable=False)

    objects = MonitoringQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-severity", "-opened_at"]
        indexes = [
            models.Index(
                fields=["place_path"], name="alert_path_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["state", "rule_code"], name="alert_state_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["household", "rule_code"],
                condition=Q(state__in=OPEN_ALERT_STATES),
                name="one_open_alert_per_household_and_rule",
            ),
        ]

    def __str__(self) -> str:
        return self.explanation

    def save(self, *args, **kwargs) -> None:
        from linli.people.models import street_path_of

        self.place_path = self.household.place_path
        self.street_path = street_path_of(self.place_path)
        super().save(*args, **kwargs)


class VisitState(models.TextChoices):
    PENDING = "pending", _("To visit")
    DONE = "done", _("Visited")
    ESCALATED = "escalated", _("Escalated to the community")
    CANCELLED = "cancelled", _("Cancelled")


class VisitOutcome(models.TextChoices):
    NO_RISK = "no_risk", _("No risk found")
    REFER_ASSISTANCE = "refer_assistance", _("Referred to assistance")
    REFER_SERVICE = "refer_service", _("Referred to another service or a case")
    UNREACHABLE = "unreachable", _("Could not reach")


class HomeVisit(models.Model):
    """A home-visit task (入户走访) for the grid worker of the household's grid, with a deadline
    by severity; attempts are VisitRecords."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="visits")
    household = models.ForeignKey("people.Household", on_delete=models.PROTECT, related_name="+")
    grid = models.ForeignKey("places.Place", on_delete=models.PROTECT, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    due_at = models.DateTimeField(_("due"))
    state = models.CharField(
        _("state"), max_length=10, choices=VisitState.choices, default=VisitState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    outcome = models.CharField(
        _("outcome"), max_length=20, choices=VisitOutcome.choices, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Set by the periodic job (visits_tasks.py) to the deadline a pending visit passed; cleared
    # when the visit is rescheduled or ends.
    overdue_since = models.DateTimeField(_("overdue since"), null=True, blank=True, editable=False)
    place_path = models.CharField(max_length=255, editable=False)

    objects = MonitoringQuerySet.as_manager()

    class Meta:
        verbose_name = _("home visit")
        verbose_name_plural = _("home visits")
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert"], condition=Q(state="pending"), name="one_pending_visit_per_alert"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.household} {self.due_at:%Y-%m-%d}"

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.household.place_path
        super().save(*args, **kwargs)


class VisitRecord(models.Model):
    """One attempt at a visit: when, who was met, what was found, photos, position, outcome.
    `idempotency_key` makes a record resent on a bad connection land once."""

    visit = models.ForeignKey(HomeVisit, on_delete=models.PROTECT, related_name="records")
    idempotency_key = models.CharField(max_length=64, unique=True)
    visited_at = models.DateTimeField(_("visited at"))
    visitor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    met = models.CharField(_("who was met"), max_length=200, blank=True)
    findings = models.TextField(_("findings"), blank=True)
    photos = models.JSONField(_("photos"), default=list, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=VisitOutcome.choices)
    # What the outcome opened: {"application": id} or {"case": id}.
    referral = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("visit record")
        verbose_name_plural = _("visit records")
        ordering = ["-visited_at", "-id"]

    def __str__(self) -> str:
        return f"{self.visited_at:%Y-%m-%d} {self.get_outcome_display()}"


class KeyHousehold(models.Model):
    """A key household (重点户) followed up on a schedule until released with a reason."""

    household = models.ForeignKey(
        "people.Household", on_delete=models.PROTECT, related_name="key_records"
    )
    reason = models.CharField(_("reason"), max_length=300)
    alert = models.ForeignKey(
        Alert, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    since = models.DateField(_("since"))
    follow_up_months = models.PositiveSmallIntegerField(_("follow up every (months)"), default=1)
    next_follow_up_on = models.DateField(_("next follow-up"))
    released_on = models.DateField(_("released on"), null=True, blank=True)
    release_reason = models.CharField(_("release reason"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The latest follow-up's date; the next one is due `follow_up_months` after it.
    last_follow_up_on = models.DateField(_("last follow-up"), null=True, blank=True)
    # Set by the periodic job (keys_tasks.py) to the first day past `next_follow_up_on`;
    # cleared by a follow-up or a release.
    overdue_since = models.DateField(_("overdue since"), null=True, blank=True)
    place_path = models.CharField(max_length=255, editable=False)
    # The household's grid (the first five levels of its path): counts GROUP BY it.
    grid_path = models.CharField(max_length=255, editable=False, default="")

    objects = MonitoringQuerySet.as_manager()

    class Meta:
        verbose_name = _("key household")
        verbose_name_plural = _("key households")
        ordering = ["next_follow_up_on", "id"]
        indexes = [
            models.Index(
                fields=["place_path"], name="key_path_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["grid_path", "next_follow_up_on"], name="key_grid_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["household"],
                condition=Q(released_on__isnull=True),
                name="one_open_key_record_per_household",
            ),
            models.CheckConstraint(
                condition=Q(follow_up_months__gte=1), name="key_follow_up_at_least_monthly_step"
            ),
        ]

    def __str__(self) -> str:
        return str(self.household)

    def save(self, *args, **kwargs) -> None:
        from linli.places.models import PlaceLevel

        self.place_path = self.household.place_path
        parts = self.place_path.split("/")[: PlaceLevel.GRID]
        self.grid_path = "/".join(parts) + "/" if len(parts) == PlaceLevel.GRID else ""
        super().save(*args, **kwargs)


class FollowUp(models.Model):
    """A follow-up of a key household (跟踪回访)."""

    key_household = models.ForeignKey(
        KeyHousehold, on_delete=models.PROTECT, related_name="follow_ups"
    )
    done_on = models.DateField(_("done on"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(_("note"), blank=True)
    idempotency_key = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["-done_on", "-id"]

    def __str__(self) -> str:
        return f"{self.key_household} {self.done_on}"


class ImportState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    CHECKING = "checking", _("Checking the rows")  # claimed by a worker
    DONE = "done", _("Done")
    REJECTED = "rejected", _("Rejected: nothing loaded")
    FAILED = "failed", _("Failed: nothing loaded")


class SignalFeed(models.Model):
    """How far the periodic collection has read one signal provider (see core.risk_signals):
    the next run asks it for what happened since `collected_until` (less a small overlap; the
    signals' keys make reading twice harmless)."""

    name = models.CharField(max_length=32, unique=True)
    collected_until = models.DateTimeField(null=True, blank=True)
    collected_at = models.DateTimeField(null=True, blank=True)
    added = models.PositiveIntegerField(default=0)  # signals added by the last run

    class Meta:
        verbose_name = _("signal feed")
        verbose_name_plural = _("signal feeds")

    def __str__(self) -> str:
        return self.name


class SignalImportQuerySet(models.QuerySet):
    """An import is its uploader's own work (like the registry's); administrators see all."""

    def restrict(self, actor, action: str = "view") -> SignalImportQuerySet:
        if actor is None or not actor.is_authenticated or not actor.is_active:
            return self.none()
        if actor.sees_everything:
            return self
        if not actor.has_perm_code("monitoring.import"):
            return self.none()
        return self.filter(created_by=actor)

    def get_for(self, actor, pk, action: str = "view"):
        from linli.core.errors import NotFound

        try:
            return self.restrict(actor, action).get(pk=pk)
        except (self.model.DoesNotExist, ValueError, TypeError):
            raise NotFound() from None


class SignalImport(models.Model):
    """An Excel/CSV file of external signals (hospital bills, utility arrears, …), checked row
    by row; all or nothing, like the registry import."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    file = models.FileField(upload_to="signal_imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=200)
    language = models.CharField(max_length=16, default=settings.LANGUAGE_CODE)
    state = models.CharField(
        _("state"), max_length=10, choices=ImportState.choices, default=ImportState.QUEUED
    )
    total_rows = models.PositiveIntegerField(default=0)
    loaded = models.PositiveIntegerField(default=0)
    # Each: {"sheet", "row", "column", "message"}.
    errors = models.JSONField(default=list, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    # Good rows already imported before (the same file again): counted, not added twice.
    already_present = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True)
    # Stamped with every progress write; a queued-and-claimed import whose stamp is old lost
    # its worker (see signals.signal_imports_fail_stale).
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = SignalImportQuerySet.as_manager()

    class Meta:
        verbose_name = _("signal import")
        verbose_name_plural = _("signal imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.original_name

    @property
    def finished(self) -> bool:
        return self.state in (ImportState.DONE, ImportState.REJECTED, ImportState.FAILED)

    @property
    def percent(self) -> int:
        if self.finished:
            return 100
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0
