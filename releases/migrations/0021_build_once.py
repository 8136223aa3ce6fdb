"""Build once, promote the digest: what produced a build's image, and a promotion's source build."""
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("releases", "0020_audit_chain"),
    ]

    operations = [
        migrations.AddField(
            model_name="build",
            name="kind",
            field=models.CharField(choices=[("build", "Build"), ("promote", "Promote"), ("rebuild", "Rebuild")],
                                   default="build", max_length=16),
        ),
        migrations.AddField(
            model_name="build",
            name="source_build",
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="+", to="releases.build"),
        ),
    ]
