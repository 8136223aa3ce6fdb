"""Attest a release as it becomes SUCCEEDED: SBOM, Statement, DSSE signature, stored in one transaction.

Called by releases.builds.completion.record_completion inside the transaction that moves the
release to SUCCEEDED, so a SUCCEEDED release always has its attestation (if signing fails, the
transition rolls back with it). Signing is local (no network); the push to the registry is a
task enqueued once the transaction commits (releases.evidence.push).
"""
import hashlib

from releases import queue
from releases.evidence import dsse, keys
from releases.evidence.provenance import build_provenance
from releases.evidence.sbom import build_sbom
from releases.evidence.statement import build_statement, subject_name
from releases.models import Build, Release, ReleaseEvidence, ScanReport


class CannotAttest(Exception):
    """No signing key is configured (or it is unusable): nothing may ship."""


def ready_to_attest() -> str | None:
    """Why a release could not be attested now (no usable key), or None. Checked before SUCCEEDED is written."""
    try:
        key = keys.signing_key()
    except keys.SigningKeyError as exc:
        return str(exc)
    if key is None:
        return ("No attestation signing key is configured (ATTESTATION_SIGNING_KEY_FILE): a release cannot "
                "become SUCCEEDED without a signed attestation. Configure the key, then retry the release.")
    return None


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def attest(release: Release, build: Build) -> ReleaseEvidence:
    """Sign and store the evidence of `release` (already SUCCEEDED in this transaction) built by `build`."""
    key = keys.signing_key()
    if key is None:
        raise CannotAttest(ready_to_attest() or "no signing key")
    report = ScanReport.objects.select_related("advisory_sync", "policy").latest_for(release)
    release = Release.objects.select_related("environment", "requested_by").get(pk=release.pk)
    name = subject_name(build.image_reference)
    sbom = build_sbom(release, build, report, name)
    sbom_digest = _digest(sbom)
    key_id = keys.key_id(key.public_key())
    envelope = dsse.sign(build_statement(release, build, report, sbom_digest, key_id), key).decode("utf-8")
    provenance = dsse.sign(build_provenance(release, build, name), key).decode("utf-8")
    evidence = ReleaseEvidence.objects.create(
        release=release, build=build, subject_name=name, subject_digest=build.image_digest,
        predicate_type=dsse.PREDICATE_TYPE, key_id=key_id, envelope=envelope, envelope_digest=_digest(envelope),
        sbom=sbom, sbom_digest=sbom_digest, provenance=provenance, provenance_digest=_digest(provenance))
    queue.enqueue_evidence_push(evidence.pk)
    return evidence

