"""The image attested is the image that exists (issue 25, item 6): an attacker holding the callback secret reports
an image. Before anything is SUCCEEDED, the completion path (releases.builds.image_check, called by
record_completion) reads the manifest by digest from the release's own repository in BUILD_REGISTRY, on the
session's real docker-registry. Remote callbacks, the local builder and promotions all pass through it
(test_local_build.py and test_build_once.py run it for the other two)."""
import hashlib
import json
import time
import uuid

import pytest
from rest_framework.test import APIClient

from devtools import processes
from releases import registry, signing
from releases.builds.completion import record_completion
from releases.builds.local import repository_for
from releases.models import Build, Release, ReleaseEvidence
from releases.services import retry_release
from releases.statuses import Status, Step
from tests.factories import make_release

pytestmark = pytest.mark.django_db
SECRET = "image-integrity-secret-0123456789"
NEVER_PUSHED = "sha256:" + hashlib.sha256(b"never pushed anywhere").hexdigest()


@pytest.fixture
def our_registry(settings, registry):
    settings.BUILD_REGISTRY = f"{registry.address}/models"
    settings.BUILD_REGISTRY_TLS_VERIFY = False
    settings.BUILD_CALLBACK_SECRETS = [SECRET]
    return registry


def push_image(repository: str, tag: str = "v3") -> str:
    """A tiny real image (config + one layer) pushed with the registry client; returns its digest."""
    layer = f"model bytes {uuid.uuid4().hex}".encode()
    config = json.dumps({"architecture": "amd64", "os": "linux", "layer": layer.decode()}).encode()
    config_digest, layer_digest = registry.push_blob(repository, config), registry.push_blob(repository, layer)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": registry.OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": config_digest, "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                                       "size": len(layer)}]}).encode()
    return registry.put_manifest(repository, tag, manifest, registry.OCI_MANIFEST)


@pytest.fixture
def build(owner, our_registry):
    """A release building on the webhook backend, with a model name of its own (its own repository)."""
    release = make_release(owner, status=Status.BUILDING_IMAGE, model_name=f"fraud-{uuid.uuid4().hex[:10]}",
                           model_version="3")
    return Build.objects.create(release=release, backend="webhook")


def callback(body: dict):
    raw = json.dumps(body).encode()
    headers = signing.headers(SECRET, uuid.uuid4().hex, int(time.time()), raw)
    return APIClient().post("/api/builds/callback/", raw, content_type="application/json",
                            **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})


def succeeded(build, image_reference: str, digest: str) -> dict:
    return {"build_id": build.pk, "status": "succeeded", "image_reference": image_reference, "digest": digest}


def outcome(build) -> tuple[Release, Build]:
    return Release.objects.get(pk=build.release_id), Build.objects.get(pk=build.pk)


def test_an_image_pushed_to_the_releases_repository_succeeds(build):
    repository = repository_for(build.release.model_name)
    digest = push_image(repository)
    assert callback(succeeded(build, f"{repository}:v3", digest)).status_code == 200
    release, done = outcome(build)
    assert release.status == Status.SUCCEEDED, release.status_message
    assert (release.image_reference, release.image_digest) == (f"{repository}:v3", digest)
    assert ReleaseEvidence.objects.filter(release=release, subject_digest=digest).exists()


def test_a_digest_never_pushed_is_a_failed_build_not_attested(build, our_registry):
    repository = repository_for(build.release.model_name)
    push_image(repository)  # the repository exists; this digest is not in it
    assert callback(succeeded(build, f"{repository}:v3", NEVER_PUSHED)).status_code == 200
    release, done = outcome(build)
    assert release.status == Status.BUILD_FAILED
    assert "the reported image is refused: the registry has no image" in release.status_message
    assert f"models/{build.release.model_name}@{NEVER_PUSHED}" in release.status_message
    assert "never pushed" in release.status_message
    assert our_registry.address not in release.status_message  # the registry's address stays out of it
    assert done.state == Build.State.FAILED and not ReleaseEvidence.objects.filter(release=release).exists()
    assert not release.image_digest


def test_a_digest_in_a_repository_that_does_not_exist_is_refused(build):
    repository = repository_for(build.release.model_name)  # nothing was ever pushed for this model
    assert callback(succeeded(build, f"{repository}:v3", NEVER_PUSHED)).status_code == 200
    release, _ = outcome(build)
    assert release.status == Status.BUILD_FAILED and "never pushed" in release.status_message


def test_an_image_on_another_registry_is_refused_even_if_the_digest_exists_here(build, our_registry):
    digest = push_image(repository_for(build.release.model_name))
    elsewhere = f"127.0.0.1:{processes.free_port()}/models/{build.release.model_name}"
    assert callback(succeeded(build, f"{elsewhere}:v3", digest)).status_code == 200
    release, _ = outcome(build)
    assert release.status == Status.BUILD_FAILED
    assert "on another registry than the gateway's (BUILD_REGISTRY)" in release.status_message
    assert our_registry.address not in release.status_message
    assert not ReleaseEvidence.objects.filter(release=release).exists()


def test_an_image_in_another_models_repository_is_refused(build, our_registry):
    other = f"{our_registry.address}/models/someone-elses-model"
    digest = push_image(other)
    assert callback(succeeded(build, f"{other}:v3", digest)).status_code == 200
    release, _ = outcome(build)
    assert release.status == Status.BUILD_FAILED
    assert (f"in repository models/someone-elses-model, not in this model's repository "
            f"models/{build.release.model_name}") in release.status_message


def test_a_reference_naming_another_digest_is_refused(build):
    repository = repository_for(build.release.model_name)
    digest, other = push_image(repository), push_image(repository, tag="other")
    assert callback(succeeded(build, f"{repository}@{other}", digest)).status_code == 200
    release, _ = outcome(build)
    assert release.status == Status.BUILD_FAILED and f"names digest {other}" in release.status_message


def test_a_registry_outage_during_the_check_is_an_operational_failure(build, settings):
    dead = f"127.0.0.1:{processes.free_port()}"  # nothing listens there
    settings.BUILD_REGISTRY, settings.BUILD_REGISTRY_TIMEOUT_SECONDS = f"{dead}/models", 2
    reference = f"{dead}/models/{build.release.model_name}:v3"
    assert callback(succeeded(build, reference, NEVER_PUSHED)).status_code == 200
    release, done = outcome(build)
    assert release.status == Status.FAILED and release.failed_step == Step.BUILD  # retryable, not BUILD_FAILED
    assert "Could not check the reported image" in release.status_message
    assert "can be retried" in release.status_message and dead not in release.status_message
    assert done.state == Build.State.FAILED and not ReleaseEvidence.objects.filter(release=release).exists()
    assert retry_release(release, release.requested_by).status == Status.APPROVED  # retried: a new attempt


def test_no_build_registry_is_an_operational_failure(build, settings):
    settings.BUILD_REGISTRY = ""
    assert callback(succeeded(build, "registry.example:5000/models/m:v3", NEVER_PUSHED)).status_code == 200
    release, _ = outcome(build)
    assert release.status == Status.FAILED and release.failed_step == Step.BUILD
    assert "BUILD_REGISTRY must be set" in release.status_message


def test_the_local_builders_and_promotions_path_is_checked_too(build):
    """record_completion is what the local builder and promotions call: the same refusal, with no HTTP."""
    build.backend = "local"
    build.save()
    repository = repository_for(build.release.model_name)
    done = record_completion("local-build-x", {"build_id": build.pk, "status": "succeeded",
                                               "image_reference": f"{repository}:v3-r1-a1", "digest": NEVER_PUSHED})
    assert done.outcome.value == "recorded"
    release, _ = outcome(build)
    assert release.status == Status.BUILD_FAILED and "never pushed" in release.status_message


def test_a_failed_build_report_asks_the_registry_nothing(build, settings, monkeypatch):
    monkeypatch.setattr(registry, "get_manifest", lambda *a, **k: pytest.fail("asked the registry"))
    assert callback({"build_id": build.pk, "status": "failed", "message": "tests failed"}).status_code == 200
    assert outcome(build)[0].status == Status.BUILD_FAILED


def test_a_report_for_a_build_that_is_not_running_asks_the_registry_nothing(build, monkeypatch):
    Release.objects.filter(pk=build.release_id).update(status=Status.CANCELLED)
    Build.objects.filter(pk=build.pk).update(state=Build.State.FAILED)
    monkeypatch.setattr(registry, "get_manifest", lambda *a, **k: pytest.fail("asked the registry"))
    assert callback(succeeded(build, "registry.example:5000/models/m:v3", NEVER_PUSHED)).status_code == 409


def test_the_build_request_names_the_repository_to_push_to(build):
    from releases.builds.base import build_request
    from tests.factories import scanned_model_files

    scanned_model_files(build.release)
    assert build_request(build)["image_repository"] == repository_for(build.release.model_name)
