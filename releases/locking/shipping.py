"""What was scanned is what ships: the lock a build installs, and how every backend is told about it.

The lock is the release's DependencyLock, written once at fetch time and never changed; its digest
is what the scan report's release, the build request, the image label, the Build row, the promotion
check and the attestation all name. A release with no resolved lock (resolve_dependencies off, or
warn and the model could not be resolved) ships no lock, and every one of those says so (empty digest).
"""
from releases.models import DependencyLock, Release

LOCK_FILE = "requirements.lock.txt"
LOCK_PATH_IN_IMAGE = f"/model/{LOCK_FILE}"
LOCK_LABEL = "gateway.dependency_lock.sha256"
# Exactly the lock: every package pinned and hash-checked, nothing resolved at build time, no sdist built.
INSTALL_ARGS = ("--require-hashes", "--no-deps", "--only-binary", ":all:", "--no-input")


def shipped_lock(release: Release) -> DependencyLock | None:
    lock = DependencyLock.objects.filter(release_id=release.pk, outcome=DependencyLock.Outcome.RESOLVED).first()
    return lock


def lock_digest(release: Release) -> str:
    lock = shipped_lock(release)
    return lock.sha256 if lock else ""


def install_command(lock_path: str = LOCK_PATH_IN_IMAGE) -> list[str]:
    return ["python", "-m", "pip", "install", *INSTALL_ARGS, "-r", lock_path]


def request_fields(release: Release) -> dict:
    """The build request's lock fields (webhook JSON, GitLab variables GATEWAY_DEPENDENCY_LOCK…)."""
    lock = shipped_lock(release)
    if lock is None:
        return {"dependency_lock": "", "dependency_lock_sha256": "", "dependency_lock_install": ""}
    return {"dependency_lock": lock.content, "dependency_lock_sha256": lock.sha256,
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
    """The attestation's `dependency_lock`: what the image installed, by digest (None: no lock record)."""
    lock = DependencyLock.objects.filter(release_id=release.pk).first()
    if lock is None:
        return None
    return {"outcome": lock.outcome, "digest": {"sha256": lock.sha256} if lock.sha256 else None,
            "packages": lock.package_count, "python_version": lock.python_version, "platform": lock.platform,
            "path_in_image": LOCK_PATH_IN_IMAGE if lock.resolved else None}
