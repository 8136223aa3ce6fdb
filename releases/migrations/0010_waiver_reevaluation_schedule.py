"""Every 15 minutes, re-evaluate waiting releases whose decision used a waiver that expired."""
from django.db import migrations

NAME = "reevaluate-after-waiver-changes"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME, defaults={"func": "releases.tasks.reevaluate_after_waiver_changes", "schedule_type": "I",
                             "minutes": 15, "repeats": -1})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("releases", "0009_rego_policy")]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
