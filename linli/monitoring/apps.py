from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    """Monitoring and early warning (监测预警 / 主动发现): risk rules, screening rounds, alerts,
    home visits and key households."""

    name = "linli.monitoring"
    label = "monitoring"
    verbose_name = _("Monitoring and early warning")

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        # Each capability's `<app>/risk_signals.py` registers its provider of hardship signals
        # (see linli.core.risk_signals); the hourly job collects from every one.
        autodiscover_modules("risk_signals")
