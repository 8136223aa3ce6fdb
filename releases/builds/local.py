"""The `local` build backend: a real OCI image built without a Docker engine and pushed to a registry.

Debian's buildah with vfs storage (works as root, no daemon): FROM the configured base
image (default `scratch`: nothing can be pulled here; production sets a Python base, and
can build from `mlflow models generate-dockerfile` instead), COPY the model's MLflow
artifacts to /model, LABEL it with the model, version, release, scan report and policy
version, commit, push, and remove what was committed.

The build does not run in the worker's task: `start` (in the task) spawns
`manage.py run_local_build <id>` in a session of its own and returns at once, so the
build's own limits apply (BUILD_STEP_TIMEOUT_SECONDS per buildah call, BUILD_TIMEOUT_MINUTES
overall), not the task's, and a killed worker does not kill the build. The builder renews
Build.heartbeat_at while it works and reports through releases.builds.completion, the path
a remote CI system's callback takes. A builder that dies stops the heartbeat; the sweep
(releases.jobs) then closes its build as interrupted and starts the next attempt.

Every container is named `gateway-build-<build id>` and every committed image
`localhost/gateway-build-<build id>`, so what a killed builder left behind is found by name
and removed (`remove_leftovers`): the storage stays flat however many builds run.
"""
import hashlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from releases import leases, model_manifest
from releases.builds.base import BuildTriggerError, Started, build_request
from releases.builds.completion import record_completion
from releases.builds.repository import repository_for  # noqa: F401 (also imported from here: promote, tests)
from releases.locking import shipping
from releases.mlflow_source import apply_request_bounds
from releases.models import Build

log = logging.getLogger(__name__)
PREFIX = "gateway-build-"
OWN_NAME = re.compile(rf"(?:localhost/)?{PREFIX}(\d+)(?::latest)?")
MANAGE_PY = Path(settings.BASE_DIR) / "manage.py"


class BuildFailure(Exception):
    """The build itself failed: reported as a failed build (BUILD_FAILED), not an outage."""


def name_for(build_id: int) -> str:
    return f"{PREFIX}{build_id}"


# --- In the worker's task ---------------------------------------------------------------------

def start(build: Build) -> Started:
    """Spawn the builder for `build` (already committed, so the builder can read it) and return."""
    if not settings.BUILD_REGISTRY:
        raise BuildTriggerError("BUILD_REGISTRY must be set for the local backend.")
    logs = settings.BUILDAH_ROOT / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"build-{build.pk}.log", "ab") as out:
        try:
            proc = subprocess.Popen([sys.executable, str(MANAGE_PY), "run_local_build", str(build.pk)],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=settings.BASE_DIR, start_new_session=True)  # survives the worker
        except OSError as exc:
            raise BuildTriggerError(f"Could not start the local builder: {exc}") from None
    # Reap it when it ends, so a long-lived worker collects no zombies; if the worker dies first,
    # the builder is re-parented and goes on.
    threading.Thread(target=proc.wait, name=f"reap-build-{build.pk}", daemon=True).start()
    return Started(external_id=f"{socket.gethostname()}:{proc.pid}")


# --- In the builder process (manage.py run_local_build) -----------------------------------------

def run(build_id: int) -> str:
    """Build, push and report one build; returns the outcome reported ("succeeded"/"failed"/skipped)."""
    build = Build.objects.select_related("release__environment").filter(pk=build_id).first()
    if build is None or build.state != Build.State.RUNNING:
        return "not running"
    remove_leftovers()
    operational = False
    with leases.heartbeat(lambda: _beat(build_id), settings.LEASE_RENEW_SECONDS, f"build-{build_id}"):
        _beat(build_id)
        deadline = time.monotonic() + _time_left(build)
        try:
            completion = build_image(build, deadline)
        except BuildTriggerError as exc:  # MLflow down, buildah missing: retryable, not the build's fault
            completion, operational = {"status": "failed", "message": str(exc)}, True
        except BuildFailure as exc:
            completion = {"status": "failed", "message": str(exc)}
    record_completion(f"local-build-{build_id}", {"build_id": build_id, **completion}, operational=operational)
    return completion["status"]


def _time_left(build: Build) -> float:
    ends = build.started_at + timedelta(minutes=settings.BUILD_TIMEOUT_MINUTES)
    return max((ends - timezone.now()).total_seconds(), 1.0)


def _beat(build_id: int) -> bool:
    """Renew the heartbeat. A build closed meanwhile (interrupted, cancelled) is abandoned at once."""
    if Build.objects.filter(pk=build_id, state=Build.State.RUNNING).update(heartbeat_at=timezone.now()) == 1:
        return True
    if os.getpgid(0) == os.getpid():  # the detached builder: stop itself and its buildah children
        log.warning("build %s is no longer running; abandoning it", build_id)
        os.killpg(os.getpid(), signal.SIGKILL)
    return False


def build_image(build: Build, deadline: float) -> dict:
    release = build.release
    info = build_request(build)
    reference = f"{repository_for(release.model_name)}:v{release.model_version}-r{release.pk}-a{build.attempt}"
    name = name_for(build.pk)
    with tempfile.TemporaryDirectory(prefix=PREFIX) as tmp:
        model_dir = _download_model(release, Path(tmp) / "download")
        try:
            _buildah(["from", "--name", name,
                      "--pull-never" if settings.BUILD_BASE_IMAGE == "scratch" else "--pull",
                      settings.BUILD_BASE_IMAGE], deadline)
            _buildah(["copy", name, str(model_dir), "/model"], deadline)
            lock_sha256 = _ship_lock(release, name, Path(tmp), deadline)
            labels = {
                "org.opencontainers.image.title": release.model_name,
                "gateway.model.name": release.model_name, "gateway.model.version": release.model_version,
                "gateway.release.id": str(release.pk), "gateway.scan.report": str(info["scan_report_id"] or ""),
                "gateway.policy.version": str(info["policy_version"] or ""),
                "gateway.environment": release.environment.name,
                **({shipping.LOCK_LABEL: lock_sha256} if lock_sha256 else {}),
            }
            config = ["config", "--env", "MLFLOW_MODEL_URI=/model"]
            for key, value in labels.items():
                config += ["--label", f"{key}={value}"]
            _buildah(config + [name], deadline)
            image = _buildah(["commit", "--quiet", name, f"localhost/{name}"], deadline)
            digest_file = Path(tmp) / "digest"
            _buildah(["push", f"--tls-verify={'true' if settings.BUILD_REGISTRY_TLS_VERIFY else 'false'}",
                      "--digestfile", str(digest_file), f"localhost/{name}", f"docker://{reference}"], deadline)
            digest = digest_file.read_text().strip()
        finally:
            _remove(build.pk)  # pushed or not, nothing of this build stays in local storage
    Build.objects.filter(pk=build.pk).update(external_id=image[:256])
    return {"status": "succeeded", "image_reference": reference, "digest": digest,
            "dependency_lock_sha256": lock_sha256}


def _ship_lock(release, name: str, tmp: Path, deadline: float) -> str:
    """Put the release's lock in the image (and, on a base image with Python, install exactly it); its sha256.

    The bytes written are checked against the digest recorded at fetch time: the image ships the scanned lock."""
    try:
        lock, expected = shipping.shipped_lock(release), shipping.lock_digest(release)  # checked with the fetch event
    except shipping.LockMismatch as exc:
        raise BuildFailure(str(exc)) from None
    if lock is None:
        return ""
    path = tmp / shipping.LOCK_FILE
    path.write_bytes(lock.content.encode())
    if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise BuildFailure("the dependency lock does not match the digest recorded when it was scanned")
    _buildah(["copy", name, str(path), shipping.LOCK_PATH_IN_IMAGE], deadline)
    if settings.BUILD_BASE_IMAGE != "scratch":  # scratch has no Python to install with
        _buildah(["run", "--isolation", "chroot", name, "--", *shipping.install_command()], deadline)
    return expected


def _download_model(release, into: Path) -> Path:
    import mlflow.artifacts  # 3.7 s and 200 MB to import (measured): only when a build runs

    apply_request_bounds()
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=release.mlflow_download_uri, dst_path=str(into),
                                                    tracking_uri=settings.MLFLOW_TRACKING_URI)
    except Exception as exc:  # MLflow down or the artifacts gone: the build cannot run now
        # MLflow's text names its address: the log keeps it, the release says what happened
        log.warning("build of release %s: download from MLflow failed: %s", release.pk,
                    (str(exc).splitlines() or [""])[0][:500])
        raise BuildTriggerError(f"Could not download the model from MLflow ({type(exc).__name__}); "
                                "the build can be retried.") from None
    total = sum(f.stat().st_size for f in Path(local).rglob("*") if f.is_file())
    if total > settings.BUILD_MAX_MODEL_BYTES:
        raise BuildFailure(f"the model is {total} bytes, over BUILD_MAX_MODEL_BYTES={settings.BUILD_MAX_MODEL_BYTES}")
    try:
        model_manifest.verify(release, Path(local))  # build only the bytes that were scanned
    except model_manifest.ManifestMismatch as exc:
        raise BuildFailure(str(exc)) from None
    return Path(local)


def _buildah(args: list[str], deadline: float) -> str:
    """One buildah call, bounded by BUILD_STEP_TIMEOUT_SECONDS and by what is left of the whole build."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise BuildFailure(f"the build did not finish within {settings.BUILD_TIMEOUT_MINUTES} minutes")
    timeout = min(settings.BUILD_STEP_TIMEOUT_SECONDS, left)
    try:
        proc = _call(args, timeout)
    except subprocess.TimeoutExpired:
        raise BuildFailure(f"buildah {args[0]} did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        # buildah's text names the registry and paths: the build's log keeps it, the release says what failed
        log.error("buildah %s failed (exit %s): %s", args[0], proc.returncode, proc.stderr.strip()[-2000:])
        doing = {"push": "pushing the image to BUILD_REGISTRY", "from": "preparing the base image",
                 "copy": "copying the model in", "commit": "committing the image",
                 "run": "installing the dependency lock"}.get(args[0], args[0])
        raise BuildFailure(f"buildah failed while {doing} (exit {proc.returncode}); see the build log.")
    return proc.stdout.strip()


def _call(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    base = ["buildah", "--storage-driver", "vfs", "--root", str(settings.BUILDAH_ROOT / "storage"),
            "--runroot", str(settings.BUILDAH_ROOT / "run")]
    try:
        return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise BuildTriggerError("buildah is not installed (Debian package `buildah`).") from None


# --- Cleanup --------------------------------------------------------------------------------------

def _remove(build_id: int) -> None:
    """Remove the build's container and committed image, if there are any (best effort)."""
    name = name_for(build_id)
    _call(["rm", name], 60)
    _call(["rmi", "--force", f"localhost/{name}"], 60)


def leftovers() -> dict[str, set[int]]:
    """Build ids that own a container or an image in local storage, by kind."""
    found: dict[str, set[int]] = {"containers": set(), "images": set()}
    listings = {"containers": ["containers", "--format", "{{.ContainerName}}"],
                "images": ["images", "--format", "{{.Name}}:{{.Tag}}"]}
    for kind, args in listings.items():
        try:
            proc = _call(args, 60)
        except BuildTriggerError:
            return found
        for line in proc.stdout.split():
            match = OWN_NAME.fullmatch(line.strip())
            if match:
                found[kind].add(int(match.group(1)))
    return found


def remove_leftovers() -> int:
    """Remove what builds that are no longer running left in local storage (a builder killed mid-build)."""
    owners = set().union(*leftovers().values())
    running = set(Build.objects.filter(pk__in=owners, state=Build.State.RUNNING).values_list("pk", flat=True))
    for build_id in owners - running:
        _remove(build_id)
    return len(owners - running)
