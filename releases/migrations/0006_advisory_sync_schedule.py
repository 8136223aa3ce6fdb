"""Schedule the advisory sync check (it does nothing unless ADVISORY_SYNC_SOURCE is set)."""
from django.db import migrations

NAME = "sync-advisories"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME,
        defaults={"func": "releases.tasks.scheduled_advisory_sync", "schedule_type": "H", "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("releases", "0005_advisories_and_scans")]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
