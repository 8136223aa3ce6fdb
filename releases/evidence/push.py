"""Take a release's attestation and SBOM to the registry, next to its image.

Where: as OCI 1.1 referrers (a manifest whose `subject` is the image manifest, artifactType
ATTESTATION_TYPE or SBOM_TYPE) when the registry answers the referrers API; otherwise under
cosign's tags `sha256-<hex>.att` and `sha256-<hex>.sbom` (an image manifest whose layers are the
envelopes / SBOMs of that digest: a digest promoted to several environments carries one
attestation per release, appended, never replaced). Debian's docker-registry 2.8 has no
referrers API: it gets the tags.

Delivered twice, pushed once: the task claims the evidence row with a lease (compare-and-set),
and a pushed row is never pushed again. Every manifest is deterministic (no timestamps), and an
.att layer already there is not added again, so even a push repeated after a crash between
the registry's answer and our commit lands the same bytes once. A registry that is down leaves
an event on the release and the row pending; `push_pending` (scheduled) tries again with backoff.
"""
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from releases import registry
from releases.evidence.dsse import PREDICATE_TYPE
from releases.evidence.sbom import MEDIA_TYPE as SBOM_TYPE
from releases.lifecycle import record_event
from releases.models import ReleaseEvent, ReleaseEvidence
from releases.queue import SKIPPED

log = logging.getLogger(__name__)
ATTESTATION_TYPE = "application/vnd.dsse.envelope.v1+json"
EMPTY_CONFIG = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
LEASE_SECONDS = 120  # longer than a push takes (two blobs, two manifests, each BUILD_REGISTRY_TIMEOUT_SECONDS)
MAX_BACKOFF_MINUTES = 60
FAILURE_EVENTS = 5  # events recorded per release for failed pushes; later failures are logged and counted only
MAX_ATT_LAYERS = 100  # releases of one digest kept in its .att manifest


def push_evidence(evidence_id: int) -> str:
    """The task: push this release's attestation and SBOM once."""
    evidence = ReleaseEvidence.objects.filter(pk=evidence_id).select_related("release").first()
    if evidence is None or evidence.push_state != ReleaseEvidence.Push.PENDING or not _claim(evidence_id):
        return SKIPPED
    if not _ours(evidence.subject_name):
        _finish(evidence_id, push_state=ReleaseEvidence.Push.SKIPPED,
                push_error="The image is not in BUILD_REGISTRY.")
        record_event(evidence.release, f"Attestation and SBOM not pushed: {evidence.subject_name} is not in "
                     f"BUILD_REGISTRY; they are served at /api/releases/{evidence.release_id}/attestation/ and "
                     "/sbom/.",
                     data={"evidence_push": "skipped"})
        return "skipped: not our registry"
    try:
        mode, pushed = push_to_registry(evidence)
    except (registry.RegistryError, ValueError) as exc:
        return _failed(evidence, exc)
    _finish(evidence_id, push_state=ReleaseEvidence.Push.PUSHED, push_mode=mode, pushed=pushed,
            pushed_at=timezone.now(), push_error="")
    record_event(evidence.release, f"Attestation and SBOM pushed to the registry ({mode}).",
                 data={"evidence_push": "pushed", "mode": mode, **pushed})
    return f"pushed ({mode})"


def push_pending() -> str:
    """Scheduled: push the evidence whose push failed (or whose task was lost), once its retry is due."""
    now = timezone.now()
    due = (ReleaseEvidence.objects.filter(push_state=ReleaseEvidence.Push.PENDING)
           .filter(Q(push_next_at__lte=now) | Q(push_next_at__isnull=True, created_at__lt=now - timedelta(minutes=1)))
           .filter(Q(push_lease_expires_at__isnull=True) | Q(push_lease_expires_at__lt=now))
           .order_by("push_next_at", "pk").values_list("pk", flat=True)[:50])
    results = [push_evidence(pk) for pk in due]
    return f"{sum(r.startswith('pushed') for r in results)} of {len(results)} pushed"


def _claim(evidence_id: int) -> bool:
    now = timezone.now()
    return (ReleaseEvidence.objects.filter(pk=evidence_id, push_state=ReleaseEvidence.Push.PENDING)
            .filter(Q(push_lease_expires_at__isnull=True) | Q(push_lease_expires_at__lt=now))
            .update(push_lease_expires_at=now + timedelta(seconds=LEASE_SECONDS)) == 1)


def _finish(evidence_id: int, **fields) -> None:
    ReleaseEvidence.objects.filter(pk=evidence_id).update(push_lease_expires_at=None, **fields)


def _failed(evidence: ReleaseEvidence, exc: Exception) -> str:
    attempts = evidence.push_attempts + 1
    wait = min(2 ** min(attempts, 10), MAX_BACKOFF_MINUTES)
    message = str(exc)[:400]
    _finish(evidence.pk, push_attempts=attempts, push_error=message,
            push_next_at=timezone.now() + timedelta(minutes=wait))
    log.warning("release %s: pushing its evidence failed (attempt %s): %s %s", evidence.release_id, attempts, message,
                getattr(exc, "detail", ""))
    if attempts <= FAILURE_EVENTS:
        record_event(evidence.release, f"Could not push the attestation and SBOM to the registry: {message} "
                     f"Trying again in {wait} minute(s) (attempt {attempts}).",
                     data={"evidence_push": "failed", "attempt": attempts,
                           ReleaseEvent.STAFF_DETAIL: str(getattr(exc, "detail", ""))[:1000]})
    return "failed"


def _ours(subject_name: str) -> bool:
    """Only BUILD_REGISTRY is the gateway's to write to (its credentials are for it alone)."""
    own = settings.BUILD_REGISTRY.split("/", 1)[0] if settings.BUILD_REGISTRY else ""
    try:
        return bool(own) and registry.parse_reference(subject_name).host == own
    except ValueError:
        return False


def _canonical(manifest: dict) -> bytes:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def _descriptor(media_type: str, data: bytes, **extra) -> dict:
    return {"mediaType": media_type, "digest": registry.digest_of(data), "size": len(data), **extra}


def push_to_registry(evidence: ReleaseEvidence) -> tuple[str, dict]:
    """(mode, what landed). Raises RegistryError."""
    repo = registry.parse_reference(evidence.subject_name)
    digest = evidence.subject_digest
    image_body, image_type, _ = registry.get_manifest(repo, digest)  # the subject must exist, as it is
    envelope, sbom = evidence.envelope.encode(), evidence.sbom.encode()
    for blob in (envelope, sbom):
        registry.push_blob(repo, blob)
    if registry.supports_referrers(repo, digest):
        registry.push_blob(repo, EMPTY_CONFIG)
        subject = {"mediaType": image_type, "digest": digest, "size": len(image_body)}
        pushed = {"attestation_manifest": _put_referrer(repo, subject, ATTESTATION_TYPE, envelope),
                  "sbom_manifest": _put_referrer(repo, subject, SBOM_TYPE, sbom)}
        return "referrers", pushed
    tag = digest.replace(":", "-")
    pushed = {"attestation_manifest": _append_to_tag(repo, f"{tag}.att", ATTESTATION_TYPE, envelope,
                                                     {"predicateType": PREDICATE_TYPE,
                                                      "dev.cosignproject.cosign/signature": ""}),
              "sbom_manifest": _append_to_tag(repo, f"{tag}.sbom", SBOM_TYPE, sbom, {}),
              "attestation_tag": f"{tag}.att", "sbom_tag": f"{tag}.sbom"}
    return "tag", pushed


def _put_referrer(repo, subject: dict, artifact_type: str, data: bytes) -> str:
    manifest = {"schemaVersion": 2, "mediaType": registry.OCI_MANIFEST, "artifactType": artifact_type,
                "config": _descriptor(EMPTY_TYPE, EMPTY_CONFIG), "layers": [_descriptor(artifact_type, data)],
                "subject": subject}
    body = _canonical(manifest)
    return registry.put_manifest(repo, registry.digest_of(body), body, registry.OCI_MANIFEST)


def _append_to_tag(repo, tag: str, layer_type: str, data: bytes, annotations: dict) -> str:
    """cosign's layout: an image manifest under `tag` with one layer per attached document."""
    layers = []
    try:
        body, _, _ = registry.get_manifest(repo, tag)
        layers = [layer for layer in json.loads(body).get("layers", []) if isinstance(layer, dict)]
    except registry.NotFound:
        pass
    except ValueError:
        layers = []  # not JSON: replaced by ours
    layer = _descriptor(layer_type, data, **({"annotations": annotations} if annotations else {}))
    if any(existing.get("digest") == layer["digest"] for existing in layers):
        return registry.digest_of(body)  # already there (a push repeated after a crash)
    layers = [*layers, layer][-MAX_ATT_LAYERS:]
    config = _canonical({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]}})
    registry.push_blob(repo, config)
    manifest = {"schemaVersion": 2, "mediaType": registry.OCI_MANIFEST,
                "config": _descriptor("application/vnd.oci.image.config.v1+json", config), "layers": layers}
    new = _canonical(manifest)
    return registry.put_manifest(repo, tag, new, registry.OCI_MANIFEST)
