from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class WorkbenchConfig(AppConfig):
    """The workbench (工作台): each person's home page, fed by every capability's provider."""

    name = "linli.workbench"
    verbose_name = _("Workbench")

    def ready(self) -> None:
        # Each capability's `<app>/workbench.py` registers its provider (see core.workbench).
        autodiscover_modules("workbench")
