"""The local backend for real: buildah (vfs) builds the model image and pushes it to docker-registry."""

import pytest
import requests

from releases import steps
from releases.builds import local
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


def build_here(release) -> str:
    """What `manage.py run_local_build` does, in this process (the spawned builder could not see this
    test's uncommitted rows; tests/test_worker_faults.py runs the real spawn through a qcluster)."""
    attempt = Build.objects.filter(release=release).count() + 1
    build = Build.objects.create(release=release, backend="local", attempt=attempt)
    return local.run(build.pk)


def storage_counts() -> tuple[int, int]:
    """(images, containers) in the local buildah storage."""
    counts = []
    for kind in ("images", "containers"):
        listed = local._call([kind, "--quiet"], 60)
        assert listed.returncode == 0, listed.stderr
        counts.append(len(listed.stdout.split()))
    return counts[0], counts[1]


def test_local_build_pushes_an_image_whose_digest_the_registry_confirms(owner, use_mlflow, local_builds):
    release = fetched_release(owner)
    assert build_here(release) == "succeeded"
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

    port = free_port()
    settings.BUILD_REGISTRY = f"127.0.0.1:{port}/models"  # nothing listens there
    release = fetched_release(owner)
    assert build_here(release) == "failed"
    release.refresh_from_db()
    assert release.status == Status.BUILD_FAILED
    assert "buildah failed while pushing the image to BUILD_REGISTRY" in release.status_message
    assert str(port) not in release.status_message  # the registry's address is in the build log only


def test_missing_registry_setting_is_an_operational_failure(owner, use_mlflow, local_builds, settings):
    settings.BUILD_REGISTRY = ""
    release = fetched_release(owner)
    assert steps.trigger_build(release.pk) == "failed"
    release.refresh_from_db()
    assert release.status == Status.FAILED and "BUILD_REGISTRY must be set" in release.status_message
    assert not Build.objects.filter(release=release, state="running").exists()


def test_mlflow_down_during_the_build_is_an_operational_failure(owner, use_mlflow, local_builds, settings):
    from tests.hanging import hanging_server

    release = fetched_release(owner)
    settings.MLFLOW_REQUEST_TIMEOUT_SECONDS, settings.MLFLOW_MAX_RETRIES = 1, 0
    with hanging_server() as hung:
        settings.MLFLOW_TRACKING_URI = hung
        assert build_here(release) == "failed"
    release.refresh_from_db()
    assert release.status == Status.FAILED and release.failed_step == "build", release.status_message
    assert "Could not download the model" in release.status_message


def test_storage_stays_flat_across_builds_and_a_killed_builders_leftovers_go(owner, use_mlflow, local_builds):
    """Each build removes its container and committed image; one left by a killed builder is
    removed by the next build. So neither `buildah images` nor `buildah containers` grows."""
    release = fetched_release(owner)
    assert build_here(release) == "succeeded"  # a first build: the storage is initialised
    before = storage_counts()
    # A builder killed after `commit`: its container and image stay behind, its build is closed.
    killed = Build.objects.create(release=release, backend="local", attempt=9, state="failed")
    name = local.name_for(killed.pk)
    assert local._call(["from", "--name", name, "--pull-never", "scratch"], 60).returncode == 0
    assert local._call(["commit", "--quiet", name, f"localhost/{name}"], 60).returncode == 0
    assert storage_counts() == (before[0] + 1, before[1] + 1)
    for _ in range(4):
        Release.objects.filter(pk=release.pk).update(status=Status.BUILDING_IMAGE)
        assert build_here(Release.objects.get(pk=release.pk)) == "succeeded"
        assert storage_counts() == before
    print(f"\nbuildah storage (images, containers): {before} before, {storage_counts()} after 5 builds and a leftover")
    assert local.leftovers() == {"containers": set(), "images": set()}


@pytest.fixture
def aliases_removed_after(mlflow_server, use_mlflow):
    """The session's MLflow is shared by every test of this process, in any order (pytest-xdist): the
    aliases a test sets on it are removed when it ends (tests/test_api_portal.py reads CLEAN's aliases)."""
    from mlflow.tracking import MlflowClient

    set_here: list[str] = []
    yield set_here
    client = MlflowClient(mlflow_server.url, mlflow_server.url)
    for alias in set_here:
        client.delete_registered_model_alias(CLEAN, alias)


def test_alias_is_set_after_success_and_a_failure_is_only_an_event(owner, use_mlflow, settings, aliases_removed_after):
    from mlflow.tracking import MlflowClient

    from releases.models import Environment, ReleaseEvent

    aliases_removed_after.append("staging-live")
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


def test_alias_step_claims_and_a_second_delivery_writes_nothing(owner, use_mlflow, settings, aliases_removed_after):
    from django.utils import timezone

    from releases.models import Environment, ReleaseEvent
    from releases.queue import SKIPPED

    aliases_removed_after.append("staging-twice")
    Environment.objects.filter(name="staging").update(mlflow_alias_on_success="staging-twice")
    release = fetched_release(owner, status=Status.SUCCEEDED)
    Release.objects.filter(pk=release.pk).update(lease_owner="another-worker",
                                                 lease_expires_at=timezone.now() + timezone.timedelta(minutes=1))
    assert steps.set_mlflow_alias(release.pk) == SKIPPED  # a copy running elsewhere holds it
    Release.objects.filter(pk=release.pk).update(lease_owner="", lease_expires_at=None)
    assert steps.set_mlflow_alias(release.pk) == "set"
    events = ReleaseEvent.objects.filter(release=release).count()
    assert steps.set_mlflow_alias(release.pk) == SKIPPED  # the task delivered again
    assert ReleaseEvent.objects.filter(release=release).count() == events
    assert ReleaseEvent.objects.filter(release=release, data__alias="staging-twice").count() == 1
    assert Release.objects.get(pk=release.pk).lease_owner == ""


@pytest.mark.parametrize("change,named", [
    ("changed", "model.pkl changed since it was scanned"),
    ("added", "extra.pkl was added after the scan"),
    ("removed", "model.pkl is missing"),
])
def test_a_model_file_changed_in_mlflow_after_the_scan_fails_the_build(owner, use_mlflow, mlflow_server,
                                                                      local_builds, change, named):
    from tests import malicious_artifacts as bad
    from tests.model_artifacts import model, register_files

    name = f"build-tamper-{change}"
    stored = register_files(mlflow_server, name, model("model.pkl", bad.harmless_pickle()))
    release = make_release(owner, model_name=name, ref="1")
    assert steps.fetch_environment(release.pk) == "fetched"
    Release.objects.filter(pk=release.pk).update(status=Status.BUILDING_IMAGE)
    if change == "changed":  # swapped in the artifact store for the payload the scan would have blocked
        (stored / "model.pkl").write_bytes(bad.os_system_pickle())
    elif change == "added":
        (stored / "extra.pkl").write_bytes(bad.os_system_pickle())
    else:
        (stored / "model.pkl").unlink()
    images_before = storage_counts()
    assert build_here(Release.objects.get(pk=release.pk)) == "failed"
    release.refresh_from_db()
    assert release.status == Status.BUILD_FAILED
    assert named in release.status_message and "not built" in release.status_message, release.status_message
    assert storage_counts() == images_before  # nothing was built
    assert Build.objects.get(release=release).state == "failed"
