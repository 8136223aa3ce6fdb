"""Auditor screens and deployment history."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("releases", "0022_evidence"),
    ]

    operations = []
