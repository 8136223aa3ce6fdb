"""Worker faults with real processes: a real qcluster, the real detached builder (buildah), a real
docker-registry behind a slow proxy, a real MLflow. Processes are killed with SIGKILL by their pid."""
import os
import signal
import time
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from devtools import processes
from releases import jobs, queue, steps
from releases.builds import local
from releases.models import Build, Release, ReleaseEvent
from releases.statuses import Status
from tests.factories import make_release
from tests.hanging import hanging_server
from tests.mlflow_models import CLEAN, VULNERABLE
from tests.workers import SlowProxy, start_qcluster, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.mlflow,
              pytest.mark.usefixtures("restored_environments")]
# Tasks killed after 10 s: any build that ran inside its task could not take longer than that.
QUICK_TASKS = dict(TASK_TIMEOUT_SECONDS=10, TASK_RETRY_SECONDS=14)
PUSH_DELAY = 1.5  # seconds before each registry request: a push takes ~15 s (about ten requests)


def fresh(model):
    close_old_connections()
    return type(model).objects.get(pk=model.pk)


def building_release(owner):
    """A release fetched from the real MLflow and put at BUILDING_IMAGE, as if approved."""
    release = make_release(owner, model_name=CLEAN, ref="2")
    assert steps.fetch_environment(release.pk) == "fetched"
    Release.objects.filter(pk=release.pk).update(status=Status.BUILDING_IMAGE)
    return release


def builder_env(mlflow_url, proxy, tmp_path, **extra):
    return dict(MLFLOW_TRACKING_URI=mlflow_url, BUILD_BACKEND="local", BUILD_REGISTRY=f"{proxy.address}/slow",
                BUILD_REGISTRY_TLS_VERIFY="false", BUILDAH_ROOT=str(tmp_path / "buildah"), **extra)


def kill_builder(build):
    """SIGKILL the detached builder (it leads its own process group, with its buildah children)."""
    pid = int(fresh(build).external_id.rsplit(":", 1)[1])
    os.killpg(pid, signal.SIGKILL)
    return pid


def test_a_build_longer_than_the_task_timeout_succeeds(owner, use_mlflow, registry, settings, tmp_path):
    """The push alone (slow registry) outlasts TASK_TIMEOUT_SECONDS=10; the build is one attempt, SUCCEEDED."""
    settings.BUILDAH_ROOT = tmp_path / "buildah"  # the same storage as the builder's, to look into
    release = building_release(owner)
    log = tmp_path / "qcluster.log"
    with SlowProxy(registry.address, PUSH_DELAY) as proxy:
        worker = start_qcluster(log, **builder_env(settings.MLFLOW_TRACKING_URI, proxy, tmp_path, **QUICK_TASKS))
        try:
            queue.enqueue_step(release.pk, Status.BUILDING_IMAGE)
            wait_for(lambda: fresh(release).status != Status.BUILDING_IMAGE, 150, "the slow build", worker, log)
        finally:
            processes.stop(worker, whole_group=False)
    release = fresh(release)
    assert release.status == Status.SUCCEEDED, release.status_message
    build = Build.objects.get(release=release)  # one attempt: nothing killed or retried it
    took = (build.finished_at - build.started_at).total_seconds()
    print(f"\nlocal build took {took:.1f} s with TASK_TIMEOUT_SECONDS=10")
    assert took > 10, "the build must have outlasted the task timeout for this test to mean anything"
    assert release.image_reference.startswith(f"{proxy.address}/slow/{CLEAN}:v2-r{release.pk}-a1")
    assert build.heartbeat_at is not None and build.heartbeat_at > build.started_at
    assert local.leftovers() == {"containers": set(), "images": set()}


def test_worker_and_builder_killed_mid_build_resume_once_and_leave_nothing(owner, use_mlflow, registry, settings,
                                                                          tmp_path):
    """SIGKILL the qcluster and the builder mid-push; a new cluster closes the build as interrupted,
    removes its container and image, and builds attempt 2 exactly once."""
    settings.BUILDAH_ROOT = tmp_path / "buildah"  # the same storage as the builders', to look into
    release = building_release(owner)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with SlowProxy(registry.address, PUSH_DELAY) as proxy:
        env = builder_env(settings.MLFLOW_TRACKING_URI, proxy, tmp_path, RELEASE_LEASE_SECONDS=6)
        first = start_qcluster(first_log, **env)
        second = None
        try:
            queue.enqueue_step(release.pk, Status.BUILDING_IMAGE)
            build = wait_for(lambda: Build.objects.filter(release=release, external_id__contains=":").first(),
                             60, "the builder to start", first, first_log)
            wait_for(lambda: build.pk in local.leftovers()["containers"], 60, "the build's container")
            processes.stop(first, timeout=0.1)  # escalates to SIGKILL
            kill_builder(build)
            killed_at = time.monotonic()
            assert local.leftovers()["containers"] == {build.pk}
            second = start_qcluster(second_log, **env)
            wait_for(lambda: Build.objects.filter(release=release, attempt=2).exists(), 120,
                     "the second attempt", second, second_log)
            resumed_after = time.monotonic() - killed_at
            wait_for(lambda: fresh(release).status != Status.BUILDING_IMAGE, 120, "attempt 2", second, second_log)
        finally:
            processes.stop(first, whole_group=False)
            if second is not None:
                processes.stop(second, whole_group=False)
    print(f"\nbuild resumed {resumed_after:.1f} s after SIGKILL (new cluster started at once)")
    release = fresh(release)
    assert release.status == Status.SUCCEEDED, release.status_message
    builds = list(Build.objects.filter(release=release).order_by("attempt").values_list("attempt", "state", "error"))
    assert [(a, s) for a, s, _ in builds] == [(1, "failed"), (2, "succeeded")]
    assert builds[0][2].startswith("interrupted: the local builder stopped reporting")
    assert ReleaseEvent.objects.filter(release=release, data__interrupted=True).count() == 1
    assert release.image_reference.endswith(f"-r{release.pk}-a2")
    assert local.leftovers() == {"containers": set(), "images": set()}
    assert resumed_after < 90, "recovery is bounded by the lease (6 s) and the ~30 s sweep"


def test_a_killed_workers_step_is_resumed_from_its_lease_within_a_minute(owner, mlflow_server, mlflow_models,
                                                                         advisories, settings, tmp_path):
    """Default task timeout and retry (120 s / 180 s): django-q2's own redelivery would take 180 s.
    The lease stops being renewed when the worker dies, so the sweep resumes the step far sooner."""
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    lease = 8
    with hanging_server() as hung:
        first = start_qcluster(first_log, MLFLOW_TRACKING_URI=hung, MLFLOW_REQUEST_TIMEOUT_SECONDS=100,
                               MLFLOW_STEP_DEADLINE_SECONDS=100, RELEASE_LEASE_SECONDS=lease)
        second = None
        try:
            release = make_release(owner, model_name=VULNERABLE, ref="1")
            queue.enqueue_step(release.pk, Status.PENDING)
            owner_id = wait_for(lambda: fresh(release).lease_owner, 60, "the first claim", first, first_log)
            time.sleep(lease + 2)  # longer than the lease: only the heartbeat keeps it
            held = fresh(release)
            assert held.lease_owner == owner_id and held.lease_expires_at > timezone.now(), "the lease was renewed"
            processes.stop(first, timeout=0.1)  # SIGKILL
            killed_at = time.monotonic()
            second = start_qcluster(second_log, MLFLOW_TRACKING_URI=mlflow_server.url, RELEASE_LEASE_SECONDS=lease)
            wait_for(lambda: fresh(release).status == Status.SCAN_FAILED, 120, "the resumed release",
                     second, second_log)
            recovered = time.monotonic() - killed_at
        finally:
            processes.stop(first, whole_group=False)
            if second is not None:
                processes.stop(second, whole_group=False)
    print(f"\nrecovered {recovered:.1f} s after SIGKILL (django-q2 would redeliver after 180 s)")
    assert recovered < 90
    assert list(fresh(release).events.values_list("to_status", flat=True)) == [  # each transition once
        Status.SCANNING_DEPENDENCIES, Status.SCAN_FAILED]


def test_a_backlog_waiting_in_the_queue_is_never_queued_twice(owner, settings):
    """No cluster runs: 50 releases wait in django-q2's queue far longer than any timeout. The sweep
    queues none of them again, however often it runs; one whose task was lost is queued once."""
    from django_q.models import OrmQ

    waiting = [make_release(owner, status=Status.PENDING) for _ in range(50)]
    for release in waiting:
        queue.enqueue_step(release.pk, Status.PENDING)
    lost = make_release(owner, status=Status.PENDING)  # committed, but its enqueue never happened
    Release.objects.update(updated_at=timezone.now() - timedelta(hours=1))
    assert [jobs.resume_stalled() for _ in range(3)] == [1, 0, 0]
    assert OrmQ.objects.count() == 51
    assert lost.pk in queue.queued_release_ids()
