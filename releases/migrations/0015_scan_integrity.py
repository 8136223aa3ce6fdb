"""Scan integrity: build dependencies get their own unpinned knob; findings carry their role.

Existing policy versions keep their meaning (their build dependencies were judged under
`unpinned_requirements`, so the new knob copies it). Environments still on the initial
policy get version 2, whose build-dependency knob warns: MLflow writes an unpinned `wheel`
into every python_env.yaml, and blocking it blocked every model in production. Waiver
package names are normalised (PEP 503) as the model now does on save.
"""
import re

from django.db import migrations, models


def forwards(apps, schema_editor):
    EnvironmentPolicy = apps.get_model("releases", "EnvironmentPolicy")
    for policy in EnvironmentPolicy.objects.all():
        policy.unpinned_build_dependencies = policy.unpinned_requirements
        policy.save(update_fields=["unpinned_build_dependencies"])
    for environment_id in EnvironmentPolicy.objects.values_list("environment_id", flat=True).distinct():
        current = EnvironmentPolicy.objects.filter(environment_id=environment_id).order_by("-version").first()
        if current.version != 1 or current.comment != "initial policy" or current.unpinned_build_dependencies == "warn":
            continue
        current.pk = None
        current.version = 2
        current.unpinned_build_dependencies = "warn"
        current.comment = "build dependencies unpinned by MLflow (wheel) warn instead of blocking"
        current.save()
    Waiver = apps.get_model("releases", "Waiver")
    for waiver in Waiver.objects.exclude(package=""):
        normal = re.sub(r"[-_.]+", "-", waiver.package.strip()).lower()
        if normal != waiver.package:
            Waiver.objects.filter(pk=waiver.pk).update(package=normal)


class Migration(migrations.Migration):

    dependencies = [
        ('releases', '0014_mlflow_alias_on_success'),
    ]

    operations = [
        migrations.AddField(
            model_name='environmentpolicy',
            name='unpinned_build_dependencies',
            field=models.CharField(choices=[('allow', 'Allow'), ('warn', 'Warn'), ('block', 'Block')], default='warn', help_text='python_env.yaml build_dependencies that admit more than one version (MLflow writes an unpinned `wheel` there). They are scanned either way.', max_length=8),
        ),
        migrations.AddField(
            model_name='finding',
            name='role',
            field=models.CharField(default='runtime', help_text='runtime, build (python_env.yaml build_dependencies) or constraint (a pin from a -c file: installed at that version whenever anything requires it).', max_length=16),
        ),
        migrations.AlterField(
            model_name='environmentpolicy',
            name='direct_references',
            field=models.CharField(choices=[('allow', 'allow'), ('block', 'block')], default='block', help_text='URL, VCS and local-path requirements, and package source options (--index-url, --extra-index-url, --find-links, --trusted-host).', max_length=8),
        ),
        migrations.AlterField(
            model_name='environmentpolicy',
            name='unpinned_requirements',
            field=models.CharField(choices=[('allow', 'Allow'), ('warn', 'Warn'), ('block', 'Block')], default='warn', help_text='Runtime requirements that admit more than one version.', max_length=8),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
