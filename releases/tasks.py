"""Background steps of the release pipeline (run by django-q2's qcluster).

Each task takes a release id, reloads the release, and does nothing unless the
release is still in the status the step belongs to and this worker can claim
it: a task may be delivered twice.
"""
import logging

from django.db import transaction
from django.utils import timezone

from releases import leases, promotion
from releases.lifecycle import TransitionConflict, record_event, transition
from releases.mlflow_source import MlflowSource, MlflowSourceError
from releases.models import Release, ReleaseFile
from releases.statuses import Status, Step

log = logging.getLogger(__name__)

SKIPPED = "skipped"


def _claim(release_id: int, status: str) -> tuple[Release, str] | None:
    """Reload the release; claim it if it is still in `status` and no live worker holds it."""
    release = Release.objects.filter(pk=release_id).first()
    if release is None or release.status != status:
        return None
    owner = leases.new_owner()
    if not leases.claim(release_id, status, owner):
        return None
    release.refresh_from_db()
    return release, owner


def fetch_environment(release_id: int) -> str:
    """PENDING: resolve the model in MLflow and store its environment files."""
    claimed = _claim(release_id, Status.PENDING)
    if claimed is None:
        return SKIPPED
    release, owner = claimed

    try:
        source = MlflowSource()
        alias = release.model_alias
        model = source.resolve(release.model_name, version="" if alias else release.requested_ref, alias=alias)
        if alias:  # the version is known only now: check the promotion chain for it
            promotion.check(release.model_name, model.version, release.environment)
        files = source.fetch_files(model)
        run = source.run_data(model)
    except (MlflowSourceError, promotion.PromotionRefused) as exc:
        return _fail(release, Step.FETCH, str(exc), owner)
    except Exception as exc:  # a bug or an unforeseen library error: fail visibly, never mislabel
        log.exception("fetch step crashed for release %s", release_id)
        return _fail(release, Step.FETCH, f"Unexpected error while fetching from MLflow ({type(exc).__name__}).", owner)

    names = ", ".join(f.name for f in files)
    try:
        with transaction.atomic():
            transition(
                release,
                Status.SCANNING_DEPENDENCIES,
                message=f"Resolved version {model.version}; fetched {names}.",
                data={
                    "model_version": model.version,
                    "run_id": model.run_id,
                    "source": model.source,
                    "files": {f.name: f.sha256 for f in files},
                },
                fields={
                    "model_version": model.version,
                    "mlflow_run_id": model.run_id,
                    "mlflow_source": model.source,
                    "mlflow_download_uri": model.download_uri,
                    "mlflow_run_metrics": run.metrics,
                    "mlflow_run_tags": run.tags,
                    "mlflow_run_author": run.author,
                },
                lease_owner=owner,
            )
            ReleaseFile.objects.bulk_create(
                ReleaseFile(release_id=release_id, name=f.name, size=f.size, sha256=f.sha256, content=f.content)
                for f in files
            )
    except TransitionConflict:
        return SKIPPED  # cancelled (or taken over) meanwhile: keep nothing
    return "fetched"


def scan_dependencies(release_id: int) -> str:
    """SCANNING_DEPENDENCIES: scan the fetched files, store the report, pass or fail the release."""
    from releases.policies import decide_for_release
    from releases.scanning.rego import RegoFailure
    from releases.scanning.reports import store_report
    from releases.scanning.runner import run_scan
    from releases.scanning.scanner import EmptyAdvisoryDatabase
    from releases.scanning.trivy import TrivyError

    claimed = _claim(release_id, Status.SCANNING_DEPENDENCIES)
    if claimed is None:
        return SKIPPED
    release, owner = claimed
    files = dict(ReleaseFile.objects.filter(release_id=release_id).values_list("name", "content"))
    try:
        result = run_scan(files)
    except (EmptyAdvisoryDatabase, TrivyError) as exc:
        return _fail(release, Step.SCAN, str(exc), owner)
    except Exception as exc:  # a bug: fail visibly as an operational failure, never as a scan verdict
        log.exception("scan step crashed for release %s", release_id)
        return _fail(release, Step.SCAN, f"Unexpected error while scanning ({type(exc).__name__}).", owner)

    try:
        decision, policy = decide_for_release(result, release)
    except RegoFailure as exc:
        return _fail(release, Step.SCAN, str(exc), owner)
    try:
        with transaction.atomic():
            report = store_report(release_id, result, decision, policy)
            transition(
                release, Status.SCAN_PASSED if decision.passed else Status.SCAN_FAILED,
                message=decision.summary[:2000],
                data={"scan_report": report.pk, "policy_version": decision.policy_version,
                      "counts": report.counts, "possible_counts": report.possible_counts,
                      "blocking": [f"{b['package']} {b.get('advisory_id', b['reason'])}" for b in decision.blocking][:50],
                      "waivers_used": decision.waivers_used},
                lease_owner=owner,
            )
    except TransitionConflict:
        return SKIPPED
    return "passed" if decision.passed else "failed"


def _fail(release: Release, step: str, message: str, owner: str) -> str:
    try:
        transition(release, Status.FAILED, message=message, data={"step": step},
                   fields={"failed_step": step}, lease_owner=owner)
    except TransitionConflict:
        return SKIPPED
    return "failed"


def resume_stalled() -> int:
    """Scheduled: re-enqueue steps whose worker died or whose enqueue was lost.

    A worker killed mid-step leaves an expired lease; a process that died between
    commit and enqueue leaves no task at all. Both are found here and queued
    again; a duplicate is harmless because steps claim the release first.
    """
    from datetime import timedelta

    from django.conf import settings
    from django.db.models import Q

    from releases import queue

    from releases.models import Build

    now = timezone.now()
    quiet_since = now - timedelta(seconds=settings.TASK_RETRY_SECONDS)
    # Only statuses whose step moves the release on: a SUCCEEDED release's alias step
    # runs once, and a BUILDING_IMAGE release with a running build is waiting for its callback.
    resumable = [s for s in queue.STEP_TASKS if s != Status.SUCCEEDED]
    if not settings.BUILD_BACKEND:
        resumable.remove(Status.APPROVED)  # releases rest at APPROVED
    stalled = (Release.objects.filter(status__in=resumable)
               .filter(Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True, updated_at__lt=quiet_since))
               .exclude(status=Status.BUILDING_IMAGE, builds__state=Build.State.RUNNING)
               .values_list("pk", "status", "lease_owner").distinct())
    count = 0
    for release_id, status, lease_owner in stalled:
        log.warning("release %s stalled in %s (lease %s); re-enqueueing", release_id, status, lease_owner or "none")
        queue.enqueue_step(release_id, status)
        count += 1
    return count


def scheduled_advisory_sync() -> str:
    """Scheduled hourly: sync ADVISORY_SYNC_SOURCE when the last sync is older than the interval.

    Runs in the worker, so a sync must fit in TASK_TIMEOUT_SECONDS (the full 7,080-record
    PyPI set takes ~12 s on PostgreSQL; see bench/).
    """
    from datetime import timedelta

    from django.conf import settings

    from releases.models import AdvisorySync
    from releases.scanning.sync import sync_advisories

    if not settings.ADVISORY_SYNC_SOURCE:
        return "no source configured"
    due = timezone.now() - timedelta(hours=settings.ADVISORY_SYNC_INTERVAL_HOURS)
    if AdvisorySync.objects.filter(outcome=AdvisorySync.Outcome.SUCCEEDED, finished_at__gt=due).exists():
        return "not due"
    sync = sync_advisories(settings.ADVISORY_SYNC_SOURCE)
    after_advisory_sync(sync)
    return f"sync #{sync.pk} {sync.outcome}"


def after_advisory_sync(sync) -> None:
    """New or changed advisories may block releases that passed: look at the waiting ones again."""
    if sync.outcome == sync.Outcome.SUCCEEDED and sync.changed:
        enqueue_reevaluation(f"advisory sync #{sync.pk}")


def reevaluate_waiting(trigger: str, release_ids: list[int] | None = None) -> str:
    """Scan waiting releases again under today's advisories, policy and waivers.

    A release that now fails moves back to SCAN_FAILED with the reason and a new report
    (approvals given on the old report no longer count). One that still passes is left
    as it is: nothing it was approved on has changed for the worse.
    """
    from releases.policies import decide_for_release
    from releases.scanning.reports import store_report
    from releases.scanning.runner import run_scan
    from releases.statuses import WAITING

    waiting = Release.objects.filter(status__in=list(WAITING)).select_related("environment")
    if release_ids is not None:
        waiting = waiting.filter(pk__in=release_ids)
    moved = 0
    for release in waiting:
        files = dict(ReleaseFile.objects.filter(release=release).values_list("name", "content"))
        try:
            result = run_scan(files)
            decision, policy = decide_for_release(result, release)
        except Exception:  # one release's problem must not stop the others; it stays as it was
            log.exception("re-evaluation of release %s failed", release.pk)
            continue
        if decision.passed:
            continue
        decision.summary = f"Re-evaluated after {trigger}: {decision.summary}"
        try:
            with transaction.atomic():
                report = store_report(release.pk, result, decision, policy)
                transition(release, Status.SCAN_FAILED, message=decision.summary[:2000],
                           data={"scan_report": report.pk, "trigger": trigger,
                                 "policy_version": decision.policy_version,
                                 "blocking": [f"{b['package']} {b.get('advisory_id', b['reason'])}"
                                              for b in decision.blocking][:50]})
            moved += 1
        except TransitionConflict:
            continue  # it moved on meanwhile (cancelled, approved...)
    return f"{moved} release(s) moved to SCAN_FAILED"


def enqueue_reevaluation(trigger: str, release_ids: list[int] | None = None) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task("releases.tasks.reevaluate_waiting", trigger, release_ids,
                                             task_name="reevaluate-waiting", group="releases"))


def reevaluate_after_waiver_changes() -> str:
    """Scheduled: waiting releases whose passing decision used a waiver that no longer counts."""
    from releases.models import ScanReport, Waiver
    from releases.statuses import WAITING

    active = set(Waiver.objects.active().values_list("pk", flat=True))
    affected = []
    for release_id, decision in (ScanReport.objects.filter(release__status__in=list(WAITING))
                                 .order_by("release_id", "-created_at", "-id").values_list("release_id", "decision")):
        if release_id in affected:
            continue
        used = set((decision or {}).get("waivers_used", []))
        if used - active:
            affected.append(release_id)
    if not affected:
        return "nothing to re-evaluate"
    return reevaluate_waiting("a waiver expired or was revoked", affected)


def start_build(release_id: int) -> str:
    """APPROVED: hand the release to the build backend (when one is configured)."""
    from django.conf import settings

    if not settings.BUILD_BACKEND:
        return "no build backend configured"
    release = Release.objects.filter(pk=release_id).first()
    if release is None or release.status != Status.APPROVED:
        return SKIPPED
    try:
        transition(release, Status.BUILDING_IMAGE, message=f"Building with the {settings.BUILD_BACKEND} backend.")
    except TransitionConflict:
        return SKIPPED
    return "building"


def trigger_build(release_id: int) -> str:
    """BUILDING_IMAGE: start one build attempt; its completion arrives at /api/builds/callback/."""
    from django.conf import settings

    from releases.build_backends import BACKENDS, BuildTriggerError
    from releases.models import Build

    claimed = _claim(release_id, Status.BUILDING_IMAGE)
    if claimed is None:
        return SKIPPED
    release, owner = claimed
    if Build.objects.filter(release=release, state=Build.State.RUNNING).exists():
        leases.release_lease(release_id, owner)
        return SKIPPED  # this attempt was already started (the task was delivered twice)
    backend = settings.BUILD_BACKEND or "webhook"
    attempt = (Build.objects.filter(release=release).order_by("-attempt").values_list("attempt", flat=True).first()
               or 0) + 1
    build = Build.objects.create(release=release, backend=backend, attempt=attempt)
    try:
        started = BACKENDS[backend](build)
    except BuildTriggerError as exc:
        Build.objects.filter(pk=build.pk).update(state=Build.State.FAILED, error=str(exc), finished_at=timezone.now())
        return _fail(release, Step.BUILD, str(exc), owner)
    Build.objects.filter(pk=build.pk).update(external_id=started.external_id, log_url=started.log_url)
    record_event(release, f"Build #{build.pk} (attempt {attempt}) started on {backend}.",
                 data={"build": build.pk, "external_id": started.external_id, "log_url": started.log_url})
    leases.release_lease(release_id, owner)
    if started.completion is not None:  # built in place: report like a CI system would
        from releases.build_completion import record_completion

        record_completion(f"local-build-{build.pk}", {"build_id": build.pk, **started.completion})
        return started.completion["status"]
    return "started"


def reconcile_builds() -> str:
    """Scheduled: a build that never reported back fails, so nothing waits forever."""
    from datetime import timedelta

    from django.conf import settings

    from releases.models import Build

    limit = settings.BUILD_TIMEOUT_MINUTES
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
    return f"{failed} build(s) timed out"


def set_mlflow_alias(release_id: int) -> str:
    """After SUCCEEDED: point the environment's alias at the released version. Failure is an event only."""
    release = Release.objects.select_related("environment").filter(pk=release_id).first()
    if release is None or release.status != Status.SUCCEEDED or not release.environment.mlflow_alias_on_success:
        return SKIPPED
    alias = release.environment.mlflow_alias_on_success
    try:
        MlflowSource().client.set_registered_model_alias(release.model_name, alias, release.model_version)
        message, ok = f"MLflow alias @{alias} now points to version {release.model_version}.", True
    except Exception as exc:  # MLflow down, no permission...: the release stays SUCCEEDED
        message, ok = f"Could not set MLflow alias @{alias}: {str(exc).splitlines()[0][:200]}", False
    record_event(release, message, data={"alias": alias, "set": ok})
    return "set" if ok else "failed"
