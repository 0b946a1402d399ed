"""Cases (案件): one network for governance (一网统管), with its taxonomy, calendar and outbox."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.core.audit import Audited
from linli.core.masking import mask_phone
from linli.core.roles import Role
from linli.core.scoping import ScopedQuerySet

MAX_DESCRIPTION = 2000
MAX_NOTE = 2000


class CategoryKind(models.TextChoices):
    COMPONENT = "component", _("Component")  # 部件
    EVENT = "event", _("Event")  # 事件


class Priority(models.IntegerChoices):
    URGENT = 1, _("Urgent")
    HIGH = 2, _("High")
    NORMAL = 3, _("Normal")
    LOW = 4, _("Low")


class Category(models.Model):
    """A major or minor class of the case taxonomy (案件分类), held as data.

    Minor classes carry the handling defaults: department, priority, whether anonymous reports
    are accepted, and the limit of each stage in working hours (clock hours when
    `round_the_clock`, for emergencies that do not wait for Monday).
    """

    code = models.CharField(_("code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=CategoryKind.choices)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="minors",
        verbose_name=_("major class"),
    )
    department = models.ForeignKey(
        "core.Department",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        verbose_name=_("default department"),
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    register_hours = models.DecimalField(
        _("register within (hours)"), max_digits=6, decimal_places=2, default=1
    )
    dispatch_hours = models.DecimalField(
        _("dispatch within (hours)"), max_digits=6, decimal_places=2, default=1
    )
    handle_hours = models.DecimalField(
        _("handle within (hours)"), max_digits=6, decimal_places=2, default=16
    )
    verify_hours = models.DecimalField(
        _("verify within (hours)"), max_digits=6, decimal_places=2, default=8
    )
    round_the_clock = models.BooleanField(_("limits in clock hours"), default=False)
    anonymous_allowed = models.BooleanField(_("anonymous reports allowed"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("case category")
        verbose_name_plural = _("case categories")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    register_hours__gt=0,
                    dispatch_hours__gt=0,
                    handle_hours__gt=0,
                    verify_hours__gt=0,
                ),
                name="category_limits_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        from .selectors import reportable_categories  # the selectors import this module

        reportable_categories.changed()

    @property
    def total_hours(self):
        return self.register_hours + self.dispatch_hours + self.handle_hours + self.verify_hours


class CaseState(models.TextChoices):
    REPORTED = "reported", _("Reported")  # 上报
    REGISTERED = "registered", _("Registered")  # 立案
    REJECTED = "rejected", _("Not registered")  # 不予立案
    DISPATCHED = "dispatched", _("Dispatched")  # 派遣
    IN_HAND = "in_hand", _("Being handled")  # 处置
    HANDLED = "handled", _("Handled, awaiting verification")  # 反馈
    VERIFIED = "verified", _("Verified")  # 核查
    CLOSED_FIXED = "closed_fixed", _("Closed: fixed")  # 结案
    CLOSED_OTHER = "closed_other", _("Closed: not fixed")
    RATED = "rated", _("Rated")  # 评价


# States whose stage runs against a deadline (the overdue sweep reads only these).
TIMED_STATES = (
    CaseState.REPORTED,
    CaseState.REGISTERED,
    CaseState.DISPATCHED,
    CaseState.IN_HAND,
    CaseState.HANDLED,
    CaseState.VERIFIED,
)
CLOSED_STATES = (CaseState.CLOSED_FIXED, CaseState.CLOSED_OTHER, CaseState.RATED)


class CloseReason(models.TextChoices):
    FIXED = "fixed", _("Fixed")
    NOT_OUR_REMIT = "not_our_remit", _("Not our remit")
    DUPLICATE = "duplicate", _("Duplicate")
    CANNOT_FIX = "cannot_fix", _("Cannot be fixed")


class Tier(models.IntegerChoices):
    """Who holds the case: the lowest tier that can (小事不出网格, 大事不出社区).

    The values are the place levels, so an actor bound to a place of level L acts on cases of
    tier L and below (a community worker on community and grid cases).
    """

    GRID = 5, _("Grid")
    COMMUNITY = 4, _("Community")
    STREET = 3, _("Street")
    DISTRICT = 2, _("District")


class Source(models.TextChoices):
    RESIDENT = "resident", _("Resident")
    GRID_PATROL = "grid_patrol", _("Grid worker patrol")
    COURIER = "courier", _("Mobile grid worker")  # 流动网格员
    HOTLINE = "hotline", _("12345 hotline")
    MODULE = "module", _("Another module")
    OPEN311 = "open311", _("Open311 client")


class WarningLevel(models.IntegerChoices):
    NONE = 0, _("On time")
    YELLOW = 1, _("Yellow: deadline near")
    RED = 2, _("Red: overdue")


class CaseQuerySet(ScopedQuerySet):
    permission_prefix = "cases"

    def restrict(self, actor, action: str = "view"):
        if (
            actor is not None
            and actor.is_authenticated
            and actor.is_active
            and actor.role == Role.DEPARTMENT_HANDLER
            and not actor.is_superuser
        ):
            # Departments see what was dispatched to them or whistled to them, wherever it is.
            if not actor.has_perm_code(f"{self.permission_prefix}.{action}"):
                return self.none()
            departments = actor.departments.values("pk")
            summoned = WhistleSummons.objects.filter(department__in=departments).values(
                "whistle__case_id"
            )
            return self.filter(
                Q(department__in=departments) | Q(handler=actor) | Q(pk__in=summoned)
            )
        return super().restrict(actor, action)

    def for_resident(self, actor):
        return self.filter(reporter=actor)

    def open(self):
        return self.filter(state__in=TIMED_STATES)


class Case(Audited):
    """A reported problem and its closed loop (一网统管)."""

    # Unique by a constraint rather than unique=True: on PostgreSQL that adds a second,
    # pattern-matching index nothing uses (numbers are looked up whole) to every insert.
    number = models.CharField(_("case number"), max_length=20)
    category = models.ForeignKey(
        Category,
        db_index=False,
        on_delete=models.PROTECT,
        related_name="cases",
        verbose_name=_("category"),
    )
    description = models.TextField(_("description"), max_length=MAX_DESCRIPTION)
    address = models.CharField(_("address"), max_length=200, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    grid = models.ForeignKey(
        "places.Place",
        db_index=False,
        on_delete=models.PROTECT,
        related_name="cases",
        verbose_name=_("grid"),
    )
    place_path = models.CharField(max_length=255, editable=False)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        db_index=False,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reported_cases",
        verbose_name=_("reporter"),
    )
    # Staff who typed the report in for a caller (12345 hotline); the caller is the reporter.
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        db_index=False,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entered_cases",
        verbose_name=_("entered by"),
    )
    reporter_name = models.CharField(_("reporter name"), max_length=50, blank=True)
    reporter_phone = models.CharField(_("reporter phone"), max_length=20, blank=True)
    # Who sent the report, for idempotency: "u<user id>" or "p<hash of phone>".
    reporter_key = models.CharField(max_length=48, editable=False)
    idempotency_key = models.CharField(max_length=64, blank=True, editable=False)
    state = models.CharField(
        _("state"), max_length=16, choices=CaseState.choices, default=CaseState.REPORTED
    )
    tier = models.PositiveSmallIntegerField(_("tier"), choices=Tier.choices, default=Tier.GRID)
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices)
    department = models.ForeignKey(
        "core.Department",
        db_index=False,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cases",
        verbose_name=_("handling department"),
    )
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        db_index=False,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="handled_cases",
        verbose_name=_("handler"),
    )
    warning = models.PositiveSmallIntegerField(
        _("warning"), choices=WarningLevel.choices, default=WarningLevel.NONE
    )
    stage_started_at = models.DateTimeField(_("stage started"), null=True, blank=True)
    # Yellow from this moment (80 % of the stage's working time), red from the deadline.
    stage_warn_at = models.DateTimeField(_("stage warning from"), null=True, blank=True)
    stage_deadline = models.DateTimeField(_("stage deadline"), null=True, blank=True)
    due_at = models.DateTimeField(_("close by"), null=True, blank=True)
    rework_count = models.PositiveSmallIntegerField(_("rework count"), default=0)
    escalation_count = models.PositiveSmallIntegerField(_("escalations"), default=0)
    close_reason = models.CharField(
        _("close reason"), max_length=16, choices=CloseReason.choices, blank=True
    )
    merged_into = models.ForeignKey(
        "self",
        db_index=False,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_cases",
        verbose_name=_("merged into"),
    )
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    rating_comment = models.CharField(_("rating comment"), max_length=500, blank=True)
    # Open311 readers see a case's status, dates and position; its description and photos
    # (residents' words and pictures) only once staff have marked it public (公开).
    is_public = models.BooleanField(_("public"), default=False)
    reported_at = models.DateTimeField(_("reported at"), default=timezone.now)
    registered_at = models.DateTimeField(_("registered at"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("taken on at"), null=True, blank=True)
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    rated_at = models.DateTimeField(_("rated at"), null=True, blank=True)
    # Punctuality of each stage, fixed when the stage ends; statistics read these.
    registered_on_time = models.BooleanField(null=True)
    dispatched_on_time = models.BooleanField(null=True)
    handled_on_time = models.BooleanField(null=True)
    closed_on_time = models.BooleanField(null=True)
    # Book-keeping of the overdue sweep: which run last changed the row, and the warning and
    # tier before that change, so the run writes timeline and audit rows set-based.
    sweep_run = models.BigIntegerField(null=True, blank=True, editable=False)
    sweep_prev_warning = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    sweep_prev_tier = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    # Foreign keys carry no index of their own (db_index=False): each index costs every write
    # of the sweep and the loop, so the composite indexes below serve the lookups instead;
    # places, users and categories are never deleted, so no PROTECT check needs one.
    objects = CaseQuerySet.as_manager()

    audit_fields = (
        "category",
        "description",
        "address",
        "lat",
        "lng",
        "grid",
        "reporter_phone",
        "state",
        "tier",
        "priority",
        "department",
        "handler",
        "warning",
        "stage_deadline",
        "close_reason",
        "merged_into",
        "rating",
        "rework_count",
        "is_public",
    )
    audit_masks = {"reporter_phone": mask_phone}

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-reported_at", "-id"]
        indexes = [
            models.Index(
                fields=["place_path"], name="case_path_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["reported_at"], name="case_reported_idx"),
            # The overdue sweep: open rows not yet red, by deadline; not yet warned, by the
            # warning moment. Both shrink as rows are warned or closed.
            models.Index(
                fields=["stage_deadline"],
                name="case_red_due_idx",
                condition=Q(state__in=TIMED_STATES, warning__lt=2),
            ),
            models.Index(
                fields=["stage_warn_at"],
                name="case_yellow_due_idx",
                condition=Q(state__in=TIMED_STATES, warning=0),
            ),
            models.Index(
                fields=["sweep_run"],
                name="case_sweep_run_idx",
                condition=Q(sweep_run__isnull=False),
            ),
            # Duplicate candidates: one category, recent.
            models.Index(fields=["category", "reported_at"], name="case_category_time_idx"),
            models.Index(fields=["department", "state"], name="case_department_idx"),
            models.Index(fields=["handler", "state"], name="case_handler_idx"),
            models.Index(fields=["reporter", "state"], name="case_reporter_idx"),
            models.Index(
                fields=["merged_into"],
                name="case_merged_into_idx",
                condition=Q(merged_into__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="case_number_unique"),
            models.UniqueConstraint(
                fields=["reporter_key", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="case_idempotency_per_reporter",
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="case_rating_1_to_5",
                violation_error_message=_("A rating is from 1 to 5."),
            ),
            models.CheckConstraint(
                condition=~Q(state__in=CLOSED_STATES) | ~Q(close_reason=""),
                name="case_closed_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(lat__isnull=True, lng__isnull=True)
                | Q(lat__gte=-90, lat__lte=90, lng__gte=-180, lng__lte=180),
                name="case_point_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.state in TIMED_STATES

    @property
    def accepts_photos(self) -> bool:
        """Photos document an open case; a closed or rejected one is a finished record."""
        return self.state not in (*CLOSED_STATES, CaseState.REJECTED)


class CaseEvent(models.Model):
    """One step of a case's timeline: a transition, a warning, a report-in."""

    # No index per foreign key: case_event_idx serves "this case's events", and users are
    # never deleted (as on Case).
    case = models.ForeignKey(Case, db_index=False, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_index=False, on_delete=models.PROTECT, null=True, blank=True
    )
    action = models.CharField(max_length=32)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16, blank=True)
    note = models.TextField(blank=True, max_length=MAX_NOTE)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"], name="case_event_idx")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.action}"


class WhistleKind(models.TextChoices):
    COORDINATION = "coordination", _("Coordination")  # 协调类
    EMERGENCY = "emergency", _("Emergency")  # 应急类
    ROUTINE = "routine", _("Routine")  # 日常类


class Whistle(models.Model):
    """The district "blows the whistle" (吹哨) on a case: it summons a lead department and
    co-handlers, each of which reports in (报到) by a deadline."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="whistle")
    kind = models.CharField(_("kind"), max_length=16, choices=WhistleKind.choices)
    blown_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name=_("blown by")
    )
    blown_at = models.DateTimeField(_("blown at"), default=timezone.now)
    note = models.TextField(_("note"), blank=True, max_length=MAX_NOTE)

    class Meta:
        verbose_name = _("whistle")
        verbose_name_plural = _("whistles")

    def __str__(self) -> str:
        return f"{self.case} {self.kind}"


class WhistleSummons(models.Model):
    """One department summoned by a whistle; the lead's handled report lets the case close."""

    whistle = models.ForeignKey(Whistle, on_delete=models.CASCADE, related_name="summons")
    department = models.ForeignKey(
        "core.Department", on_delete=models.PROTECT, verbose_name=_("department")
    )
    is_lead = models.BooleanField(_("lead"), default=False)
    report_in_by = models.DateTimeField(_("report in by"))
    reported_in_at = models.DateTimeField(_("reported in at"), null=True, blank=True)
    reported_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    overdue = models.BooleanField(_("report-in overdue"), default=False)
    handled_at = models.DateTimeField(_("lead reported handled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("whistle summons")
        verbose_name_plural = _("whistle summonses")
        constraints = [
            models.UniqueConstraint(fields=["whistle", "department"], name="summons_once"),
            models.UniqueConstraint(
                fields=["whistle"], condition=Q(is_lead=True), name="summons_one_lead"
            ),
        ]
        indexes = [
            models.Index(
                fields=["report_in_by"],
                name="summons_due_idx",
                condition=Q(reported_in_at__isnull=True, overdue=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.whistle_id} {self.department_id}"

    def is_late(self, now: dt.datetime) -> bool:
        """Reported in after the deadline, or not yet and the deadline has passed."""
        if self.reported_in_at is not None:
            return self.reported_in_at > self.report_in_by
        return self.overdue or now > self.report_in_by


class SweepRun(models.Model):
    """One pass of the overdue sweep, with what it changed."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    now = models.DateTimeField()
    yellow = models.PositiveIntegerField(default=0)
    red = models.PositiveIntegerField(default=0)
    escalated = models.PositiveIntegerField(default=0)
    summons_overdue = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("overdue sweep")
        verbose_name_plural = _("overdue sweeps")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"sweep {self.pk} at {self.now:%Y-%m-%d %H:%M}"


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat")


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    DEAD = "dead", _("Given up")


class Outbox(models.Model):
    """A notification to send, written in the transaction of the change it tells of.

    `dedupe_key` makes each (change, recipient, channel) one row; the sender locks rows with
    SKIP LOCKED, so concurrent senders never send one row twice.
    """

    created_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    recipient = models.ForeignKey(  # no index: users are never deleted, nothing looks it up
        settings.AUTH_USER_MODEL, db_index=False, on_delete=models.CASCADE, null=True, blank=True
    )
    phone = models.CharField(max_length=20, blank=True)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, null=True, blank=True)
    kind = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=120)
    status = models.CharField(
        max_length=8, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = _("outgoing notification")
        verbose_name_plural = _("outgoing notifications")
        # A constraint, not unique=True, which would add an unused pattern index on PostgreSQL.
        constraints = [models.UniqueConstraint(fields=["dedupe_key"], name="outbox_dedupe_key")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_due_idx",
                condition=Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.kind} {self.status}"


class PhotoStage(models.TextChoices):
    BEFORE = "before", _("Before handling")  # 处置前
    AFTER = "after", _("After handling")  # 处置后


class CasePhoto(models.Model):
    """A photo of a case (案件照片). The original is kept privately as uploaded; only the public
    copy, re-encoded without EXIF (and so without the GPS position), is ever served."""

    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="photos", verbose_name=_("case")
    )
    original = models.FileField(_("original"), upload_to="cases/originals/%Y/%m/")
    public = models.FileField(_("public copy"), upload_to="cases/public/%Y/%m/")
    content_type = models.CharField(_("content type"), max_length=32)
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    size = models.PositiveIntegerField(_("size of the original (bytes)"))
    # Taken at the report (the problem) or at the handling (the result), to compare the two.
    stage = models.CharField(
        _("stage"), max_length=8, choices=PhotoStage.choices, default=PhotoStage.BEFORE
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        db_index=False,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("case photo")
        verbose_name_plural = _("case photos")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.case_id} photo {self.pk}"
