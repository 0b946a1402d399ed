import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from linli.core import workdays
from linli.core.calendar_data import CALENDAR_FILE, load_calendar, read_json
from linli.core.models import CalendarDay


class Command(BaseCommand):
    help = (
        "Load public holidays and make-up working days from the shipped file or --file. Each "
        "year in the file replaces that year in the database; other years are left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, default=CALENDAR_FILE)

    def handle(self, *args, file, **options):
        try:
            data = read_json(file)
            with transaction.atomic():
                result = load_calendar(data, CalendarDay=CalendarDay)
        except (OSError, json.JSONDecodeError, KeyError, ValueError) as exc:
            raise CommandError(f"Cannot load {file}: {exc}") from None
        workdays.reset()
        self.stdout.write(f"Calendar days: {result}.")
