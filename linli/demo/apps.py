from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The synthetic city generator (`linli seed`) and demo accounts."""

    name = "linli.demo"
    label = "demo"
