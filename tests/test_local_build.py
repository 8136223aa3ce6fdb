"""The local backend for real: buildah (vfs) builds the model image and pushes it to docker-registry."""

import pytest
import requests

from releases import steps
from releases.models import Build, Release
from releases.statuses import Status
from tests.factories import make_release
from tests.mlflow_models import CLEAN

pytestmark = [pytest.mark.django_db, pytest.mark.mlflow, pytest.mark.slow]
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json")


def fetched_release(owner, status=Status.BUILDING_IMAGE):
    release = make_release(owner, model_name=CLEAN, ref="2")
    assert steps.fetch_environment(release.pk) == "fetched"
    Release.objects.filter(pk=release.pk).update(status=status)
    return Release.objects.get(pk=release.pk)


def test_local_build_pushes_an_image_whose_digest_the_registry_confirms(owner, use_mlflow, local_builds):
    release = fetched_release(owner)
    assert steps.trigger_build(release.pk) == "succeeded"
    release.refresh_from_db()
    assert release.status == Status.SUCCEEDED, release.status_message
    repository = f"models/{CLEAN}"
    tag = f"v2-r{release.pk}-a1"
    assert release.image_reference == f"{local_builds.address}/{repository}:{tag}"
    manifest = requests.get(f"http://{local_builds.address}/v2/{repository}/manifests/{tag}",
                            headers={"Accept": MANIFEST_TYPES}, timeout=10)
    assert manifest.status_code == 200
    assert release.image_digest == manifest.headers["Docker-Content-Digest"]
    config_digest = manifest.json()["config"]["digest"]
    config = requests.get(f"http://{local_builds.address}/v2/{repository}/blobs/{config_digest}", timeout=10).json()
    labels = config["config"]["Labels"]
    assert labels["gateway.model.name"] == CLEAN and labels["gateway.model.version"] == "2"
    assert labels["gateway.release.id"] == str(release.pk)
    layers = manifest.json()["layers"]
    assert layers, "the model files are in the image"
    build = Build.objects.get(release=release)
    assert build.state == "succeeded" and build.image_digest == release.image_digest


def test_registry_refusing_the_push_is_a_failed_build(owner, use_mlflow, local_builds, settings):
    from devtools.processes import free_port

    settings.BUILD_REGISTRY = f"127.0.0.1:{free_port()}/models"  # nothing listens there
    release = fetched_release(owner)
    assert steps.trigger_build(release.pk) == "failed"
    release.refresh_from_db()
    assert release.status == Status.BUILD_FAILED and "buildah push failed" in release.status_message


def test_missing_registry_setting_is_an_operational_failure(owner, use_mlflow, local_builds, settings):
    settings.BUILD_REGISTRY = ""
    release = fetched_release(owner)
    steps.trigger_build(release.pk)
    release.refresh_from_db()
    assert release.status == Status.FAILED and "BUILD_REGISTRY must be set" in release.status_message


def test_alias_is_set_after_success_and_a_failure_is_only_an_event(owner, use_mlflow, settings):
    from mlflow.tracking import MlflowClient

    from releases.models import Environment, ReleaseEvent

    Environment.objects.filter(name="staging").update(mlflow_alias_on_success="staging-live")
    release = fetched_release(owner, status=Status.SUCCEEDED)
    assert steps.set_mlflow_alias(release.pk) == "set"
    client = MlflowClient(settings.MLFLOW_TRACKING_URI, settings.MLFLOW_TRACKING_URI)
    assert client.get_model_version_by_alias(CLEAN, "staging-live").version == "2"
    Environment.objects.filter(name="staging").update(mlflow_alias_on_success="v1")  # MLflow refuses "v<N>"
    assert steps.set_mlflow_alias(release.pk) == "failed"
    assert Release.objects.get(pk=release.pk).status == Status.SUCCEEDED
    event = ReleaseEvent.objects.filter(release=release).last()
    assert event.message.startswith("Could not set MLflow alias @v1") and event.data == {"alias": "v1", "set": False}
