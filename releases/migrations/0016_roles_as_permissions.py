"""Security officers are a permission (manage_waivers), like every other role; one severity vocabulary."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('releases', '0015_scan_integrity'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='waiver',
            options={'ordering': ['-created_at', '-id'], 'permissions': [('manage_waivers', 'Can create, approve and revoke waivers (security officers)')]},
        ),
        migrations.AlterField(
            model_name='advisory',
            name='severity',
            field=models.CharField(choices=[('CRITICAL', 'CRITICAL'), ('HIGH', 'HIGH'), ('MEDIUM', 'MEDIUM'), ('LOW', 'LOW'), ('UNKNOWN', 'UNKNOWN')], default='UNKNOWN', max_length=8),
        ),
        migrations.AlterField(
            model_name='finding',
            name='severity',
            field=models.CharField(choices=[('CRITICAL', 'CRITICAL'), ('HIGH', 'HIGH'), ('MEDIUM', 'MEDIUM'), ('LOW', 'LOW'), ('UNKNOWN', 'UNKNOWN')], max_length=8),
        ),
    ]
