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
