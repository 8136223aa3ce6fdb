"""The release pipeline's steps, run by django-q2's qcluster (releases/queue.py says which runs when).

Each takes a release id, reloads the release, and does nothing (returns SKIPPED) unless the
release is still in the status the step belongs to and this worker can claim it: a task may be
delivered twice, or after another worker took over.
"""
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from releases import evaluation, leases, model_files, promotion
from releases.builds import BACKENDS, promote
from releases.builds.base import BuildTriggerError
from releases.builds.completion import record_completion
from releases.lifecycle import TransitionConflict, record_event, transition
from releases.locking import service as locking
from releases.locking import shipping
from releases.locking.resolver import ResolverUnavailable
from releases.mlflow_source import MlflowSource, MlflowSourceError
from releases.models import Build, Release, ReleaseEvent, ReleaseFile
from releases.queue import SKIPPED
from releases.scanning.os_inventory import BaseImageUnavailable
from releases.scanning.rego import RegoFailure
from releases.scanning.scanner import EmptyAdvisoryDatabase
from releases.scanning.trivy import TrivyError
from releases.statuses import Status, Step

log = logging.getLogger(__name__)


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


def _run_claimed(release_id: int, status: str, body: Callable[[Release, str], str]) -> str:
    """Run `body(release, owner)` if this worker can claim the release, keeping the lease alive meanwhile."""
    claimed = _claim(release_id, status)
    if claimed is None:
        return SKIPPED
    release, owner = claimed
    with leases.kept_alive(release_id, owner):
        return body(release, owner)


def _fail(release: Release, step: str, message: str, owner: str, detail: str = "") -> str:
    """`message` is for everyone; `detail` (addresses, library text) for staff in admin."""
    data = {"step": step, ReleaseEvent.STAFF_DETAIL: detail[:1000]} if detail else {"step": step}
    try:
        transition(release, Status.FAILED, message=message, data=data,
                   fields={"failed_step": step}, lease_owner=owner)
    except TransitionConflict:
        return SKIPPED
    return "failed"


def fetch_environment(release_id: int) -> str:
    """PENDING: resolve the model in MLflow and store its environment files."""
    return _run_claimed(release_id, Status.PENDING, _fetch)


def _fetch(release: Release, owner: str) -> str:
    release_id = release.pk
    try:
        source = MlflowSource()
        alias = release.model_alias
        model = source.resolve(release.model_name, version="" if alias else release.requested_ref, alias=alias)
        if alias:  # the version is known only now: check the promotion chain for it
            promotion.check(release.model_name, model.version, release.environment)
        files = source.fetch_files(model)
        run = source.run_data(model)
        # Resolved once, here: rescans, re-evaluation and builds use the stored lock.
        lock = locking.lock_for(release.environment, release.model_name, model.version,
                                {f.name: f.content for f in files})
        scanned = model_files.fetch_and_scan(source, model, files)
    except (MlflowSourceError, promotion.PromotionRefused, ResolverUnavailable) as exc:
        return _fail(release, Step.FETCH, str(exc), owner, detail=getattr(exc, "detail", ""))
    except Exception as exc:  # a bug or an unforeseen library error: fail visibly, never mislabel
        log.exception("fetch step crashed for release %s", release_id)
        return _fail(release, Step.FETCH, f"Unexpected error while fetching from MLflow ({type(exc).__name__}).", owner,
                     detail=f"{type(exc).__name__}: {exc}")

    names = ", ".join(f.name for f in files)
    scan = model_files.overview(scanned)
    try:
        with transaction.atomic():
            transition(
                release,
                Status.SCANNING_DEPENDENCIES,
                message=f"Resolved version {model.version}; fetched {names}; scanned {scan['files']} model "
                        f"file(s): " + ", ".join(f"{n} {v}" for v, n in scan["verdicts"].items()) + "."
                        + locking.describe(lock),
                data={
                    "model_version": model.version,
                    "run_id": model.run_id,
                    "source": model.source,
                    "files": {f.name: f.sha256 for f in files},
                    # Hash-chained: every later use of the stored lock is checked against this record.
                    shipping.EVENT_KEY: shipping.fetch_record(lock),
                    "model_files": scan,
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
            locking.store(release_id, lock)
            model_files.store(release_id, scanned)
    except TransitionConflict:
        return SKIPPED  # cancelled (or taken over) meanwhile: keep nothing
    return "fetched"


def scan_dependencies(release_id: int) -> str:
    """SCANNING_DEPENDENCIES: scan the fetched files, store the report, pass or fail the release."""
    return _run_claimed(release_id, Status.SCANNING_DEPENDENCIES, _scan)


def _scan(release: Release, owner: str) -> str:
    release_id = release.pk
    try:
        judged = evaluation.evaluate(release)
    except (EmptyAdvisoryDatabase, TrivyError, BaseImageUnavailable, RegoFailure) as exc:
        return _fail(release, Step.SCAN, str(exc), owner, detail=getattr(exc, "detail", ""))
    except Exception as exc:  # a bug: fail visibly as an operational failure, never as a scan verdict
        log.exception("scan step crashed for release %s", release_id)
        return _fail(release, Step.SCAN, f"Unexpected error while scanning ({type(exc).__name__}).", owner,
                     detail=f"{type(exc).__name__}: {exc}")
    passed = judged.decision.passed
    try:
        evaluation.record(release, judged, Status.SCAN_PASSED if passed else Status.SCAN_FAILED, lease_owner=owner)
    except TransitionConflict:
        return SKIPPED
    return "passed" if passed else "failed"


def start_build(release_id: int) -> str:
    """APPROVED: hand the release to the build backend. Without one, approved releases rest here."""
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
    """BUILDING_IMAGE: start one build attempt (its completion arrives at /api/builds/callback/), or, in an
    environment with a predecessor, promote the predecessor's image here and now (releases.builds.promote)."""
    claimed = _claim(release_id, Status.BUILDING_IMAGE)
    if claimed is None:
        return SKIPPED
    release, owner = claimed
    if Build.objects.filter(release=release, state=Build.State.RUNNING).exists():
        leases.release_lease(release_id, owner)
        return SKIPPED  # this attempt was already started (the task was delivered twice)
    attempt = (Build.objects.filter(release=release).order_by("-attempt").values_list("attempt", flat=True).first()
               or 0) + 1
    kind = promote.kind_for(release)  # build once: later environments promote the predecessor's digest
    if kind == Build.Kind.PROMOTE:
        return promote.promote(release, owner, attempt)
    backend = settings.BUILD_BACKEND
    if not backend:  # removed since this release started building: nothing can build it
        return _fail(release, Step.BUILD, "No build backend is configured (BUILD_BACKEND is empty).", owner)
    try:
        lock_sha256 = shipping.lock_digest(release)  # re-derived and checked against the fetch event
    except shipping.LockMismatch as exc:  # the lock in the record is not the scanned one: not asked to build
        return _fail(release, Step.BUILD, f"Not built: {exc}.", owner)
    refusal = shipping.required_lock_refusal(release)  # under the policy of now, not the one it was scanned under
    if refusal:
        return _refuse(release, owner, attempt, kind, f"Not built: {refusal}.")
    build = Build.objects.create(release=release, backend=backend, attempt=attempt, kind=kind,
                                 dependency_lock_sha256=lock_sha256)
    try:
        started = BACKENDS[backend](build)
    except BuildTriggerError as exc:
        Build.objects.filter(pk=build.pk).update(state=Build.State.FAILED, error=str(exc), finished_at=timezone.now())
        return _fail(release, Step.BUILD, str(exc), owner, detail=getattr(exc, "detail", ""))
    Build.objects.filter(pk=build.pk).update(external_id=started.external_id, log_url=started.log_url)
    record_event(release, f"Build #{build.pk} (attempt {attempt}) started on {backend}.",
                 data={"build": build.pk, "external_id": started.external_id, "log_url": started.log_url})
    leases.release_lease(release_id, owner)
    return "started"  # the completion arrives at /api/builds/callback/, or from the local builder


def _refuse(release: Release, owner: str, attempt: int, kind: str, message: str) -> str:
    """Refused before the backend is asked: an attempt that failed, recorded as every completion is (BUILD_FAILED)."""
    build = Build.objects.create(release=release, backend=settings.BUILD_BACKEND, attempt=attempt, kind=kind)
    record_completion(f"refused-{build.pk}", {"build_id": build.pk, "status": "failed", "message": message})
    leases.release_lease(release.pk, owner)
    return "refused"


def set_mlflow_alias(release_id: int) -> str:
    """After SUCCEEDED: point the environment's alias at the released version. Failure is an event only.

    Claimed like a step, and done once: a second delivery finds the alias event and writes nothing.
    """
    release = Release.objects.select_related("environment").filter(pk=release_id).first()
    if release is None or release.status != Status.SUCCEEDED or not release.environment.mlflow_alias_on_success:
        return SKIPPED
    return _run_claimed(release_id, Status.SUCCEEDED, _set_alias)


def _set_alias(release: Release, owner: str) -> str:
    try:
        alias = release.environment.mlflow_alias_on_success
        if release.events.filter(data__alias=alias).exists():
            return SKIPPED  # an earlier delivery set this alias (or recorded why it could not)
        try:
            MlflowSource().client.set_registered_model_alias(release.model_name, alias, release.model_version)
            message, ok = f"MLflow alias @{alias} now points to version {release.model_version}.", True
        except Exception as exc:  # MLflow down, no permission...: the release stays SUCCEEDED
            log.warning("release %s: setting MLflow alias @%s failed: %s", release.pk, alias,
                        (str(exc).splitlines() or [""])[0][:500])
            message, ok = f"Could not set MLflow alias @{alias} ({type(exc).__name__}); see the worker log.", False
        record_event(release, message, data={"alias": alias, "set": ok})
        return "set" if ok else "failed"
    finally:
        leases.release_lease(release.pk, owner)  # SUCCEEDED is final: no step comes after this one
