from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from linli.core.context import acting_from
from linli.core.errors import ApplicationError
from linli.demo.monitoring import monitoring_generate
from linli.monitoring.models import Alert
from linli.people.models import Household


class Command(BaseCommand):
    help = (
        "Give the demo city (after `linli seed` and `linli seed_assistance`) its monitoring: "
        "the default risk rules, external and fed signals, a screening round a month ago and "
        "one today, home visits in every outcome and key households with follow-ups, dated "
        "back from today."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=1, help="same seed, same monitoring work")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when alerts already exist"
        )

    def handle(self, *args, seed, if_empty, verbosity, **options):
        if if_empty and Alert.objects.exists():
            self.stderr.write("Monitoring alerts already exist; nothing generated.")
            return
        if not Household.objects.exists():
            raise CommandError("The city has no households: run `linli seed` first.")
        try:
            # Explanations and reasons are written in the site's language.
            with acting_from("cli:seed_monitoring"), translation.override(settings.LANGUAGE_CODE):
                summary = monitoring_generate(
                    seed=seed, progress=self.stderr.write if verbosity > 1 else None
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        rules = ", ".join(f"{code} {n:,}" for code, n in summary.by_rule.items())
        self.stdout.write(
            f"Generated {summary.signals:,} signals, {summary.rounds} screening rounds, "
            f"{summary.open_alerts:,} open alerts (raised by rule: {rules}), "
            f"{summary.visits:,} home visits ({summary.visited} visited), "
            f"{summary.key_households} key households ({summary.overdue_follow_ups} overdue) "
            f"in {summary.seconds:.1f} s."
        )
