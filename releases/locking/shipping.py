"""What was scanned is what ships: the lock a build installs, and how every backend is told about it.

The lock is the release's DependencyLock, written once at fetch time and never changed; its digest
is what the scan report's release, the build request, the image label, the Build row, the promotion
check and the attestation all name. A release with no resolved lock (resolve_dependencies off, or
warn and the model could not be resolved) ships no lock, and every one of those says so (empty digest).

Where the environment's policy requires a lock (resolve_dependencies: require), a release without a resolved
one does not ship there (`required_lock_refusal`): its build is not asked for, its promotion not made, a
completion not recorded as SUCCEEDED, and it is not promoted onward into such an environment
(releases.promotion). This is the scan's rule (releases.locking.verdict.missing) applied again under the
policy of that moment: a release decided under `warn`, or before the policy required a lock, is caught too.

The stored row is not trusted on its own: someone with write access to the database could change its
content (and its sha256 column with it), or remove it. So every use here re-derives the digest from the
content and compares it with what the fetch step recorded in its hash-chained event (`fetch_record`,
releases.steps._fetch); a difference raises LockMismatch and nothing is built, promoted or attested.
"""
import hashlib

from releases.locking.verdict import missing
from releases.models import DependencyLock, Release, ReleaseEvent
from releases.policies import current_rules
from releases.statuses import Status

LOCK_FILE = "requirements.lock.txt"
LOCK_PATH_IN_IMAGE = f"/model/{LOCK_FILE}"
LOCK_LABEL = "gateway.dependency_lock.sha256"
# Exactly the lock: every package pinned and hash-checked, nothing resolved at build time, no sdist built.
INSTALL_ARGS = ("--require-hashes", "--no-deps", "--only-binary", ":all:", "--no-input")
EVENT_KEY = "dependency_lock"  # ReleaseEvent.data key of the fetch event that records the lock


class LockMismatch(Exception):
    """The stored lock is not the one recorded when it was resolved and scanned: it must not ship."""


def fetch_record(lock: DependencyLock) -> dict:
    """What the fetch step's event records about the lock (the reference every later use is checked against)."""
    return {"outcome": lock.outcome, "sha256": lock.sha256, "packages": lock.package_count}


def recorded_lock(release_id: int) -> dict | None:
    """The lock as the fetch event recorded it, or None for a release fetched before locks were recorded.

    The first such event: the lock is resolved once, and an event appended later cannot replace it."""
    data = (ReleaseEvent.objects.filter(release_id=release_id, from_status=Status.PENDING,
                                        to_status=Status.SCANNING_DEPENDENCIES, data__has_key=EVENT_KEY)
            .order_by("sequence").values_list("data", flat=True).first())
    recorded = data.get(EVENT_KEY) if isinstance(data, dict) else None
    return recorded if isinstance(recorded, dict) else None


def derived_digest(lock: DependencyLock) -> str:
    """The lock's SHA-256 computed from its content now (the stored sha256 column is not trusted)."""
    return hashlib.sha256(lock.content.encode()).hexdigest() if lock.content else ""


def lock_problem(release_id: int) -> str:
    """Why the release's stored lock is not the one its fetch event recorded, or "" when it is (or neither exists)."""
    lock = DependencyLock.objects.filter(release_id=release_id).first()
    recorded = recorded_lock(release_id)
    if lock is None and recorded is None:
        return ""  # fetched before locks existed: nothing to ship, nothing to compare
    if recorded is None:
        return "the dependency lock in the record was not recorded by the fetch step"
    if lock is None:
        return (f"the dependency lock recorded at fetch time ({recorded.get('outcome')}, sha256 "
                f"{str(recorded.get('sha256') or 'none')[:12]}) is missing from the record")
    derived = derived_digest(lock)
    if lock.outcome != recorded.get("outcome") or derived != (recorded.get("sha256") or ""):
        return (f"the dependency lock in the record ({lock.outcome}, sha256 {derived[:12] or 'none'}) is not the "
                f"one recorded at fetch time ({recorded.get('outcome')}, sha256 "
                f"{str(recorded.get('sha256') or 'none')[:12]})")
    if lock.sha256 != derived:
        return "the dependency lock's stored sha256 is not the digest of its content"
    return ""


def verified_lock(release_id: int) -> DependencyLock | None:
    """The release's lock record, after checking it is the one recorded at fetch time (else LockMismatch)."""
    problem = lock_problem(release_id)
    if problem:
        raise LockMismatch(problem)
    return DependencyLock.objects.filter(release_id=release_id).first()


def shipped_lock(release: Release) -> DependencyLock | None:
    """The resolved lock the image installs (None: it installs none); LockMismatch if the record was changed."""
    lock = verified_lock(release.pk)
    return lock if lock is not None and lock.outcome == DependencyLock.Outcome.RESOLVED else None


def lock_digest(release: Release) -> str:
    """The shipped lock's digest, re-derived from its content ("" for none); LockMismatch if changed."""
    lock = shipped_lock(release)
    return derived_digest(lock) if lock else ""


def lock_made(lock: DependencyLock | None) -> bool:
    """A resolved lock with content: what an environment that requires a lock takes."""
    return lock is not None and lock.outcome == DependencyLock.Outcome.RESOLVED and bool(lock.content)


# The same, as a filter on releases (releases.promotion reads many at once).
LOCK_MADE = {"dependency_lock__outcome": DependencyLock.Outcome.RESOLVED, "dependency_lock__package_count__gt": 0}


def refuses_unlocked(environment) -> str:
    """"" if the environment's current policy takes a release without a lock; else which policy refuses it."""
    rules, policy = current_rules(environment)
    if not missing(rules.resolve_dependencies, None):
        return ""
    return f"the {environment.name} policy (v{policy.version if policy else '-'}) requires a dependency lock"


def required_lock_refusal(release: Release) -> str:
    """Why `release` may not ship into its environment for want of a lock ("" if it may): the environment's
    policy requires a lock now, and the release has no lock that was made. It reads the stored row; whether
    that row is the one recorded at fetch time is lock_problem's to say, on every use."""
    lock = DependencyLock.objects.filter(release_id=release.pk).first()
    if lock_made(lock):
        return ""
    refused_by = refuses_unlocked(release.environment)
    if not refused_by:
        return ""
    why = lock.message if lock is not None and lock.message else "no lock was made when it was fetched"
    return f"{refused_by}, and release #{release.pk} has none ({why[:300]})"


def install_command(lock_path: str = LOCK_PATH_IN_IMAGE) -> list[str]:
    return ["python", "-m", "pip", "install", *INSTALL_ARGS, "-r", lock_path]


def request_fields(release: Release) -> dict:
    """The build request's lock fields (webhook JSON, GitLab variables GATEWAY_DEPENDENCY_LOCK…)."""
    lock = shipped_lock(release)
    if lock is None:
        return {"dependency_lock": "", "dependency_lock_sha256": "", "dependency_lock_install": ""}
    return {"dependency_lock": lock.content, "dependency_lock_sha256": derived_digest(lock),
            "dependency_lock_install": " ".join(install_command(LOCK_FILE))}


def installed_other_lock(build, reported: str | None) -> str:
    """Why a build that reports the lock it installed (`dependency_lock_sha256`) did not install the scanned
    one; "" when it did, or says nothing (a CI system that does not report it is trusted to, README)."""
    expected = build.dependency_lock_sha256
    if not reported or reported == expected:
        return ""
    return (f"the build reports it installed dependency lock sha256 {reported[:12]}…, not the lock that was "
            f"scanned ({expected[:12] + '…' if expected else 'none'})")


def statement_entry(release: Release) -> dict | None:
    """The attestation's `dependency_lock`: what the image installed, by digest (None: no lock record).

    LockMismatch if the record was changed: nothing is signed over a lock that was not the scanned one."""
    lock = verified_lock(release.pk)
    if lock is None:
        return None
    digest = derived_digest(lock)
    return {"outcome": lock.outcome, "digest": {"sha256": digest} if digest else None,
            "packages": lock.package_count, "python_version": lock.python_version, "platform": lock.platform,
            "path_in_image": LOCK_PATH_IN_IMAGE if lock.resolved else None}
