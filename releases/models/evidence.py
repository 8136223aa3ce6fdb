"""What a SUCCEEDED release is shipped with: its signed attestation and its SBOM.

Written once, in the transaction that makes the release SUCCEEDED (releases.evidence.attest), so
no release is SUCCEEDED without one. The envelope and the SBOM are kept as the exact bytes that
were signed and digested (text, not JSON fields): the API and the registry serve those bytes, so
anyone can check them against the digests. The push to the registry happens later, and is the
only thing on the row that changes.
"""
from django.db import models


class ReleaseEvidenceQuerySet(models.QuerySet):
    def latest_for(self, release_id: int) -> "ReleaseEvidence | None":
        return self.filter(release_id=release_id).order_by("-created_at", "-id").first()


class ReleaseEvidence(models.Model):
    class Push(models.TextChoices):
        PENDING = "pending"  # waiting for the push task (or its next retry)
        PUSHED = "pushed"
        SKIPPED = "skipped"  # the image is not in BUILD_REGISTRY: the gateway has no business writing there

    # One per successful build: SUCCEEDED is final, but a release written back to building (a test, an
    # operator's repair) and built again gets new evidence; the newest is the release's (`latest_for`).
    release = models.ForeignKey("releases.Release", on_delete=models.PROTECT, related_name="evidence")
    build = models.OneToOneField("releases.Build", on_delete=models.PROTECT, related_name="+")
    subject_name = models.CharField(max_length=512, help_text="The image repository the attestation names.")
    subject_digest = models.CharField(max_length=71, db_index=True, help_text="sha256:… of the image manifest.")
    predicate_type = models.CharField(max_length=255)
    key_id = models.CharField(max_length=64, help_text="SHA-256 of the signing public key (DER).")
    envelope = models.TextField(help_text="The DSSE envelope, as signed and served.")
    envelope_digest = models.CharField(max_length=71)
    sbom = models.TextField(help_text="The CycloneDX 1.6 JSON SBOM, as digested and served.")
    sbom_digest = models.CharField(max_length=71)
    # SLSA Provenance v1 of the image (releases.evidence.provenance): a DSSE envelope signed with the same key.
    # Empty for evidence written before provenance existed.
    provenance = models.TextField(blank=True, help_text="The SLSA Provenance v1 DSSE envelope, as signed and served.")
    provenance_digest = models.CharField(max_length=71, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    push_state = models.CharField(max_length=8, choices=Push.choices, default=Push.PENDING, db_index=True)
    push_attempts = models.PositiveIntegerField(default=0)
    push_next_at = models.DateTimeField(null=True, blank=True, help_text="When the sweep may try again.")
    push_lease_expires_at = models.DateTimeField(null=True, blank=True)
    push_mode = models.CharField(max_length=16, blank=True, help_text="referrers (OCI 1.1) or tag (cosign .att).")
    pushed_at = models.DateTimeField(null=True, blank=True)
    pushed = models.JSONField(default=dict, blank=True, help_text="What landed where: manifest digests and tags.")
    push_error = models.CharField(max_length=500, blank=True)

    objects = ReleaseEvidenceQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "release evidence"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"evidence of release #{self.release_id} ({self.subject_digest[:19]})"
