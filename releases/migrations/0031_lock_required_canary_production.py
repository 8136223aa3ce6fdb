"""Canary and production require a dependency lock (resolve_dependencies: require), as a new policy version each.

Under `warn`, a model whose closure could not be resolved passed: its transitive dependencies were never
scanned and its image installed no lock. Staging keeps `warn`. Only `warn` (the old default) is raised: an
environment set to `off` or `require` by its own policy version keeps that choice.
"""
from django.db import migrations
from django.forms.models import model_to_dict

ENVIRONMENTS = ("canary", "production")


def require(apps, schema_editor):
    Environment = apps.get_model("releases", "Environment")
    EnvironmentPolicy = apps.get_model("releases", "EnvironmentPolicy")
    for environment in Environment.objects.filter(name__in=ENVIRONMENTS).order_by("order"):
        current = EnvironmentPolicy.objects.filter(environment=environment).order_by("-version").first()
        if not current or current.resolve_dependencies != "warn":
            continue
        values = model_to_dict(current, exclude=["id", "environment", "version", "created_by", "comment"])
        EnvironmentPolicy.objects.create(
            environment=environment, version=current.version + 1, created_by=None,
            comment="a release whose dependency lock could not be made does not ship here",
            **{**values, "resolve_dependencies": "require"})


class Migration(migrations.Migration):
    dependencies = [("releases", "0030_model_unknown_imports_block")]
    operations = [migrations.RunPython(require, migrations.RunPython.noop)]
