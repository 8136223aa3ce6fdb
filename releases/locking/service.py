"""Make a release's dependency lock (the fetch step and the dry run), and find the one a release has.

`make_lock` returns an unsaved DependencyLock: the fetch step stores it in the transaction that moves
the release on (so a cancelled or failed fetch keeps none); the dry run uses it and stores nothing.
It raises ResolverUnavailable for what is an outage, not a verdict: the index unreachable, uv
missing, or an environment that requires a lock on a gateway with no PACKAGE_INDEX_URL.
"""
from django.conf import settings

from releases.locking import inputs, lockfile, resolver, runtime
from releases.locking.resolver import ResolverUnavailable
from releases.models import DependencyLock, LockRequirement
from releases.policies import current_rules
from releases.scanning.envparse import parse_environment
from releases.statuses import Status

Outcome = DependencyLock.Outcome
NOT_LOCKED = "no lock was made when this release was fetched"


def make_lock(files: dict[str, str], resolve_dependencies: str, preferred: str = "") -> DependencyLock:
    """The lock of these environment files under the environment's knob (off | warn | require).

    `preferred` (predecessor_lock): versions to keep where the requirements allow them."""
    if resolve_dependencies == LockRequirement.OFF:
        return DependencyLock(outcome=Outcome.OFF, message="resolve_dependencies is off for this environment")
    index_url = settings.PACKAGE_INDEX_URL
    if not index_url:
        if resolve_dependencies == LockRequirement.REQUIRE:
            raise ResolverUnavailable("This environment requires a dependency lock, and the gateway has no package "
                                      "index configured (PACKAGE_INDEX_URL).")
        return DependencyLock(outcome=Outcome.OFF, message="no package index is configured (PACKAGE_INDEX_URL)")
    common = {"platform": settings.DEPENDENCY_LOCK_PLATFORM, "index_url": resolver.public_index_url(index_url)}
    try:
        lock_input = runtime.with_runtime(inputs.build(parse_environment(files)))
    except inputs.Refused as exc:
        return DependencyLock(outcome=Outcome.UNRESOLVABLE, message=f"not resolved: {exc}", **common)
    common.update(python_version=lock_input.python_version, notes=lock_input.notes)
    resolution = resolver.resolve(lock_input, index_url, _checked(preferred))
    common["uv_version"] = resolution.uv_version
    if not resolution.resolved:
        return DependencyLock(outcome=Outcome.UNRESOLVABLE, message=resolution.message, **common)
    try:
        packages = lockfile.parse(resolution.content, settings.DEPENDENCY_LOCK_MAX_PACKAGES)
    except lockfile.LockUnreadable as exc:
        return DependencyLock(outcome=Outcome.UNRESOLVABLE, message=f"the lock cannot be used: {exc}", **common)
    if not packages:  # an empty lock installs nothing: it is not a lock of the model's closure
        return DependencyLock(outcome=Outcome.UNRESOLVABLE, message="the lock cannot be used: it lists no package",
                              **common)
    lock = DependencyLock(outcome=Outcome.RESOLVED, content=resolution.content, package_count=len(packages), **common)
    lock.sha256 = lock.digest()
    return lock


def lock_for(environment, model_name: str, version: str, files: dict[str, str]) -> DependencyLock:
    """The fetch step's and the dry run's one call: under the environment's current knob, preferring
    the predecessor environment's lock of the same model version."""
    knob = current_rules(environment)[0].resolve_dependencies
    return make_lock(files, knob, predecessor_lock(model_name, version, environment))


def _checked(preferred: str) -> str:
    """Only a lock that reads as one (pins, hashes, annotations) is handed to uv as preferences."""
    try:
        lockfile.parse(preferred, settings.DEPENDENCY_LOCK_MAX_PACKAGES)
    except lockfile.LockUnreadable:
        return ""
    return preferred


def predecessor_lock(model_name: str, version: str, environment) -> str:
    """The lock the same model version SUCCEEDED with in the environment before this one ("" if none).

    The later environment resolves again (its own fetch), preferring those versions: with the same files and
    the same index it gets the same lock, so its promotion of the predecessor's image is not refused because
    a package had a new release in between; what it gets is still scanned in full."""
    if environment.requires_success_in_id is None:
        return ""
    lock = (DependencyLock.objects.filter(
        outcome=Outcome.RESOLVED, release__model_name=model_name, release__model_version=version,
        release__environment_id=environment.requires_success_in_id, release__status=Status.SUCCEEDED)
        .order_by("-release__updated_at", "-id").only("content").first())
    return lock.content if lock else ""


def describe(lock: DependencyLock) -> str:
    """A sentence for the fetch step's event ("" when nothing was resolved)."""
    if lock.resolved:
        return f" Locked {lock.package_count} packages (sha256 {lock.sha256[:12]}…)."
    if lock.outcome == Outcome.UNRESOLVABLE:
        return " The dependencies cannot be resolved into a lock (the scan says why)."
    return ""


def lock_for_release(release) -> DependencyLock:
    """The release's stored lock; for a release fetched without one, an unsaved OFF stand-in that says so."""
    stored = DependencyLock.objects.filter(release_id=release.pk).first()
    return stored or DependencyLock(outcome=Outcome.OFF, message=NOT_LOCKED)


def store(release_id: int, lock: DependencyLock) -> DependencyLock:
    lock.release_id = release_id
    lock.save()
    return lock


__all__ = ["ResolverUnavailable", "describe", "lock_for", "lock_for_release", "make_lock", "predecessor_lock", "store"]
