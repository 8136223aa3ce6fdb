"""Attestation and SBOM pushed next to the image: into the real docker-registry (cosign's .att/.sbom tags,
as it has no referrers API), and as OCI 1.1 referrers into a local server that speaks that API.
Delivered twice, pushed once; a registry that is down leaves an event and is tried again by the sweep."""
import json
import uuid
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from devtools import processes
from releases import registry
from releases.builds import image_check
from releases.evidence import push
from releases.evidence.dsse import PREDICATE_TYPE
from releases.models import ReleaseEvent, ReleaseEvidence
from releases.queue import SKIPPED
from tests.evidence_helpers import LOCK, approved_waiver, complete, scanned_release
from tests.fake_referrers_registry import referrers_registry

pytestmark = pytest.mark.django_db


def push_image(address: str, tag: str = "v3") -> tuple[str, str]:
    """A tiny real image (config + one layer) in a repository of its own (the registry lives for the session),
    pushed through the registry API; returns (repository, digest)."""
    name = f"models/fraud-{uuid.uuid4().hex[:12]}"
    repo = f"{address}/{name}"
    layer = registry.push_blob(repo, b"model bytes " + name.encode())
    config_bytes = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                                                                                  "diff_ids": [layer]}}).encode()
    config = registry.push_blob(repo, config_bytes)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": registry.OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config,
                                      "size": len(config_bytes)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer,
                                       "size": len(b"model bytes " + name.encode())}]}).encode()
    return repo, registry.put_manifest(repo, tag, manifest, registry.OCI_MANIFEST)


@pytest.fixture
def our_registry(settings, registry):
    settings.BUILD_REGISTRY = f"{registry.address}/models"
    settings.BUILD_REGISTRY_TLS_VERIFY = False
    return registry.address


@pytest.fixture
def released(owner, advisories, our_registry):
    approved_waiver()
    repo, digest = push_image(our_registry)
    return complete(scanned_release(owner, model_name=model_of(repo)), f"{repo}:v3", digest)


def model_of(repo: str) -> str:
    """The model whose repository (releases.builds.local.repository_for) `repo` is: a completion is checked
    against the release's own repository, so each test's image is its own model's."""
    return repo.rsplit("/", 1)[1]


def blob(repo: str, digest: str) -> bytes:
    ref = registry.parse_reference(repo)
    return requests.get(f"http://{ref.host}/v2/{ref.repository}/blobs/{digest}", timeout=10).content


def test_docker_registry_has_no_referrers_api_so_the_att_tag_is_used(released):
    repo, digest = released.subject_name, released.subject_digest
    assert not registry.supports_referrers(repo, digest)
    assert push.push_evidence(released.pk) == "pushed (tag)"
    att, _, _ = registry.get_manifest(repo, digest.replace(":", "-") + ".att")
    layers = json.loads(att)["layers"]
    assert [layer["mediaType"] for layer in layers] == ["application/vnd.dsse.envelope.v1+json"]
    assert layers[0]["annotations"]["predicateType"] == PREDICATE_TYPE
    assert blob(repo, layers[0]["digest"]) == released.envelope.encode()  # the very bytes that were signed
    sbom, _, _ = registry.get_manifest(repo, digest.replace(":", "-") + ".sbom")
    assert blob(repo, json.loads(sbom)["layers"][0]["digest"]) == released.sbom.encode()
    released.refresh_from_db()
    assert (released.push_state, released.push_mode) == ("pushed", "tag") and released.pushed_at
    assert ReleaseEvent.objects.filter(release_id=released.release_id, data__evidence_push="pushed").count() == 1


def test_delivered_twice_pushes_once(released, monkeypatch):
    puts = []
    real_put = registry.put_manifest
    monkeypatch.setattr(registry, "put_manifest", lambda *a, **k: puts.append(a[1]) or real_put(*a, **k))
    assert push.push_evidence(released.pk).startswith("pushed")
    assert push.push_evidence(released.pk) == SKIPPED
    assert len(puts) == 2  # one .att, one .sbom
    assert ReleaseEvent.objects.filter(release_id=released.release_id, data__evidence_push="pushed").count() == 1


def test_a_second_copy_running_meanwhile_finds_the_row_claimed(released):
    ReleaseEvidence.objects.filter(pk=released.pk).update(push_lease_expires_at=timezone.now() + timedelta(minutes=1))
    assert push.push_evidence(released.pk) == SKIPPED
    assert ReleaseEvidence.objects.get(pk=released.pk).push_state == "pending"


def test_a_push_repeated_after_a_crash_adds_nothing(released):
    """The registry took the push but our commit was lost (worker killed): the next push finds it there."""
    push.push_evidence(released.pk)
    ReleaseEvidence.objects.filter(pk=released.pk).update(push_state="pending")
    push.push_evidence(released.pk)
    att, _, _ = registry.get_manifest(released.subject_name, released.subject_digest.replace(":", "-") + ".att")
    assert len(json.loads(att)["layers"]) == 1


def test_a_digest_promoted_to_another_environment_carries_both_attestations(released, owner):
    push.push_evidence(released.pk)
    approved_waiver("PYSEC-2018-28")  # canary blocks HIGH
    second = complete(scanned_release(owner, env="canary", model_name=model_of(released.subject_name), lock=LOCK),
                      f"{released.subject_name}:canary",
                      released.subject_digest)
    push.push_evidence(second.pk)
    att, _, _ = registry.get_manifest(released.subject_name, released.subject_digest.replace(":", "-") + ".att")
    contents = [blob(released.subject_name, layer["digest"]) for layer in json.loads(att)["layers"]]
    assert contents == [released.envelope.encode(), second.envelope.encode()]


def test_registry_down_leaves_an_event_and_the_sweep_pushes_later(owner, advisories, settings, registry, monkeypatch):
    settings.BUILD_REGISTRY_TLS_VERIFY = False
    approved_waiver()
    dead = f"127.0.0.1:{processes.free_port()}"  # nothing listens there
    settings.BUILD_REGISTRY = f"{dead}/models"
    # The image was there when the build completed (its check passed); the registry went down after.
    monkeypatch.setattr(image_check, "check", lambda *args: image_check.OK)
    evidence = complete(scanned_release(owner), f"{dead}/models/fraud-detector:v3", "sha256:" + "12" * 32)
    assert push.push_evidence(evidence.pk) == "failed"
    evidence.refresh_from_db()
    assert evidence.push_state == "pending" and evidence.push_attempts == 1 and evidence.push_next_at > timezone.now()
    event = ReleaseEvent.objects.get(release_id=evidence.release_id, data__evidence_push="failed")
    assert "Could not push the attestation and SBOM" in event.message and "Trying again" in event.message
    assert push.push_pending() == "0 of 0 pushed"  # not due yet
    # The registry comes back (here: the session's registry takes that name), and the retry is due.
    repo, digest = push_image(registry.address)
    settings.BUILD_REGISTRY = f"{registry.address}/models"
    ReleaseEvidence.objects.filter(pk=evidence.pk).update(subject_name=repo, subject_digest=digest,
                                                          push_next_at=timezone.now() - timedelta(seconds=1))
    assert push.push_pending() == "1 of 1 pushed"
    assert ReleaseEvidence.objects.get(pk=evidence.pk).push_state == "pushed"


def test_an_image_outside_build_registry_is_not_pushed(owner, advisories, settings):
    """No completion records such an image any more (releases.builds.image_check refuses it; this test runs
    with that check stubbed, tests/conftest.py): the push still refuses to send credentials elsewhere."""
    settings.BUILD_REGISTRY = "registry.internal:5000/models"
    approved_waiver()
    evidence = complete(scanned_release(owner), "elsewhere.example/team/model:1", "sha256:" + "34" * 32)
    assert push.push_evidence(evidence.pk) == "skipped: not our registry"
    assert ReleaseEvidence.objects.get(pk=evidence.pk).push_state == "skipped"
    assert ReleaseEvent.objects.filter(release_id=evidence.release_id, data__evidence_push="skipped").exists()


def test_a_registry_with_the_referrers_api_gets_oci_1_1_referrers(owner, advisories, settings):
    approved_waiver()
    with referrers_registry() as (address, seen):
        settings.BUILD_REGISTRY, settings.BUILD_REGISTRY_TLS_VERIFY = f"{address}/models", False
        repo, digest = push_image(address)
        evidence = complete(scanned_release(owner, model_name=model_of(repo)), f"{repo}:v3", digest)
        assert push.push_evidence(evidence.pk) == "pushed (referrers)"
        found = registry.list_referrers(repo, digest, push.ATTESTATION_TYPE)
        assert len(found) == 1
        manifest = json.loads(registry.get_manifest(repo, found[0]["digest"])[0])
        assert manifest["subject"]["digest"] == digest and manifest["artifactType"] == push.ATTESTATION_TYPE
        ref = registry.parse_reference(repo)
        got = requests.get(f"http://{address}/v2/{ref.repository}/blobs/{manifest['layers'][0]['digest']}",
                           timeout=10).content
        assert got == evidence.envelope.encode()
        sboms = registry.list_referrers(repo, digest, "application/vnd.cyclonedx+json")
        assert len(sboms) == 1
        assert not any(".att" in line for line in seen)  # no fallback tag where the API exists
