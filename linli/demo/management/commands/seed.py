from django.core.management.base import BaseCommand, CommandError

from linli.core.context import acting_from
from linli.core.errors import ApplicationError
from linli.demo.generator import bbox_line, city_generate, existing_bbox
from linli.places.models import Place


class Command(BaseCommand):
    help = (
        "Generate a deterministic synthetic city (places, households, persons, finances) into "
        "an empty database. The last line printed is the city's bounding box: "
        "min_lat,min_lng,max_lat,max_lng."
    )

    def add_arguments(self, parser):
        parser.add_argument("--households", type=int, default=3000, help="how many households")
        parser.add_argument("--seed", type=int, default=1, help="same seed, same city")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing (but still print the bounding box) when places already exist",
        )

    def handle(self, *args, households, seed, if_empty, verbosity, **options):
        if households < 1:
            raise CommandError("--households must be at least 1.")
        if if_empty and Place.objects.exists():
            bbox = existing_bbox()
            if bbox is None:
                raise CommandError("The places there have no coordinates, so there is no bbox.")
            if verbosity:
                self.stderr.write("Places already exist; nothing generated.")
            self.stdout.write(bbox_line(bbox))
            return
        try:
            with acting_from("cli:seed"):
                summary = city_generate(
                    households=households,
                    seed=seed,
                    progress=self.stderr.write if verbosity else None,
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        places = ", ".join(f"{count:,} {level}" for level, count in summary.places.items())
        self.stdout.write(
            f"Generated {places}; {summary.households:,} households, {summary.persons:,} "
            f"persons, {summary.financial_records:,} financial records: {summary.rows:,} rows "
            f"in {summary.seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s)."
        )
        self.stdout.write(bbox_line(summary.bbox))
