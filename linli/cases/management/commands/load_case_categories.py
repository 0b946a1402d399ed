import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from linli.cases.models import Category
from linli.cases.seeding import TAXONOMY_FILE, load_categories, read_json
from linli.core.models import Department


class Command(BaseCommand):
    help = (
        "Load the case category taxonomy (and the departments it names) from the shipped file "
        "or --file. Idempotent: existing categories keep their values unless --update."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, default=TAXONOMY_FILE)
        parser.add_argument(
            "--update", action="store_true", help="overwrite existing categories with the file"
        )

    def handle(self, *args, file, update, **options):
        try:
            data = read_json(file)
            with transaction.atomic():
                result = load_categories(
                    data, Category=Category, Department=Department, update=update
                )
        except (OSError, json.JSONDecodeError, KeyError, ValueError) as exc:
            raise CommandError(f"Cannot load {file}: {exc}") from None
        self.stdout.write(f"Categories: {result}.")
