"""Dependency locks (releases.locking): the DependencyLock record, Finding.pulled_in_by, the lock digest a
build was asked to install, and the per-environment knob resolve_dependencies.

Existing policy versions get `warn`, the default for new ones: every release is resolved and its lock
scanned and shipped, but a model the mirror cannot resolve (no wheel for the target, a conflict) is
not blocked on the day the gateway is upgraded; it passes with a warning, as it would have passed
before. An environment is made strict by a new policy version with `require`.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('releases', '0023_auditor_screens'),
    ]

    operations = [
        migrations.AddField(
            model_name='build',
            name='dependency_lock_sha256',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name='environmentpolicy',
            name='resolve_dependencies',
            field=models.CharField(choices=[('off', 'Off'), ('warn', 'Warn'), ('require', 'Require')], default='warn', help_text='Resolve the pip requirements into a hashed lock (fetch step), scan every locked package and build from the lock. require: a model that cannot be resolved is blocked; warn: it passes with a warning and its declared requirements are scanned; off: nothing is resolved.', max_length=8),
        ),
        migrations.AddField(
            model_name='finding',
            name='pulled_in_by',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.CreateModel(
            name='DependencyLock',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('outcome', models.CharField(choices=[('resolved', 'Resolved'), ('unresolvable', 'Unresolvable'), ('off', 'Off')], max_length=16)),
                ('content', models.TextField(blank=True, help_text='The lock (requirements.lock.txt), byte for byte as shipped.')),
                ('sha256', models.CharField(blank=True, help_text="SHA-256 of the content's UTF-8 bytes.", max_length=64)),
                ('package_count', models.PositiveIntegerField(default=0)),
                ('python_version', models.CharField(blank=True, max_length=32)),
                ('platform', models.CharField(blank=True, max_length=64)),
                ('index_url', models.CharField(blank=True, help_text='Without credentials.', max_length=1024)),
                ('uv_version', models.CharField(blank=True, max_length=64)),
                ('message', models.TextField(blank=True, help_text="Why there is no lock: the resolver's message, or the refusal.")),
                ('notes', models.JSONField(blank=True, default=list, help_text='e.g. conda packages that are not in the lock.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('release', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='dependency_lock', to='releases.release')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
    ]
