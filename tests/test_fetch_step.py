"""The fetch step against a real MLflow server: resolve, fetch, hash, and every failure."""
import hashlib
import time

import pytest

from devtools.mlflow_server import MlflowServer
from releases import leases, mlflow_source, steps
from releases.models import Release, ReleaseEvent, ReleaseFile
from releases.services import retry_release
from releases.statuses import Status, Step
from tests.factories import make_release
from tests.hanging import hanging_server as hanging
from tests.mlflow_models import CLEAN, CONDA, NOT_A_MODEL, VULNERABLE

pytestmark = pytest.mark.mlflow


def _fetch(release):
    result = steps.fetch_environment(release.pk)
    return result, Release.objects.get(pk=release.pk)


def test_release_by_version_fetches_and_hashes_files(owner, use_mlflow):
    release = make_release(owner, model_name=VULNERABLE, ref="1")
    result, release = _fetch(release)
    assert result == "fetched"
    assert release.status == Status.SCANNING_DEPENDENCIES
    assert release.model_version == "1"
    assert len(release.mlflow_run_id) == 32
    assert release.mlflow_source.startswith("models:/m-")
    files = {f.name: f for f in ReleaseFile.objects.filter(release=release)}
    assert set(files) == {"MLmodel", "conda.yaml", "requirements.txt", "python_env.yaml"}
    reqs = files["requirements.txt"]
    assert "pyyaml==5.3.1" in reqs.content and "pillow==8.0.0" in reqs.content
    assert reqs.sha256 == hashlib.sha256(reqs.content.encode()).hexdigest()
    assert reqs.size == len(reqs.content.encode())
    assert "python_model.pkl" not in files  # only environment files are fetched
    assert release.mlflow_run_metrics == {"accuracy": 0.91, "latency_ms": 40.0}  # for quality gates
    assert release.mlflow_run_tags["git_sha"] == "a17b3d0"
    assert not any(key.startswith("mlflow.") for key in release.mlflow_run_tags)
    event = release.events.get(to_status=Status.SCANNING_DEPENDENCIES)
    assert event.actor is None and event.data["files"]["requirements.txt"] == reqs.sha256


def test_release_by_alias_resolves_the_aliased_version(owner, use_mlflow):
    release = make_release(owner, model_name=CLEAN, ref="@champion")
    _, release = _fetch(release)
    assert release.status == Status.SCANNING_DEPENDENCIES
    assert release.model_version == "2" and release.requested_ref == "@champion"
    assert "pyyaml==6.0.2" in release.files.get(name="requirements.txt").content


def test_conda_model_keeps_conda_only_packages(owner, use_mlflow):
    _, release = _fetch(make_release(owner, model_name=CONDA, ref="1"))
    assert "numpy=1.19.0" in release.files.get(name="conda.yaml").content
    assert "numpy" not in release.files.get(name="requirements.txt").content


@pytest.mark.parametrize("name,ref,expected", [
    ("no-such-model", "1", "Model 'no-such-model' does not exist"),
    (CLEAN, "99", f"Model '{CLEAN}' has no version 99"),
    (CLEAN, "@no-such-alias", f"Model '{CLEAN}' has no alias '@no-such-alias'"),
    ("no-such-model", "@champion", "Model 'no-such-model' does not exist"),
])
def test_missing_model_version_or_alias_fails_with_a_clear_message(owner, use_mlflow, name, ref, expected):
    result, release = _fetch(make_release(owner, model_name=name, ref=ref))
    assert result == "failed"
    assert release.status == Status.FAILED and release.failed_step == Step.FETCH
    assert release.status_message.startswith(expected), release.status_message
    assert "Traceback" not in release.status_message
    assert not release.files.exists()


def test_a_version_without_mlmodel_is_refused(owner, use_mlflow):
    _, release = _fetch(make_release(owner, model_name=NOT_A_MODEL, ref="1"))
    assert release.status == Status.FAILED
    assert "has no MLmodel file" in release.status_message


def test_file_over_the_size_cap_fails_and_stores_nothing(owner, use_mlflow, settings):
    settings.MLFLOW_MAX_FILE_BYTES = 100  # MLmodel is ~600 bytes
    _, release = _fetch(make_release(owner, model_name=CLEAN, ref="2"))
    assert release.status == Status.FAILED
    assert "over the 100-byte limit" in release.status_message
    assert not release.files.exists()


def test_task_delivered_twice_does_the_work_once(owner, use_mlflow, monkeypatch):
    calls = []
    real_resolve = mlflow_source.MlflowSource.resolve

    def counting_resolve(self, *args, **kwargs):
        calls.append(args)
        return real_resolve(self, *args, **kwargs)

    monkeypatch.setattr(mlflow_source.MlflowSource, "resolve", counting_resolve)
    release = make_release(owner, model_name=CLEAN, ref="1")
    assert steps.fetch_environment(release.pk) == "fetched"
    assert steps.fetch_environment(release.pk) == steps.SKIPPED
    assert len(calls) == 1
    assert ReleaseEvent.objects.filter(release=release).count() == 1
    assert ReleaseFile.objects.filter(release=release).count() == 4


def test_second_copy_while_first_holds_the_lease_does_nothing(owner, use_mlflow):
    release = make_release(owner, model_name=CLEAN, ref="1")
    assert leases.claim(release.pk, Status.PENDING, "first-worker")
    assert steps.fetch_environment(release.pk) == steps.SKIPPED
    assert Release.objects.get(pk=release.pk).status == Status.PENDING
    assert not ReleaseEvent.objects.filter(release=release).exists()


def test_expired_lease_of_a_killed_worker_is_taken_over(owner, use_mlflow):
    from datetime import timedelta

    from django.utils import timezone

    release = make_release(owner, model_name=CLEAN, ref="1", lease_owner="dead-worker",
                           lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert steps.fetch_environment(release.pk) == "fetched"
    assert Release.objects.get(pk=release.pk).status == Status.SCANNING_DEPENDENCIES


def test_cancelled_during_fetch_keeps_nothing(owner, use_mlflow, monkeypatch):
    from releases.services import cancel_release

    real_fetch = mlflow_source.MlflowSource.fetch_files

    def fetch_then_cancel(self, model):
        files = real_fetch(self, model)
        cancel_release(Release.objects.get(model_name=CLEAN, requested_ref="1", status=Status.PENDING), owner)
        return files

    monkeypatch.setattr(mlflow_source.MlflowSource, "fetch_files", fetch_then_cancel)
    release = make_release(owner, model_name=CLEAN, ref="1")
    assert steps.fetch_environment(release.pk) == steps.SKIPPED
    release.refresh_from_db()
    assert release.status == Status.CANCELLED
    assert not release.files.exists()
    assert list(release.events.values_list("to_status", flat=True)) == [Status.CANCELLED]


def test_task_for_a_missing_or_moved_on_release_is_a_no_op(owner):
    assert steps.fetch_environment(999999) == steps.SKIPPED
    release = make_release(owner, status=Status.CANCELLED)
    assert steps.fetch_environment(release.pk) == steps.SKIPPED


@pytest.mark.slow
def test_mlflow_stopped_fails_within_bound_then_retry_succeeds(owner, mlflow_server, mlflow_models, settings):
    """A second server over the same store, so stopping it leaves the session's server alone."""
    second = MlflowServer(mlflow_server.root).start()
    settings.MLFLOW_TRACKING_URI = second.url
    port = second.port
    try:
        second.stop()
        release = make_release(owner, model_name=CLEAN, ref="1")
        started = time.monotonic()
        result, release = _fetch(release)
        elapsed = time.monotonic() - started
        assert result == "failed" and release.status == Status.FAILED
        assert release.failed_step == Step.FETCH
        assert "could not be reached" in release.status_message
        assert str(port) not in release.status_message  # the address is for the log, not for users
        assert elapsed < 30, f"took {elapsed:.1f} s with default bounds"

        second = MlflowServer(mlflow_server.root, port=port).start()
        release = retry_release(release, owner)
        assert release.status == Status.PENDING
        result, release = _fetch(release)
        assert result == "fetched" and release.status == Status.SCANNING_DEPENDENCIES
        assert [e.to_status for e in release.events.all()] == [Status.FAILED, Status.PENDING,
                                                               Status.SCANNING_DEPENDENCIES]
    finally:
        second.stop()


@pytest.fixture
def hanging_server():
    with hanging() as url:
        yield url


def test_hung_mlflow_times_out_within_the_configured_bound(owner, settings, hanging_server):
    settings.MLFLOW_TRACKING_URI = hanging_server
    settings.MLFLOW_REQUEST_TIMEOUT_SECONDS = 1
    settings.MLFLOW_MAX_RETRIES = 1
    settings.MLFLOW_BACKOFF_FACTOR = 0
    started = time.monotonic()
    result, release = _fetch(make_release(owner, model_name=CLEAN, ref="1"))
    elapsed = time.monotonic() - started
    assert result == "failed" and release.status == Status.FAILED
    assert "could not be reached" in release.status_message and hanging_server not in release.status_message
    assert elapsed < 8, f"took {elapsed:.1f} s; bound is 2 attempts x 1 s"


def test_the_address_of_an_unreachable_mlflow_is_for_staff_only(owner, settings, django_user_model):
    """Users read what failed; the address and MLflow's words are kept for staff (admin), not the API."""
    from django.test import Client

    from devtools.processes import free_port
    from tests.conftest import token_client

    port = free_port()
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{port}"
    settings.MLFLOW_MAX_RETRIES = 0
    result, release = _fetch(make_release(owner, model_name=CLEAN, ref="1"))
    assert result == "failed"
    event = release.events.get(to_status=Status.FAILED)
    assert str(port) in event.data[ReleaseEvent.STAFF_DETAIL]
    answer = token_client(owner).get(f"/api/releases/{release.pk}/")
    assert answer.status_code == 200 and str(port) not in answer.content.decode()
    assert answer.json()["events"][-1]["data"] == {"step": Step.FETCH}
    staff = django_user_model.objects.create_superuser("staff-reader", password="pw-staff-reader-123")
    admin = Client()
    admin.force_login(staff)
    page = admin.get(f"/admin/releases/release/{release.pk}/change/")
    assert page.status_code == 200 and str(port) in page.content.decode()
