"""Small helpers that build rows for tests."""
from releases.models import Environment, Release
from releases.statuses import Status, Step


def make_release(user, status=Status.PENDING, model_name="clean-model", ref="1", env="staging", **fields):
    if status == Status.FAILED:
        fields.setdefault("failed_step", Step.FETCH)
    # Written directly: tests place a release in any status to exercise the table.
    return Release.objects.create(
        model_name=model_name, requested_ref=ref, environment=Environment.objects.get(name=env),
        requested_by=user, status=status, **fields,
    )


def ensure_environments():
    """Transactional tests flush tables, data migrations included: put the chain back."""
    import importlib

    from django.apps import apps

    importlib.import_module("releases.migrations.0002_default_environments").create_environments(apps, None)
    importlib.import_module("releases.migrations.0008_default_policies").create(apps, None)
    importlib.import_module("approvals.migrations.0002_roles_and_stages").create(apps, None)
