"""Every role group may read releases, reports, waivers and approvals (releases.permissions.READ);
an account in no group may not."""
from django.db import migrations

ROLE_GROUPS = ["requesters", "ml-leads", "security-officers", "sre", "auditors", "platform-admins"]


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    read = Permission.objects.filter(codename="view_release", content_type__app_label="releases")
    for group in Group.objects.filter(name__in=ROLE_GROUPS):
        group.permissions.add(*read)


class Migration(migrations.Migration):
    dependencies = [("gateway_project", "0003_token_view_permission"), ("approvals", "0002_roles_and_stages")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
