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
    permission_prefix = "assistance"

    def for_resident(self, actor):
        return self.filter(household__members__account=actor)
