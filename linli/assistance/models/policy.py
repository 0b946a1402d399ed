from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.core.audit import Audited
from linli.core.scoping import ScopedQuerySet
from linli.people.models import Registration

if TYPE_CHECKING:
    from linli.assistance.policy import PolicyParameters


class PolicySetQuerySet(ScopedQuerySet):
    """A policy set is read by everyone working under its locality and above it."""

    permission_prefix = "assistance"

    def restrict(self, actor, action: str = "view"):
        """Reading also reaches the sets of the localities above the actor's places (a street
        works under its district's policy); other actions stay within the jurisdiction."""
        scoped = super().restrict(actor, action)
        if action != "view" or actor is None or not actor.is_authenticated:
            return scoped
        if actor.is_resident or not actor.has_perm_code("assistance.view"):
            return scoped
        if actor.sees_everything:
            return scoped
        above = {
            path[: index + 1]
            for path in actor.scope_paths
            for index, char in enumerate(path)
            if char == "/"
        }
        return scoped | self.filter(place_path__in=above)


class PolicySet(Audited):
    """A locality's assistance policy (救助政策): one per city or district and registration
    (urban or rural), its numbers held in dated versions."""

    locality = models.ForeignKey(
        "places.Place",
        on_delete=models.PROTECT,
        related_name="assistance_policies",
        verbose_name=_("locality"),
    )
    registration = models.CharField(_("registration"), max_length=8, choices=Registration.choices)
    name = models.CharField(_("name"), max_length=100)
    place_path = models.CharField(max_length=255, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = PolicySetQuerySet.as_manager()

    audit_fields = ("locality", "registration", "name")

    class Meta:
        verbose_name = _("policy set")
        verbose_name_plural = _("policy sets")
        ordering = ["place_path", "registration"]
        constraints = [
            models.UniqueConstraint(
                fields=["locality", "registration"],
                name="one_policy_set_per_locality_and_registration",
                violation_error_message=_(
                    "This locality already has a policy set for that registration."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.locality.path
        super().save(*args, **kwargs)


class PolicyVersion(Audited):
    """The parameters of a policy set from a date (`valid_from`) to the day before the next
    version's. Versions are added, never edited: a decision keeps the version it was made
    under, so a later change never rewrites it. `parameters` follows
    assistance.policy.PolicyParameters."""

    policy_set = models.ForeignKey(
        PolicySet, on_delete=models.PROTECT, related_name="versions", verbose_name=_("policy set")
    )
    valid_from = models.DateField(_("effective from"))
    # Set when the next version is added (the day before it starts); open for the latest.
    valid_to = models.DateField(_("effective to"), null=True, blank=True)
    parameters = models.JSONField(_("parameters"))
    note = models.CharField(_("what changed and why"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("entered by"),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    place_path = models.CharField(max_length=255, editable=False)

    objects = PolicySetQuerySet.as_manager()

    audit_fields = ("policy_set", "valid_from", "valid_to", "note")

    class Meta:
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")
        ordering = ["policy_set", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy_set", "valid_from"],
                name="one_policy_version_per_start",
                violation_error_message=_("A version of this policy already starts that day."),
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="policy_version_period_ordered",
                violation_error_message=_("The end date cannot be before the start date."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy_set} {self.valid_from}"

    @cached_property
    def params(self) -> PolicyParameters:
        from linli.assistance.policy import PolicyParameters

        return PolicyParameters.model_validate(self.parameters)

    def save(self, *args, **kwargs) -> None:
        self.place_path = self.policy_set.place_path
        super().save(*args, **kwargs)
