"""Build once, promote the digest (releases.builds.promote), on the real registry.

The chain tests build one real image with buildah (staging) and promote it by digest to canary and
production through the real pipeline steps, scan and approvals included. The evidence tests put a
tiny image in the real registry with the registry client and forge or vary what an attacker could.
"""
import hashlib
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from approvals.services import decide
from approvals.tasks import request_approval
from releases import jobs, registry, services, steps
from releases.builds import BACKENDS, local, promote
from releases.builds.base import Started
from releases.models import Build, Environment, Release, ReleaseEvent, ReleaseFile, ScanReport
from releases.queue import SKIPPED
from releases.statuses import Status, Step
from tests.conftest import token_client
from tests.factories import make_release
from tests.lock_fixtures import with_lock
from tests.mlflow_models import CLEAN

pytestmark = pytest.mark.django_db
FILES = {"MLmodel": "flavors: {}\n", "requirements.txt": "requests==2.32.3\n"}
EVIDENCE = {"model_version": "2", "mlflow_run_id": "run-abc", "mlflow_source": "models:/m1/2",
            "mlflow_download_uri": "mlflow-artifacts:/1/run-abc/artifacts/model"}


@pytest.fixture
def builds_in_process(monkeypatch, local_builds):
    """The local backend's builder (`manage.py run_local_build`) run in this process when the backend
    starts it: a spawned builder could not see this test's uncommitted rows. Everything else is real:
    buildah, the registry, MLflow, the pipeline's steps, record_completion."""
    def start(build):
        local.run(build.pk)
        return Started(external_id="in-process")

    monkeypatch.setitem(BACKENDS, "local", start)
    _files_only_production()
    _no_package_index()
    return local_builds


def _files_only_production():
    """These tests promote files-only images (BUILD_BASE_IMAGE=scratch: seconds, not minutes), which have no
    server to smoke-test; production's policy requires a smoke test, so here it is lifted (a new version).
    tests/test_serving_image.py proves the smoke test on a real serving image, and test_build_callback.py
    that production refuses a build without one."""
    from releases.models import EnvironmentPolicy

    current = EnvironmentPolicy.current_for(Environment.objects.get(name="production").pk)
    current.require_smoke_test, current.comment = False, "tests: files-only images"
    current.save()


def _no_package_index():
    """These tests run with no package index (PACKAGE_INDEX_URL), so no lock can be made; canary and production
    require one, so here that is lifted (a new version each). tests/test_lock_required.py proves that they refuse
    a release without a lock, and the evidence tests below promote locked releases."""
    from releases.models import EnvironmentPolicy

    for name in ("canary", "production"):
        current = EnvironmentPolicy.current_for(Environment.objects.get(name=name).pk)
        current.resolve_dependencies, current.comment = "off", "tests: no package index"
        current.save()


@pytest.fixture
def approvers(django_user_model):
    made = {}
    for group in ("ml-leads", "security-officers", "sre"):
        user = django_user_model.objects.create_user(username=f"approver-{group}", password="pw-approver-123")
        user.groups.add(Group.objects.get(name=group))
        made[group] = user
    return made


def through_the_pipeline(release: Release, approvers: list) -> str:
    """fetch → scan → approval (by `approvers`) → APPROVED → BUILDING_IMAGE → trigger_build's answer."""
    assert steps.fetch_environment(release.pk) == "fetched"
    assert steps.scan_dependencies(release.pk) == "passed", Release.objects.get(pk=release.pk).status_message
    return approve_and_build(release, approvers)


def approve_and_build(release: Release, approvers: list) -> str:
    request_approval(release.pk)
    for user in approvers:
        decide(release.pk, user, True)
    assert Release.objects.get(pk=release.pk).status == Status.APPROVED
    assert steps.start_build(release.pk) == "building"
    return steps.trigger_build(release.pk)


def request(owner, env: str, ref: str = "2") -> Release:
    return services.request_release(owner, model_name=CLEAN, requested_ref=ref,
                                    environment=Environment.objects.get(name=env)).release


# --- The chain, with a real build ------------------------------------------------------------------

@pytest.mark.mlflow
@pytest.mark.slow
def test_staging_build_is_the_digest_canary_and_production_run(owner, approvers, use_mlflow, advisories,
                                                              builds_in_process):
    staging = request(owner, "staging")
    assert through_the_pipeline(staging, []) == "started"
    staging.refresh_from_db()
    assert staging.status == Status.SUCCEEDED, staging.status_message
    canary = request(owner, "canary")
    assert through_the_pipeline(canary, [approvers["ml-leads"]]) == "succeeded"
    production = request(owner, "production")
    assert through_the_pipeline(production, list(approvers.values())) == "succeeded"
    canary.refresh_from_db()
    production.refresh_from_db()

    assert canary.status == production.status == Status.SUCCEEDED, (canary.status_message, production.status_message)
    assert staging.image_digest.startswith("sha256:")
    assert canary.image_digest == production.image_digest == staging.image_digest
    # one buildah build; the others are promotions whose source is the environment before
    built = Build.objects.get(release=staging)
    assert (built.kind, built.backend, built.state) == ("build", "local", "succeeded")
    assert Build.objects.filter(kind="build").count() == 1
    canary_build, production_build = Build.objects.get(release=canary), Build.objects.get(release=production)
    assert (canary_build.kind, canary_build.backend, canary_build.source_build) == ("promote", "promote", built)
    assert production_build.source_build == canary_build
    # the registry: each environment's tag names that digest (read back with the client)
    repository = f"{builds_in_process.address}/models/{CLEAN}"
    for release in (canary, production):
        tag = f"{release.environment.name}-v2-r{release.pk}"
        assert release.image_reference == f"{repository}:{tag}"
        assert registry.get_manifest(repository, tag)[2] == staging.image_digest
    assert registry.get_manifest(repository, staging.image_digest)[2] == staging.image_digest
    # and the later releases were scanned and approved here, by this environment's approvers
    for release, count in ((canary, 1), (production, 3)):
        events = list(release.events.order_by("created_at", "id"))
        assert [e.to_status for e in events if e.from_status != e.to_status] == [
            Status.PENDING, Status.SCANNING_DEPENDENCIES, Status.SCAN_PASSED, Status.AWAITING_APPROVAL,
            Status.APPROVED, Status.BUILDING_IMAGE, Status.SUCCEEDED]
        assert sum(1 for e in events if e.data.get("approved") is True) == count
        assert any(e.message.startswith("Promotion #") and e.data["digest"] == staging.image_digest for e in events)
        assert release.scan_reports.count() == 1


# --- Which image may be promoted: the evidence --------------------------------------------------------

@pytest.fixture
def reg(local_builds):
    """BUILD_REGISTRY is the real registry (the local backend's settings, buildah storage in a tmp dir)."""
    return local_builds


def push_tiny_image(reg, model: str, tag: str, payload: bytes = b"weights") -> tuple[str, str, bytes]:
    """(repository, digest, manifest) of a two-blob OCI image pushed with the client."""
    repository = f"{reg.address}/models/{model}"
    config = json.dumps({"architecture": "amd64", "os": "linux", "payload": payload.hex()}).encode()
    config_digest, layer_digest = registry.push_blob(repository, config), registry.push_blob(repository, payload)
    body = json.dumps({"schemaVersion": 2, "mediaType": registry.OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                                  "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                                   "size": len(payload)}]}).encode()
    return repository, registry.put_manifest(repository, tag, body, registry.OCI_MANIFEST), body


def with_files(release: Release, files: dict) -> Release:
    for name, content in files.items():
        ReleaseFile.objects.create(release=release, name=name, size=len(content), content=content,
                                   sha256=hashlib.sha256(content.encode()).hexdigest())
    return release


def succeeded_in_staging(owner, reg, model: str = "evidence-model", **overrides) -> tuple[Release, Build]:
    """A staging release that SUCCEEDED with a real image in the registry, as record_completion leaves it,
    with the dependency lock it was fetched with (canary and production take only a locked image)."""
    repository, digest, _body = push_tiny_image(reg, model, "v2-a1", payload=model.encode())
    fields = {**EVIDENCE, "image_reference": f"{repository}:v2-a1", "image_digest": digest, **overrides}
    release = with_files(make_release(owner, status=Status.SUCCEEDED, model_name=model, ref="2", **fields), FILES)
    with_lock(release)
    build = Build.objects.create(release=release, backend="local", state="succeeded", finished_at=timezone.now(),
                                 image_reference=fields["image_reference"], image_digest=digest)
    return release, build


def building_in(owner, env: str, model: str = "evidence-model", files: dict | None = None, **overrides) -> Release:
    """A release of the same model that passed scan and approval in `env` and is now BUILDING_IMAGE, with the
    same lock as staging's (its fetch preferred staging's: releases.locking.service.predecessor_lock)."""
    release = make_release(owner, status=Status.BUILDING_IMAGE, model_name=model, ref="2", env=env,
                           **{**EVIDENCE, **overrides})
    with_lock(release)
    ScanReport.objects.create(release=release, scanner="builtin", started_at=timezone.now(), duration_ms=1.0,
                              passed=True, summary="No blocking findings.")
    return with_files(release, FILES if files is None else files)


def test_promotion_copies_the_digest_not_the_tag(owner, reg):
    """Someone pushes another image under the staging tag after staging SUCCEEDED: canary still gets the
    digest that ran in staging, read from the registry by digest."""
    staging, built = succeeded_in_staging(owner, reg)
    push_tiny_image(reg, "evidence-model", "v2-a1", payload=b"swapped after the soak")
    canary = building_in(owner, "canary")
    assert steps.trigger_build(canary.pk) == "succeeded"
    canary.refresh_from_db()
    assert canary.status == Status.SUCCEEDED and canary.image_digest == staging.image_digest
    assert registry.get_manifest(f"{reg.address}/models/evidence-model", f"canary-v2-r{canary.pk}")[2] == \
        staging.image_digest
    promoted = Build.objects.get(release=canary)
    assert promoted.source_build == built and promoted.kind == "promote"
    succeeded = canary.events.get(to_status=Status.SUCCEEDED)
    assert succeeded.data["build"] == promoted.pk  # the one path: record_completion's SUCCEEDED
    assert succeeded.message.startswith("Image promoted by digest: ")  # it says nothing was built


@pytest.mark.parametrize("field, value, reason", [
    ("mlflow_run_id", "run-other", "a different MLflow run"),
    ("mlflow_source", "models:/m1/3", "a different MLflow source"),
    ("mlflow_download_uri", "s3://elsewhere/model", "a different MLflow download URI"),
])
def test_different_mlflow_evidence_is_refused(owner, reg, field, value, reason):
    succeeded_in_staging(owner, reg)
    canary = building_in(owner, "canary", **{field: value})
    assert steps.trigger_build(canary.pk) == "refused"
    assert_refused(canary, reason)


@pytest.mark.parametrize("files, reason", [
    ({**FILES, "requirements.txt": "requests==2.19.0\n"}, "requirements.txt differ by sha256"),
    ({**FILES, "conda.yaml": "name: x\n"}, "conda.yaml differ by sha256"),
    ({"MLmodel": FILES["MLmodel"]}, "requirements.txt differ by sha256"),
])
def test_different_fetched_files_are_refused(owner, reg, files, reason):
    succeeded_in_staging(owner, reg)
    canary = building_in(owner, "canary", files=files)
    assert steps.trigger_build(canary.pk) == "refused"
    assert_refused(canary, reason)


def test_different_model_files_are_refused(owner, reg):
    """The image in staging holds the bytes scanned there; canary scanned other bytes (the file changed in
    MLflow in between): promoting would ship what canary never scanned."""
    from releases.models import ModelFile

    staging, _built = succeeded_in_staging(owner, reg)
    canary = building_in(owner, "canary")
    for release, digest in ((staging, "a" * 64), (canary, "b" * 64)):
        ModelFile.objects.create(release=release, path="python_model.pkl", size=9, sha256=digest, verdict="expected")
    assert steps.trigger_build(canary.pk) == "refused"
    assert_refused(canary, "different model files (python_model.pkl differ by sha256)")


def assert_refused(release: Release, reason: str) -> None:
    release.refresh_from_db()
    assert release.status == Status.BUILD_FAILED and reason in release.status_message, release.status_message
    assert "Nothing was rebuilt" in release.status_message
    build = Build.objects.get(release=release)
    assert (build.kind, build.state, build.image_digest) == ("promote", "failed", "")
    assert build.source_build is not None and build.source_build.release.environment.name == "staging"
    assert not release.image_digest
    assert Build.objects.filter(kind__in=["build", "rebuild"], release=release).count() == 0


@pytest.mark.parametrize("case", ["other version", "not succeeded", "other environment", "not soaked",
                                  "digest of no build", "other registry"])
def test_no_trustworthy_source_is_refused(owner, reg, case):
    staging, built = succeeded_in_staging(owner, reg)
    if case == "other version":
        Release.objects.filter(pk=staging.pk).update(model_version="3")
    elif case == "not succeeded":  # a build that finished, but whose release never passed (cancelled)
        Release.objects.filter(pk=staging.pk).update(status=Status.CANCELLED)
    elif case == "other environment":  # production's predecessor is canary, not staging
        pass
    elif case == "not soaked":
        Environment.objects.filter(name="canary").update(min_soak_minutes=30)
    elif case == "digest of no build":  # the release's digest was changed behind the builds' back
        _repository, other, _body = push_tiny_image(reg, "evidence-model", "unscanned", payload=b"unscanned")
        Release.objects.filter(pk=staging.pk).update(image_digest=other)
    elif case == "other registry":
        Build.objects.filter(pk=built.pk).update(image_reference="registry.example.com/models/evidence-model:v2")
    target = building_in(owner, "production" if case == "other environment" else "canary")
    assert steps.trigger_build(target.pk) == "refused"
    target.refresh_from_db()
    assert target.status == Status.BUILD_FAILED and "Promotion refused" in target.status_message
    expected = {"digest of no build": "no build of it recorded its digest",
                "other registry": "not in BUILD_REGISTRY's registry",
                "not soaked": "at least 30 minutes ago"}.get(case, "no release of evidence-model version 2")
    assert expected in target.status_message, target.status_message
    assert not target.image_digest


def test_the_newest_soaked_source_is_taken(owner, reg):
    older, older_build = succeeded_in_staging(owner, reg)
    Release.objects.filter(pk=older.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    _newer, newer_build = succeeded_in_staging(owner, reg)
    Environment.objects.filter(name="canary").update(min_soak_minutes=60)  # only the older one has soaked
    first = building_in(owner, "canary")
    assert steps.trigger_build(first.pk) == "succeeded"
    assert Build.objects.get(release=first).source_build == older_build
    Environment.objects.filter(name="canary").update(min_soak_minutes=0)
    second = building_in(owner, "canary")
    assert steps.trigger_build(second.pk) == "succeeded"
    assert Build.objects.get(release=second).source_build == newer_build


def test_a_source_image_gone_from_the_registry_fails_retryably(owner, reg):
    staging, _built = succeeded_in_staging(owner, reg)
    repository = f"{reg.address}/models/evidence-model"
    body, media_type, _digest = registry.get_manifest(repository, staging.image_digest)
    registry.delete_manifest(repository, staging.image_digest)
    canary = building_in(owner, "canary")
    assert steps.trigger_build(canary.pk) == "failed"
    canary.refresh_from_db()
    assert canary.status == Status.FAILED and canary.failed_step == Step.BUILD
    assert "is gone from the registry" in canary.status_message and staging.image_digest in canary.status_message
    assert reg.address not in canary.status_message  # the registry's address is for the worker's log
    failed = Build.objects.get(release=canary)
    assert failed.state == "failed" and "gone from the registry" in failed.error
    # retryable: once the image is back (the same bytes, so the same digest), the retry promotes it
    canary = services.retry_release(canary, owner)
    assert canary.status == Status.APPROVED
    assert steps.start_build(canary.pk) == "building"
    registry.put_manifest(repository, staging.image_digest, body, media_type)
    assert steps.trigger_build(canary.pk) == "succeeded"
    canary.refresh_from_db()
    assert canary.image_digest == staging.image_digest
    assert list(Build.objects.filter(release=canary).order_by("attempt").values_list("attempt", "state")) == [
        (1, "failed"), (2, "succeeded")]


def test_an_unreachable_registry_is_an_operational_failure(owner, reg, settings):
    from devtools.processes import free_port

    succeeded_in_staging(owner, reg)
    port = free_port()
    Build.objects.filter(release__environment__name="staging").update(
        image_reference=f"127.0.0.1:{port}/models/evidence-model:v2-a1")
    settings.BUILD_REGISTRY = f"127.0.0.1:{port}/models"
    settings.BUILD_REGISTRY_TIMEOUT_SECONDS = 2
    canary = building_in(owner, "canary")
    assert steps.trigger_build(canary.pk) == "failed"
    canary.refresh_from_db()
    assert canary.status == Status.FAILED and canary.failed_step == Step.BUILD
    assert "Could not promote the image in the registry" in canary.status_message and str(port) not in \
        canary.status_message


# --- Delivered twice, interrupted ----------------------------------------------------------------------

def test_double_delivery_promotes_once(owner, reg):
    staging, _built = succeeded_in_staging(owner, reg)
    canary = building_in(owner, "canary")
    Release.objects.filter(pk=canary.pk).update(lease_owner="another-worker",
                                                lease_expires_at=timezone.now() + timedelta(minutes=1))
    assert steps.trigger_build(canary.pk) == SKIPPED  # a copy of the task runs elsewhere: nothing here
    assert not Build.objects.filter(release=canary).exists()
    Release.objects.filter(pk=canary.pk).update(lease_owner="", lease_expires_at=None)
    assert steps.trigger_build(canary.pk) == "succeeded"
    assert steps.trigger_build(canary.pk) == SKIPPED  # the redelivered copy
    assert Build.objects.filter(release=canary).count() == 1
    assert canary.events.filter(to_status=Status.SUCCEEDED).count() == 1
    assert canary.events.filter(message__startswith="Promotion #").count() == 1


def test_a_promotion_whose_worker_died_is_closed_and_attempted_again(owner, reg, settings):
    succeeded_in_staging(owner, reg)
    canary = building_in(owner, "canary")
    silent = timezone.now() - timedelta(seconds=settings.RELEASE_LEASE_SECONDS + 5)
    dead = Build.objects.create(release=canary, backend="promote", kind="promote", attempt=1, heartbeat_at=silent)
    assert steps.trigger_build(canary.pk) == SKIPPED  # a running promotion: not started twice
    assert jobs.close_interrupted_builds() == 1
    dead.refresh_from_db()
    assert dead.state == "failed" and dead.error.startswith(jobs.INTERRUPTED)
    assert steps.trigger_build(canary.pk) == "succeeded"
    assert Build.objects.get(release=canary, attempt=2).state == "succeeded"


# --- Rebuild: explicit, audited -------------------------------------------------------------------------

def failed_promotion(owner, reg) -> Release:
    succeeded_in_staging(owner, reg)
    canary = building_in(owner, "canary", mlflow_run_id="run-other")
    assert steps.trigger_build(canary.pk) == "refused"
    return Release.objects.get(pk=canary.pk)


def test_rebuild_needs_permission_a_reason_and_a_failed_build(owner, reg, outsider_api, stranger_api, api,
                                                             platform_admin):
    canary = failed_promotion(owner, reg)
    url = f"/api/releases/{canary.pk}/rebuild/"
    assert outsider_api.post(url, {"reason": "mine now"}, format="json").status_code == 403
    assert stranger_api.post(url, {"reason": "mine now"}, format="json").status_code == 403
    assert api.post(url, {}, format="json").status_code == 400
    assert api.post(url, {"reason": "x" * 1001}, format="json").status_code == 400
    assert Release.objects.get(pk=canary.pk).status == Status.BUILD_FAILED  # nothing changed
    for status in (Status.SUCCEEDED, Status.AWAITING_APPROVAL, Status.BUILDING_IMAGE):
        other = make_release(owner, status=status, env="canary")
        answer = api.post(f"/api/releases/{other.pk}/rebuild/", {"reason": "why not"}, format="json")
        assert answer.status_code == 409 and answer.json()["status"] == status
    failed_fetch = make_release(owner, status=Status.FAILED, env="canary")  # failed_step fetch
    assert api.post(f"/api/releases/{failed_fetch.pk}/rebuild/", {"reason": "r"}, format="json").status_code == 409

    answer = token_client(platform_admin).post(url, {"reason": "  the staging run was re-logged  "}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == Status.SCANNING_DEPENDENCIES
    events = api.get(f"/api/releases/{canary.pk}/events/?page_size=200").json()["results"]
    rebuild = events[-1]
    assert rebuild["actor"] == "platform-admin" and rebuild["to_status"] == Status.SCANNING_DEPENDENCIES
    assert rebuild["message"].startswith("Rebuild requested by platform-admin: the staging run was re-logged")
    assert promote.kind_for(Release.objects.get(pk=canary.pk)) == "rebuild"
    stored = ReleaseEvent.objects.get(pk=rebuild["id"])
    assert stored.data["reason"] == "the staging run was re-logged" and stored.data["action"] == "rebuild"


@pytest.mark.mlflow
@pytest.mark.slow
def test_a_rebuild_is_scanned_and_approved_again_builds_a_new_digest_that_production_promotes(
        owner, approvers, use_mlflow, advisories, builds_in_process, api):
    staging = request(owner, "staging")
    assert through_the_pipeline(staging, []) == "started"
    staging.refresh_from_db()
    repository = f"{builds_in_process.address}/models/{CLEAN}"
    registry.delete_manifest(repository, staging.image_digest)  # garbage-collected after the soak
    canary = request(owner, "canary")
    assert through_the_pipeline(canary, [approvers["ml-leads"]]) == "failed"
    assert "gone from the registry" in Release.objects.get(pk=canary.pk).status_message
    assert api.post(f"/api/releases/{canary.pk}/rebuild/", {"reason": "staging's image was collected"},
                    format="json").status_code == 200
    # scanned again, and the approval given before does not count for the image to be built
    assert steps.scan_dependencies(canary.pk) == "passed"
    request_approval(canary.pk)
    assert Release.objects.get(pk=canary.pk).status == Status.AWAITING_APPROVAL
    assert steps.start_build(canary.pk) == SKIPPED
    decide(canary.pk, approvers["ml-leads"], True)
    assert steps.start_build(canary.pk) == "building"
    assert steps.trigger_build(canary.pk) == "started"
    canary.refresh_from_db()
    assert canary.status == Status.SUCCEEDED, canary.status_message
    rebuilt = Build.objects.get(release=canary, state="succeeded")
    assert rebuilt.kind == "rebuild" and rebuilt.backend == "local"
    assert canary.image_digest == rebuilt.image_digest != staging.image_digest  # a new image (its own labels)
    assert canary.scan_reports.count() == 2
    assert registry.get_manifest(repository, canary.image_digest)[2] == canary.image_digest
    # production promotes the newest successful build of the version in canary: the rebuilt one
    production = request(owner, "production")
    assert through_the_pipeline(production, list(approvers.values())) == "succeeded"
    production.refresh_from_db()
    assert production.image_digest == canary.image_digest
    assert Build.objects.get(release=production).source_build == rebuilt
    assert Build.objects.filter(kind__in=["build", "rebuild"]).count() == 2


@pytest.mark.parametrize("backend", ["webhook", "gitlab"])
def test_remote_backends_promote_through_the_same_path_without_calling_ci(owner, reg, settings, backend):
    """CI built staging's image and pushed it to BUILD_REGISTRY; canary promotes it from the gateway by
    digest, and the CI system is not asked to build (its address answers nothing)."""
    from devtools.processes import free_port

    settings.BUILD_BACKEND = backend
    settings.BUILD_WEBHOOK_URL = f"http://127.0.0.1:{free_port()}/hook"
    settings.GITLAB_URL, settings.GITLAB_PROJECT_ID, settings.GITLAB_TRIGGER_TOKEN = (
        f"http://127.0.0.1:{free_port()}", "7", "trigger-token")
    staging, built = succeeded_in_staging(owner, reg)
    Build.objects.filter(pk=built.pk).update(backend=backend, external_id="pipeline-41")
    canary = building_in(owner, "canary")
    assert steps.trigger_build(canary.pk) == "succeeded"
    canary.refresh_from_db()
    assert canary.status == Status.SUCCEEDED and canary.image_digest == staging.image_digest
    promoted = Build.objects.get(release=canary)
    assert (promoted.backend, promoted.kind, promoted.source_build_id) == ("promote", "promote", built.pk)
    # the first environment still goes to CI: there the backend is asked (and, unreachable, fails)
    first = building_in(owner, "staging", model="another-model")
    assert steps.trigger_build(first.pk) == "failed"
    assert Build.objects.get(release=first).backend == backend
