"""Signed attestations and SBOMs of releases."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("releases", "0021_build_once"),
    ]

    operations = []
