"""Rows for the auditor-screen tests: a release with its whole story, written directly."""
from django.contrib.auth.models import Group
from django.utils import timezone

from approvals.models import ApprovalDecision, ApprovalStage
from releases.lifecycle import transition
from releases.models import Build, Finding, ScanReport
from releases.statuses import Status
from tests.factories import make_release

DIGEST = "sha256:" + "ab" * 32


def blocking_entry(index: int, severity="CRITICAL") -> dict:
    return {"package": f"pkg{index}", "version": "1.0", "specifier": "==1.0", "advisory_id": f"GHSA-block-{index}",
            "severity": severity, "role": "runtime", "definite": True, "where": f"requirements.txt:{index + 1}"}


def scan_report(release, *, findings=2, passed=False, blocking=None, counts=None) -> ScanReport:
    blocking = [blocking_entry(0)] if blocking is None else blocking
    report = ScanReport.objects.create(
        release=release, scanner="builtin", scanner_version="1", started_at=timezone.now(), duration_ms=1.0,
        counts=counts or {"CRITICAL": len(blocking), "HIGH": 7}, possible_counts={"MEDIUM": 3}, passed=passed,
        summary="blocked by 1 finding" if blocking else "passed", decision={
            "passed": passed, "summary": "s", "policy_version": None, "environment": release.environment.name,
            "blocking": blocking, "waived": [], "ignored": [], "gates": [],
            "warnings": [{"package": "loose", "reason": "unpinned requirement loose"}], "unreadable": []})
    Finding.objects.bulk_create(
        Finding(report=report, package=f"pkg{i}", version="1.0", advisory_id=f"GHSA-find-{i}", severity="HIGH",
                definite=True, source_file="requirements.txt", line=i + 1) for i in range(findings))
    return report


def approve(release, report, user, stage_order=1, approved=True, comment="looks right", self_approval=False):
    stage = ApprovalStage.objects.get(environment=release.environment, order=stage_order)
    return ApprovalDecision.objects.create(release=release, scan_report=report, stage=stage, user=user,
                                           approved=approved, comment=comment, self_approval=self_approval)


def walk_to(release, *statuses, actor=None):
    for status in statuses:
        release = transition(release, status, actor=actor, message=f"to {status}")
    return release


def succeeded_release(owner, approver, *, model_name="fraud-detector", version="3", env="canary",
                      digest=DIGEST):
    """A release taken through every status to SUCCEEDED, scanned, approved and built."""
    release = make_release(owner, model_name=model_name, ref=version, model_version=version, env=env)
    release = walk_to(release, Status.SCANNING_DEPENDENCIES)
    report = scan_report(release, passed=True, blocking=[])
    if ApprovalStage.objects.filter(environment=release.environment).exists():
        release = walk_to(release, Status.SCAN_PASSED, Status.AWAITING_APPROVAL)
        approve(release, report, approver)
        release = walk_to(release, Status.APPROVED, Status.BUILDING_IMAGE)
    else:  # staging: no approval needed
        release = walk_to(release, Status.SCAN_PASSED, Status.APPROVED, Status.BUILDING_IMAGE)
    Build.objects.create(release=release, backend="local", state=Build.State.SUCCEEDED,
                         image_reference=f"registry.local/models/{model_name}:{version}", image_digest=digest,
                         finished_at=timezone.now())
    release = transition(release, Status.SUCCEEDED, message="image pushed",
                         fields={"image_digest": digest, "image_reference": f"registry.local/models/{model_name}"})
    return release


def approver(django_user_model, username="lead-approver", group="ml-leads"):
    user = django_user_model.objects.create_user(username, password="pw-" + username + "-123")
    user.groups.add(Group.objects.get(name=group))
    return user
