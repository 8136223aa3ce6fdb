"""Store a scan result as a ScanReport with its findings."""
from django.utils import timezone

from releases.models import Finding, ScanReport
from releases.scanning.policy import PolicyDecision
from releases.scanning.scanner import ScanResult


def store_report(release_id: int, result: ScanResult, decision: PolicyDecision, policy=None) -> ScanReport:
    report = ScanReport.objects.create(
        release_id=release_id, scanner=result.scanner, scanner_version=result.scanner_version,
        advisory_sync_id=result.snapshot_id, advisory_snapshot_at=result.snapshot_at,
        started_at=timezone.now(), duration_ms=round(result.duration_ms, 3),
        counts=result.counts(definite=True), possible_counts=result.counts(definite=False),
        dependencies=[d.as_dict() for d in result.dependencies], issues=result.issues,
        passed=decision.passed, summary=decision.summary[:500], raw_output=result.raw_output,
        policy=policy, decision=decision.as_dict(), base_image=result.extra.get("base_image", ""),
    )
    Finding.objects.bulk_create(
        Finding(report=report, package=f.package, version=f.version or "", specifier=f.specifier[:512],
                ecosystem=f.ecosystem, advisory_id=f.advisory_id, aliases=list(f.aliases), summary=f.summary,
                severity=f.severity.value, score=f.score, fixed_versions=list(f.fixed_versions), definite=f.definite,
                source_file=f.source_file[:256], line=f.line, role=f.role, pulled_in_by=list(f.pulled_in_by))
        for f in result.findings
    )
    return report
