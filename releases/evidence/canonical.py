"""The canonical JSON form, and the digests of stored records that an attestation names.

Canonical JSON here: keys sorted, no insignificant whitespace (separators "," and ":"), UTF-8
without \\u escapes for non-ASCII, datetimes as ISO 8601 in UTC. One function, so that the
attestation, `verify_stored` and anyone re-deriving a digest from a database dump agree.
Digests are always taken over what the database returns (reloaded), never over objects in
memory that may not have round-tripped (a datetime's time zone, a float's precision).
"""
import dataclasses
import hashlib
import json
from datetime import UTC, datetime

from releases.models import EnvironmentPolicy, Finding, ScanReport
from releases.policies import rules_from
from releases.scanning.policy import PolicyRules

# Named in the attestation next to each digest, so a verifier knows which form to rebuild.
SCAN_REPORT_FORM = "gateway-scan-report/v1"
POLICY_FORM = "gateway-policy-rules/v1"
# Every stored column of a finding except the ones the database derives (severity_rank) or keys.
FINDING_FIELDS = ("id", "package", "version", "specifier", "ecosystem", "advisory_id", "aliases", "summary",
                  "severity", "score", "fixed_versions", "definite", "source_file", "line", "role")
# Columns and rules added after the v1 forms were first signed: each enters a document only when it differs
# from the value every earlier record has, so a digest signed before the column existed still re-derives.
FINDING_FIELDS_ADDED = {"pulled_in_by": []}
RULES_ADDED = {"resolve_dependencies": "warn"}  # what migration 0024 gave the versions that came before it


def _default(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=_default).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def scan_report_document(report_id: int) -> dict:
    """The stored report and all its findings (oldest id first). An external scanner's raw output (up to
    20 MiB) enters by its digest."""
    report = ScanReport.objects.get(pk=report_id)
    raw = None if report.raw_output is None else sha256_hex(canonical_json(report.raw_output))
    findings = list(Finding.objects.filter(report_id=report_id).order_by("id")
                    .values(*FINDING_FIELDS, *FINDING_FIELDS_ADDED))
    for finding in findings:
        for name, earlier in FINDING_FIELDS_ADDED.items():
            if finding[name] == earlier:
                del finding[name]
    return {
        "form": SCAN_REPORT_FORM, "id": report.pk, "release": report.release_id, "scanner": report.scanner,
        "scanner_version": report.scanner_version, "advisory_sync": report.advisory_sync_id,
        "advisory_snapshot_at": report.advisory_snapshot_at, "started_at": report.started_at,
        "duration_ms": report.duration_ms, "counts": report.counts, "possible_counts": report.possible_counts,
        "dependencies": report.dependencies, "issues": report.issues, "passed": report.passed,
        "policy": report.policy_id, "decision": report.decision, "summary": report.summary,
        "raw_output_sha256": raw, "created_at": report.created_at, "findings": findings,
    }


def scan_report_digest(report_id: int) -> str:
    return sha256_hex(canonical_json(scan_report_document(report_id)))


def policy_document(policy: EnvironmentPolicy | None, environment: str) -> dict:
    """The rules a decision was taken under (PolicyRules, the engine's input, Rego text included);
    the built-in default when the environment had no policy version."""
    rules = rules_from(policy) if policy is not None else PolicyRules(environment=environment)
    document = {"form": POLICY_FORM, **dataclasses.asdict(rules)}
    for name, earlier in RULES_ADDED.items():
        if document[name] == earlier:
            del document[name]
    return document


def policy_digest(policy: EnvironmentPolicy | None, environment: str) -> str:
    return sha256_hex(canonical_json(policy_document(policy, environment)))
