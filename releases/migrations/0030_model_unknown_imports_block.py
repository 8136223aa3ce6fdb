"""Unknown imports in model files block by default, in every environment (issue 26): the allowlist decides what
is known to be safe. A new policy version per environment (versions are never edited). A waiver's advisory id
may be a model-file waiver (model-file:<sha256>:<callable>), so it is longer."""
from django.db import migrations, models
from django.forms.models import model_to_dict


def block_unknown(apps, schema_editor):
    Environment = apps.get_model("releases", "Environment")
    EnvironmentPolicy = apps.get_model("releases", "EnvironmentPolicy")
    for environment in Environment.objects.all():
        current = EnvironmentPolicy.objects.filter(environment=environment).order_by("-version").first()
        if not current or current.model_file_unknown == "block":
            continue
        values = model_to_dict(current, exclude=["id", "environment", "version", "created_by", "comment"])
        EnvironmentPolicy.objects.create(environment=environment, version=current.version + 1, created_by=None,
                                         comment="model files: an import not on the allowlist blocks", **{
                                             **values, "model_file_unknown": "block"})


class Migration(migrations.Migration):
    dependencies = [("releases", "0029_os_package_advisories")]
    operations = [
        migrations.AlterField(
            model_name="environmentpolicy", name="model_file_unknown",
            field=models.CharField(
                choices=[("allow", "Allow"), ("warn", "Warn"), ("block", "Block")], default="block",
                help_text="Imports in model files that are not on the allowlist for the model's flavor: code that "
                          "runs on load and is not known to be safe. Blocked unless relaxed here (staging, for "
                          "example).", max_length=8)),
        migrations.RunPython(block_unknown, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="waiver", name="advisory_id",
            field=models.CharField(
                db_index=True, max_length=256,
                help_text="Advisory id or any alias (CVE-…); or, for one unknown import in a model file, "
                          "model-file:<the file's SHA-256>:<module.callable> (nothing wider can be waived).")),
    ]
