"""The one place where a release's status changes.

Every change is checked against the transition table, applied with a
compare-and-set UPDATE (so two concurrent callers cannot both win), recorded as
an audit event in the same transaction, and followed by the next pipeline step,
enqueued only once the transaction has committed.
"""
from typing import Any

from django.db import transaction
from django.utils import timezone

from releases import queue
from releases.models import Release, ReleaseEvent
from releases.statuses import Status, is_allowed


class TransitionError(Exception):
    """Base class: the release was not changed."""


class TransitionNotAllowed(TransitionError):
    def __init__(self, old: str, new: str):
        super().__init__(f"A release cannot go from {old} to {new}.")
        self.old, self.new = old, new


class TransitionConflict(TransitionError):
    """The release was no longer in the expected status (someone else moved it)."""

    def __init__(self, release_id: int, expected: str):
        super().__init__(f"Release {release_id} is no longer {expected}.")
        self.release_id, self.expected = release_id, expected


def transition(
    release: Release,
    to_status: str,
    *,
    actor=None,
    message: str = "",
    data: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    lease_owner: str | None = None,
) -> Release:
    """Move `release` from its current (in-memory) status to `to_status`.

    `fields` are other Release columns written in the same UPDATE. When
    `lease_owner` is given, the update also requires that this worker still
    holds the release's lease. Returns the reloaded release.
    """
    from_status = release.status
    if not is_allowed(from_status, to_status):
        raise TransitionNotAllowed(from_status, to_status)
    values = dict(fields or {})
    values.setdefault("failed_step", "")
    if to_status != Status.FAILED and values["failed_step"]:
        raise ValueError("failed_step is only recorded for FAILED releases.")
    if to_status == Status.FAILED and not values["failed_step"]:
        raise ValueError("A FAILED release must record the step that failed.")

    with transaction.atomic():
        rows = Release.objects.filter(pk=release.pk, status=from_status)
        if lease_owner is not None:
            rows = rows.filter(lease_owner=lease_owner)
        updated = rows.update(
            status=to_status,
            status_message=message,
            updated_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
            **values,
        )
        if updated != 1:
            raise TransitionConflict(release.pk, from_status)
        ReleaseEvent.objects.create(
            release_id=release.pk,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            message=message,
            data=data or {},
        )
        release_id = release.pk
        transaction.on_commit(lambda: queue.enqueue_step(release_id, to_status))
    return Release.objects.select_related("environment", "requested_by").get(pk=release.pk)


def record_creation(release: Release, actor, message: str = "Release requested.") -> ReleaseEvent:
    """The first event of every release, and its first step: in the transaction that inserted the release
    (ReleaseEvent.open_chain refuses to run outside one)."""
    event = ReleaseEvent.open_chain(
        release, from_status="", to_status=release.status, actor=actor, message=message,
        data={"model_name": release.model_name, "requested_ref": release.requested_ref,
              "environment": release.environment.name},
    )
    release_id, status = release.pk, release.status
    transaction.on_commit(lambda: queue.enqueue_step(release_id, status))
    return event


def record_event(release: Release, message: str, *, actor=None, data: dict | None = None) -> ReleaseEvent:
    """An audit event that changes no status (a vote, a build started, an alias set).

    Its status is left to the chain (None), which reads it under the release's lock instead of
    taking it from `release`: a copy loaded before a concurrent transition would otherwise log the
    old status after the new one.
    """
    return ReleaseEvent.objects.create(release=release, from_status=None, to_status=None,
                                       actor=actor, message=message, data=data or {})
