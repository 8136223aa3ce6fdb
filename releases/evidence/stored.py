"""Re-verify what the gateway stored: `verify_stored(release)` (the admin page), and the record checks.

The signature check is releases.evidence.dsse.verify_envelope, as for anyone else. On top, the
record must still say what was signed: the stored SBOM has the digest the attestation names, and
the scan report, policy and fetched files re-derive to the digests it names, and the dependency lock's
content re-derives to the attested digest and to the one its fetch event recorded. A database edited
after the release (a finding deleted, a policy row changed, a lock rewritten) shows here as a problem.
"""
import hashlib

from releases.evidence import keys, provenance
from releases.evidence.canonical import policy_digest, scan_report_digest
from releases.evidence.dsse import Verification, verify_envelope
from releases.evidence.statement import subject_name
from releases.locking import shipping
from releases.models import (
    DependencyLock,
    EnvironmentPolicy,
    ModelFile,
    Release,
    ReleaseEvidence,
    ReleaseFile,
    ScanReport,
)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_problems(statement: dict, evidence: ReleaseEvidence) -> list[str]:
    """Where today's record no longer matches the signed statement of `evidence`."""
    predicate = statement.get("predicate") or {}
    problems = []
    if (predicate.get("release") or {}).get("id") != evidence.release_id:
        problems.append(f"the statement is about release {predicate.get('release', {}).get('id')}, "
                        f"not #{evidence.release_id}")
    if (predicate.get("sbom") or {}).get("digest", {}).get("sha256") != _sha256(evidence.sbom):
        problems.append("the stored SBOM does not have the digest the attestation names")
    scan = predicate.get("scan") or {}
    report = ScanReport.objects.filter(pk=scan.get("report"), release_id=evidence.release_id).first()
    if not scan:
        pass  # attested without a scan report (see statement.build_statement): nothing to re-derive
    elif report is None:
        problems.append(f"scan report #{scan.get('report')} is no longer in the record")
    else:
        if scan_report_digest(report.pk) != scan.get("digest", {}).get("sha256"):
            problems.append(f"scan report #{report.pk} changed since it was attested")
        policy = EnvironmentPolicy.objects.filter(pk=report.policy_id).first()
        stated = (predicate.get("policy") or {})
        if policy_digest(policy, stated.get("environment", "")) != stated.get("digest", {}).get("sha256"):
            problems.append("the policy the report names no longer has the attested digest")
    stored = dict(ReleaseFile.objects.filter(release_id=evidence.release_id).values_list("name", "sha256"))
    signed = {f.get("name"): f.get("digest", {}).get("sha256") for f in (predicate.get("model") or {}).get("files", [])}
    if stored != signed:
        problems.append("the release's fetched files differ from the attested ones")
    stored_models = dict(ModelFile.objects.filter(release_id=evidence.release_id).values_list("path", "sha256"))
    signed_models = {f.get("path"): f.get("digest", {}).get("sha256")
                     for f in (predicate.get("model") or {}).get("model_files", [])}
    if stored_models != signed_models:
        problems.append("the release's scanned model files differ from the attested ones")
    return problems + lock_problems(predicate, evidence.release_id)


def lock_problems(predicate: dict, release_id: int) -> list[str]:
    """The stored dependency lock, re-derived from its content, against the attested digest and the fetch event.

    The sha256 column is not trusted: an edit of the content, or of the content and the column, shows here."""
    if "dependency_lock" not in predicate:
        return []  # attested before the statement named the lock
    changed = shipping.lock_problem(release_id)
    if changed:
        return [changed]
    lock = DependencyLock.objects.filter(release_id=release_id).first()
    stated = predicate.get("dependency_lock")
    signed = ((stated or {}).get("digest") or {}).get("sha256") or ""
    derived = shipping.derived_digest(lock) if lock else ""
    if (lock is None) != (stated is None) or derived != signed:
        return [f"the release's dependency lock (sha256 {derived[:12] or 'none'}) is not the attested one "
                f"(sha256 {signed[:12] or 'none'})"]
    return []


def verify_evidence(evidence: ReleaseEvidence, public_key, digest: str | None, name: str | None) -> Verification:
    result = verify_envelope(evidence.envelope.encode("utf-8"), public_key, digest, name)
    if result.statement is not None:
        result.problems += record_problems(result.statement, evidence)
        result.ok = not result.problems
    return result


def verify_provenance(evidence: ReleaseEvidence, public_key, digest: str | None, name: str | None) -> Verification:
    """The stored SLSA provenance: signed by the key, about this image, and its lock the record's lock re-derived."""
    if not evidence.provenance:
        return Verification(False, ["this release's evidence has no provenance (released before it existed)"])
    result = verify_envelope(evidence.provenance.encode("utf-8"), public_key, digest, name,
                             predicate_type=provenance.PREDICATE_TYPE)
    if result.statement is not None:
        result.problems += provenance_lock_problems(result.statement, evidence.release_id)
        result.ok = not result.problems
    return result


def provenance_lock_problems(statement: dict, release_id: int) -> list[str]:
    definition = (statement.get("predicate") or {}).get("buildDefinition") or {}
    signed = next((d.get("digest", {}).get("sha256") for d in definition.get("resolvedDependencies") or []
                   if isinstance(d, dict) and d.get("name") == shipping.LOCK_FILE), "")
    changed = shipping.lock_problem(release_id)
    if changed:
        return [changed]
    lock = shipping.shipped_lock(Release(pk=release_id))
    derived = shipping.derived_digest(lock) if lock else ""
    if derived != (signed or ""):
        return [f"the release's dependency lock (sha256 {derived[:12] or 'none'}) is not the one the provenance "
                f"names (sha256 {(signed or '')[:12] or 'none'})"]
    return []


def verify_stored(release: Release) -> Verification:
    """Re-verify the release's stored envelope against the configured key and the release's own digest."""
    evidence = ReleaseEvidence.objects.latest_for(release.pk)
    if evidence is None:
        return Verification(False, ["this release has no attestation"])
    try:
        key = keys.signing_key()
    except keys.SigningKeyError as exc:
        return Verification(False, [str(exc)])
    if key is None:
        return Verification(False, ["no attestation signing key is configured to verify against"])
    return verify_evidence(evidence, key.public_key(), release.image_digest, subject_name(release.image_reference))
