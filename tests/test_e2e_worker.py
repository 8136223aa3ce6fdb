"""End to end with a real `qcluster` process, a real MLflow server and the token API."""
import pytest
from django.db import close_old_connections

from devtools import processes
from releases.models import Release
from releases.statuses import Status
from tests.conftest import token_client
from tests.hanging import hanging_server
from tests.mlflow_models import VULNERABLE
from tests.workers import start_qcluster, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.mlflow,
              pytest.mark.usefixtures("restored_environments", "advisories")]


def _status(release_id):
    close_old_connections()
    return Release.objects.get(pk=release_id).status


def test_release_flows_through_a_real_worker(owner, mlflow_server, mlflow_models, settings, tmp_path):
    settings.MLFLOW_TRACKING_URI = mlflow_server.url
    log = tmp_path / "qcluster.log"
    worker = start_qcluster(log, MLFLOW_TRACKING_URI=mlflow_server.url)
    try:
        api = token_client(owner)
        response = api.post("/api/releases/", {"model_name": VULNERABLE, "model_alias": "champion",
                                               "target_environment": "staging"}, format="json")
        assert response.status_code == 201
        release_id = response.json()["id"]
        wait_for(lambda: _status(release_id) == Status.SCAN_FAILED, 90, "the fetch and scan steps", worker, log)
        body = api.get(f"/api/releases/{release_id}/").json()
        assert body["model_version"] == "1"
        assert {f["name"] for f in body["files"]} >= {"MLmodel", "requirements.txt", "conda.yaml"}
        assert [e["to_status"] for e in body["events"]] == [Status.PENDING, Status.SCANNING_DEPENDENCIES,
                                                            Status.SCAN_FAILED]
        assert [e["actor"] for e in body["events"]] == ["owner", "system", "system"]
        assert body["status_message"].startswith("Security scan failed. Found 2 CRITICAL vulnerabilities.")
        scan = api.get(f"/api/releases/{release_id}/scan/").json()
        assert not scan["decision"]["passed"] and not scan["decision"]["unreadable"]
        definite = api.get(f"/api/releases/{release_id}/scan/findings/?definite=true&page_size=200").json()
        assert {f["package"] for f in definite["results"]} >= {"pyyaml", "requests"}
        # The running cluster's heartbeat makes the gateway ready.
        wait_for(lambda: api.get("/readyz").status_code == 200, 30, "readyz to see the worker", worker, log)
    finally:
        processes.stop(worker, whole_group=False)


def test_worker_killed_mid_task_is_redelivered_and_finishes(owner, mlflow_server, mlflow_models, settings,
                                                           tmp_path):
    """SIGKILL the cluster while it waits on a hung MLflow; a new cluster redelivers the task."""
    with hanging_server() as hung_url:
        _kill_mid_task(owner, mlflow_server, tmp_path, hung_url)


def _kill_mid_task(owner, mlflow_server, tmp_path, hung_url):
    quick = dict(TASK_TIMEOUT_SECONDS=10, TASK_RETRY_SECONDS=14)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_qcluster(first_log, MLFLOW_TRACKING_URI=hung_url, MLFLOW_REQUEST_TIMEOUT_SECONDS=300,
                           MLFLOW_STEP_DEADLINE_SECONDS=300, **quick)
    second = None
    try:
        api = token_client(owner)
        release_id = api.post("/api/releases/", {"model_name": VULNERABLE, "model_version": "1",
                                                 "target_environment": "staging"}, format="json").json()["id"]

        def claimed():
            close_old_connections()
            return Release.objects.get(pk=release_id).lease_owner

        wait_for(claimed, 60, "the first worker to claim the release", first, first_log)
        processes.stop(first, timeout=0.1)  # escalates to SIGKILL: no clean shutdown
        assert _status(release_id) == Status.PENDING

        second = start_qcluster(second_log, MLFLOW_TRACKING_URI=mlflow_server.url, **quick)
        wait_for(lambda: _status(release_id) == Status.SCAN_FAILED, 90,
                 "redelivery to the second worker", second, second_log)
        release = Release.objects.get(pk=release_id)
        assert release.files.count() == 4 and release.scan_reports.count() == 1
        assert list(release.events.values_list("to_status", flat=True)) == [
            Status.PENDING, Status.SCANNING_DEPENDENCIES, Status.SCAN_FAILED]
    finally:
        processes.stop(first, whole_group=False)
        if second is not None:
            processes.stop(second, whole_group=False)


def test_whole_flow_to_succeeded_with_a_real_build(owner, mlflow_server, mlflow_models, registry, settings,
                                                   tmp_path):
    """POST /api/releases/ → fetch → scan → (staging: no approval) → local buildah build → SUCCEEDED."""
    from tests.mlflow_models import CLEAN

    settings.MLFLOW_TRACKING_URI = mlflow_server.url
    log = tmp_path / "qcluster.log"
    worker = start_qcluster(log, MLFLOW_TRACKING_URI=mlflow_server.url, BUILD_BACKEND="local",
                            BUILD_REGISTRY=f"{registry.address}/e2e", BUILD_REGISTRY_TLS_VERIFY="false",
                            BUILDAH_ROOT=str(tmp_path / "buildah"))
    try:
        api = token_client(owner)
        release_id = api.post("/api/releases/", {"model_name": CLEAN, "model_alias": "champion",
                                                 "target_environment": "staging"}, format="json").json()["id"]
        wait_for(lambda: _status(release_id) in (Status.SUCCEEDED, Status.BUILD_FAILED, Status.FAILED,
                                                 Status.SCAN_FAILED), 120, "the whole pipeline", worker, log)
        body = api.get(f"/api/releases/{release_id}/").json()
        assert body["status"] == Status.SUCCEEDED, body["status_message"]
        assert [e["to_status"] for e in body["events"] if e["from_status"] != e["to_status"]] == [
            Status.PENDING, Status.SCANNING_DEPENDENCIES, Status.SCAN_PASSED, Status.APPROVED,
            Status.BUILDING_IMAGE, Status.SUCCEEDED]
        assert body["image_reference"].startswith(f"{registry.address}/e2e/{CLEAN}:v2-r{release_id}-a1")
        assert body["image_digest"].startswith("sha256:")
    finally:
        processes.stop(worker, whole_group=False)
