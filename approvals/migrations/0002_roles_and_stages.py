"""Roles as Django groups, and the default approval chains.

- requesters: may request releases
- ml-leads, security-officers, sre: approvers of the production (and canary) stages
- auditors: read-only everywhere (view permissions)
- platform-admins: cancel/retry any release, edit environments, policies and stages
staging needs no approval; canary: 1 ML lead; production: ML lead → Security → SRE.
"""
from django.db import migrations

GROUPS = ["requesters", "ml-leads", "security-officers", "sre", "auditors", "platform-admins"]
CHAINS = {
    "canary": [("ML lead", [("ml-leads", 1)])],
    "production": [("ML lead", [("ml-leads", 1)]), ("Security", [("security-officers", 1)]), ("SRE", [("sre", 1)])],
}


def create(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    if not Permission.objects.filter(codename="manage_any_release").exists():
        # On a fresh database permissions are created after all migrations (post_migrate):
        # create them now, from the migration state, so the groups can hold them.
        from django.contrib.auth.management import create_permissions

        for app_config in apps.get_app_configs():
            app_config.models_module = True
            create_permissions(app_config, verbosity=0, apps=apps)
            app_config.models_module = None
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in GROUPS}
    view = Permission.objects.filter(codename__startswith="view_",
                                     content_type__app_label__in=["releases", "approvals", "django_q"])
    groups["auditors"].permissions.add(*view)
    admin_perms = Permission.objects.filter(content_type__app_label__in=["releases", "approvals"]).filter(
        codename__in=["manage_any_release", "change_environment", "add_environmentpolicy", "change_environmentpolicy",
                      "add_approvalstage", "change_approvalstage", "add_approvalrule", "change_approvalrule",
                      "delete_approvalrule"])
    groups["platform-admins"].permissions.add(*admin_perms, *view)
    groups["requesters"].permissions.add(*Permission.objects.filter(codename="add_release"))

    Environment = apps.get_model("releases", "Environment")
    Stage = apps.get_model("approvals", "ApprovalStage")
    Rule = apps.get_model("approvals", "ApprovalRule")
    for env_name, stages in CHAINS.items():
        environment = Environment.objects.filter(name=env_name).first()
        if environment is None or Stage.objects.filter(environment=environment).exists():
            continue
        for order, (stage_name, rules) in enumerate(stages, start=1):
            stage = Stage.objects.create(environment=environment, order=order, name=stage_name)
            for group_name, count in rules:
                Rule.objects.create(stage=stage, group=groups[group_name], required_count=count)


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0001_initial"),
        ("releases", "0011_approval_settings"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
