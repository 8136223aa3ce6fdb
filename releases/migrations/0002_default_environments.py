"""The three environments of the promotion chain: staging → canary → production."""
from django.db import migrations

CHAIN = [
    ("staging", 10, None, "Pre-production testing."),
    ("canary", 20, "staging", "A slice of production traffic."),
    ("production", 30, "canary", "All production traffic."),
]


def create_environments(apps, schema_editor):
    Environment = apps.get_model("releases", "Environment")
    for name, order, predecessor, description in CHAIN:
        Environment.objects.update_or_create(
            name=name,
            defaults={
                "order": order,
                "description": description,
                "requires_success_in": Environment.objects.get(name=predecessor) if predecessor else None,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("releases", "0001_initial")]
    operations = [migrations.RunPython(create_environments, migrations.RunPython.noop)]
