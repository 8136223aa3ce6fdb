"""Every 5 minutes, fail builds that never reported completion (releases.tasks.reconcile_builds)."""
from django.db import migrations

NAME = "reconcile-builds"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME, defaults={"func": "releases.tasks.reconcile_builds", "schedule_type": "I", "minutes": 5,
                             "repeats": -1})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("releases", "0012_builds")]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
