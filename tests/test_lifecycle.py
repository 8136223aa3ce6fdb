"""The state machine: every allowed transition works, every other is refused."""
import itertools

import pytest

from releases import lifecycle, queue
from releases.lifecycle import TransitionConflict, TransitionNotAllowed, transition
from releases.models import Release, ReleaseEvent
from releases.statuses import ALLOWED_TRANSITIONS, TERMINAL, Status, Step
from tests.factories import make_release

ALL_PAIRS = list(itertools.product(Status.values, Status.values))
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in ALLOWED_TRANSITIONS[a]]
REFUSED = [(a, b) for a, b in ALL_PAIRS if b not in ALLOWED_TRANSITIONS[a]]


def _fields(to_status):
    return {"failed_step": Step.FETCH} if to_status == Status.FAILED else None


def test_table_covers_every_status_and_terminals_are_final():
    assert set(ALLOWED_TRANSITIONS) == set(Status.values)
    assert TERMINAL == {Status.SUCCEEDED, Status.REJECTED, Status.CANCELLED}
    # Every non-terminal status can be cancelled.
    for status in set(Status.values) - TERMINAL:
        assert Status.CANCELLED in ALLOWED_TRANSITIONS[status], status
    # An operational failure is never reported as a build failure, and vice versa.
    assert Status.BUILD_FAILED not in ALLOWED_TRANSITIONS[Status.PENDING]
    assert Status.BUILD_FAILED not in ALLOWED_TRANSITIONS[Status.SCANNING_DEPENDENCIES]


@pytest.mark.parametrize("old,new", ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_allowed_transition(owner, old, new, django_capture_on_commit_callbacks):
    release = make_release(owner, status=old)
    with django_capture_on_commit_callbacks() as callbacks:
        result = transition(release, new, actor=owner, message="because", data={"k": 1}, fields=_fields(new))
    assert result.status == new
    assert Release.objects.get(pk=release.pk).status == new
    event = ReleaseEvent.objects.get(release=release)
    assert (event.from_status, event.to_status, event.actor, event.message, event.data) == (
        old, new, owner, "because", {"k": 1})
    assert len(callbacks) == 1  # the follow-up step is enqueued only after commit


@pytest.mark.parametrize("old,new", REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_refused_transition(owner, old, new):
    release = make_release(owner, status=old)
    with pytest.raises(TransitionNotAllowed):
        transition(release, new, actor=owner, fields=_fields(new))
    assert Release.objects.get(pk=release.pk).status == old
    assert not ReleaseEvent.objects.filter(release=release).exists()


def test_stale_status_loses_compare_and_set(owner):
    release = make_release(owner, status=Status.PENDING)
    stale = Release.objects.get(pk=release.pk)
    transition(release, Status.CANCELLED, actor=owner)
    with pytest.raises(TransitionConflict):
        transition(stale, Status.SCANNING_DEPENDENCIES)
    assert Release.objects.get(pk=release.pk).status == Status.CANCELLED
    assert ReleaseEvent.objects.filter(release=release).count() == 1


def test_failed_requires_a_step_and_only_failed_records_one(owner):
    release = make_release(owner, status=Status.PENDING)
    with pytest.raises(ValueError):
        transition(release, Status.FAILED, message="boom")
    with pytest.raises(ValueError):
        transition(release, Status.SCANNING_DEPENDENCIES, fields={"failed_step": Step.FETCH})
    failed = transition(release, Status.FAILED, message="MLflow down", fields={"failed_step": Step.FETCH})
    assert (failed.failed_step, failed.status_message) == (Step.FETCH, "MLflow down")
    retried = transition(failed, Status.PENDING)
    assert retried.failed_step == ""  # cleared once the step is entered again


def test_transition_clears_the_lease(owner):
    release = make_release(owner, status=Status.PENDING, lease_owner="w1")
    assert transition(release, Status.SCANNING_DEPENDENCIES).lease_owner == ""


def test_lease_owner_mismatch_is_a_conflict(owner):
    release = make_release(owner, status=Status.PENDING, lease_owner="w1")
    with pytest.raises(TransitionConflict):
        transition(release, Status.SCANNING_DEPENDENCIES, lease_owner="w2")
    assert Release.objects.get(pk=release.pk).status == Status.PENDING


def test_event_written_in_same_transaction_rolls_back_with_the_change(owner, monkeypatch):
    release = make_release(owner, status=Status.PENDING)

    def broken_create(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ReleaseEvent.objects, "create", broken_create)
    with pytest.raises(RuntimeError):
        transition(release, Status.CANCELLED)
    assert Release.objects.get(pk=release.pk).status == Status.PENDING


def test_events_are_append_only(owner):
    release = make_release(owner)
    transition(release, Status.CANCELLED)
    event = ReleaseEvent.objects.get(release=release)
    event.message = "rewritten"
    with pytest.raises(Exception, match="append-only"):
        event.save()
    with pytest.raises(Exception, match="append-only"):
        event.delete()
    assert ReleaseEvent.objects.get(pk=event.pk).message == ""


def test_enqueue_step_only_for_worker_statuses(owner, monkeypatch):
    sent = []
    monkeypatch.setattr(queue, "async_task", lambda task, *args, **kw: sent.append((task, args)) or "id")
    assert queue.enqueue_step(7, Status.AWAITING_APPROVAL) is None
    assert queue.enqueue_step(7, Status.PENDING) == "id"
    assert sent == [("releases.steps.fetch_environment", (7,))]


def test_record_creation_writes_first_event_and_enqueues(owner, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(queue, "async_task", lambda task, *args, **kw: sent.append(args))
    release = make_release(owner)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.record_creation(release, actor=owner)
    event = ReleaseEvent.objects.get(release=release)
    assert (event.from_status, event.to_status) == ("", Status.PENDING)
    assert sent == [(release.pk,)]
