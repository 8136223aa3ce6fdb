"""The lock through the pipeline: the fetch step resolves once (index down → FAILED, retried), re-evaluation
scans the stored lock, and builds ship it (webhook, GitLab, the local image, promotions, the attestation)."""
import base64
import io
import json
import tarfile
import time
import uuid
from urllib.parse import parse_qs

import mlflow
import pytest
import requests
from django.utils import timezone
from mlflow.tracking import MlflowClient
from rest_framework.test import APIClient

from releases import jobs, signing, steps
from releases.builds import local
from releases.evidence.stored import verify_stored
from releases.locking import service, shipping
from releases.models import Build, DependencyLock, Finding, Release, ReleaseEvidence, ReleaseFile
from releases.services import retry_release
from releases.statuses import Status, Step
from tests.factories import make_release, scanned_model_files
from tests.fake_ci import fake_ci
from tests.lock_fixtures import LEAF_LATER, PYTHON_ENV, locked_release
from tests.mlflow_models import _raw_model
from tests.osv_records import DEFAULT_SET, sync_records

pytestmark = pytest.mark.django_db
LOCKED_MODEL = "locked-model"
SECRET = "s3cret-current-0123456789"


@pytest.fixture(scope="session")
def locked_model(mlflow_server, mlflow_models):
    """A model in the session's MLflow whose requirements only the test index serves (toplib → midlib → leaflib)."""
    mlflow.set_tracking_uri(mlflow_server.url)
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    mlflow.set_experiment("locked-model")
    with mlflow.start_run() as run:
        pass
    _raw_model(client, run, LOCKED_MODEL, {"MLmodel": "flavors:\n  python_function: {}\n",
                                          "requirements.txt": "toplib>=1\n", "python_env.yaml": PYTHON_ENV})
    return LOCKED_MODEL


@pytest.fixture
def fetched(owner, use_mlflow, locked_model, lock_index, tmp_path):
    sync_records(tmp_path / "osv", DEFAULT_SET)
    release = make_release(owner, model_name=LOCKED_MODEL, ref="1")
    assert steps.fetch_environment(release.pk) == "fetched", Release.objects.get(pk=release.pk).status_message
    return Release.objects.get(pk=release.pk)


# --- The fetch step --------------------------------------------------------------------------------------

@pytest.mark.mlflow
def test_the_fetch_step_stores_the_lock_with_the_release(fetched, lock_index):
    lock = DependencyLock.objects.get(release=fetched)
    assert lock.outcome == "resolved" and lock.package_count == 5 and "leaflib==2.5" in lock.content
    event = fetched.events.get(to_status=Status.SCANNING_DEPENDENCIES)
    assert event.data["dependency_lock"] == {"outcome": "resolved", "sha256": lock.sha256, "packages": 5}
    assert f"Locked 5 packages (sha256 {lock.sha256[:12]}" in event.message
    assert lock.index_url == lock_index.url


@pytest.mark.mlflow
def test_an_index_that_is_down_fails_the_fetch_and_the_retry_locks(owner, use_mlflow, locked_model, lock_index):
    lock_index.down = True
    release = make_release(owner, model_name=LOCKED_MODEL, ref="1")
    assert steps.fetch_environment(release.pk) == "failed"
    release.refresh_from_db()
    assert (release.status, release.failed_step) == (Status.FAILED, Step.FETCH)
    assert release.status_message == ("The package index (PACKAGE_INDEX_URL) could not be reached or refused a "
                                      "request; the step can be retried.")
    assert "127.0.0.1" not in release.status_message
    assert not DependencyLock.objects.filter(release=release).exists()
    assert not ReleaseFile.objects.filter(release=release).exists()  # nothing half-written
    lock_index.down = False
    release = retry_release(release, owner)
    assert steps.fetch_environment(release.pk) == "fetched"
    assert DependencyLock.objects.get(release=release).outcome == "resolved"


@pytest.mark.mlflow
def test_the_dry_run_resolves_and_stores_nothing(api, owner, use_mlflow, locked_model, lock_index, tmp_path):
    from django.contrib.auth.models import Group

    owner.groups.add(Group.objects.get(name="requesters"))
    lock_index.page_max_age = 0  # uv asks the index again each time (else its cache answers while the index is down)
    sync_records(tmp_path / "osv", [*DEFAULT_SET, LEAF_LATER])
    answer = api.post("/api/policy/evaluate/", {"model_name": LOCKED_MODEL, "model_version": "1",
                                                "environment": "staging"}, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["decision"]["passed"] is False and "leaflib GHSA-leaf-0002" in body["decision"]["summary"]
    leaf = next(f for f in body["scan"]["findings"] if f["package"] == "leaflib")
    assert leaf["pulled_in_by"] == ["toplib", "midlib"] and leaf["definite"] is True
    assert body["scan"]["dependency_lock"]["outcome"] == "resolved"
    assert not DependencyLock.objects.exists()
    lock_index.down = True
    answer = api.post("/api/policy/evaluate/", {"model_name": LOCKED_MODEL, "model_version": "1",
                                                "environment": "staging"}, format="json")
    assert answer.status_code == 503 and "PACKAGE_INDEX_URL" in answer.json()["detail"]


# --- Re-evaluation uses the stored lock ----------------------------------------------------------------------

@pytest.mark.mlflow
def test_a_new_advisory_on_a_transitive_package_fails_a_waiting_release(fetched, lock_index, tmp_path):
    assert steps.scan_dependencies(fetched.pk) == "passed"
    asked = len(lock_index.requests)
    sync = sync_records(tmp_path / "osv2", [LEAF_LATER])
    assert jobs.reevaluate_waiting(f"advisory sync #{sync.pk}") == "1 release(s) moved to SCAN_FAILED"
    release = Release.objects.get(pk=fetched.pk)
    assert release.status == Status.SCAN_FAILED and "leaflib GHSA-leaf-0002" in release.status_message
    finding = Finding.objects.get(report__release=release, advisory_id="GHSA-leaf-0002")
    assert finding.definite and finding.pulled_in_by == ["toplib", "midlib"]
    assert len(lock_index.requests) == asked  # the stored lock was scanned: nothing was resolved again


def test_the_scan_api_shows_the_lock_and_who_pulled_a_finding_in(api, owner, lock_index, tmp_path):
    sync_records(tmp_path / "osv", [*DEFAULT_SET, LEAF_LATER])
    release, lock = locked_release(owner, "toplib\n")
    steps.scan_dependencies(release.pk)
    scan = api.get(f"/api/releases/{release.pk}/scan/").json()
    assert scan["dependency_lock"]["sha256"] == lock.sha256 and scan["dependency_lock"]["packages"] == 5
    assert "content" not in scan["dependency_lock"]
    findings = api.get(f"/api/releases/{release.pk}/scan/findings/").json()["results"]
    assert [(f["package"], f["pulled_in_by"], f["source_file"]) for f in findings] == [
        ("leaflib", ["toplib", "midlib"], "requirements.lock.txt")]


# --- Shipping the lock ------------------------------------------------------------------------------------

def building(owner, lock_index, requirements="toplib\n") -> tuple[Release, DependencyLock]:
    release, lock = locked_release(owner, requirements)
    Release.objects.filter(pk=release.pk).update(status=Status.BUILDING_IMAGE, model_version="1")
    return scanned_model_files(Release.objects.get(pk=release.pk)), lock


def test_the_webhook_request_carries_the_lock_and_its_digest(owner, lock_index, settings):
    settings.BUILD_BACKEND, settings.BUILD_CALLBACK_SECRETS, settings.BUILD_TRIGGER_RETRIES = "webhook", [SECRET], 0
    release, lock = building(owner, lock_index)
    with fake_ci() as (url, received):
        settings.BUILD_WEBHOOK_URL = f"{url}/hook"
        assert steps.trigger_build(release.pk) == "started"
    body = json.loads(received[0]["body"])
    assert body["dependency_lock"] == lock.content and body["dependency_lock_sha256"] == lock.sha256
    assert body["dependency_lock_install"] == ("python -m pip install --require-hashes --no-deps --only-binary :all: "
                                               "--no-input -r requirements.lock.txt")
    assert Build.objects.get(release=release).dependency_lock_sha256 == lock.sha256


def test_the_gitlab_trigger_carries_the_lock_as_variables(owner, lock_index, settings):
    settings.BUILD_BACKEND, settings.BUILD_TRIGGER_RETRIES = "gitlab", 0
    settings.GITLAB_PROJECT_ID, settings.GITLAB_TRIGGER_TOKEN = "42", "glptt-test-token"
    release, lock = building(owner, lock_index)
    with fake_ci() as (url, received):
        settings.GITLAB_URL = url
        assert steps.trigger_build(release.pk) == "started"
    form = parse_qs(received[0]["body"].decode())
    assert form["variables[GATEWAY_DEPENDENCY_LOCK]"] == [lock.content]
    assert form["variables[GATEWAY_DEPENDENCY_LOCK_SHA256]"] == [lock.sha256]


def test_a_release_without_a_lock_sends_empty_lock_fields(owner, settings):
    settings.BUILD_BACKEND, settings.BUILD_CALLBACK_SECRETS, settings.BUILD_TRIGGER_RETRIES = "webhook", [SECRET], 0
    release = scanned_model_files(make_release(owner, status=Status.BUILDING_IMAGE, model_version="1"))
    with fake_ci() as (url, received):
        settings.BUILD_WEBHOOK_URL = f"{url}/hook"
        steps.trigger_build(release.pk)
    body = json.loads(received[0]["body"])
    assert (body["dependency_lock"], body["dependency_lock_sha256"]) == ("", "")


def test_a_promotion_is_refused_when_the_locks_differ(owner, lock_index):
    evidence = {"model_version": "1", "mlflow_run_id": "run-a", "mlflow_source": "models:/m/1",
                "mlflow_download_uri": "mlflow-artifacts:/1/run-a/artifacts/model"}
    staging, _ = locked_release(owner, "toplib\n", knob="off")  # staging shipped another lock: here, none
    Release.objects.filter(pk=staging.pk).update(status=Status.SUCCEEDED, image_digest="sha256:" + "1" * 64,
                                                 image_reference="registry.local/models/m:v1", **evidence)
    Build.objects.create(release=staging, backend="local", state="succeeded", finished_at=timezone.now(),
                         image_digest="sha256:" + "1" * 64, image_reference="registry.local/models/m:v1")
    canary, lock = locked_release(owner, "toplib\n")
    Release.objects.filter(pk=canary.pk).update(
        status=Status.BUILDING_IMAGE, environment=staging.environment.__class__.objects.get(name="canary"), **evidence)
    assert steps.trigger_build(canary.pk) == "refused"
    canary.refresh_from_db()
    assert canary.status == Status.BUILD_FAILED
    assert f"a different dependency lock (sha256 none there, {lock.sha256[:12]} here)" in canary.status_message


@pytest.mark.mlflow
@pytest.mark.slow
def test_the_local_image_contains_the_lock_and_is_labelled_with_its_digest(fetched, local_builds):
    lock = DependencyLock.objects.get(release=fetched)
    assert steps.scan_dependencies(fetched.pk) == "passed"
    Release.objects.filter(pk=fetched.pk).update(status=Status.BUILDING_IMAGE)
    build = Build.objects.create(release=fetched, backend="local", attempt=1,
                                 dependency_lock_sha256=shipping.lock_digest(fetched))
    assert local.run(build.pk) == "succeeded"
    release = Release.objects.get(pk=fetched.pk)
    assert release.status == Status.SUCCEEDED, release.status_message
    repository, tag = release.image_reference.split("/", 1)[1].rsplit(":", 1)
    base = f"http://{local_builds.address}/v2/{repository}"
    manifest = requests.get(f"{base}/manifests/{tag}", timeout=10, headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
    }).json()
    config = requests.get(f"{base}/blobs/{manifest['config']['digest']}", timeout=10).json()
    assert config["config"]["Labels"][shipping.LOCK_LABEL] == lock.sha256
    shipped = {}
    for layer in manifest["layers"]:
        blob = requests.get(f"{base}/blobs/{layer['digest']}", timeout=30).content
        with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
            for member in archive.getmembers():
                if member.name.lstrip("./") == "model/requirements.lock.txt":
                    shipped[member.name] = archive.extractfile(member).read()
    assert list(shipped.values()) == [lock.content.encode()]  # byte for byte what was scanned
    assert Build.objects.get(pk=build.pk).dependency_lock_sha256 == lock.sha256
    evidence = ReleaseEvidence.objects.get(release=release)
    statement = json.loads(base64.b64decode(json.loads(evidence.envelope)["payload"]))
    assert statement["predicate"]["dependency_lock"]["digest"] == {"sha256": lock.sha256}
    assert "pkg:pypi/leaflib@2.5" in evidence.sbom  # the SBOM lists what the lock installs, transitive included
    assert verify_stored(release).ok, verify_stored(release).problems


def test_the_builder_installs_exactly_the_lock():
    assert shipping.install_command() == ["python", "-m", "pip", "install", "--require-hashes", "--no-deps",
                                          "--only-binary", ":all:", "--no-input", "-r", "/model/requirements.lock.txt"]


def test_service_lock_for_a_release_without_one_says_so(owner):
    release = make_release(owner)
    lock = service.lock_for_release(release)
    assert (lock.pk, lock.outcome, lock.message) == (None, "off", service.NOT_LOCKED)


def _callback(body: dict):
    raw = json.dumps(body).encode()
    headers = signing.headers(SECRET, uuid.uuid4().hex, int(time.time()), raw)
    return APIClient().post("/api/builds/callback/", raw, content_type="application/json",
                            **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})


@pytest.mark.parametrize("reported, status", [("0" * 64, Status.BUILD_FAILED), ("same", Status.SUCCEEDED),
                                              ("", Status.SUCCEEDED)])
def test_a_callback_reporting_another_lock_fails_the_build(owner, lock_index, settings, reported, status):
    settings.BUILD_CALLBACK_SECRETS = [SECRET]
    release, lock = building(owner, lock_index)
    build = Build.objects.create(release=release, backend="webhook", dependency_lock_sha256=lock.sha256)
    done = {"build_id": build.pk, "status": "succeeded", "image_reference": "registry.local/models/m:v1",
            "digest": "sha256:" + "ab" * 32, "dependency_lock_sha256": lock.sha256 if reported == "same" else reported}
    assert _callback(done).status_code == 200
    release.refresh_from_db()
    assert release.status == status, release.status_message
    if status == Status.BUILD_FAILED:
        assert (f"installed dependency lock sha256 000000000000…, not the lock that was scanned "
                f"({lock.sha256[:12]}…)") in release.status_message


def test_a_callback_lock_digest_must_be_a_sha256(owner, lock_index, settings):
    settings.BUILD_CALLBACK_SECRETS = [SECRET]
    release, _lock = building(owner, lock_index)
    build = Build.objects.create(release=release, backend="webhook")
    answer = _callback({"build_id": build.pk, "status": "failed", "dependency_lock_sha256": "../../etc"})
    assert answer.status_code == 400 and "dependency_lock_sha256" in answer.json()
