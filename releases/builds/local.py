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

import releases.builds.base_image as base_image
import releases.builds.buildah as buildah
import releases.builds.deps_cache as deps_cache
import releases.builds.os_packages as os_packages
import releases.builds.serving as serving
import releases.builds.smoke as smoke
import releases.builds.wheels as wheels
from releases import leases, model_manifest
from releases.builds.base import BuildTriggerError, Started, build_request
from releases.builds.buildah import BuildFailure
from releases.builds.completion import record_completion
from releases.builds.repository import repository_for  # noqa: F401 (also imported from here: promote, tests)
from releases.locking import shipping
from releases.mlflow_source import apply_request_bounds
from releases.models import Build

log = logging.getLogger(__name__)
PREFIX = "gateway-build-"
DEPS_PREFIX = deps_cache.PREFIX  # localhost/gateway-deps:<key>: the base plus one lock's venv, kept for reuse
INSTALL_TIMEOUT_SECONDS = 900
# A build's working container and image, and its smoke test's container (releases.builds.smoke).
OWN_NAME = re.compile(rf"(?:localhost/)?(?:{PREFIX}|{smoke.PREFIX})(\d+)(?::latest)?")
MANAGE_PY = Path(settings.BASE_DIR) / "manage.py"


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
    """Build, push and report one build; returns the outcome recorded ("succeeded"/"failed"/skipped)."""
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
        except (BuildTriggerError, buildah.BuildahMissing, wheels.IndexUnavailable) as exc:
            # MLflow or the package index down, buildah missing: retryable, not the build's fault
            completion, operational = {"status": "failed", "message": str(exc)}, True
        except BuildFailure as exc:
            completion = {"status": "failed", "message": str(exc)}
    done = record_completion(f"local-build-{build_id}", {"build_id": build_id, **completion}, operational=operational)
    # what was recorded: a success the completion refuses (another lock, base or OS packages) is a failure
    return done.build.state if done.build is not None and done.build.state != Build.State.RUNNING \
        else completion["status"]


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
    """Build, push and smoke-test the release's image; the completion to record (see serving for the layers)."""
    release = build.release
    info = build_request(build)
    reference = f"{repository_for(release.model_name)}:v{release.model_version}-r{release.pk}-a{build.attempt}"
    name = name_for(build.pk)
    base = _base_reference()
    lock = _verified_lock(release)
    with tempfile.TemporaryDirectory(prefix=PREFIX) as tmp:
        model_dir = _download_model(release, Path(tmp) / "download")
        try:
            start_from = "scratch" if base == "scratch" else _deps_image(base, lock, deadline)
            _buildah(["from", "--name", name, "--pull-never", start_from], deadline)
            _buildah(["copy", "--chown", "0:0", name, str(model_dir), serving.MODEL_DIR], deadline)
            if lock is not None:
                path = Path(tmp) / shipping.LOCK_FILE
                path.write_bytes(lock.content.encode())
                _buildah(["copy", "--chown", "0:0", name, str(path), shipping.LOCK_PATH_IN_IMAGE], deadline)
            labels = _labels(release, info, base, lock)
            config = _files_only_config(labels) if base == "scratch" else serving.config_args(labels)
            _buildah(["config", *config, name], deadline)
            image = _buildah(["commit", "--quiet", "--timestamp", "0", name, f"localhost/{name}"], deadline)
            installed = _os_packages(name, deadline) if base != "scratch" else None
            digest_file = Path(tmp) / "digest"
            _buildah(["push", buildah.tls_flag(), "--digestfile", str(digest_file), f"localhost/{name}",
                      f"docker://{reference}"], deadline)
            digest = digest_file.read_text().strip()
            Build.objects.filter(pk=build.pk).update(external_id=image[:256])
            completion = {"status": "succeeded", "image_reference": reference, "digest": digest,
                          "dependency_lock_sha256": shipping.derived_digest(lock) if lock else "",
                          "base_image": "" if base == "scratch" else base, "os_packages": installed}
            if base == "scratch" or lock is None:
                return completion  # nothing can serve: no smoke result (a policy that requires one refuses it)
            # Pulled back by digest while the layers are still here: only the manifest and config travel.
            pushed = f"{reference.rsplit(':', 1)[0]}@{digest}"
            result = smoke.run(pushed, build.pk, smoke.example_of(model_dir), deadline)
        finally:
            _remove(build.pk)  # pushed or not, nothing of this build stays in local storage
    if not result.get("passed"):
        tail = result.get("log_tail", "")
        message = f"the image {pushed} failed its smoke test: {result.get('message', '')}"
        raise BuildFailure(message + (f"\nLast lines of the container's log:\n{tail}" if tail else ""))
    return {**completion, "smoke_test": smoke.stored(result)}


def _os_packages(name: str, deadline: float) -> dict:
    """What dpkg says the image holds (the base's packages), read from the mounted container, for the SBOM."""
    root = Path(_buildah(["mount", name], deadline))
    try:
        return os_packages.read_root(root)
    finally:
        _call(["umount", name], 60)


def _base_reference() -> str:
    """BUILD_BASE_IMAGE, already checked at start to be a digest reference or scratch."""
    if not settings.BUILD_BASE_IMAGE:
        raise BuildTriggerError("BUILD_BASE_IMAGE is not set: run `manage.py build_base_image` and set it to the "
                                "reference it prints (or to 'scratch' for files-only images).")
    return settings.BUILD_BASE_IMAGE


def _verified_lock(release):
    """The release's lock, checked against the digest its fetch event recorded (None: it ships no lock)."""
    try:
        return shipping.shipped_lock(release)
    except shipping.LockMismatch as exc:
        raise BuildFailure(str(exc)) from None


def _deps_image(base: str, lock, deadline: float) -> str:
    """The base plus the locked venv, committed once per (base, lock, recipe) and reused by later builds.

    Without a lock there is nothing to install: the base itself (the image will not serve)."""
    key = serving.deps_key(base, shipping.derived_digest(lock) if lock else "")
    image = f"localhost/{DEPS_PREFIX}{key[:32]}"
    if buildah.exists(image):
        if lock is not None:
            _check_python(buildah.image_config(image, deadline, kind="image"), lock)
        deps_cache.touch(image)
        return image
    work = f"gateway-deps-work-{key[:12]}-{os.getpid()}"
    _call(["rm", work], 60)
    try:
        _buildah(["from", "--name", work, buildah.tls_flag(), f"docker://{base}"], deadline)
        if lock is not None:
            _check_python(buildah.image_config(work, deadline), lock)
            wheel_dir = wheels.download(lock.content, lock.python_version, max(deadline - time.monotonic(), 1))
            with tempfile.TemporaryDirectory(prefix="gateway-lock-") as lock_dir:
                (Path(lock_dir) / shipping.LOCK_FILE).write_text(lock.content)
                _install(work, wheel_dir, Path(lock_dir), deadline)
        _buildah(["commit", "--quiet", "--timestamp", "0", work, image], deadline)
    finally:
        _call(["rm", work], 60)
    deps_cache.touch(image)
    deps_cache.prune()  # storage stays bounded: BUILD_DEPENDENCY_IMAGES_KEPT images at most, this one among them
    return image


def _install(work: str, wheel_dir: Path, lock_dir: Path, deadline: float) -> None:
    """pip in the image, with no network (`unshare --net`): only the mounted wheels, each checked by hash."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise BuildFailure(f"the build did not finish within {settings.BUILD_TIMEOUT_MINUTES} minutes")
    args = ["unshare", "--net", "--", *buildah.command(
        ["run", "--isolation", "chroot", "--user", "0:0", "-v", f"{wheel_dir}:/wheels:ro", "-v", f"{lock_dir}:/lock:ro",
         "--env", "SOURCE_DATE_EPOCH=0", "--env", "PIP_NO_CACHE_DIR=1", work, "--", "sh", "-c",
         serving.INSTALL_SCRIPT])]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=min(left, INSTALL_TIMEOUT_SECONDS),
                              check=False, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    except subprocess.TimeoutExpired:
        raise BuildFailure("installing the dependency lock did not finish in time") from None
    if proc.returncode != 0:
        log.error("installing the lock failed (exit %s): %s", proc.returncode, proc.stderr.strip()[-3000:])
        raise BuildFailure(f"installing the dependency lock failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-600:]}")


def _check_python(config: dict, lock) -> None:
    """The model's Python (the lock's target) must be the base's: another minor version is refused before
    anything is installed (`config`: the base's, or the dependency image's, which keeps the base's labels)."""
    have = (config.get("Labels") or {}).get(base_image.PYTHON_LABEL, "")
    if not have:
        raise BuildFailure(f"the base image does not say which Python it has (label {base_image.PYTHON_LABEL}); "
                           "use one made by `manage.py build_base_image`")
    if base_image.python_minor(have) != base_image.python_minor(lock.python_version):
        raise BuildFailure(f"the model needs Python {base_image.python_minor(lock.python_version)} (its lock was "
                           f"resolved for Python {lock.python_version}, from python_env.yaml or conda.yaml), and the "
                           f"base image BUILD_BASE_IMAGE has Python {have}")


def _labels(release, info: dict, base: str, lock) -> dict[str, str]:
    labels = {
        "org.opencontainers.image.title": release.model_name,
        "org.opencontainers.image.version": str(release.model_version),
        "org.opencontainers.image.description": f"MLflow model {release.model_name} version "
                                                f"{release.model_version}, served by MLflow's scoring server",
        "gateway.model.name": release.model_name, "gateway.model.version": release.model_version,
        "gateway.release.id": str(release.pk), "gateway.scan.report": str(info["scan_report_id"] or ""),
        "gateway.policy.version": str(info["policy_version"] or ""),
        "gateway.environment": release.environment.name, "gateway.recipe": serving.RECIPE_VERSION,
        **({shipping.LOCK_LABEL: shipping.derived_digest(lock)} if lock else {}),
    }
    if base != "scratch":
        name, _, digest = base.partition("@")
        labels.update({"org.opencontainers.image.base.name": name, "org.opencontainers.image.base.digest": digest})
    return labels


def _files_only_config(labels: dict[str, str]) -> list[str]:
    args = ["--env", f"MLFLOW_MODEL_URI={serving.MODEL_DIR}"]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    return args


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
    return buildah.run(args, deadline)


def _call(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return buildah.call(args, timeout)
    except buildah.BuildahMissing as exc:
        raise BuildTriggerError(str(exc)) from None


# --- Cleanup --------------------------------------------------------------------------------------

def _remove(build_id: int) -> None:
    """Remove the build's container and committed image, if there are any (best effort)."""
    name = name_for(build_id)
    _call(["rm", name], 60)
    _call(["rm", f"{smoke.PREFIX}{build_id}"], 60)
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
