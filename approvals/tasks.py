"""Worker steps of the approval part of the pipeline."""
from datetime import timedelta

from django.utils import timezone

from approvals.models import ApprovalStage
from releases.lifecycle import TransitionConflict, transition
from releases.models import Release
from releases.queue import SKIPPED
from releases.statuses import Status


def request_approval(release_id: int) -> str:
    """SCAN_PASSED: wait for people, or approve at once where the environment needs no approval."""
    release = Release.objects.select_related("environment").filter(pk=release_id).first()
    if release is None or release.status != Status.SCAN_PASSED:
        return SKIPPED
    stages = list(ApprovalStage.objects.filter(environment_id=release.environment_id).order_by("order")
                  .values_list("name", flat=True))
    try:
        if not stages:
            transition(release, Status.APPROVED,
                       message=f"No approval required: {release.environment.name} has no approval stages.")
            return "approved"
        transition(release, Status.AWAITING_APPROVAL, message="Waiting for approval: " + " → ".join(stages) + ".")
    except TransitionConflict:
        return SKIPPED
    return "awaiting approval"


def expire_approvals() -> str:
    """Scheduled: reject releases that waited for approval longer than their environment's TTL."""
    now = timezone.now()
    expired = 0
    waiting = Release.objects.filter(status=Status.AWAITING_APPROVAL).select_related("environment")
    for release in waiting:
        ttl = timedelta(hours=release.environment.approval_ttl_hours)
        if release.updated_at + ttl > now:
            continue
        try:
            transition(release, Status.REJECTED, message="approval expired",
                       data={"waited_hours": round((now - release.updated_at).total_seconds() / 3600, 1),
                             "ttl_hours": release.environment.approval_ttl_hours})
            expired += 1
        except TransitionConflict:
            continue
    return f"{expired} expired"
