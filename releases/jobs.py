"""Jobs over many releases: the scheduled ones (gateway_project/schedules.py says when each runs)
and re-evaluation, which advisory syncs and waiver revocations enqueue (releases.queue)."""
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from releases import evaluation, queue
from releases.lifecycle import TransitionConflict, transition
from releases.models import AdvisorySync, Build, Release, ScanReport, Waiver
from releases.scanning.sync import sync_advisories
from releases.statuses import WAITING, WORKING, Status

log = logging.getLogger(__name__)


def resume_stalled() -> int:
    """Re-enqueue steps whose worker died or whose enqueue was lost.

    A worker killed mid-step leaves an expired lease; a process that died between
    commit and enqueue leaves no task at all. Both are found here and queued
    again; a duplicate is harmless because steps claim the release first.
    """
    now = timezone.now()
    quiet_since = now - timedelta(seconds=settings.TASK_RETRY_SECONDS)
    resumable = set(WORKING)
    if not settings.BUILD_BACKEND:
        resumable.discard(Status.APPROVED)  # no backend: approved releases rest here
    stalled = (Release.objects.filter(status__in=resumable)
               .filter(Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True, updated_at__lt=quiet_since))
               # a BUILDING_IMAGE release with a running build is waiting for its callback
               .exclude(status=Status.BUILDING_IMAGE, builds__state=Build.State.RUNNING)
               .values_list("pk", "status", "lease_owner").distinct())
    count = 0
    for release_id, status, lease_owner in stalled:
        log.warning("release %s stalled in %s (lease %s); re-enqueueing", release_id, status, lease_owner or "none")
        queue.enqueue_step(release_id, status)
        count += 1
    return count


def scheduled_advisory_sync() -> str:
    """Sync ADVISORY_SYNC_SOURCE when the last successful sync is older than the interval.

    Runs in the worker, so a sync must fit in TASK_TIMEOUT_SECONDS (the full 7,080-record
    PyPI set takes ~12 s on PostgreSQL; see bench/).
    """
    if not settings.ADVISORY_SYNC_SOURCE:
        return "no source configured"
    due = timezone.now() - timedelta(hours=settings.ADVISORY_SYNC_INTERVAL_HOURS)
    if AdvisorySync.objects.filter(outcome=AdvisorySync.Outcome.SUCCEEDED, finished_at__gt=due).exists():
        return "not due"
    sync = sync_advisories(settings.ADVISORY_SYNC_SOURCE)
    after_advisory_sync(sync)
    return f"sync #{sync.pk} {sync.outcome}"


def after_advisory_sync(sync: AdvisorySync) -> None:
    """New, changed or removed advisories may change a waiting release's decision (a removed record
    may have carried the alias a waiver names): look at the waiting ones again."""
    if sync.outcome == AdvisorySync.Outcome.SUCCEEDED and (sync.changed or sync.removed):
        queue.enqueue_reevaluation(f"advisory sync #{sync.pk}")


def reevaluate_waiting(trigger: str, release_ids: list[int] | None = None) -> str:
    """Scan waiting releases again under today's advisories, policy and waivers.

    A release that now fails moves back to SCAN_FAILED with the reason and a new report
    (approvals given on the old report no longer count). One that still passes is left
    as it is: nothing it was approved on has changed for the worse.
    """
    waiting = Release.objects.filter(status__in=list(WAITING)).select_related("environment")
    if release_ids is not None:
        waiting = waiting.filter(pk__in=release_ids)
    moved = 0
    for release in waiting:
        try:
            judged = evaluation.evaluate(release)
        except Exception:  # one release's problem must not stop the others; it stays as it was
            log.exception("re-evaluation of release %s failed", release.pk)
            continue
        if judged.decision.passed:
            continue
        judged.decision.summary = f"Re-evaluated after {trigger}: {judged.decision.summary}"
        try:
            evaluation.record(release, judged, Status.SCAN_FAILED, data={"trigger": trigger})
            moved += 1
        except TransitionConflict:
            continue  # it moved on meanwhile (cancelled, approved...)
    return f"{moved} release(s) moved to SCAN_FAILED"


def reevaluate_after_waiver_changes() -> str:
    """Waiting releases whose passing decision used a waiver that no longer counts (expired, revoked)."""
    active = set(Waiver.objects.active().values_list("pk", flat=True))
    latest = ScanReport.objects.latest_per_release().filter(release__status__in=list(WAITING))
    affected = [release_id for release_id, decision in latest.values_list("release_id", "decision")
                if set((decision or {}).get("waivers_used", [])) - active]
    if not affected:
        return "nothing to re-evaluate"
    return reevaluate_waiting("a waiver expired or was revoked", affected)


def reconcile_builds() -> str:
    """A build that never reported back fails, so nothing waits forever; one whose release
    moved on (cancelled) is closed without touching the release."""
    limit = settings.BUILD_TIMEOUT_MINUTES
    orphaned = (Build.objects.filter(state=Build.State.RUNNING).exclude(release__status=Status.BUILDING_IMAGE)
                .update(state=Build.State.FAILED, error="the release is no longer building",
                        finished_at=timezone.now()))
    stale = Build.objects.filter(state=Build.State.RUNNING, started_at__lt=timezone.now() - timedelta(minutes=limit),
                                 release__status=Status.BUILDING_IMAGE).select_related("release")
    failed = 0
    for build in stale:
        message = f"no completion reported within {limit} minutes"
        with transaction.atomic():
            if Build.objects.filter(pk=build.pk, state=Build.State.RUNNING).update(
                    state=Build.State.FAILED, error=message, finished_at=timezone.now()) != 1:
                continue
            try:
                transition(build.release, Status.BUILD_FAILED, message=f"Build failed: {message}",
                           data={"build": build.pk})
                failed += 1
            except TransitionConflict:
                transaction.set_rollback(True)
    closed = f"; {orphaned} build(s) of releases no longer building closed" if orphaned else ""
    return f"{failed} build(s) timed out{closed}"
