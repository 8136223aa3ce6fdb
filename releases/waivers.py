"""Who may create, approve and revoke waivers, and the actions themselves (one place for the rules)."""
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from releases import queue
from releases.models import MANAGE_WAIVERS, Waiver


class WaiverRefused(Exception):
    """Not allowed for this user (HTTP 403)."""


class WaiverConflict(Exception):
    """Not possible in the waiver's state (HTTP 409)."""


def is_security_officer(user) -> bool:
    """A Django permission like every other role, so admin, API and portal ask the same question."""
    return bool(user and user.is_authenticated and user.has_perm(MANAGE_WAIVERS))


def max_expiry(now=None):
    return (now or timezone.now()) + timezone.timedelta(days=settings.WAIVER_MAX_DAYS)


def approve(waiver: Waiver, user) -> Waiver:
    if not is_security_officer(user):
        raise WaiverRefused("Only security officers approve waivers.")
    if waiver.created_by_id == user.pk:
        raise WaiverRefused("A waiver needs a second security officer: its creator cannot approve it.")
    with transaction.atomic():
        updated = Waiver.objects.filter(pk=waiver.pk, approved_at__isnull=True, revoked_at__isnull=True).update(
            approved_by=user, approved_at=timezone.now())
        if updated != 1:
            raise WaiverConflict(f"Waiver #{waiver.pk} is already {Waiver.objects.get(pk=waiver.pk).state}.")
    return Waiver.objects.get(pk=waiver.pk)


def revoke(waiver: Waiver, user) -> Waiver:
    if not is_security_officer(user):
        raise WaiverRefused("Only security officers revoke waivers.")
    with transaction.atomic():
        if Waiver.objects.filter(pk=waiver.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()) != 1:
            raise WaiverConflict(f"Waiver #{waiver.pk} is already revoked.")
        queue.enqueue_reevaluation(f"waiver #{waiver.pk} was revoked")  # after commit
    return Waiver.objects.get(pk=waiver.pk)
