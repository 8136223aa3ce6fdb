"""Build orchestration: webhook and GitLab backends against a local server, failures, retry, timeout."""
import hashlib
import json
import time
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from releases import jobs, signing, steps
from releases.builds.completion import Outcome, record_completion
from releases.model_manifest import manifest_digest
from releases.models import Build, ModelFile, Release, ReleaseEvent
from releases.services import cancel_release, retry_release
from releases.statuses import Status, Step
from tests.factories import make_release
from tests.fake_ci import fake_ci

pytestmark = pytest.mark.django_db
SECRET = "s3cret-current-0123456789"


@pytest.fixture(autouse=True)
def build_settings(settings):
    settings.BUILD_CALLBACK_SECRETS = [SECRET]
    settings.BUILD_CALLBACK_URL = "https://gateway.example/api/builds/callback/"
    settings.BUILD_TRIGGER_RETRIES = 0
    return settings


SCANNED = [{"path": "MLmodel", "size": 120, "sha256": "a" * 64}, {"path": "python_model.pkl", "size": 900,
                                                                   "sha256": "b" * 64}]


def building(owner):
    release = make_release(owner, status=Status.BUILDING_IMAGE, model_version="3", model_name="fraud-detector")
    for f in SCANNED:
        ModelFile.objects.create(release=release, verdict="expected", **f)
    return release


def test_approved_release_moves_to_building_only_with_a_backend(owner, build_settings):
    release = make_release(owner, status=Status.APPROVED)
    build_settings.BUILD_BACKEND = ""
    assert steps.start_build(release.pk) == "no build backend configured"
    build_settings.BUILD_BACKEND = "webhook"
    assert steps.start_build(release.pk) == "building"
    assert Release.objects.get(pk=release.pk).status == Status.BUILDING_IMAGE


def test_webhook_request_is_signed_and_carries_the_release(owner, build_settings):
    build_settings.BUILD_BACKEND = "webhook"
    release = building(owner)
    with fake_ci() as (url, received):
        build_settings.BUILD_WEBHOOK_URL = f"{url}/hooks/model-release"
        assert steps.trigger_build(release.pk) == "started"
        assert steps.trigger_build(release.pk) == steps.SKIPPED  # delivered twice: one build
    assert len(received) == 1
    request = received[0]
    headers = request["headers"]
    signing.verify(headers["X-Gateway-Delivery"], headers["X-Gateway-Timestamp"], headers["X-Gateway-Signature"],
                   request["body"], [SECRET], now=time.time())  # a CI system can verify the gateway
    assert headers["Idempotency-Key"] == f"release-{release.pk}"
    body = json.loads(request["body"])
    assert (body["release_id"], body["model_name"], body["model_version"], body["attempt"]) == (
        release.pk, "fraud-detector", "3", 1)
    assert body["callback_url"] == "https://gateway.example/api/builds/callback/"
    assert body["model_files"] == SCANNED  # what was scanned, for the CI system to check its download against
    assert body["model_files_sha256"] == manifest_digest(SCANNED) == hashlib.sha256(
        json.dumps(SCANNED, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    recipe = body["serving_recipe"]  # the CI system builds the image the local backend would
    assert recipe["entrypoint"][:2] == ["/opt/venv/bin/python", "-c"]
    assert "mlflow.pyfunc.scoring_server.app:app" in recipe["entrypoint"][2] and "uvicorn" in recipe["entrypoint"][2]
    assert recipe["user"] == "10001:10001" and recipe["port"] == 8080 and recipe["timestamp"] == 0
    assert "--require-hashes --no-deps --only-binary :all:" in recipe["install"]
    assert body["base_image"] == ""  # scratch here: no base to name
    build = Build.objects.get(release=release)
    assert (build.state, build.external_id, build.backend) == ("running", "evt-123", "webhook")
    assert ReleaseEvent.objects.filter(release=release, message__startswith=f"Build #{build.pk}").exists()


def test_gitlab_pipeline_trigger(owner, build_settings):
    build_settings.BUILD_BACKEND = "gitlab"
    build_settings.GITLAB_PROJECT_ID = "42"
    build_settings.GITLAB_TRIGGER_TOKEN = "glptt-test-token"
    build_settings.GITLAB_REF = "main"
    release = building(owner)
    with fake_ci() as (url, received):
        build_settings.GITLAB_URL = url
        assert steps.trigger_build(release.pk) == "started"
    assert received[0]["path"] == "/api/v4/projects/42/trigger/pipeline"
    form = parse_qs(received[0]["body"].decode())
    assert form["token"] == ["glptt-test-token"] and form["ref"] == ["main"]
    assert form["variables[GATEWAY_RELEASE_ID]"] == [str(release.pk)]
    assert form["variables[GATEWAY_MODEL_NAME]"] == ["fraud-detector"]
    assert json.loads(form["variables[GATEWAY_MODEL_FILES]"][0]) == SCANNED
    assert form["variables[GATEWAY_MODEL_FILES_SHA256]"] == [manifest_digest(SCANNED)]
    assert json.loads(form["variables[GATEWAY_SERVING_RECIPE]"][0])["cmd"] == ["--host", "0.0.0.0", "--port", "8080"]
    build = Build.objects.get(release=release)
    assert (build.external_id, build.log_url) == ("4711", "http://gitlab.local/group/p/-/pipelines/4711")


def test_refused_trigger_is_an_operational_failure_and_retry_starts_a_new_attempt(owner, build_settings):
    build_settings.BUILD_BACKEND = "gitlab"
    build_settings.GITLAB_PROJECT_ID = "42"
    build_settings.GITLAB_TRIGGER_TOKEN = "wrong-token"
    release = building(owner)
    with fake_ci() as (url, _):
        build_settings.GITLAB_URL = url
        steps.trigger_build(release.pk)
    release.refresh_from_db()
    assert (release.status, release.failed_step) == (Status.FAILED, Step.BUILD)
    assert "HTTP 401" in release.status_message and Build.objects.get(release=release).state == "failed"
    release = retry_release(release, owner)
    assert release.status == Status.APPROVED  # the build step is entered again from the start


@pytest.mark.parametrize("backend", ["webhook", "gitlab"])
def test_a_release_without_scanned_model_files_is_never_sent_to_ci(owner, build_settings, backend):
    build_settings.BUILD_BACKEND = backend
    build_settings.GITLAB_PROJECT_ID, build_settings.GITLAB_TRIGGER_TOKEN = "42", "glptt-test-token"
    release = make_release(owner, status=Status.BUILDING_IMAGE, model_version="3")  # fetched before the scan
    with fake_ci() as (url, received):
        build_settings.BUILD_WEBHOOK_URL = build_settings.GITLAB_URL = url
        steps.trigger_build(release.pk)
    release.refresh_from_db()
    assert received == []  # the CI system would have built whatever MLflow holds now
    assert (release.status, release.failed_step) == (Status.FAILED, Step.BUILD)
    assert "no scanned model files" in release.status_message
    assert Build.objects.get(release=release).state == "failed"


def test_unreachable_webhook_fails_the_step(owner, build_settings):
    from devtools.processes import free_port

    build_settings.BUILD_BACKEND = "webhook"
    port = free_port()
    build_settings.BUILD_WEBHOOK_URL = f"http://127.0.0.1:{port}/hook"
    release = building(owner)
    steps.trigger_build(release.pk)
    release.refresh_from_db()
    assert release.status == Status.FAILED and "did not accept the build request" in release.status_message
    assert str(port) not in release.status_message  # the address stays in the log


def test_a_build_that_never_reports_back_times_out(owner, build_settings):
    build_settings.BUILD_TIMEOUT_MINUTES = 30
    release = building(owner)
    fresh = Build.objects.create(release=release, backend="webhook")
    assert jobs.reconcile_builds() == "0 build(s) timed out"
    Build.objects.filter(pk=fresh.pk).update(started_at=timezone.now() - timedelta(minutes=31))
    assert jobs.reconcile_builds() == "1 build(s) timed out"
    release.refresh_from_db()
    assert release.status == Status.BUILD_FAILED
    assert release.status_message == "Build failed: no completion reported within 30 minutes"


def test_retry_of_build_failed_starts_attempt_two(owner, build_settings):
    build_settings.BUILD_BACKEND = "webhook"
    release = make_release(owner, status=Status.BUILD_FAILED)
    for f in SCANNED:
        ModelFile.objects.create(release=release, verdict="expected", **f)
    Build.objects.create(release=release, backend="webhook", state="failed")
    release = retry_release(release, owner)
    assert release.status == Status.BUILDING_IMAGE
    with fake_ci() as (url, received):
        build_settings.BUILD_WEBHOOK_URL = url
        steps.trigger_build(release.pk)
    assert json.loads(received[0]["body"])["attempt"] == 2
    assert list(Build.objects.filter(release=release).order_by("attempt").values_list("attempt", "state")) == [
        (1, "failed"), (2, "running")]


def test_cancelling_a_building_release_closes_its_build_and_refuses_a_late_completion(owner, build_settings):
    build_settings.BUILD_BACKEND = "webhook"
    release = building(owner)
    build = Build.objects.create(release=release, backend="webhook")
    cancel_release(release, owner, "wrong model")
    build.refresh_from_db()
    assert (build.state, build.error) == ("failed", f"the release was cancelled by {owner.username}")
    assert build.finished_at is not None
    late = record_completion("late-1", {"build_id": build.pk, "status": "succeeded", "image_reference": "r/m:1",
                                        "digest": "sha256:" + "a" * 64})
    assert late.outcome == Outcome.NOT_RUNNING and "release is CANCELLED" in late.detail
    assert Release.objects.get(pk=release.pk).status == Status.CANCELLED


def test_reconciliation_closes_a_running_build_whose_release_moved_on(owner, build_settings):
    release = make_release(owner, status=Status.CANCELLED)  # cancelled before this fix, or by hand
    orphan = Build.objects.create(release=release, backend="webhook")
    assert jobs.reconcile_builds() == "0 build(s) timed out; 1 build(s) of releases no longer building closed"
    orphan.refresh_from_db()
    assert (orphan.state, orphan.error) == ("failed", "the release is no longer building")
    assert Release.objects.get(pk=release.pk).status == Status.CANCELLED  # the release is not touched
    assert jobs.reconcile_builds() == "0 build(s) timed out"


def test_no_build_backend_means_approved_releases_rest_and_a_building_one_fails(owner, build_settings):
    build_settings.BUILD_BACKEND = ""
    release = building(owner)  # started while a backend was configured
    assert steps.trigger_build(release.pk) == "failed"
    release.refresh_from_db()
    assert (release.status, release.failed_step) == (Status.FAILED, Step.BUILD)
    assert "No build backend is configured" in release.status_message
    assert not Build.objects.filter(release=release).exists()  # never sent to a default backend


def test_completion_outcomes(owner, build_settings):
    release = building(owner)
    build = Build.objects.create(release=release, backend="webhook")
    assert record_completion("d-1", {"build_id": 999999, "status": "failed"}).outcome == Outcome.NO_SUCH_BUILD
    done = record_completion("d-2", {"build_id": build.pk, "status": "failed", "message": "tests failed"})
    assert (done.outcome, done.build.pk, done.build.state) == (Outcome.RECORDED, build.pk, "failed")
    assert record_completion("d-2", {"build_id": build.pk, "status": "failed"}).outcome == Outcome.REPLAYED
    assert record_completion("d-3", {"build_id": build.pk, "status": "failed"}).outcome == Outcome.NOT_RUNNING
    assert Release.objects.get(pk=release.pk).status == Status.BUILD_FAILED
