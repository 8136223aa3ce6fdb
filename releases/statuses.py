"""Release statuses and the table of allowed transitions.

This table is the whole state machine: `lifecycle.transition` refuses any
change that is not listed here.
"""
from django.db import models


class Status(models.TextChoices):
    PENDING = "PENDING", "Pending"
    SCANNING_DEPENDENCIES = "SCANNING_DEPENDENCIES", "Scanning dependencies"
    SCAN_FAILED = "SCAN_FAILED", "Scan failed"
    SCAN_PASSED = "SCAN_PASSED", "Scan passed"
    AWAITING_APPROVAL = "AWAITING_APPROVAL", "Awaiting approval"
    APPROVED = "APPROVED", "Approved"
    REJECTED = "REJECTED", "Rejected"
    BUILDING_IMAGE = "BUILDING_IMAGE", "Building image"
    BUILD_FAILED = "BUILD_FAILED", "Build failed"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    CANCELLED = "CANCELLED", "Cancelled"
    # A step failed for an operational reason (MLflow unreachable, a builder
    # down...). Release.failed_step says which; the release can be retried.
    FAILED = "FAILED", "Failed"


S = Status

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.SCANNING_DEPENDENCIES, S.FAILED, S.CANCELLED}),
    S.SCANNING_DEPENDENCIES: frozenset({S.SCAN_PASSED, S.SCAN_FAILED, S.FAILED, S.CANCELLED}),
    # A failed scan can be run again (e.g. once a waiver is approved).
    S.SCAN_FAILED: frozenset({S.SCANNING_DEPENDENCIES, S.CANCELLED}),
    # APPROVED directly when the environment requires no approval; SCAN_FAILED when a
    # re-evaluation (new advisories, an expired waiver) finds a newly blocking finding.
    S.SCAN_PASSED: frozenset({S.AWAITING_APPROVAL, S.APPROVED, S.SCAN_FAILED, S.FAILED, S.CANCELLED}),
    # SCAN_FAILED here is a re-evaluation that found a newly blocking finding.
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.SCAN_FAILED, S.CANCELLED}),
    S.APPROVED: frozenset({S.BUILDING_IMAGE, S.FAILED, S.CANCELLED}),
    S.BUILDING_IMAGE: frozenset({S.SUCCEEDED, S.BUILD_FAILED, S.FAILED, S.CANCELLED}),
    # A failed build can be attempted again; SCANNING_DEPENDENCIES is a requested rebuild (a new image
    # is scanned and approved again before it is built: services.rebuild_release).
    S.BUILD_FAILED: frozenset({S.BUILDING_IMAGE, S.SCANNING_DEPENDENCIES, S.CANCELLED}),
    # Retry re-enters the status whose step failed (see RETRY_ENTRY).
    S.FAILED: frozenset({S.PENDING, S.SCANNING_DEPENDENCIES, S.APPROVED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
}

# Scanned and waiting for people: re-evaluated when advisories or waivers change.
WAITING = frozenset({S.SCAN_PASSED, S.AWAITING_APPROVAL})

TERMINAL = frozenset(s for s, targets in ALLOWED_TRANSITIONS.items() if not targets)
# Statuses the worker moves on by itself (each has a step task; see releases.queue). A release
# that rests in one of these too long is re-enqueued (releases.jobs.resume_stalled). SUCCEEDED's
# alias step is a follow-up, not a move, so it is not here.
WORKING = frozenset({S.PENDING, S.SCANNING_DEPENDENCIES, S.SCAN_PASSED, S.APPROVED, S.BUILDING_IMAGE})


class Step(models.TextChoices):
    """Pipeline steps that can fail operationally (Release.failed_step)."""

    FETCH = "fetch", "Resolve the model and fetch its environment files"
    SCAN = "scan", "Scan dependencies"
    BUILD = "build", "Build the image"


# The status a FAILED release returns to when retried, by the step that failed.
RETRY_ENTRY = {
    Step.FETCH: S.PENDING,
    Step.SCAN: S.SCANNING_DEPENDENCIES,
    Step.BUILD: S.APPROVED,
}


def is_allowed(old: str, new: str) -> bool:
    return new in ALLOWED_TRANSITIONS.get(old, frozenset())
