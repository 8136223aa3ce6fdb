"""Create the database cache table with the schema, so `migrate` is the only setup step.

The cache is shared by web and worker processes: django-q2 stores its cluster
heartbeat there and /readyz reads it.
"""
from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("releases", "0002_default_environments")]
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
