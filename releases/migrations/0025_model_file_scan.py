"""Model-file scan: a row per scanned model file, the policy knobs on what they block, and auditors read them."""
import django.db.models.deletion
from django.db import migrations, models


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    if not Permission.objects.filter(codename="view_modelfile").exists():
        # Permissions are made after all migrations ran; this one is needed now (as in 0023).
        from django.contrib.auth.management import create_permissions

        config = apps.get_app_config("releases")
        config.models_module = True
        create_permissions(config, verbosity=0, apps=apps)
        config.models_module = None
    view = Permission.objects.filter(codename="view_modelfile")
    for group in Group.objects.filter(name__in=["auditors", "platform-admins"]):
        group.permissions.add(*view)


class Migration(migrations.Migration):

    dependencies = [
        ('releases', '0024_dependency_lock'),
    ]

    operations = [
        migrations.AddField(
            model_name='environmentpolicy',
            name='model_file_dangerous',
            field=models.CharField(choices=[('warn', 'warn'), ('block', 'block')], default='block', help_text='Model files whose loading would run dangerous code (os.system, eval, subprocess…).', max_length=8),
        ),
        migrations.AddField(
            model_name='environmentpolicy',
            name='model_file_unknown',
            field=models.CharField(choices=[('allow', 'Allow'), ('warn', 'Warn'), ('block', 'Block')], default='warn', help_text="Imports in model files that are neither dangerous nor expected for the model's flavor.", max_length=8),
        ),
        migrations.AddField(
            model_name='environmentpolicy',
            name='model_file_unreadable',
            field=models.CharField(choices=[('warn', 'warn'), ('block', 'block')], default='block', help_text='Model files the scanner could not read completely (truncated, over a limit, malformed).', max_length=8),
        ),
        migrations.CreateModel(
            name='ModelFile',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('path', models.CharField(help_text="Relative to the model's root in MLflow.", max_length=1024)),
                ('size', models.PositiveBigIntegerField()),
                ('sha256', models.CharField(max_length=64)),
                ('format', models.CharField(blank=True, help_text='As recognised from the content, not the name.', max_length=128)),
                ('verdict', models.CharField(choices=[('dangerous', 'Dangerous'), ('unreadable', 'Unreadable'), ('unknown', 'Unknown'), ('expected', 'Expected'), ('clean', 'Clean')], db_index=True, max_length=16)),
                ('findings', models.JSONField(blank=True, default=list, help_text='Imports and calls found (members of archives included), classified.')),
                ('findings_omitted', models.PositiveIntegerField(default=0)),
                ('scanned_at', models.DateTimeField(auto_now_add=True)),
                ('release', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='model_files', to='releases.release')),
            ],
            options={
                'ordering': ['release', 'path'],
                'constraints': [models.UniqueConstraint(fields=('release', 'path'), name='model_file_unique_path')],
            },
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
