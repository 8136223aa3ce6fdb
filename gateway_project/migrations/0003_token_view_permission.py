"""Auditors and platform admins read the token list in admin (who had access, until when)."""
from django.db import migrations


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    if not Permission.objects.filter(codename="view_apitoken").exists():
        from django.contrib.auth.management import create_permissions

        config = apps.get_app_config("gateway_project")
        config.models_module = True
        create_permissions(config, verbosity=0, apps=apps)
        config.models_module = None
    view = Permission.objects.filter(codename="view_apitoken")
    for group in Group.objects.filter(name__in=["auditors", "platform-admins"]):
        group.permissions.add(*view)


class Migration(migrations.Migration):
    dependencies = [("gateway_project", "0002_hash_existing_tokens"), ("approvals", "0002_roles_and_stages")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
