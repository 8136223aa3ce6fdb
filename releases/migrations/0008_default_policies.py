"""Version 1 of each environment's policy. (Roles and their groups: approvals/migrations/0002.)

staging blocks CRITICAL; canary and production block HIGH and CRITICAL. UNKNOWN counts
as CRITICAL everywhere; possible (unpinned) findings and unpinned requirements warn
(production blocks unpinned requirements); URL/VCS/path requirements are blocked.
"""
from django.db import migrations

POLICIES = {
    "staging": {"block_at": "CRITICAL", "unpinned_requirements": "warn"},
    "canary": {"block_at": "HIGH", "unpinned_requirements": "warn"},
    "production": {"block_at": "HIGH", "unpinned_requirements": "block"},
}


def create(apps, schema_editor):
    Environment = apps.get_model("releases", "Environment")
    EnvironmentPolicy = apps.get_model("releases", "EnvironmentPolicy")
    for name, values in POLICIES.items():
        environment = Environment.objects.filter(name=name).first()
        if environment and not EnvironmentPolicy.objects.filter(environment=environment).exists():
            EnvironmentPolicy.objects.create(environment=environment, version=1, comment="initial policy",
                                             unknown_counts_as="CRITICAL", possible_findings="warn",
                                             direct_references="block", **values)


class Migration(migrations.Migration):
    dependencies = [("releases", "0007_policies_and_waivers"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
