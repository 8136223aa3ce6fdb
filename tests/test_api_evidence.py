"""GET /api/releases/{id}/attestation/ and /sbom/: the stored bytes, read access as for the release detail."""
import hashlib

import pytest
from rest_framework.test import APIClient

from releases.evidence import dsse, keys
from releases.models import Release
from releases.statuses import Status
from tests.evidence_helpers import approved_waiver, complete, scanned_release
from tests.factories import make_release

pytestmark = pytest.mark.django_db
IMAGE = "registry.example:5000/models/fraud-detector"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def evidence(owner, advisories):
    approved_waiver()
    return complete(scanned_release(owner), f"{IMAGE}:v3", DIGEST)


@pytest.mark.parametrize("what, column", [("attestation", "envelope"), ("sbom", "sbom")])
def test_answers_the_stored_bytes(api, evidence, what, column):
    response = api.get(f"/api/releases/{evidence.release_id}/{what}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == getattr(evidence, column).encode()
    assert response["ETag"] == f'"{getattr(evidence, column + "_digest")}"'
    assert getattr(evidence, column + "_digest") == "sha256:" + hashlib.sha256(response.content).hexdigest()


def test_the_served_envelope_verifies(api, evidence):
    response = api.get(f"/api/releases/{evidence.release_id}/attestation/")
    assert dsse.verify_envelope(response.content, keys.signing_key().public_key(), DIGEST, IMAGE).ok


def test_another_role_holder_may_read_it(outsider_api, evidence):
    """Read access is the release detail's: anyone with a role reads every release (outsider is a requester)."""
    assert outsider_api.get(f"/api/releases/{evidence.release_id}/").status_code == 200
    assert outsider_api.get(f"/api/releases/{evidence.release_id}/attestation/").status_code == 200


@pytest.mark.parametrize("what", ["attestation", "sbom"])
def test_no_role_is_403_and_anonymous_is_refused_as_for_the_detail(stranger_api, evidence, what):
    detail = stranger_api.get(f"/api/releases/{evidence.release_id}/")
    response = stranger_api.get(f"/api/releases/{evidence.release_id}/{what}/")
    assert response.status_code == detail.status_code == 403
    assert b"payload" not in response.content
    anonymous = APIClient().get(f"/api/releases/{evidence.release_id}/{what}/")
    assert anonymous.status_code == APIClient().get(f"/api/releases/{evidence.release_id}/").status_code
    assert anonymous.status_code in (401, 403)


@pytest.mark.parametrize("what", ["attestation", "sbom"])
def test_404_without_evidence_and_for_no_such_release(api, owner, what):
    succeeded_before = make_release(owner, status=Status.SUCCEEDED)  # released before attestations existed
    response = api.get(f"/api/releases/{succeeded_before.pk}/{what}/")
    assert response.status_code == 404 and "no attestation" in response.json()["detail"]
    missing = (Release.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    assert api.get(f"/api/releases/{missing}/{what}/").status_code == 404


def test_both_are_in_the_openapi_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for what in ("attestation", "sbom"):
        operation = schema["paths"][f"/api/releases/{{id}}/{what}/"]["get"]
        assert {"200", "404"} <= set(operation["responses"])
    envelope = schema["components"]["schemas"]["AttestationEnvelope"]
    assert {"payloadType", "payload", "signatures"} <= set(envelope["properties"])


def test_a_release_built_again_answers_its_newest_evidence(api, evidence):
    """SUCCEEDED is final in the pipeline; a release written back to building and built again (a repair)
    gets evidence of its own build, and the endpoints answer the newest."""
    release = Release.objects.get(pk=evidence.release_id)
    Release.objects.filter(pk=release.pk).update(status=Status.BUILDING_IMAGE)
    newer = complete(Release.objects.get(pk=release.pk), f"{IMAGE}:v3-again", "sha256:" + "99" * 32)
    assert newer.pk != evidence.pk
    assert api.get(f"/api/releases/{release.pk}/attestation/").content == newer.envelope.encode()
