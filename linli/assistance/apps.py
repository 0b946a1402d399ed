from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistanceConfig(AppConfig):
    """Social assistance (社会救助): programs, eligibility, approval, payments, supervision."""

    name = "linli.assistance"
    label = "assistance"
    verbose_name = _("Social assistance")
