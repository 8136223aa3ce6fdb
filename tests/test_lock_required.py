"""Canary and production require a dependency lock: a release whose lock could not be made is not scanned
through, built, promoted or completed there, whichever path it takes and whenever the policy changed."""
import importlib
import json

import pytest
from django.apps import apps
from django.utils import timezone

from releases import promotion, steps
from releases.builds.completion import record_completion
from releases.locking import service, shipping, verdict
from releases.models import Build, DependencyLock, Environment, EnvironmentPolicy, Release, ScanReport
from releases.statuses import Status
from tests.factories import make_release, policy_version, release_with_files, scanned_model_files
from tests.fake_ci import fake_ci
from tests.lock_fixtures import model_files, record_fetched_lock
from tests.osv_records import DEFAULT_SET, sync_records

pytestmark = pytest.mark.django_db
Outcome = DependencyLock.Outcome
MIGRATION = importlib.import_module("releases.migrations.0031_lock_required_canary_production")
# An sdist-only package beside a pin: uv resolves wheels only, so this closure cannot be locked.
UNLOCKABLE = "buildme==1.0\nOther_Lib==0.9\n"
SECRET = "s3cret-current-0123456789"
EVIDENCE = {"model_version": "1", "mlflow_run_id": "run-a", "mlflow_source": "models:/m/1",
            "mlflow_download_uri": "mlflow-artifacts:/1/run-a/artifacts/model"}


def knob(env_name: str) -> str:
    return EnvironmentPolicy.current_for(Environment.objects.get(name=env_name).pk).resolve_dependencies


def set_knob(env_name: str, value: str) -> None:
    current = EnvironmentPolicy.current_for(Environment.objects.get(name=env_name).pk)
    current.resolve_dependencies = value
    current.save()  # a new version


def fetched_in(owner, env_name: str, requirements: str) -> tuple[Release, DependencyLock]:
    """A release fetched into `env_name` with the lock the fetch step makes there (its policy's knob)."""
    files = model_files(requirements)
    release = release_with_files(owner, **{name.replace(".", "_"): text for name, text in files.items()})
    environment = Environment.objects.get(name=env_name)
    Release.objects.filter(pk=release.pk).update(environment=environment, **EVIDENCE)
    release.refresh_from_db()
    lock = service.store(release.pk, service.lock_for(environment, release.model_name, "1", files))
    record_fetched_lock(release, lock)
    return release, lock


def building(release: Release) -> Release:
    Release.objects.filter(pk=release.pk).update(status=Status.BUILDING_IMAGE)
    return scanned_model_files(Release.objects.get(pk=release.pk))


# --- The defaults ---------------------------------------------------------------------------------------

def test_canary_and_production_require_a_lock_and_staging_warns():
    assert (knob("staging"), knob("canary"), knob("production")) == ("warn", "require", "require")
    production = EnvironmentPolicy.current_for(Environment.objects.get(name="production").pk)
    assert production.require_smoke_test and production.block_at == "HIGH"  # the rest of the version is kept
    assert production.unpinned_requirements == "block" and production.created_by is None
    assert production.comment == "a release whose dependency lock could not be made does not ship here"


def test_the_migration_adds_one_version_and_keeps_an_environment_that_chose_off():
    set_knob("canary", "off")
    counts = {name: EnvironmentPolicy.objects.filter(environment__name=name).count()
              for name in ("staging", "canary", "production")}
    MIGRATION.require(apps, None)
    assert {name: EnvironmentPolicy.objects.filter(environment__name=name).count() for name in counts} == counts
    assert knob("canary") == "off"


# --- Scan → decision -----------------------------------------------------------------------------------

@pytest.mark.parametrize("env_name, outcome", [("staging", "passed"), ("canary", "failed"),
                                               ("production", "failed")])
def test_an_unlockable_model_passes_staging_with_a_warning_and_is_blocked_after(owner, lock_index, tmp_path,
                                                                               env_name, outcome):
    sync_records(tmp_path / "osv", DEFAULT_SET)
    release, lock = fetched_in(owner, env_name, UNLOCKABLE)
    assert lock.outcome == Outcome.UNRESOLVABLE and "buildme" in lock.message
    assert steps.scan_dependencies(release.pk) == outcome
    release.refresh_from_db()
    decision = ScanReport.objects.get(release=release).decision
    entries = [*decision["blocking"], *decision["warnings"]]
    assert [e["lock"] for e in entries if e.get("lock")] == ["unresolvable"]
    if outcome == "failed":
        assert release.status == Status.SCAN_FAILED
        assert "Dependencies cannot be resolved into a lock" in release.status_message
        assert f"({env_name} policy v" in release.status_message


def test_production_without_a_package_index_fails_the_fetch_not_the_lock(owner, settings):
    settings.PACKAGE_INDEX_URL = ""
    with pytest.raises(service.ResolverUnavailable, match="requires a dependency lock"):
        service.lock_for(Environment.objects.get(name="production"), "m", "1", model_files("Other_Lib==0.9\n"))


def test_the_rule_is_one_function():
    assert verdict.missing("require", "unresolvable") and verdict.missing("require", "off")
    assert verdict.missing("require", None) and not verdict.missing("require", "resolved")
    assert not any(verdict.missing(k, o) for k in ("warn", "off") for o in ("resolved", "unresolvable", None))


# --- Build, promotion and completion apply it again, under the policy of now ---------------------------

def test_a_build_approved_under_warn_is_not_asked_for_once_the_policy_requires_a_lock(owner, lock_index, settings):
    settings.BUILD_BACKEND, settings.BUILD_CALLBACK_SECRETS, settings.BUILD_TRIGGER_RETRIES = "webhook", [SECRET], 0
    release, lock = fetched_in(owner, "staging", UNLOCKABLE)  # staging: warn, so it was scanned and approved
    release = building(release)
    set_knob("staging", "require")
    with fake_ci() as (url, received):
        settings.BUILD_WEBHOOK_URL = f"{url}/hook"
        assert steps.trigger_build(release.pk) == "refused"
    assert received == []  # no builder was sent an empty lock
    release.refresh_from_db()
    assert release.status == Status.BUILD_FAILED
    staging = policy_version("staging")
    assert release.status_message.startswith(f"Build failed: Not built: the staging policy (v{staging}) requires a "
                                             f"dependency lock, and release #{release.pk} has none (")
    assert Build.objects.get(release=release).state == Build.State.FAILED


def test_a_locked_build_is_asked_for_with_its_lock(owner, lock_index, settings):
    settings.BUILD_BACKEND, settings.BUILD_CALLBACK_SECRETS, settings.BUILD_TRIGGER_RETRIES = "webhook", [SECRET], 0
    set_knob("staging", "require")
    release, lock = fetched_in(owner, "staging", "Other_Lib==0.9\n")
    assert lock.outcome == Outcome.RESOLVED
    with fake_ci() as (url, received):
        settings.BUILD_WEBHOOK_URL = f"{url}/hook"
        assert steps.trigger_build(building(release).pk) == "started"
    assert json.loads(received[0]["body"])["dependency_lock_sha256"] == lock.sha256


def test_a_release_fetched_before_locks_existed_is_not_built_where_one_is_required(owner, settings):
    settings.BUILD_BACKEND = "webhook"
    release = building(make_release(owner, model_version="1"))  # no lock row, no fetch record
    set_knob("staging", "require")
    assert steps.trigger_build(release.pk) == "refused"
    assert "no lock was made when it was fetched" in Release.objects.get(pk=release.pk).status_message


def succeeded_in_staging(owner, requirements: str) -> Release:
    staging, _lock = fetched_in(owner, "staging", requirements)
    Release.objects.filter(pk=staging.pk).update(status=Status.SUCCEEDED, image_digest="sha256:" + "1" * 64,
                                                 image_reference="registry.local/models/m:v1")
    Build.objects.create(release=staging, backend="local", state="succeeded", finished_at=timezone.now(),
                         image_digest="sha256:" + "1" * 64, image_reference="registry.local/models/m:v1")
    return staging


def test_the_image_of_a_release_shipped_without_a_lock_is_not_promoted_where_one_is_required(owner, lock_index):
    succeeded_in_staging(owner, UNLOCKABLE)
    set_knob("canary", "warn")  # scanned and approved here under warn; then the policy requires a lock again
    canary, lock = fetched_in(owner, "canary", UNLOCKABLE)
    assert lock.outcome == Outcome.UNRESOLVABLE
    set_knob("canary", "require")
    assert steps.trigger_build(building(canary).pk) == "refused"
    canary.refresh_from_db()
    assert canary.status == Status.BUILD_FAILED
    assert (f"Promotion refused: the canary policy (v{policy_version('canary')}) requires a dependency lock"
            in canary.status_message)
    build = Build.objects.get(release=canary)
    assert (build.kind, build.backend, build.state, build.image_digest) == ("promote", "promote", "failed", "")


def test_a_completion_is_refused_when_the_policy_required_a_lock_while_it_built(owner, lock_index, settings):
    settings.BUILD_CALLBACK_SECRETS = [SECRET]
    release, _lock = fetched_in(owner, "staging", UNLOCKABLE)
    release = building(release)
    build = Build.objects.create(release=release, backend="webhook")
    set_knob("staging", "require")
    record_completion("late", {"build_id": build.pk, "status": "succeeded", "digest": "sha256:" + "ab" * 32,
                               "image_reference": "registry.local/models/clean-model:v1"})
    release.refresh_from_db()
    assert release.status == Status.BUILD_FAILED and "requires a dependency lock" in release.status_message
    assert not release.image_digest


# --- The promotion chain, when a release is asked for ---------------------------------------------------

def test_a_predecessor_without_a_lock_does_not_open_the_chain_where_one_is_required(owner, api):
    staging = make_release(owner, status=Status.SUCCEEDED, model_name="fraud-detector", model_version="3")
    canary = Environment.objects.get(name="canary")
    with pytest.raises(promotion.PromotionRefused) as refused:
        promotion.check("fraud-detector", "3", canary)
    assert str(refused.value) == (
        f"The canary policy (v{policy_version('canary')}) requires a dependency lock, and no SUCCEEDED release of "
        "fraud-detector version 3 "
        "in staging has one: its image installs no locked closure. Release it again in staging once its "
        "dependencies resolve into a lock.")
    assert promotion.allowed_versions("fraud-detector", canary)["allowed"] == []
    answer = api.post("/api/releases/", {"model_name": "fraud-detector", "model_version": "3",
                                         "target_environment": "canary"}, format="json")
    assert answer.status_code == 409 and "requires a dependency lock" in answer.json()["detail"]
    DependencyLock.objects.create(release=staging, outcome=Outcome.RESOLVED, content="x==1 \\\n", package_count=1)
    promotion.check("fraud-detector", "3", canary)
    assert promotion.allowed_versions("fraud-detector", canary)["allowed"] == ["3"]


def test_an_environment_under_warn_takes_a_predecessor_without_a_lock(owner):
    make_release(owner, status=Status.SUCCEEDED, model_name="fraud-detector", model_version="3")
    set_knob("canary", "warn")
    promotion.check("fraud-detector", "3", Environment.objects.get(name="canary"))


def test_an_empty_lock_is_not_a_lock(monkeypatch):
    from releases.locking import resolver

    monkeypatch.setattr(resolver, "resolve", lambda *a, **k: resolver.Resolution(True, "", "", "uv 0.13.9"))
    monkeypatch.setattr(service.settings, "PACKAGE_INDEX_URL", "http://127.0.0.1:9/simple")
    lock = service.make_lock(model_files("Other_Lib==0.9\n"), "require")
    assert lock.outcome == Outcome.UNRESOLVABLE and "lists no package" in lock.message
    assert not shipping.lock_made(lock)
