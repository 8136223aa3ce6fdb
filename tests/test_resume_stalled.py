"""The reconciler re-enqueues stalled steps, and only those."""
from datetime import timedelta

import pytest
from django.utils import timezone

from releases import jobs, queue
from releases.models import Build, Release
from releases.statuses import Status
from tests.factories import make_release

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(queue, "async_task", lambda task, *args, **kw: calls.append((task, args[0])))
    return calls


def quiet(release, minutes=10):
    Release.objects.filter(pk=release.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes))


def test_lost_enqueue_and_dead_worker_are_resumed(owner, sent):
    lost = make_release(owner, status=Status.PENDING)
    quiet(lost)
    dead = make_release(owner, status=Status.SCANNING_DEPENDENCIES, lease_owner="dead",
                        lease_expires_at=timezone.now() - timedelta(seconds=1))
    busy = make_release(owner, status=Status.PENDING, lease_owner="alive",
                        lease_expires_at=timezone.now() + timedelta(minutes=1))
    fresh = make_release(owner, status=Status.PENDING)  # its task is probably still queued
    assert jobs.resume_stalled() == 2
    assert sorted(sent) == sorted([("releases.steps.fetch_environment", lost.pk),
                                   ("releases.steps.scan_dependencies", dead.pk)])
    assert busy.pk not in [r for _, r in sent] and fresh.pk not in [r for _, r in sent]


def test_waiting_releases_are_left_alone(owner, sent, settings):
    settings.BUILD_BACKEND = ""
    for status in (Status.SUCCEEDED, Status.APPROVED, Status.AWAITING_APPROVAL, Status.FAILED):
        quiet(make_release(owner, status=status))
    building = make_release(owner, status=Status.BUILDING_IMAGE)
    Build.objects.create(release=building, backend="webhook")
    quiet(building)
    assert jobs.resume_stalled() == 0 and sent == []


def test_a_build_whose_trigger_was_lost_is_resumed(owner, sent, settings):
    settings.BUILD_BACKEND = "webhook"
    building = make_release(owner, status=Status.BUILDING_IMAGE)
    Build.objects.create(release=building, backend="webhook", state="failed", attempt=1)
    quiet(building)
    assert jobs.resume_stalled() == 1 and sent == [("releases.steps.trigger_build", building.pk)]


def test_succeeded_enqueues_the_alias_step_once_through_the_lifecycle(owner, sent,
                                                                     django_capture_on_commit_callbacks):
    from releases.lifecycle import transition

    release = make_release(owner, status=Status.BUILDING_IMAGE)
    with django_capture_on_commit_callbacks(execute=True):
        transition(release, Status.SUCCEEDED)
    assert sent == [("releases.steps.set_mlflow_alias", release.pk)]


def test_a_release_whose_task_waits_in_the_queue_is_not_queued_again(owner, settings):
    """A backlog longer than any timeout: the task is still in django-q2's queue, so no duplicate."""
    from django_q.models import OrmQ

    waiting = make_release(owner, status=Status.PENDING)
    queue.enqueue_step(waiting.pk, Status.PENDING)  # the real broker (ORM): one row in the queue
    quiet(waiting, minutes=60)
    assert OrmQ.objects.count() == 1
    assert queue.queued_release_ids() == {waiting.pk}
    for _ in range(3):
        assert jobs.resume_stalled() == 0
    assert OrmQ.objects.count() == 1


def test_a_task_taken_by_a_cluster_that_died_is_resumed_before_redelivery(owner, settings):
    """Taken (locked) longer than a lease ago with no claim: its cluster died; resume it now,
    not TASK_RETRY_SECONDS later. One taken just now is about to be claimed: left alone."""
    from django_q.models import OrmQ

    stuck, starting = make_release(owner, status=Status.PENDING), make_release(owner, status=Status.PENDING)
    for release in (stuck, starting):
        queue.enqueue_step(release.pk, Status.PENDING)
        quiet(release)
    retry = timedelta(seconds=settings.TASK_RETRY_SECONDS)
    long_ago = timezone.now() - timedelta(seconds=settings.RELEASE_LEASE_SECONDS + 5)
    taken = {stuck.pk: long_ago, starting.pk: timezone.now()}
    for row in OrmQ.objects.all():
        OrmQ.objects.filter(pk=row.pk).update(lock=taken[row.task["args"][0]] + retry)
    assert queue.queued_release_ids() == {starting.pk}
    assert jobs.resume_stalled() == 1
    assert queue.queued_release_ids() == {stuck.pk, starting.pk}


def test_an_expired_lease_is_resumed_once_while_its_new_task_waits(owner):
    dead = make_release(owner, status=Status.SCANNING_DEPENDENCIES, lease_owner="dead",
                        lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs.resume_stalled() == 1
    assert jobs.resume_stalled() == 0  # the new task is queued: not again
    assert queue.queued_release_ids() == {dead.pk}


def test_a_renewed_lease_keeps_a_long_step_its_own(owner, settings):
    from releases import leases

    release = make_release(owner, status=Status.PENDING)
    assert leases.claim(release.pk, Status.PENDING, "me")
    first = Release.objects.get(pk=release.pk).lease_expires_at
    assert leases.renew(release.pk, "me")
    assert Release.objects.get(pk=release.pk).lease_expires_at > first
    assert not leases.claim(release.pk, Status.PENDING, "other")
    assert not leases.renew(release.pk, "other")


def test_an_interrupted_local_build_is_closed_once_and_its_release_resumed(owner, sent, settings):
    from releases.models import ReleaseEvent

    settings.BUILD_BACKEND = "local"
    release = make_release(owner, status=Status.BUILDING_IMAGE)
    quiet(release)
    build = Build.objects.create(release=release, backend="local",
                                 heartbeat_at=timezone.now() - timedelta(seconds=settings.RELEASE_LEASE_SECONDS + 1))
    alive = make_release(owner, status=Status.BUILDING_IMAGE)
    quiet(alive)
    Build.objects.create(release=alive, backend="local", heartbeat_at=timezone.now())
    assert jobs.resume_stalled() == 1 and sent == [("releases.steps.trigger_build", release.pk)]
    build.refresh_from_db()
    assert build.state == "failed" and build.error.startswith("interrupted: the local builder stopped reporting")
    assert jobs.close_interrupted_builds() == 0  # closed exactly once
    note = ReleaseEvent.objects.get(release=release, data__interrupted=True)
    assert "starting a new attempt" in note.message
    assert Release.objects.get(pk=release.pk).status == Status.BUILDING_IMAGE


def test_builds_interrupted_again_and_again_fail_the_release(owner, sent, settings):
    settings.BUILD_BACKEND, settings.BUILD_MAX_INTERRUPTIONS = "local", 2
    release = make_release(owner, status=Status.BUILDING_IMAGE)
    Build.objects.create(release=release, backend="local", attempt=1, state="failed",
                         error="interrupted: the local builder stopped reporting (last heartbeat ...)")
    Build.objects.create(release=release, backend="local", attempt=2, heartbeat_at=timezone.now() - timedelta(hours=1))
    assert jobs.close_interrupted_builds() == 1
    release.refresh_from_db()
    assert release.status == Status.FAILED and release.failed_step == "build"
    assert "2 attempts in a row were interrupted" in release.status_message
