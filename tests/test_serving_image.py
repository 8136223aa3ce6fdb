"""The released image serves the model: built on the real base with buildah, pushed, started from its digest.

Real parts only: the base made by build_base_image (Debian + Python, cached under ~/.cache), the session's
registry and MLflow server, a real scikit-learn model, its lock resolved from PyPI with the serving runtime,
and MLflow's scoring server in the image. The first run on a machine also downloads the locked wheels
(about 90 MB, kept under ~/.cache) and makes the base (about a minute, once).
"""
import base64
import json
import time

import pytest
import requests

from releases import steps
from releases.builds import base_image, local, serving, smoke
from releases.evidence.stored import verify_stored
from releases.models import Build, DependencyLock, Release, ReleaseEvidence, ScanReport
from releases.statuses import Status
from tests.factories import make_release
from tests.serving import FAILING, SERVING, publish_base, register_serving_models

pytestmark = [pytest.mark.django_db, pytest.mark.mlflow, pytest.mark.slow]
MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture(scope="session")
def serving_base(registry, tmp_path_factory):
    return publish_base(registry.address, tmp_path_factory.getbasetemp() / "buildah",
                        tmp_path_factory.mktemp("base") / "base-image.json")


@pytest.fixture(scope="session")
def serving_models(mlflow_server):
    return register_serving_models(mlflow_server.url)


@pytest.fixture
def serving_builds(settings, local_builds, serving_base, use_mlflow, serving_models):
    settings.BUILD_BASE_IMAGE = serving_base.reference
    settings.PACKAGE_INDEX_URL = "https://pypi.org/simple"
    return serving_base


def fetched(owner, model_name: str, scanned: bool = False) -> Release:
    """Fetched (and, if `scanned`, scanned against the synced advisories), then building."""
    release = make_release(owner, model_name=model_name, ref="1")
    assert steps.fetch_environment(release.pk) == "fetched"
    if scanned:
        assert steps.scan_dependencies(release.pk) == "passed", Release.objects.get(pk=release.pk).status_message
    Release.objects.filter(pk=release.pk).update(status=Status.BUILDING_IMAGE)
    return Release.objects.get(pk=release.pk)


def build_here(release) -> str:
    """What `manage.py run_local_build` does, in this process (it must see this test's uncommitted rows)."""
    attempt = Build.objects.filter(release=release).count() + 1
    build = Build.objects.create(release=release, backend="local", attempt=attempt,
                                 dependency_lock_sha256=DependencyLock.objects.get(release=release).sha256)
    return local.run(build.pk)


def image_config(registry, release) -> dict:
    repository = release.image_reference.split("/", 1)[1].rsplit(":", 1)[0]
    base = f"http://{registry.address}/v2/{repository}"
    manifest = requests.get(f"{base}/manifests/{release.image_digest}", headers={"Accept": MANIFEST_TYPES},
                            timeout=10).json()
    return requests.get(f"{base}/blobs/{manifest['config']['digest']}", timeout=10).json()


def test_the_image_started_from_its_digest_answers_the_models_own_prediction(
        owner, serving_builds, serving_models, local_builds, advisories):
    release = fetched(owner, SERVING, scanned=True)
    lock = DependencyLock.objects.get(release=release)
    assert lock.resolved, lock.message
    assert "mlflow-skinny==3.17.2" in lock.content and "uvicorn==" in lock.content  # the server is locked too
    report = ScanReport.objects.latest_for(release)  # the base's OS packages were scanned with the model's
    assert report.base_image == serving_builds.reference
    os_packages = {d["name"] for d in report.dependencies if d["ecosystem"] == "Debian:12"}
    assert {"python3.11", "openssl", "glibc"} <= os_packages
    assert build_here(release) == "succeeded"
    release.refresh_from_db()
    assert release.status == Status.SUCCEEDED, release.status_message
    build = Build.objects.get(release=release)
    assert build.base_image == serving_builds.reference
    assert build.smoke_test["passed"] and build.smoke_test["endpoint"] == "/invocations"
    assert build.smoke_test["status"] == 200 and build.smoke_test["image"].endswith(release.image_digest)
    assert "Smoke-tested" in release.events.get(to_status=Status.SUCCEEDED).message
    # The SBOM covers the whole image: the base's OS packages (read from its dpkg database) beside the lock's.
    assert build.os_packages["distro"] == "debian-12"
    python = next(p for p in build.os_packages["packages"] if p["name"] == "python3.11-minimal")
    sbom = json.loads(ReleaseEvidence.objects.get(release=release).sbom)
    purls = {c.get("purl", "") for c in sbom["components"]}
    assert any(p.startswith(f"pkg:deb/debian/python3.11-minimal@{python['version'].replace('+', '%2B')}")
               for p in purls)
    assert any(p.startswith("pkg:pypi/scikit-learn@") for p in purls)
    assert any(p.startswith("pkg:pypi/uvicorn@") for p in purls)  # the server was scanned too
    # The SLSA provenance names the base, the lock and the model files by digest, and verifies.
    evidence = ReleaseEvidence.objects.get(release=release)
    provenance = json.loads(base64.b64decode(json.loads(evidence.provenance)["payload"]))
    built_from = {d["name"]: d["digest"]["sha256"] for d in
                  provenance["predicate"]["buildDefinition"]["resolvedDependencies"]}
    assert built_from == {"base-image": serving_builds.reference.split("@sha256:")[1],
                          "requirements.lock.txt": lock.sha256, "model-files": built_from["model-files"]}
    assert verify_stored(release).ok

    # Started again here, from the digest alone: its prediction is the model's own.
    _version, model, example = serving_models[SERVING]
    pushed = f"{release.image_reference.rsplit(':', 1)[0]}@{release.image_digest}"
    body = json.dumps({"dataframe_split": example.to_dict(orient="split")}).encode()
    result = smoke.run(pushed, 10**6, body, time.monotonic() + 300)
    assert result["passed"], result
    assert result["predictions"] == model.predict(example).tolist()

    config = image_config(local_builds, release)
    assert config["config"]["User"] == "10001:10001"  # the base's `model` user, not root
    assert f"{8080}/tcp" in config["config"]["ExposedPorts"]
    assert config["config"]["Entrypoint"] == serving.entrypoint()  # uvicorn, MLflow's scoring server app
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.base.digest"] == serving_builds.reference.split("@")[1]
    assert labels["gateway.dependency_lock.sha256"] == lock.sha256 and "gateway.healthcheck" in labels
    assert len(config["rootfs"]["diff_ids"]) == 3  # base, locked venv, model: a new version reuses the first two


def test_the_same_inputs_build_the_same_digest(owner, serving_builds, advisories):
    release = fetched(owner, SERVING, scanned=True)  # the scan reads the base's OS packages, which the build proves
    assert build_here(release) == "succeeded"
    release.refresh_from_db()
    first = release.image_digest
    assert first.startswith("sha256:")
    Release.objects.filter(pk=release.pk).update(status=Status.BUILDING_IMAGE)  # as a requested rebuild would
    assert build_here(release) == "succeeded"
    release.refresh_from_db()
    assert release.image_digest == first
    assert Build.objects.filter(release=release, state="succeeded").count() == 2


def test_a_model_whose_predict_raises_is_build_failed_with_the_servers_log(owner, serving_builds):
    release = fetched(owner, FAILING)
    assert build_here(release) == "failed"
    release.refresh_from_db()
    assert release.status == Status.BUILD_FAILED
    assert "failed its smoke test: /invocations answered HTTP" in release.status_message
    assert "Last lines of the container's log" in release.status_message
    error = Build.objects.get(release=release).error
    assert "ValueError: Input X contains NaN." in error  # scikit-learn's own words, from the container


def test_a_python_the_base_does_not_have_is_refused_before_anything_is_built(owner, serving_builds, local_builds,
                                                                            settings, tmp_path):
    """The same base relabelled as Python 3.12 (a new digest, so no cached dependency image applies)."""
    name, deadline = "gateway-test-py312", time.monotonic() + 120
    local._call(["rm", name], 60)
    try:
        local._buildah(["from", "--name", name, "--tls-verify=false", f"docker://{serving_builds.reference}"], deadline)
        local._buildah(["config", "--label", f"{base_image.PYTHON_LABEL}=3.12.1", name], deadline)
        local._buildah(["commit", "--quiet", "--timestamp", "0", name, f"localhost/{name}"], deadline)
        target = f"{settings.BUILD_REGISTRY}/base-py312"
        local._buildah(["push", "--tls-verify=false", "--digestfile", str(tmp_path / "digest"), f"localhost/{name}",
                        f"docker://{target}:1"], deadline)
    finally:
        local._call(["rm", name], 60)
        local._call(["rmi", "--force", f"localhost/{name}"], 60)
    settings.BUILD_BASE_IMAGE = f"{target}@{(tmp_path / 'digest').read_text().strip()}"
    release = fetched(owner, SERVING)
    assert build_here(release) == "failed"
    release.refresh_from_db()
    assert release.status == Status.BUILD_FAILED
    assert ("the model needs Python 3.11 (its lock was resolved for Python 3.11.7, from python_env.yaml or "
            "conda.yaml), and the base image BUILD_BASE_IMAGE has Python 3.12.1" in release.status_message)
    tags = requests.get(f"http://{local_builds.address}/v2/models/{SERVING}/tags/list", timeout=10).json()
    assert not [tag for tag in tags.get("tags") or [] if f"-r{release.pk}-" in tag]  # nothing was pushed


UNTRUSTED_SERVER = r'''
import json, os, socket
from http.server import BaseHTTPRequestHandler, HTTPServer

def attempt(what):
    try:
        return "succeeded: " + str(what())[:80]
    except Exception as exc:
        return "refused: " + type(exc).__name__

SEEN = {
    "connect_out": attempt(lambda: socket.create_connection(("1.1.1.1", 443), timeout=3)),
    "connect_host_database": attempt(lambda: socket.create_connection(("127.0.0.1", 5432), timeout=3)),
    "read_secret_file": attempt(lambda: open(os.environ.get("PROBE_SECRET", "SECRET_PATH")).read()),
    "read_host_process_environment": attempt(lambda: open("/proc/1/environ", "rb").read()),
    "processes_seen": sorted(open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")[0].decode("utf-8", "replace")
                             for p in os.listdir("/proc") if p.isdigit() and os.path.exists(f"/proc/{p}/cmdline")),
    "uid": os.getuid(),
    "gateway_variables": sorted(k for k in os.environ if "SECRET" in k or "DATABASE" in k),
}

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"\n")
    def do_POST(self):
        body = json.dumps({"predictions": SEEN}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers()
        self.wfile.write(body)

HTTPServer(("127.0.0.1", 8080), Handler).serve_forever()
'''


def test_the_model_under_smoke_test_can_reach_neither_the_network_nor_the_gateways_secrets(
        serving_builds, local_builds, settings, tmp_path, monkeypatch):
    secret = tmp_path / "secret_key"
    secret.write_text("the gateway's secret")
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret))
    script = tmp_path / "server.py"
    script.write_text(UNTRUSTED_SERVER.replace("SECRET_PATH", str(secret)))
    name, deadline = "gateway-test-untrusted", time.monotonic() + 300
    local._call(["rm", name], 60)
    try:
        local._buildah(["from", "--name", name, "--tls-verify=false", f"docker://{serving_builds.reference}"], deadline)
        local._buildah(["copy", name, str(script), "/srv/server.py"], deadline)
        local._buildah(["config", "--port", "8080/tcp", "--entrypoint", '["python3", "/srv/server.py"]', name],
                       deadline)
        local._buildah(["commit", "--quiet", name, f"localhost/{name}"], deadline)
        target = f"{settings.BUILD_REGISTRY}/untrusted"
        digest_file = tmp_path / "digest"
        local._buildah(["push", "--tls-verify=false", "--digestfile", str(digest_file), f"localhost/{name}",
                        f"docker://{target}:1"], deadline)
    finally:
        local._call(["rm", name], 60)
        local._call(["rmi", "--force", f"localhost/{name}"], 60)
    result = smoke.run(f"{target}@{digest_file.read_text().strip()}", 10**6 + 1, b"{}", deadline)
    assert result["passed"], result
    seen = result["predictions"]
    assert seen["connect_out"].startswith("refused") and seen["connect_host_database"].startswith("refused")
    assert seen["read_secret_file"] == "refused: FileNotFoundError"  # the image's files only
    assert seen["read_host_process_environment"].startswith("refused")
    assert seen["uid"] == base_image.UID and seen["gateway_variables"] == []
    # its own PID namespace: no host process (the gateway, its database, this test) is visible, with its arguments
    assert not any("pytest" in p or "postgres" in p or "gunicorn" in p for p in seen["processes_seen"]), seen
    assert len(seen["processes_seen"]) <= 6, seen["processes_seen"]
