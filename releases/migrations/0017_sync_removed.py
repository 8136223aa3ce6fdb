"""An advisory sync records what it removed (advisories its source no longer holds), or why it kept them."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('releases', '0016_roles_as_permissions'),
    ]

    operations = [
        migrations.AddField(
            model_name='advisorysync',
            name='absent_kept',
            field=models.PositiveIntegerField(default=0, help_text='Absent advisories kept (see the reason).'),
        ),
        migrations.AddField(
            model_name='advisorysync',
            name='absent_kept_reason',
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name='advisorysync',
            name='removed',
            field=models.PositiveIntegerField(default=0, help_text='Stored advisories the source no longer holds.'),
        ),
        migrations.AddField(
            model_name='advisorysync',
            name='removed_ids',
            field=models.JSONField(blank=True, default=list, help_text='The first 20 removed ids.'),
        ),
    ]
