from django.core.management.base import BaseCommand, CommandError

from linli.cases.models import Case
from linli.core.context import acting_from
from linli.demo.cases import cases_generate


class Command(BaseCommand):
    help = (
        "Generate half a year of cases in the demo city's grids (after `linli seed`): closed, "
        "rejected and open at every stage, with timelines; then run the overdue sweep."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, default=1500, help="how many cases")
        parser.add_argument("--seed", type=int, default=1, help="same seed, same cases")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when cases already exist"
        )

    def handle(self, *args, cases, seed, if_empty, **options):
        if cases < 1:
            raise CommandError("--cases must be at least 1.")
        if if_empty and Case.objects.exists():
            self.stderr.write("Cases already exist; nothing generated.")
            return
        try:
            with acting_from("cli:seed_cases"):
                summary = cases_generate(cases=cases, seed=seed)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Generated {summary.cases:,} cases ({summary.open:,} open) with "
            f"{summary.events:,} timeline events in {summary.seconds:.1f} s."
        )
