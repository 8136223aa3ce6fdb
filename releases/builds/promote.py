"""Build once, promote the digest: what an approved release gets as its image, and the promotion itself.

The rule (`kind_for`), in one place:
- BUILD: the release's environment has no predecessor (Environment.requires_success_in): the first
  environment of the chain, or an environment that stands alone, builds with the configured backend.
- PROMOTE: every later environment takes the image of the SUCCEEDED release of the same model version
  in its predecessor, by digest, and copies it in the registry (releases.registry.copy_image): the
  digest that runs here is the one that ran there. The release was still scanned against today's
  advisories and this environment's policy, and approved by this environment's approvers, before.
- REBUILD: a person asked for one (services.rebuild_release, audited with actor and reason); then
  this release's attempts build afresh. The new image is scanned and approved again here before it
  is built; later environments promote it once it SUCCEEDED and soaked here.

The source of a promotion is the newest release of the same model name and version that SUCCEEDED
in the predecessor at least `min_soak_minutes` ago and whose evidence is this release's: the same
MLflow run id, the same MLflow source and download URI, the same fetched files (name → sha256), and the
same scanned model files (path → sha256: the image holds the bytes scanned there, which must be the
bytes scanned here).
Its image is the digest its SUCCEEDED build recorded, read from the registry by digest (a moved tag
cannot substitute another image), and it must live on BUILD_REGISTRY's host. Anything that does not
match refuses the promotion with the reason (BUILD_FAILED); it is never silently rebuilt. So does a release
with no dependency lock in an environment whose policy requires one (locking.shipping.required_lock_refusal):
the image of a predecessor that shipped without a lock is not promoted into it.

A promotion is a Build row (kind PROMOTE, backend "promote", source_build = the build it copied) and
is finished through releases.builds.completion.record_completion, as every build is: the SUCCEEDED
transition and what hangs on it happen the same way. A registry outage or a source image gone from
the registry is an operational failure (FAILED, step build): retry once it is back, or ask for a rebuild.
"""
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from releases import leases, registry
from releases.builds.completion import record_completion
from releases.builds.local import repository_for
from releases.lifecycle import record_event
from releases.locking import shipping
from releases.models import Build, Release
from releases.statuses import Status

log = logging.getLogger(__name__)
BACKEND = "promote"
REBUILD_ACTION = "rebuild"  # ReleaseEvent.data["action"] of a requested rebuild
MAX_CANDIDATES = 20


class Refused(Exception):
    """No SUCCEEDED predecessor release with this release's evidence: the promotion is refused (BUILD_FAILED).
    `candidate`: the build that was looked at and refused, if there was one."""

    def __init__(self, message: str, candidate: Build | None = None):
        super().__init__(message)
        self.candidate = candidate


class Unavailable(Exception):
    """The registry could not do it now (down, the source image gone, not configured): FAILED, retryable."""


def kind_for(release: Release) -> str:
    if release.events.filter(data__action=REBUILD_ACTION).exists():
        return Build.Kind.REBUILD
    if release.environment.requires_success_in_id is None:
        return Build.Kind.BUILD
    return Build.Kind.PROMOTE


def target_tag(release: Release) -> str:
    """`<environment>-v<version>-r<release id>`: one tag per release, never moved (the digest is the name)."""
    return f"{release.environment.name}-v{release.model_version}-r{release.pk}"


# --- Which image ------------------------------------------------------------------------------------

def source_for(release: Release) -> Build:
    """The SUCCEEDED build whose digest `release` promotes, or Refused with the reason."""
    refusal = shipping.required_lock_refusal(release)  # this environment's rule, under its policy of now
    if refusal:
        raise Refused(f"Promotion refused: {refusal}.")
    predecessor = release.environment.requires_success_in
    what = f"{release.model_name} version {release.model_version}"
    soaked_before = timezone.now() - timedelta(minutes=release.environment.min_soak_minutes)
    candidates = list(Release.objects.filter(
        model_name=release.model_name, model_version=release.model_version, environment=predecessor,
        status=Status.SUCCEEDED, updated_at__lte=soaked_before).exclude(pk=release.pk)
        .order_by("-updated_at", "-id")[:MAX_CANDIDATES])
    if not candidates:
        raise Refused(f"Promotion refused: no release of {what} SUCCEEDED in {predecessor.name} "
                      f"(at least {release.environment.min_soak_minutes} minutes ago) to take the image from.")
    refusals = []
    for candidate in candidates:
        build = _succeeded_build(candidate)
        mismatch = evidence_mismatch(candidate, release) or ("" if build else "no build of it recorded its digest")
        if not mismatch:
            return build
        refusals.append((candidate, build, mismatch))
    newest, build, mismatch = refusals[0]
    more = f" (and {len(refusals) - 1} older release(s) there differ too)" if len(refusals) > 1 else ""
    raise Refused(f"Promotion refused: release #{newest.pk} of {what} in {predecessor.name} is not the same "
                  f"model as this one: {mismatch}{more}. Nothing was rebuilt; a rebuild can be requested.", build)


def _succeeded_build(release: Release) -> Build | None:
    """The build that made `release` SUCCEEDED: the one that recorded the digest the release carries."""
    if not release.image_digest:
        return None
    return (Build.objects.filter(release=release, state=Build.State.SUCCEEDED, image_digest=release.image_digest)
            .order_by("-finished_at", "-id").first())


def evidence_mismatch(source: Release, release: Release) -> str:
    """Why `source` is not the same model as `release` (the first difference), or "" if it is."""
    pairs = [("model name", source.model_name, release.model_name),
             ("model version", source.model_version, release.model_version),
             ("MLflow run", source.mlflow_run_id, release.mlflow_run_id),
             ("MLflow source", source.mlflow_source, release.mlflow_source),
             ("MLflow download URI", source.mlflow_download_uri, release.mlflow_download_uri)]
    for name, theirs, ours in pairs:
        if not ours or theirs != ours:
            return f"a different {name} ({theirs[:100]!r} there, {ours[:100]!r} here)"
    lock_mismatch = _lock_mismatch(source, release)
    if lock_mismatch:
        return lock_mismatch
    theirs, ours = _files(source), _files(release)
    if not ours:
        return "this release has no fetched files to compare"
    changed = sorted(name for name in theirs.keys() | ours.keys() if theirs.get(name) != ours.get(name))
    if changed:
        return "different fetched files (" + ", ".join(changed[:10]) + " differ by sha256)"
    theirs, ours = _model_files(source), _model_files(release)
    changed = sorted(path for path in theirs.keys() | ours.keys() if theirs.get(path) != ours.get(path))
    if changed:
        return "different model files (" + ", ".join(changed[:10]) + " differ by sha256)"
    return ""


def _lock_mismatch(source: Release, release: Release) -> str:
    """Why the two releases do not ship the same scanned lock, or "". Each digest is re-derived from the stored
    content and checked against its fetch event (shipping): a lock edited in the database refuses the promotion."""
    digests = {}
    for where, which in (("there", source), ("here", release)):
        try:
            digests[where] = shipping.lock_digest(which)
        except shipping.LockMismatch as exc:
            return f"the dependency lock {where} is not the one that was scanned ({exc})"
    if digests["there"] != digests["here"]:
        return (f"a different dependency lock (sha256 {digests['there'][:12] or 'none'} there, "
                f"{digests['here'][:12] or 'none'} here)")
    return ""


def _files(release: Release) -> dict[str, str]:
    return dict(release.files.values_list("name", "sha256"))


def _model_files(release: Release) -> dict[str, str]:
    return dict(release.model_files.values_list("path", "sha256"))


# --- The promotion (in the worker's trigger_build task, which holds the release's lease) ------------

def promote(release: Release, owner: str, attempt: int) -> str:
    """Promote one attempt and record it through record_completion; returns what was recorded."""
    try:
        source = source_for(release)
    except Refused as exc:
        build = Build.objects.create(release=release, backend=BACKEND, kind=Build.Kind.PROMOTE, attempt=attempt,
                                     source_build=exc.candidate)
        record_completion(f"promote-{build.pk}", {"build_id": build.pk, "status": "failed", "message": str(exc)})
        return "refused"
    build = Build.objects.create(release=release, backend=BACKEND, kind=Build.Kind.PROMOTE, attempt=attempt,
                                 source_build=source, heartbeat_at=timezone.now(),
                                 dependency_lock_sha256=shipping.lock_digest(release))
    record_event(release, f"Promotion #{build.pk} (attempt {attempt}): the image {source.image_digest} of "
                 f"{source.release.environment.name} release #{source.release_id} (build #{source.pk}).",
                 data={"build": build.pk, "source_build": source.pk, "source_release": source.release_id,
                       "digest": source.image_digest})
    operational = False
    # The lease keeps a second delivery out; the build's heartbeat lets the sweep (releases.jobs) close
    # a promotion whose worker died, so the next attempt starts.
    with leases.kept_alive(release.pk, owner), leases.heartbeat(
            lambda: _beat(build.pk), settings.LEASE_RENEW_SECONDS, f"promote-{build.pk}"):
        try:
            completion = copy(release, source)
        except Refused as exc:
            completion = {"status": "failed", "message": str(exc)}
        except Unavailable as exc:
            completion, operational = {"status": "failed", "message": str(exc)}, True
    recorded = record_completion(f"promote-{build.pk}", {"build_id": build.pk, **completion}, operational=operational)
    leases.release_lease(release.pk, owner)
    return _outcome(recorded)


def _outcome(recorded) -> str:
    """"succeeded", "refused" (BUILD_FAILED) or "failed" (FAILED, operational), as recorded (the completion path
    checks the copied image again, so a copy that worked can still be failed there); else why not recorded."""
    if recorded.outcome.value != "recorded":
        return recorded.outcome.value
    status = Release.objects.values_list("status", flat=True).get(pk=recorded.build.release_id)
    return {Status.SUCCEEDED: "succeeded", Status.BUILD_FAILED: "refused"}.get(status, "failed")


def _beat(build_id: int) -> bool:
    return Build.objects.filter(pk=build_id, state=Build.State.RUNNING).update(heartbeat_at=timezone.now()) == 1


def copy(release: Release, source: Build) -> dict:
    """Tag the source's digest in this environment, through the registry API; a completion for record_completion."""
    if not settings.BUILD_REGISTRY:
        raise Unavailable("BUILD_REGISTRY must be set to promote images (whatever the build backend).")
    try:
        origin = registry.parse_reference(source.image_reference)
        target = registry.parse_reference(repository_for(release.model_name))
    except ValueError:
        raise Refused(f"Promotion refused: build #{source.pk} recorded no usable image reference.") from None
    if origin.host != target.host:
        raise Refused(f"Promotion refused: build #{source.pk}'s image is not in BUILD_REGISTRY's registry.")
    tag = target_tag(release)
    try:
        digest = registry.copy_image(origin, source.image_digest, target, tag)
        _body, _type, tagged = registry.get_manifest(target, tag)
    except registry.NotFound as exc:
        log.warning("promotion of release %s: %s", release.pk, exc.detail)
        raise Unavailable(f"The source image {origin.repository}@{source.image_digest} (build #{source.pk}, "
                          f"release #{source.release_id}) is gone from the registry. Restore it and retry, "
                          "or request a rebuild.") from None
    except registry.RegistryError as exc:
        log.warning("promotion of release %s: %s (%s)", release.pk, exc, exc.detail)
        raise Unavailable(f"Could not promote the image in the registry: {exc} The promotion can be retried.") \
            from None
    if digest != source.image_digest or tagged != digest:  # the promise itself, read back from the registry
        raise Refused(f"Promotion refused: the registry's {tag} names {tagged}, not {source.image_digest}.")
    # The same digest, so the same smoke test: the promotion carries its source's result (and base).
    return {"status": "succeeded", "image_reference": f"{target.repo_ref}:{tag}", "digest": digest,
            "smoke_test": source.smoke_test, "base_image": source.base_image, "os_packages": source.os_packages}
