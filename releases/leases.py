"""Worker claims on a release, so a task delivered twice does its work once, and a dead worker is seen quickly.

A claim is a short lease (RELEASE_LEASE_SECONDS) that a heartbeat thread renews every
LEASE_RENEW_SECONDS while the step runs (`kept_alive`). A second copy of the task running
at the same time finds the lease taken and does nothing. A worker that dies (SIGKILL, the
task's timeout) stops renewing: its lease expires within RELEASE_LEASE_SECONDS, and
releases.jobs.resume_stalled re-enqueues the step, which the new copy can claim. So how
fast a dead worker is noticed depends on the lease, not on how long a task may run or wait.
"""
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from releases.models import Release


def new_owner() -> str:
    return uuid.uuid4().hex


def _expiry():
    return timezone.now() + timedelta(seconds=settings.RELEASE_LEASE_SECONDS)


def claim(release_id: int, status: str, owner: str) -> bool:
    now = timezone.now()
    updated = (
        Release.objects.filter(pk=release_id, status=status)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(lease_owner=owner, lease_expires_at=_expiry())
    )
    return updated == 1


def renew(release_id: int, owner: str) -> bool:
    """Extend this owner's lease; False once it is gone (the step moved the release on, or lost it)."""
    return Release.objects.filter(pk=release_id, lease_owner=owner).update(lease_expires_at=_expiry()) == 1


def release_lease(release_id: int, owner: str) -> None:
    """Give the release back when a step ends without a status change (e.g. a build was started)."""
    Release.objects.filter(pk=release_id, lease_owner=owner).update(lease_owner="", lease_expires_at=None)


@contextmanager
def heartbeat(beat: Callable[[], bool], every: float, name: str) -> Iterator[threading.Event]:
    """Call `beat()` every `every` seconds in a thread while the block runs; stop when it returns False.

    Yields the stop event (set when the block ends or `beat` said stop). The thread has its own
    database connection, closed when it ends.
    """
    stop = threading.Event()

    def run() -> None:
        try:
            while not stop.wait(every):
                try:
                    alive = beat()
                except Exception:  # a database hiccup: try again next beat; the lease is still ours
                    continue
                if not alive:
                    stop.set()
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=every + 5)


@contextmanager
def kept_alive(release_id: int, owner: str) -> Iterator[None]:
    """Renew the release's lease while the block runs (see the module docstring)."""
    with heartbeat(lambda: renew(release_id, owner), settings.LEASE_RENEW_SECONDS, f"lease-{release_id}"):
        yield
