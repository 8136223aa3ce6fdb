"""GET /api/releases/{id}/attestation/, /provenance/ and /sbom/: a SUCCEEDED release's signed evidence, as stored.

Both answer the exact bytes that were signed or digested (not a re-serialisation), so a client
can check them against the digests the attestation names. Read access is the release detail's
(CanReadGateway, ReleaseViewSet.visible_releases); 404 when the release has none (released
before attestations existed, or not SUCCEEDED).
"""
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from releases.models import ReleaseEvidence

ENVELOPE = inline_serializer("AttestationEnvelope", {
    "payloadType": serializers.CharField(),
    "payload": serializers.CharField(help_text="base64 of the in-toto Statement v1 (JSON)"),
    "signatures": serializers.ListField(child=inline_serializer("AttestationSignature", {
        "keyid": serializers.CharField(), "sig": serializers.CharField(help_text="base64 Ed25519 signature")})),
})
NONE_YET = "This release has no attestation: only releases that SUCCEEDED since attestations exist have one."


class ReleaseEvidenceActions:
    """Mixed into ReleaseViewSet, so both actions find the release exactly as the detail does."""

    def _evidence_text(self, column: str):
        release = self.get_object()  # 404 for a release the caller cannot see, as the detail
        return (ReleaseEvidence.objects.filter(release=release).order_by("-created_at", "-id")
                .values_list(column, f"{column}_digest").first())

    def _answer(self, column: str):
        found = self._evidence_text(column)
        if found is None:
            return Response({"detail": NONE_YET}, status=status.HTTP_404_NOT_FOUND)
        text, digest = found
        response = HttpResponse(text.encode("utf-8"), content_type="application/json")
        response["ETag"] = f'"{digest}"'
        response["Cache-Control"] = "private, no-cache"
        return response

    @extend_schema(responses={200: ENVELOPE, 404: OpenApiResponse(description=NONE_YET)})
    @action(detail=True, methods=["get"])
    def attestation(self, request, pk=None):
        """The release's signed attestation: a DSSE envelope (payloadType application/vnd.in-toto+json) of an
        in-toto Statement v1 about the image digest. Verify it offline with `manage.py verify_release
        IMAGE@DIGEST --key PUBLIC.pem --attestation FILE`."""
        return self._answer("envelope")

    @extend_schema(responses={200: ENVELOPE, 404: OpenApiResponse(description=NONE_YET)})
    @action(detail=True, methods=["get"])
    def provenance(self, request, pk=None):
        """The image's SLSA Provenance v1 (predicateType https://slsa.dev/provenance/v1), a DSSE envelope signed
        with the attestation's key: the build type and parameters, and the base image, dependency lock and model
        files it was built from, each by digest. `manage.py verify_release IMAGE@DIGEST --key PUBLIC.pem
        --provenance FILE` checks it offline."""
        found = self._evidence_text("provenance")
        if found is not None and not found[0]:  # evidence from before provenance existed
            return Response({"detail": NONE_YET}, status=status.HTTP_404_NOT_FOUND)
        return self._answer("provenance")

    @extend_schema(responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="CycloneDX 1.6 JSON"),
                              404: OpenApiResponse(description=NONE_YET)})
    @action(detail=True, methods=["get"])
    def sbom(self, request, pk=None):
        """The release's SBOM (CycloneDX 1.6 JSON): dependencies with purls and where they were read, the model
        and its files, and the vulnerabilities found with their VEX analysis state. Its SHA-256 is in the
        attestation."""
        return self._answer("sbom")
