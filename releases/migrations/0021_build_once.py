"""Build once, promote the digest."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("releases", "0020_audit_chain"),
    ]

    operations = []
