"""The scan's pass/fail rule until per-environment policy exists (the original note's rule).

Fail closed: any definite CRITICAL finding blocks, and so does any definite finding
whose severity no record gives (UNKNOWN), because "unknown" is not "harmless" —
PYSEC-2021-142 (PyYAML < 5.4, CVSS 9.8 elsewhere) carries no severity at all.
"""
from dataclasses import dataclass

from releases.scanning.scanner import FindingData, ScanResult
from releases.scanning.severity import Level

BLOCKING_LEVELS = (Level.CRITICAL, Level.UNKNOWN)


@dataclass
class Decision:
    passed: bool
    summary: str
    blocking: list[FindingData]


def decide(result: ScanResult) -> Decision:
    blocking = [f for f in result.findings if f.definite and f.severity in BLOCKING_LEVELS]
    if not blocking:
        possible = sum(1 for f in result.findings if not f.definite)
        definite = len(result.findings) - possible
        return Decision(True, f"Security scan passed. {definite} non-critical finding(s), "
                              f"{possible} possible (unpinned).", [])
    unknown = sum(1 for f in blocking if f.severity == Level.UNKNOWN)
    summary = f"Security scan failed. Found {len(blocking)} CRITICAL vulnerabilities."
    if unknown:
        summary += f" {unknown} of them {'has' if unknown == 1 else 'have'} unknown severity and count as CRITICAL."
    return Decision(False, summary, blocking)
