"""Jobs over many releases: the scheduled ones (gateway_project/schedules.py says when each runs)
and re-evaluation, which advisory syncs and waiver revocations enqueue (releases.queue)."""
import logging
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from releases import evaluation, queue
from releases.lifecycle import TransitionConflict, record_event, transition
from releases.models import AdvisorySync, Build, Release, ScanReport, Waiver
from releases.scanning.sync import sync_advisories
from releases.statuses import WAITING, WORKING, Status, Step

log = logging.getLogger(__name__)


def resume_stalled() -> int:
    """Re-enqueue steps whose worker died or whose enqueue was lost; returns how many.

    A dead worker is seen from its lease, which a live one renews every LEASE_RENEW_SECONDS
    (releases.leases): an expired lease means the step's worker is gone. A release with no
    lease is re-enqueued only if django-q2 holds no task for it, so a backlog, however long,
    is never queued twice (with a broker that cannot be read, only after TASK_RETRY_SECONDS).
    Local builds whose builder stopped its heartbeat are closed first, so their release is
    resumed in the same sweep with a new attempt. A duplicate is harmless: steps claim first.
    """
    close_interrupted_builds()
    now = timezone.now()
    queued = queue.queued_release_ids()
    grace = settings.RELEASE_LEASE_SECONDS if queued is not None else settings.TASK_RETRY_SECONDS
    resumable = set(WORKING)
    if not settings.BUILD_BACKEND:
        resumable.discard(Status.APPROVED)  # no backend: approved releases rest here
    stalled = (Release.objects.filter(status__in=resumable)
               .filter(Q(lease_expires_at__lt=now)
                       | Q(lease_expires_at__isnull=True, updated_at__lt=now - timedelta(seconds=grace)))
               # a BUILDING_IMAGE release with a running build is waiting for its callback
               .exclude(status=Status.BUILDING_IMAGE, builds__state=Build.State.RUNNING)
               .values_list("pk", "status", "lease_owner", "updated_at").distinct())
    count = 0
    for release_id, status, lease_owner, updated_at in stalled:
        if queued is not None and release_id in queued:
            continue  # its task is waiting in the queue (or was just taken): it will run
        # A broker shows only waiting tasks, not those a live cluster has taken ahead of its workers
        # (Redis: up to queue_limit + 1): re-enqueue one stalled state once a lease, not every sweep.
        if not cache.add(f"resumed:{release_id}:{status}:{lease_owner}:{updated_at.timestamp()}", 1,
                         settings.RELEASE_LEASE_SECONDS):
            continue
        log.warning("release %s stalled in %s (lease %s); re-enqueueing", release_id, status, lease_owner or "none")
        queue.enqueue_step(release_id, status)
        count += 1
    return count


INTERRUPTED = "interrupted: the local builder stopped reporting"


def close_interrupted_builds() -> int:
    """Close local builds whose builder stopped its heartbeat (killed, machine restarted).

    Each is closed once (compare-and-set on its state) with an event saying so; its release
    stays BUILDING_IMAGE, so resume_stalled starts the next attempt, unless the last
    BUILD_MAX_INTERRUPTIONS attempts were all interrupted: then the release FAILS (step build).
    """
    silent_since = timezone.now() - timedelta(seconds=settings.RELEASE_LEASE_SECONDS)
    # "promote": a promotion renews the heartbeat too while its worker copies the image (releases.builds.promote)
    dead = (Build.objects.filter(state=Build.State.RUNNING, backend__in=("local", "promote"),
                                 release__status=Status.BUILDING_IMAGE)
            .filter(Q(heartbeat_at__lt=silent_since) | Q(heartbeat_at__isnull=True, started_at__lt=silent_since))
            .select_related("release"))
    closed = [build for build in dead if _close_interrupted(build)]
    if closed:
        from releases.builds import local

        local.remove_leftovers()
    return len(closed)


def _close_interrupted(build: Build) -> bool:
    last_sign = build.heartbeat_at or build.started_at
    message = f"{INTERRUPTED} (last heartbeat {last_sign:%Y-%m-%d %H:%M:%S} UTC)"
    with transaction.atomic():
        if Build.objects.filter(pk=build.pk, state=Build.State.RUNNING).update(
                state=Build.State.FAILED, error=message, finished_at=timezone.now()) != 1:
            return False  # it reported, or another sweep closed it
        recent = list(Build.objects.filter(release_id=build.release_id).order_by("-attempt")
                      .values_list("error", flat=True)[:settings.BUILD_MAX_INTERRUPTIONS])
        given_up = len(recent) >= settings.BUILD_MAX_INTERRUPTIONS and all(e.startswith(INTERRUPTED) for e in recent)
        try:
            if given_up:
                transition(build.release, Status.FAILED, data={"build": build.pk}, fields={"failed_step": Step.BUILD},
                           message=f"Build #{build.pk} {message}; {len(recent)} attempts in a row were interrupted.")
            else:
                record_event(build.release, f"Build #{build.pk} (attempt {build.attempt}) {message}; "
                             "starting a new attempt.", data={"build": build.pk, "interrupted": True})
        except TransitionConflict:
            transaction.set_rollback(True)
            return False
    return True


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
