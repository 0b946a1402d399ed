from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.core.audit import Audited

from .common import AssistanceQuerySet, BenefitRecordQuerySet, OwnRecordQuerySet, Program


class ApplicationChannel(models.TextChoices):
    ONLINE = "online", _("Online by the resident")
    WINDOW = "window", _("At the service window")
    GRID_WORKER = "grid_worker", _("By a worker for the resident")  # 代办, consent recorded
    REFERRAL = "referral", _("Referred by another module")  # 监测预警, 一站式服务 …


class ApplicationState(models.TextChoices):
    """States of an application; the allowed moves are assistance.transitions.TRANSITIONS."""

    SUBMITTED = "submitted", _("Submitted")  # 申请
    ACCEPTED = "accepted", _("Accepted: household investigation")  # 受理, 入户调查
    INVESTIGATED = "investigated", _("Investigated")  # 调查完成, 待审核
    IN_NOTICE = "in_notice", _("In public notice")  # 公示
    AWAITING_DECISION = "awaiting_decision", _("Awaiting decision")  # 待审批
    SAMPLED = "sampled", _("Sampled by the district")  # 特困: 区县抽查
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class TemporaryKind(models.TextChoices):
    EMERGENCY = "emergency", _("Emergency")  # 急难型
    EXPENDITURE = "expenditure", _("Expenditure")  # 支出型


class ApprovalTier(models.TextChoices):
    STREET = "street", _("Street")  # 乡镇(街道)
    DISTRICT = "district", _("District")  # 县级民政部门


class Classified:
    """A row with a program and the engine's classification code ("dispersed/partial")."""

    program: str
    classification: str

    @property
    def classification_label(self) -> str:
        """The classification in words, for pages, notices and Excel (never the code)."""
        from ..engine import classification_label  # the engine imports these models

        return classification_label(self.program, self.classification)


class Application(Classified, Audited):
    """An application for assistance (救助申请) by or for a household."""

    household = models.ForeignKey(
        "people.Household",
        on_delete=models.PROTECT,
        related_name="assistance_applications",
        verbose_name=_("household"),
    )
    # The member applying (户主 usually); for 特困 and 单人保 the person covered.
    applicant = models.ForeignKey(
        "people.Person",
        on_delete=models.PROTECT,
        related_name="assistance_applications",
        verbose_name=_("applicant"),
    )
    program = models.CharField(_("program"), max_length=20, choices=Program.choices)
    temporary_kind = models.CharField(
        _("kind of temporary assistance"), max_length=12, choices=TemporaryKind.choices, blank=True
    )
    # A single member covered alone (单人保) rather than the household.
    covers_person_only = models.BooleanField(_("covers the applicant alone"), default=False)
    channel = models.CharField(_("channel"), max_length=12, choices=ApplicationChannel.choices)
    # The worker acting for the resident (代办) and the consent they recorded.
    proxy = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("handled for the resident by"),
    )
    consent_note = models.CharField(_("resident's consent"), max_length=200, blank=True)
    # Where a referral came from ("monitoring alert 123"), shown as the evidence.
    referral_source = models.CharField(_("referred from"), max_length=200, blank=True)
    referral_evidence = models.JSONField(_("referral evidence"), default=dict, blank=True)
    reason = models.TextField(_("reason for applying"), blank=True)
    requested_amount = models.DecimalField(
        _("amount requested (yuan)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    # 信用承诺: decided on a signed pledge, verified afterwards (先办后核).
    credit_route = models.BooleanField(_("credit pledge"), default=False)
    pledge_signed_at = models.DateTimeField(_("pledge signed at"), null=True, blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verification_failed = models.BooleanField(_("verification failed"), default=False)
    # 先行救助: an emergency paid before the paperwork, documented by this date.
    paid_first = models.BooleanField(_("paid first"), default=False)
    documents_due = models.DateField(_("documents due"), null=True, blank=True)

    state = models.CharField(
        _("state"),
        max_length=20,
        choices=ApplicationState.choices,
        default=ApplicationState.SUBMITTED,
    )
    approval_tier = models.CharField(
        _("approving tier"), max_length=10, choices=ApprovalTier.choices, blank=True
    )
    # Deadlines on the working-day calendar (core.workdays.due_date).
    investigation_due = models.DateField(_("investigation due"), null=True, blank=True)
    notice_from = models.DateField(_("public notice from"), null=True, blank=True)
    notice_to = models.DateField(_("public notice to"), null=True, blank=True)
    decision_due = models.DateField(_("decision due"), null=True, blank=True)
    extended = models.BooleanField(_("time limit extended"), default=False)
    extension_reason = models.CharField(_("reason for the extension"), max_length=200, blank=True)
    # The day the street accepted it (受理): the total time limit counts from here.
    accepted_on = models.DateField(_("accepted on"), null=True, blank=True)
    # 特困: the day the street approved it, and whether the district drew it for its sample.
    street_approved_on = models.DateField(_("approved by the street on"), null=True, blank=True)
    district_sampled = models.BooleanField(_("sampled by the district"), default=False)
    # 先行救助: the day the paperwork came in after the payment.
    documents_received_on = models.DateField(_("documents received on"), null=True, blank=True)
    # Set by the periodic job when the current stage's time limit passed; cleared by each step.
    overdue_since = models.DateField(_("overdue since"), null=True, blank=True)
    # The engine's answer the decision rests on, frozen with the policy version used.
    assessment = models.JSONField(_("assessment"), default=dict, blank=True)
    policy_version = models.ForeignKey(
        "assistance.PolicyVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("policy version"),
    )
    classification = models.CharField(_("classification"), max_length=40, blank=True)
    amount = models.DecimalField(
        _("amount decided (yuan)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    decision_note = models.TextField(_("decision note"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("entered by"),
    )
    created_at = models.DateTimeField(_("submitted at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    place_path = models.CharField(max_length=255, editable=False)

    objects = AssistanceQuerySet.as_manager()

    audit_fields = (
        "household",
        "applicant",
        "program",
        "temporary_kind",
        "channel",
        "proxy",
        "state",
        "approval_tier",
        "credit_route",
        "paid_first",
        "classification",
        "amount",
        "decision_due",
        "extended",
        "extension_reason",
        "investigation_due",
        "notice_from",
        "notice_to",
        "documents_due",
        "documents_received_on",
        "district_sampled",
        "decision_note",
    )

    class Meta:
        verbose_name = _("assistance application")
        verbose_name_plural = _("assistance applications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["place_path"],
                name="application_path_idx",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(fields=["state", "decision_due"], name="application_state_idx"),
        ]
        constraints = [
            # One open application per household and program (a second would be decided twice).
            models.UniqueConstraint(
                fields=["household", "program"],
                condition=Q(
                    state__in=[
                        "submitted",
                        "accepted",
                        "investigated",
                        "in_notice",
                        "awaiting_decision",
                        "sampled",
                    ]
                )
                & ~Q(program="temporary"),
                name="one_open_application_per_household_and_program",
                violation_error_message=_(
                    "This household already has an open application for this program."
                ),
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="application_amount_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(program="temporary") | ~Q(temporary_kind=""),
                name="temporary_application_has_kind",
                violation_error_message=_(
                    "Say whether the temporary assistance is emergency or expenditure."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_program_display()} · {self.household}"

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.household.place_path
        super().save(*args, **kwargs)


class InvestigationVisit(models.Model):
    """The household investigation (入户调查) by the community: when, who, what was found."""

    application = models.ForeignKey(
        Application, on_delete=models.PROTECT, related_name="visits", verbose_name=_("application")
    )
    visited_on = models.DateField(_("visited on"))
    visitors = models.CharField(_("visited by"), max_length=200)
    findings = models.TextField(_("findings"))
    photos = models.JSONField(_("photos"), default=list, blank=True)  # stored file names
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("household investigation")
        verbose_name_plural = _("household investigations")
        ordering = ["-visited_on", "-id"]

    def __str__(self) -> str:
        return f"{self.visited_on} {self.visitors}"


class Objection(models.Model):
    """An objection raised during the public notice (公示异议), recorded for the decider."""

    application = models.ForeignKey(
        Application,
        on_delete=models.PROTECT,
        related_name="objections",
        verbose_name=_("application"),
    )
    received_on = models.DateField(_("received on"))
    content = models.TextField(_("objection"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("objection to a public notice")
        verbose_name_plural = _("objections to public notices")
        ordering = ["received_on", "id"]

    def __str__(self) -> str:
        return f"{self.received_on}"


class BenefitStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PHASING_OUT = "phasing_out", _("Gradual exit")  # 渐退
    SUSPENDED = "suspended", _("Suspended")
    STOPPED = "stopped", _("Stopped")


class Benefit(Classified, Audited):
    """An approved, running entitlement (救助对象): who receives what, monthly, from when."""

    household = models.ForeignKey(
        "people.Household",
        on_delete=models.PROTECT,
        related_name="assistance_benefits",
        verbose_name=_("household"),
    )
    # The payee; for 特困 and 单人保 also the person covered.
    recipient = models.ForeignKey(
        "people.Person",
        on_delete=models.PROTECT,
        related_name="assistance_benefits",
        verbose_name=_("recipient"),
    )
    program = models.CharField(_("program"), max_length=20, choices=Program.choices)
    classification = models.CharField(_("classification"), max_length=40, blank=True)
    covers_person_only = models.BooleanField(_("covers the recipient alone"), default=False)
    persons_covered = models.PositiveSmallIntegerField(_("persons covered"), default=1)
    monthly_amount = models.DecimalField(
        _("monthly amount (yuan)"), max_digits=12, decimal_places=2
    )
    start_month = models.DateField(_("paid from (month)"))  # first day of a month
    end_month = models.DateField(_("paid to (month)"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=BenefitStatus.choices, default=BenefitStatus.ACTIVE
    )
    status_reason = models.CharField(_("reason"), max_length=200, blank=True)
    # 渐退: the amount keeps being paid until this month, then stops.
    phase_out_until = models.DateField(_("gradual exit until"), null=True, blank=True)
    application = models.ForeignKey(
        Application, on_delete=models.PROTECT, null=True, blank=True, related_name="benefits"
    )
    policy_version = models.ForeignKey(
        "assistance.PolicyVersion", on_delete=models.PROTECT, related_name="+"
    )
    # Yearly, or half-yearly for unstable income (收入不稳定).
    review_months = models.PositiveSmallIntegerField(_("review every (months)"), default=12)
    # Income that changes from month to month (收入不稳定): reviewed half-yearly.
    income_unstable = models.BooleanField(_("income unstable"), default=False)
    next_review_on = models.DateField(_("next review"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    place_path = models.CharField(max_length=255, editable=False)
    street_path = models.CharField(max_length=255, editable=False)

    objects = AssistanceQuerySet.as_manager()

    audit_fields = (
        "recipient",
        "program",
        "classification",
        "persons_covered",
        "monthly_amount",
        "start_month",
        "end_month",
        "status",
        "status_reason",
        "phase_out_until",
        "income_unstable",
        "review_months",
        "next_review_on",
    )

    class Meta:
        verbose_name = _("benefit")
        verbose_name_plural = _("benefits")
        ordering = ["-start_month", "-id"]
        indexes = [
            models.Index(
                fields=["street_path", "program", "status"],
                name="benefit_street_idx",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops", "varchar_pattern_ops"],
            ),
            models.Index(
                fields=["place_path"], name="benefit_path_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "program"],
                condition=Q(status__in=["active", "phasing_out", "suspended"]),
                name="one_running_benefit_per_recipient_and_program",
                violation_error_message=_("This person already receives this program."),
            ),
            models.CheckConstraint(
                condition=Q(monthly_amount__gte=0), name="benefit_amount_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_program_display()} · {self.household}"

    def save(self, *args, **kwargs) -> None:
        from linli.people.models import street_path_of

        self.place_path = self.household.place_path
        self.street_path = street_path_of(self.place_path)
        super().save(*args, **kwargs)


class ReviewKind(models.TextChoices):
    PERIODIC = "periodic", _("Periodic review")  # 年审/半年审
    INCOME_RISE = "income_rise", _("Income rose")  # 渐退 check
    DEATH = "death", _("A member died")  # within 3 months
    VERIFICATION = "verification", _("Credit pledge verification")  # 先办后核


class ReviewState(models.TextChoices):
    DUE = "due", _("Due")
    OVERDUE = "overdue", _("Overdue")  # past due_on and not done; marked by a periodic job
    DONE = "done", _("Done")


class ReviewOutcome(models.TextChoices):
    """What a completed review decided (see assistance.benefits.review_complete)."""

    UNCHANGED = "unchanged", _("Continues unchanged")
    REASSESSED = "reassessed", _("Amount re-assessed")
    PHASE_OUT = "phase_out", _("Gradual exit")  # 渐退
    STOPPED = "stopped", _("Stopped")
    VERIFIED = "verified", _("Pledge verified")  # 先办后核: the pledge held
    VERIFICATION_FAILED = "verification_failed", _("Pledge failed verification")


class Review(models.Model):
    """A scheduled re-check of a benefit (动态管理), created and chased by periodic jobs."""

    benefit = models.ForeignKey(
        Benefit, on_delete=models.PROTECT, related_name="reviews", verbose_name=_("benefit")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=ReviewKind.choices)
    due_on = models.DateField(_("due on"))
    state = models.CharField(
        _("state"), max_length=8, choices=ReviewState.choices, default=ReviewState.DUE
    )
    outcome = models.CharField(
        _("outcome"), max_length=200, choices=ReviewOutcome.choices, blank=True
    )
    note = models.TextField(_("note"), blank=True)
    # The engine's re-assessment the outcome rests on (Assessment.as_json()), when one ran.
    assessment = models.JSONField(_("assessment"), default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    place_path = models.CharField(max_length=255, editable=False)

    objects = BenefitRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering = ["due_on", "id"]
        indexes = [
            models.Index(fields=["state", "due_on"], name="review_state_due_idx"),
            models.Index(
                fields=["place_path"], name="review_path_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["benefit", "kind", "due_on"], name="one_review_per_benefit_kind_and_day"
            ),
            models.CheckConstraint(
                condition=Q(state="done") | Q(outcome=""), name="open_review_has_no_outcome"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.due_on}"

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.benefit.place_path
        super().save(*args, **kwargs)


class Recovery(models.Model):
    """Money to recover (追回) from an overpaid benefit; deducted by later payment cycles or
    repaid. `recovered` only grows, never past `amount`."""

    benefit = models.ForeignKey(
        Benefit, on_delete=models.PROTECT, related_name="recoveries", verbose_name=_("benefit")
    )
    amount = models.DecimalField(_("amount to recover (yuan)"), max_digits=12, decimal_places=2)
    recovered = models.DecimalField(
        _("recovered (yuan)"), max_digits=12, decimal_places=2, default=0
    )
    reason = models.CharField(_("reason"), max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    place_path = models.CharField(max_length=255, editable=False)

    objects = BenefitRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("recovery")
        verbose_name_plural = _("recoveries")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0)
                & Q(recovered__gte=0)
                & Q(recovered__lte=models.F("amount")),
                name="recovery_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason} {self.amount}"

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.benefit.place_path
        super().save(*args, **kwargs)


class CreditPenalty(models.Model):
    """A period in which a person may not use the credit route (失信惩戒), after a pledge
    failed verification."""

    person = models.ForeignKey(
        "people.Person", on_delete=models.PROTECT, related_name="credit_penalties"
    )
    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="+")
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"))
    reason = models.CharField(_("reason"), max_length=200)
    place_path = models.CharField(max_length=255, editable=False)

    objects = OwnRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("credit penalty")
        verbose_name_plural = _("credit penalties")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="penalty_period_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.starts_on}–{self.ends_on}"

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.person.place_path
        super().save(*args, **kwargs)
