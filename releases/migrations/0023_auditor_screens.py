"""Auditor screens: auditors and platform admins read release evidence (attestations, SBOMs) in admin."""
from django.db import migrations


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    if not Permission.objects.filter(codename="view_releaseevidence").exists():
        # Permissions are made after all migrations ran; this one is needed now.
        from django.contrib.auth.management import create_permissions

        config = apps.get_app_config("releases")
        config.models_module = True
        create_permissions(config, verbosity=0, apps=apps)
        config.models_module = None
    view = Permission.objects.filter(codename="view_releaseevidence")
    for group in Group.objects.filter(name__in=["auditors", "platform-admins"]):
        group.permissions.add(*view)


class Migration(migrations.Migration):

    dependencies = [
        ("releases", "0022_evidence"),
        ("approvals", "0002_roles_and_stages"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
