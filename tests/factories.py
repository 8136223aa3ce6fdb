"""Small helpers that build rows for tests."""
import hashlib

from releases.models import Environment, EnvironmentPolicy, ModelFile, Release, ReleaseFile
from releases.statuses import Status, Step


def make_release(user, status=Status.PENDING, model_name="clean-model", ref="1", env="staging", **fields):
    if status == Status.FAILED:
        fields.setdefault("failed_step", Step.FETCH)
    # Written directly: tests place a release in any status to exercise the table.
    return Release.objects.create(
        model_name=model_name, requested_ref=ref, environment=Environment.objects.get(name=env),
        requested_by=user, status=status, **fields,
    )


def scanned_model_files(release, *paths: str) -> Release:
    """ModelFile rows as the fetch step writes them: what a build request lists and a build checks."""
    for path in paths or ("MLmodel", "python_model.pkl"):
        ModelFile.objects.create(release=release, path=path, size=3, sha256=hashlib.sha256(path.encode()).hexdigest(),
                                 verdict="expected")
    return release


def release_with_files(user, **files):
    """A release in SCANNING_DEPENDENCIES with the given files (requirements_txt -> requirements.txt)."""
    release = make_release(user, status=Status.SCANNING_DEPENDENCIES)
    for name, content in files.items():
        ReleaseFile.objects.create(release=release, name=name.replace("_txt", ".txt").replace("_yaml", ".yaml"),
                                   size=len(content), sha256=hashlib.sha256(content.encode()).hexdigest(),
                                   content=content)
    return release


def policy_version(environment: str) -> int:
    """The environment's current policy version (data migrations add versions: tests do not count them)."""
    return EnvironmentPolicy.current_for(Environment.objects.get(name=environment).pk).version


def ensure_environments():
    """Transactional tests flush tables, data migrations included: put the chain back."""
    import importlib

    from django.apps import apps

    importlib.import_module("releases.migrations.0002_default_environments").create_environments(apps, None)
    importlib.import_module("releases.migrations.0008_default_policies").create(apps, None)
    importlib.import_module("releases.migrations.0028_production_requires_smoke_test").require(apps, None)
    importlib.import_module("releases.migrations.0030_model_unknown_imports_block").block_unknown(apps, None)
    importlib.import_module("releases.migrations.0031_lock_required_canary_production").require(apps, None)
    importlib.import_module("approvals.migrations.0002_roles_and_stages").create(apps, None)
    importlib.import_module("approvals.migrations.0004_security_officers_manage_waivers").grant(apps, None)
    importlib.import_module("gateway_project.migrations.0003_token_view_permission").grant(apps, None)
    importlib.import_module("gateway_project.migrations.0004_roles_read_releases").grant(apps, None)
