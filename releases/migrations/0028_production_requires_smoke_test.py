"""Production's policy requires a passed smoke test of the image (a new policy version: versions are never edited)."""
from django.db import migrations
from django.forms.models import model_to_dict


def require(apps, schema_editor):
    Environment = apps.get_model("releases", "Environment")
    EnvironmentPolicy = apps.get_model("releases", "EnvironmentPolicy")
    environment = Environment.objects.filter(name="production").first()
    current = environment and EnvironmentPolicy.objects.filter(environment=environment).order_by("-version").first()
    if not current or current.require_smoke_test:
        return
    values = model_to_dict(current, exclude=["id", "environment", "version", "created_by", "comment"])
    EnvironmentPolicy.objects.create(environment=environment, version=current.version + 1, created_by=None,
                                     comment="the released image must pass its smoke test", **{
                                         **values, "require_smoke_test": True})


class Migration(migrations.Migration):
    dependencies = [("releases", "0027_serving_images")]
    operations = [migrations.RunPython(require, migrations.RunPython.noop)]
