"""The security-officers group holds releases.manage_waivers: that permission, not the group's
name, is what makes someone a security officer (releases.waivers.is_security_officer)."""
from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    if not Permission.objects.filter(codename="manage_waivers").exists():
        # Permissions of a fresh database are created after all migrations: create them now.
        releases = apps.get_app_config("releases")
        releases.models_module = True
        create_permissions(releases, verbosity=0, apps=apps)
        releases.models_module = None
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name="security-officers")
    group.permissions.add(Permission.objects.get(codename="manage_waivers", content_type__app_label="releases"))


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name="security-officers").first()
    if group is not None:
        group.permissions.remove(*apps.get_model("auth", "Permission").objects.filter(codename="manage_waivers"))


class Migration(migrations.Migration):
    dependencies = [("approvals", "0002_roles_and_stages"), ("releases", "0016_roles_as_permissions")]
    operations = [migrations.RunPython(grant, revoke)]
