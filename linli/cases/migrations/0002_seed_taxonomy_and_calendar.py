"""Seed the shipped taxonomy and working-day calendar on a fresh database (idempotent; later
changes go through `linli load_case_categories` and `linli load_workday_calendar`)."""

from django.db import migrations


def seed(apps, schema_editor):
    from linli.cases.seeding import TAXONOMY_FILE, load_categories
    from linli.core.calendar_data import CALENDAR_FILE, load_calendar, read_json

    load_categories(
        read_json(TAXONOMY_FILE),
        Category=apps.get_model("cases", "Category"),
        Department=apps.get_model("core", "Department"),
    )
    load_calendar(read_json(CALENDAR_FILE), CalendarDay=apps.get_model("cases", "CalendarDay"))


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
