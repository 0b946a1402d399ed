from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from linli.core.context import acting_from
from linli.core.errors import ApplicationError
from linli.demo.generator import bbox_line, city_generate, existing_bbox
from linli.places.models import Place

# Printed before the box so a reader knows the order of the four numbers; scripts take the text
# after the last space.
BBOX_LABEL = "Bounding box (min_lat,min_lng,max_lat,max_lng):"

# Maps show grid boundaries on a blank background until a tile service is configured.
TILES_HINT = (
    "Maps draw the grid boundaries without a base map. For one, set LINLI_MAP_TILE_URL to a "
    "tile URL template, e.g. 天地图 (Tianditu) with your browser key: "
    "https://t0.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
    "&tk=YOUR_KEY (the Content-Security-Policy then lets pages load images from that host)."
)


class Command(BaseCommand):
    help = (
        "Generate a deterministic synthetic city (places, households, persons, finances) into "
        "an empty database. The last line printed is the city's bounding box, after the label "
        f"'{BBOX_LABEL}'."
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
            self.stdout.write(f"{BBOX_LABEL} {bbox_line(bbox)}")
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
            f"persons, {summary.financial_records:,} financial records, {summary.person_facts:,} "
            f"illness, self-care and supporter records: {summary.rows:,} rows "
            f"in {summary.seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s)."
        )
        if verbosity and not settings.LINLI_MAP_TILE_URL:
            self.stderr.write(TILES_HINT)
        self.stdout.write(f"{BBOX_LABEL} {bbox_line(summary.bbox)}")
