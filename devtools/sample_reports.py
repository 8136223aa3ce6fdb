"""A stored scan report of any size, for the browser tests and the portal benchmark (no scanner run)."""
from django.utils import timezone

from releases.models import Finding, Release, ScanReport

SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]


def large_report(release: Release, findings: int) -> ScanReport:
    """A failed report with `findings` findings spread over severities, packages and match kinds."""
    counts = {s: 0 for s in SEVERITIES}
    possible = {s: 0 for s in SEVERITIES}
    rows = []
    for i in range(findings):
        level = SEVERITIES[i % len(SEVERITIES)]
        definite = i % 3 != 0
        (counts if definite else possible)[level] += 1
        rows.append(Finding(
            package=f"pkg-{i % 97:02d}", version=f"1.{i % 10}.0" if definite else "", specifier="" if definite
            else ">=1.0", advisory_id=f"GHSA-test-{i:04d}", aliases=[f"CVE-2026-{10000 + i}"],
            summary=f"Sample advisory {i}", severity=level, score=round(9.9 - (i % 90) / 10, 1),
            fixed_versions=[f"1.{i % 10}.1"] if i % 4 else [], definite=definite,
            source_file="requirements.txt", line=1 + i % 400, role="runtime"))
    report = ScanReport.objects.create(
        release=release, scanner="gateway-osv", scanner_version="sample", started_at=timezone.now(),
        duration_ms=1.0, counts=counts, possible_counts=possible, passed=False,
        summary=f"Security scan failed. Found {counts['CRITICAL']} CRITICAL vulnerabilities.",
        decision={"passed": False, "summary": "Sample: blocked.", "policy_version": 1,
                  "environment": release.environment.name, "blocking": [], "waived": [], "ignored": [],
                  "warnings": [], "gates": [], "waivers_used": [], "block_at": "CRITICAL",
                  "unknown_counts_as": "CRITICAL", "below_threshold": 0, "rego": None, "unreadable": []})
    for row in rows:
        row.report = report
    Finding.objects.bulk_create(rows, batch_size=500)
    return report
