"""The `local` build backend: a real OCI image built without a Docker engine and pushed to a registry.

Debian's buildah with vfs storage (works as root, no daemon): FROM the configured base
image (default `scratch`: nothing can be pulled here; production sets a Python base, and
can build from `mlflow models generate-dockerfile` instead), COPY the model's MLflow
artifacts to /model, LABEL it with the model, version, release, scan report and policy
version, commit, and push. It runs in the worker, and reports completion through the
same path as a remote CI system's callback.
"""
import re
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings

from releases.builds.base import BuildTriggerError, Started, build_request
from releases.mlflow_source import apply_request_bounds
from releases.models import Build


def _run(args: list[str], timeout: float) -> str:
    base = ["buildah", "--storage-driver", "vfs", "--root", str(settings.BUILDAH_ROOT / "storage"),
            "--runroot", str(settings.BUILDAH_ROOT / "run")]
    try:
        proc = subprocess.run(base + args, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise BuildTriggerError("buildah is not installed (Debian package `buildah`).") from None
    except subprocess.TimeoutExpired:
        raise BuildFailure(f"buildah {args[0]} did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        raise BuildFailure(f"buildah {args[0]} failed: {(proc.stderr.strip().splitlines() or [''])[-1][:300]}")
    return proc.stdout.strip()


class BuildFailure(Exception):
    """The build itself failed: reported as a failed build (BUILD_FAILED), not an outage."""


def repository_for(model_name: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", model_name.lower()).strip("-._") or "model"
    return f"{settings.BUILD_REGISTRY.rstrip('/')}/{slug}"


def _download_model(release, into: Path) -> Path:
    import mlflow.artifacts  # 3.7 s and 200 MB to import (measured): only when a build runs

    apply_request_bounds()
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=release.mlflow_download_uri, dst_path=str(into),
                                                    tracking_uri=settings.MLFLOW_TRACKING_URI)
    except Exception as exc:  # MLflow down or the artifacts gone: the build cannot run now
        raise BuildTriggerError(f"Could not download the model from MLflow: {str(exc).splitlines()[0][:200]}") from None
    total = sum(f.stat().st_size for f in Path(local).rglob("*") if f.is_file())
    if total > settings.BUILD_MAX_MODEL_BYTES:
        raise BuildFailure(f"the model is {total} bytes, over BUILD_MAX_MODEL_BYTES={settings.BUILD_MAX_MODEL_BYTES}")
    return Path(local)


def start(build: Build) -> Started:
    if not settings.BUILD_REGISTRY:
        raise BuildTriggerError("BUILD_REGISTRY must be set for the local backend.")

    release = build.release
    info = build_request(build)
    repository = repository_for(release.model_name)
    tag = f"v{release.model_version}-r{release.pk}-a{build.attempt}"
    reference = f"{repository}:{tag}"
    timeout = settings.BUILD_STEP_TIMEOUT_SECONDS
    with tempfile.TemporaryDirectory(prefix="gateway-build-") as tmp:
        try:
            model_dir = _download_model(release, Path(tmp) / "download")
            container = _run(["from", "--pull-never" if settings.BUILD_BASE_IMAGE == "scratch" else "--pull",
                              settings.BUILD_BASE_IMAGE], timeout)
            try:
                _run(["copy", container, str(model_dir), "/model"], timeout)
                labels = {
                    "org.opencontainers.image.title": release.model_name,
                    "gateway.model.name": release.model_name, "gateway.model.version": release.model_version,
                    "gateway.release.id": str(release.pk), "gateway.scan.report": str(info["scan_report_id"] or ""),
                    "gateway.policy.version": str(info["policy_version"] or ""),
                    "gateway.environment": release.environment.name,
                }
                config = ["config", "--env", "MLFLOW_MODEL_URI=/model"]
                for key, value in labels.items():
                    config += ["--label", f"{key}={value}"]
                _run(config + [container], timeout)
                image = _run(["commit", "--quiet", container, reference], timeout)
                digest_file = Path(tmp) / "digest"
                _run(["push", f"--tls-verify={'true' if settings.BUILD_REGISTRY_TLS_VERIFY else 'false'}",
                      "--digestfile", str(digest_file), reference, f"docker://{reference}"], timeout)
                digest = digest_file.read_text().strip()
            finally:
                subprocess.run(["buildah", "--storage-driver", "vfs", "--root", str(settings.BUILDAH_ROOT / "storage"),
                                "--runroot", str(settings.BUILDAH_ROOT / "run"), "rm", container],
                               capture_output=True, timeout=60, check=False)
        except BuildFailure as exc:
            return Started(external_id="", completion={"status": "failed", "message": str(exc)})
    return Started(external_id=image[:256], completion={"status": "succeeded", "image_reference": reference,
                                                         "digest": digest})
