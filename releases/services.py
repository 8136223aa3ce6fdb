"""What people (through the API, the portal or admin) can do to releases."""
import hashlib
import json
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from releases import promotion
from releases.builds import promote
from releases.lifecycle import record_creation, transition
from releases.models import Build, Environment, IdempotencyKey, Release, ReleaseEvent
from releases.statuses import RETRY_ENTRY, Status, Step


class IdempotencyMismatch(Exception):
    """The Idempotency-Key was already used for a different request."""


@dataclass(frozen=True)
class Requested:
    """What asking for a release gave: the release, and its first event when this call created it (None
    when an Idempotency-Key gave back the release an earlier call created)."""

    release: Release
    first_event: ReleaseEvent | None

    @property
    def replayed(self) -> bool:
        return self.first_event is None


def request_release(user, *, model_name: str, requested_ref: str, environment: Environment) -> Requested:
    """Raises promotion.PromotionRefused when the predecessor environment's step is missing."""
    promotion.check(model_name, "" if requested_ref.startswith("@") else requested_ref, environment)
    # savepoint=False: inside request_release_idempotent's transaction a savepoint would only add two
    # round trips; nothing here is caught and carried on from, so a failure fails the whole transaction.
    with transaction.atomic(savepoint=False):
        release = Release.objects.create(
            model_name=model_name, requested_ref=requested_ref, environment=environment, requested_by=user
        )
        return Requested(release, record_creation(release, actor=user))


def request_release_idempotent(user, key: str, **request) -> Requested:
    """Create a release once per (user, key); the same key again gives back that release."""
    fingerprint = _fingerprint(request)
    keys = IdempotencyKey.objects.filter(user=user, key=key).values_list("request_hash", "release_id")
    existing = keys.first()
    if existing is None:
        try:
            with transaction.atomic():
                requested = request_release(user, **request)
                IdempotencyKey.objects.create(user=user, key=key, request_hash=fingerprint,
                                              release=requested.release)
                return requested
        except IntegrityError:
            # A concurrent request with the same key won; its release is the answer.
            existing = keys.get()
    request_hash, release_id = existing
    if request_hash != fingerprint:
        raise IdempotencyMismatch(f"Idempotency-Key {key!r} was already used with a different request body.")
    return Requested(Release.objects.select_related("environment", "requested_by").get(pk=release_id), None)


def _fingerprint(request: dict) -> str:
    canonical = {
        "model_name": request["model_name"],
        "requested_ref": request["requested_ref"],
        "environment": request["environment"].name,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def cancel_release(release: Release, user, reason: str = "") -> Release:
    """Cancel, and close its running build in the same transaction: a late completion is then
    refused (409), and the build is not left `running` forever."""
    message = f"Cancelled by {user.get_username()}" + (f": {reason}" if reason else ".")
    with transaction.atomic():
        cancelled = transition(release, Status.CANCELLED, actor=user, message=message, data={"reason": reason})
        Build.objects.filter(release=release, state=Build.State.RUNNING).update(
            state=Build.State.FAILED, error=f"the release was cancelled by {user.get_username()}",
            finished_at=timezone.now())
    return cancelled


class NotRetryable(Exception):
    pass


def retry_release(release: Release, user) -> Release:
    if release.status == Status.BUILD_FAILED:  # a new build attempt
        return transition(release, Status.BUILDING_IMAGE, actor=user,
                          message=f"New build attempt requested by {user.get_username()}.",
                          data={"previous_error": release.status_message})
    if release.status != Status.FAILED:
        raise NotRetryable(f"Only FAILED or BUILD_FAILED releases can be retried; this one is {release.status}.")
    entry = RETRY_ENTRY.get(release.failed_step)
    if entry is None:
        raise NotRetryable(f"Release {release.pk} has no retryable failed step.")
    return transition(
        release, entry, actor=user,
        message=f"Retry of step '{release.failed_step}' requested by {user.get_username()}.",
        data={"retried_step": release.failed_step, "previous_error": release.status_message},
    )


class NotRebuildable(Exception):
    pass


REBUILD_REASON_MAX = 1000


def rebuild_release(release: Release, user, reason: str) -> Release:
    """Build this release's image afresh instead of promoting the predecessor's (audited: actor, reason).

    Only after its build or promotion failed (BUILD_FAILED, or FAILED at step build: the source image
    gone, the evidence different): a promotion that works is never replaced by a build. The release goes
    back to SCANNING_DEPENDENCIES, so the image it will build is scanned against today's advisories and
    approved by this environment's approvers again (approvals count for the latest scan report only);
    its build attempts are then REBUILDs (releases.builds.promote.kind_for), and later environments
    promote the new digest once it SUCCEEDED and soaked here.
    """
    reason = (reason or "").strip()
    if not reason or len(reason) > REBUILD_REASON_MAX:
        raise NotRebuildable(f"A rebuild needs a reason (1-{REBUILD_REASON_MAX} characters): it is audited.")
    if not (release.status == Status.BUILD_FAILED
            or (release.status == Status.FAILED and release.failed_step == Step.BUILD)):
        raise NotRebuildable(f"Only a release whose build or promotion failed can be rebuilt; this one is "
                             f"{release.status}. A SUCCEEDED release is final: request a new release instead.")
    return transition(release, Status.SCANNING_DEPENDENCIES, actor=user,
                      message=f"Rebuild requested by {user.get_username()}: {reason} The image will be built "
                      "here, not promoted, after a new scan and approval.",
                      data={"action": promote.REBUILD_ACTION, "reason": reason,
                            "previous_error": release.status_message[:2000]})
