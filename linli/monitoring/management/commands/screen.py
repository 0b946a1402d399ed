"""`linli screen [--place CODE] [--as-of DATE]`: screen a place (the whole city when no place
is given) now, in this process, and print the counts by rule and severity."""

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from linli.core.context import acting_from
from linli.core.errors import ApplicationError
from linli.monitoring.models import Severity
from linli.monitoring.rules import ensure_default_rules
from linli.monitoring.screening import merge_counts, screen_now
from linli.places.models import Place


def screen_places(places: list[Place], as_of: dt.date) -> dict:
    """Each place screened as one round; the counts added up (the bench calls this too)."""
    ensure_default_rules()
    counts: dict = {}
    for place in places:
        screening_round = screen_now(place=place, as_of=as_of)
        if screening_round.failure:
            raise CommandError(f"{place.code}: {screening_round.failure}")
        merge_counts(counts, screening_round.counts)
    return counts


class Command(BaseCommand):
    help = (
        "Screen a place's registry against the risk rules in force (the whole city when no "
        "place is given): open alerts for new hits, resolve those no longer true, and print "
        "the counts by rule and severity."
    )

    def add_arguments(self, parser):
        parser.add_argument("--place", metavar="CODE", help="the code of a place to screen")
        parser.add_argument(
            "--as-of", metavar="YYYY-MM-DD", help="screen as on this date (default: today)"
        )

    def handle(self, *args, place, as_of, **options):
        try:
            on = dt.date.fromisoformat(as_of) if as_of else timezone.localdate()
        except ValueError:
            raise CommandError("--as-of must be a date as YYYY-MM-DD.") from None
        if place:
            places = list(Place.objects.filter(code=place))
            if not places:
                raise CommandError(f"There is no place with the code {place!r}.")
        else:
            places = list(Place.objects.filter(parent__isnull=True).order_by("path"))
            if not places:
                raise CommandError("There are no places: seed or import the registry first.")
        started = time.perf_counter()
        try:
            with acting_from("cli:screen"):
                counts = screen_places(places, on)
        except ApplicationError as error:
            raise CommandError(str(error)) from None
        elapsed = time.perf_counter() - started
        write = self.stdout.write
        names = ", ".join(p.name for p in places)
        write(f"Screened {names} as of {on.isoformat()}: {counts.get('households', 0)} households")
        write("By rule:")
        for code, n in sorted(counts.get("by_rule", {}).items()):
            write(f"  {code:<28}{n:>10}")
        write("By severity:")
        for severity in reversed(Severity):
            n = counts.get("by_severity", {}).get(str(severity.value), 0)
            write(f"  {severity.name.lower():<28}{n:>10}")
        write(f"Opened {counts.get('opened', 0)}, resolved {counts.get('resolved', 0)}")
        write(f"Time {elapsed:.2f} s")
