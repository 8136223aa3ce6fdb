"""Every 10 minutes, reject releases whose approval wait exceeded the environment's TTL."""
from django.db import migrations

NAME = "expire-approvals"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME, defaults={"func": "approvals.tasks.expire_approvals", "schedule_type": "I", "minutes": 10,
                             "repeats": -1})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("approvals", "0002_roles_and_stages")]
    operations = [migrations.RunPython(create_schedule, remove_schedule)]
