"""Worker claims on a release, so a task delivered twice does its work once.

django-q2 redelivers a task whose worker died after `retry` seconds. The lease
lasts longer than a task may run (`timeout`) but ends before redelivery, so a
second copy running at the same time as the first finds the lease taken and
does nothing, while a copy redelivered after a crash can take over.
"""
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from releases.models import Release


def new_owner() -> str:
    return uuid.uuid4().hex


def claim(release_id: int, status: str, owner: str) -> bool:
    now = timezone.now()
    updated = (
        Release.objects.filter(pk=release_id, status=status)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(lease_owner=owner, lease_expires_at=now + timedelta(seconds=settings.RELEASE_LEASE_SECONDS))
    )
    return updated == 1


def release_lease(release_id: int, owner: str) -> None:
    """Give the release back when a step ends without a status change (e.g. a build was started)."""
    Release.objects.filter(pk=release_id, lease_owner=owner).update(lease_owner="", lease_expires_at=None)
