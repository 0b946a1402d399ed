"""The working-day calendar and the periodic-job schedule moved to core (services and assistance
count on them as the cases loop does): their rows are copied over, then the old tables go."""

from django.db import migrations


def copy_to_core(apps, schema_editor):
    for name, fields in (
        ("CalendarDay", ("date", "is_workday", "name", "provisional", "updated_at")),
        ("JobSchedule", ("name", "last_enqueued_at")),
    ):
        old, new = apps.get_model("cases", name), apps.get_model("core", name)
        new.objects.bulk_create(
            new(**{field: getattr(row, field) for field in fields}) for row in old.objects.all()
        )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0006_case_public"),
        ("core", "0004_calendar_and_jobs_move_to_core"),
    ]

    operations = [
        migrations.RunPython(copy_to_core, migrations.RunPython.noop),
        migrations.DeleteModel(name="CalendarDay"),
        migrations.DeleteModel(name="JobSchedule"),
    ]
