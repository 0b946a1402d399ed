from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from linli.assistance.models import Benefit
from linli.core.context import acting_from
from linli.core.errors import ApplicationError
from linli.demo.assistance import assistance_generate
from linli.people.models import Household


class Command(BaseCommand):
    help = (
        "Give the demo city (after `linli seed`) its social assistance: policies, recipients, "
        "applications at every stage, reviews, three months of payment cycles, supervision "
        "anomalies and a finished policy simulation, dated back from today."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=1, help="same seed, same caseload")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when benefits already exist"
        )

    def handle(self, *args, seed, if_empty, verbosity, **options):
        if if_empty and Benefit.objects.exists():
            self.stderr.write("Assistance benefits already exist; nothing generated.")
            return
        if not Household.objects.exists():
            raise CommandError("The city has no households: run `linli seed` first.")
        try:
            # Names of policy sets and the like are written in the site's language.
            with acting_from("cli:seed_assistance"), translation.override(settings.LANGUAGE_CODE):
                summary = assistance_generate(
                    seed=seed, progress=self.stderr.write if verbosity > 1 else None
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Generated {summary.benefits:,} benefits ({summary.persons_on_minimum_living:,} "
            f"persons on the minimum living guarantee, {summary.extreme_poverty:,} in extreme-"
            f"poverty support), {summary.applications:,} applications, {summary.cycles:,} "
            f"payment cycles with {summary.payments:,} payments in {summary.seconds:.1f} s."
        )
