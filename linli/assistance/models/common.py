from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from linli.core.scoping import ScopedQuerySet


class Program(models.TextChoices):
    """The assistance programs; what each decides is in assistance.engine."""

    MINIMUM_LIVING = "minimum_living", _("Minimum living guarantee")  # 最低生活保障 低保
    EXTREME_POVERTY = "extreme_poverty", _("Extreme-poverty support")  # 特困人员救助供养
    MARGINAL = "marginal", _("Marginal household")  # 低保边缘家庭
    RIGID_EXPENDITURE = "rigid_expenditure", _("Rigid-expenditure hardship")  # 刚性支出困难/支出型
    TEMPORARY = "temporary", _("Temporary assistance")  # 临时救助
    HEATING = "heating", _("Heating subsidy")  # 取暖补贴 (per household)
    ONE_OFF = "one_off", _("One-off living subsidy")  # 一次性生活补贴 (per person)
    PRICE_SUBSIDY = "price_subsidy", _("Price-linked temporary subsidy")  # 价格临时补贴


# Programs paid monthly through payment cycles; the others are paid once per decision.
MONTHLY_PROGRAMS = (Program.MINIMUM_LIVING, Program.EXTREME_POVERTY)


class AssistanceQuerySet(ScopedQuerySet):
    """Residents see the rows of their own household: `resident_lookup` is the path from a row
    to the accounts that may read it, "" for rows that are no one household's business
    (payment cycles, simulations)."""

    permission_prefix = "assistance"
    resident_lookup = "household__members__account"

    def for_resident(self, actor):
        if not self.resident_lookup:
            return self.none()
        return self.filter(**{self.resident_lookup: actor})


class BenefitRecordQuerySet(AssistanceQuerySet):
    """Reviews, recoveries and payments: read by the benefit's household."""

    resident_lookup = "benefit__household__members__account"


class OwnRecordQuerySet(AssistanceQuerySet):
    """A credit penalty is the person's own: their household does not see it."""

    resident_lookup = "person__account"


class StaffOnlyQuerySet(AssistanceQuerySet):
    resident_lookup = ""
