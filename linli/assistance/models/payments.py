from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .common import BenefitRecordQuerySet, Program, StaffOnlyQuerySet


class CycleState(models.TextChoices):
    GENERATING = "generating", _("Generating entitlements")
    REVIEW = "review", _("Under review")
    APPROVED = "approved", _("Approved")
    EXPORTED = "exported", _("Bank file issued")
    RECONCILED = "reconciled", _("Bank return imported")
    FAILED = "failed", _("Generation failed")


class PaymentCycle(models.Model):
    """A monthly payment run (资金发放批次) of one program in one street: entitlements generated,
    reviewed, approved by someone other than the preparer, sent to the bank, reconciled."""

    program = models.CharField(_("program"), max_length=20, choices=Program.choices)
    street = models.ForeignKey(
        "places.Place", on_delete=models.PROTECT, related_name="+", verbose_name=_("street")
    )
    month = models.DateField(_("month"))  # first day of the month paid for
    state = models.CharField(
        _("state"), max_length=12, choices=CycleState.choices, default=CycleState.GENERATING
    )
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("prepared by"),
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Progress of a long generation, written by the worker.
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    payment_count = models.PositiveIntegerField(_("payments"), default=0)
    total_amount = models.DecimalField(
        _("total (yuan)"), max_digits=16, decimal_places=2, default=0
    )
    failure = models.TextField(blank=True)
    place_path = models.CharField(max_length=255, editable=False)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("payment cycle")
        verbose_name_plural = _("payment cycles")
        ordering = ["-month", "street", "program"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "street", "month"],
                name="one_cycle_per_program_street_and_month",
                violation_error_message=_(
                    "This street already has a cycle for that program and month."
                ),
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("prepared_by")),
                name="cycle_approver_is_not_preparer",
                violation_error_message=_(
                    "The approver cannot be the person who prepared the cycle."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_program_display()} {self.month:%Y-%m} {self.street}"

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.street.path
        super().save(*args, **kwargs)


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("To be paid")
    PAID = "paid", _("Paid")
    FAILED = "failed", _("Failed at the bank")  # retried by a later cycle


class Payment(models.Model):
    """One recipient's money for one program and month (`month` is the month it is for, which
    an arrear or a retry pays in a later cycle). Nobody is paid twice for one program and
    month: a failed payment is the only one that may have a successor."""

    # Indexed by payment_cycle_idx (cycle, status); a second index on the column alone would
    # only slow the generation's inserts.
    cycle = models.ForeignKey(
        PaymentCycle, on_delete=models.PROTECT, related_name="payments", db_index=False
    )
    benefit = models.ForeignKey(
        "assistance.Benefit", on_delete=models.PROTECT, related_name="payments"
    )
    recipient = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="+")
    program = models.CharField(_("program"), max_length=20, choices=Program.choices)
    month = models.DateField(_("for month"))
    amount = models.DecimalField(_("amount (yuan)"), max_digits=12, decimal_places=2)
    # What makes up the amount: the entitlement, less a recovery deducted.
    entitlement = models.DecimalField(max_digits=12, decimal_places=2)
    recovery_deducted = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    # The account as it was when the bank file was made (the person may change it later).
    bank = models.CharField(_("bank"), max_length=60, blank=True)
    account_number = models.CharField(_("account number"), max_length=32, blank=True)
    holder_name = models.CharField(_("account holder"), max_length=50, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    failure_reason = models.CharField(_("bank's reason"), max_length=200, blank=True)
    place_path = models.CharField(max_length=255, editable=False)

    objects = BenefitRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["cycle", "id"]
        indexes = [
            models.Index(fields=["cycle", "status"], name="payment_cycle_idx"),
            models.Index(
                fields=["place_path"], name="payment_path_idx", opclasses=["varchar_pattern_ops"]
            ),
            # Arrears: each cycle looks for the failed payments of earlier months, a few among
            # the millions paid.
            models.Index(
                fields=["program", "month"],
                condition=Q(status="failed"),
                name="payment_failed_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "program", "month"],
                condition=~Q(status="failed"),
                name="one_payment_per_recipient_program_and_month",
                violation_error_message=_(
                    "This person is already paid for this program and month."
                ),
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.get_program_display()} {self.month:%Y-%m} {self.amount}"


class BankReturn(models.Model):
    """A bank's return file for a cycle, as imported: its rows' outcome and every problem."""

    cycle = models.ForeignKey(PaymentCycle, on_delete=models.PROTECT, related_name="returns")
    file = models.FileField(upload_to="bank_returns/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=200)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    imported_at = models.DateTimeField(default=timezone.now)
    paid = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # Each: {"row", "column", "message"}; a file with any is refused whole.
    errors = models.JSONField(default=list, blank=True)
    accepted = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("bank return file")
        verbose_name_plural = _("bank return files")
        ordering = ["-imported_at"]

    def __str__(self) -> str:
        return self.original_name
