"""What every build backend shares: the build request it sends, and how it reports starting.

A backend's `start(build)` returns `Started`, or raises BuildTriggerError when it could not be
asked to build (an operational failure: the release goes to FAILED and can be retried).
"""
import logging
import time
from dataclasses import dataclass

import requests
from django.conf import settings

import releases.builds.serving as serving
from releases.builds.repository import repository_for
from releases.locking import shipping
from releases.model_manifest import ManifestMismatch, manifest_digest, required
from releases.models import Build, ScanReport

log = logging.getLogger(__name__)


class BuildTriggerError(Exception):
    """The backend could not be asked to build (an operational failure: retryable). `detail`: the
    address and the library's words, for staff (ReleaseEvent.STAFF_DETAIL)."""

    detail = ""


@dataclass
class Started:
    external_id: str = ""
    log_url: str = ""


def build_request(build: Build) -> dict:
    """The facts a builder needs, and the evidence the image is built on (scan report, policy version)."""
    release = build.release
    report = ScanReport.objects.latest_for(release)
    try:
        files = required(release)
        lock_fields = shipping.request_fields(release)  # the lock re-derived and checked against the fetch event
    except (ManifestMismatch, shipping.LockMismatch) as exc:  # a builder would build what was not scanned
        raise BuildTriggerError(f"Not built: {exc}.") from None
    return {
        "build_id": build.pk, "release_id": release.pk, "attempt": build.attempt,
        "model_name": release.model_name, "model_version": release.model_version,
        "environment": release.environment.name, "mlflow_source": release.mlflow_source,
        "mlflow_download_uri": release.mlflow_download_uri, "mlflow_tracking_uri": settings.MLFLOW_TRACKING_URI,
        "scan_report_id": report.pk if report else None,
        "policy_version": report.policy.version if report and report.policy_id else None,
        "callback_url": settings.BUILD_CALLBACK_URL,
        # Where the image must be pushed: a completion naming any other place is refused (image_check).
        "image_repository": repository_for(release.model_name) if settings.BUILD_REGISTRY else "",
        # What was scanned is what ships: install exactly this lock (README, "Ship the lock").
        **lock_fields,
        # The serving image's recipe, so a CI system builds what the local backend would ("The serving image").
        **serving.request_fields(),
        # What was scanned, file by file: the CI system builds only if its download matches (README).
        "model_files": files, "model_files_sha256": manifest_digest(files),
    }


def post(url: str, **kwargs) -> requests.Response:
    """POST with bounded retries on connection errors and 5xx; a 4xx is the caller's to judge."""
    last = None
    for attempt in range(settings.BUILD_TRIGGER_RETRIES + 1):
        try:
            response = requests.post(url, timeout=settings.BUILD_TRIGGER_TIMEOUT_SECONDS, **kwargs)
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}: {str(exc)[:200]}"
        else:
            if response.status_code < 500:
                return response
            last = f"HTTP {response.status_code}"
        time.sleep(min(2 ** attempt, 5) * 0.5)
    # The URL and the library's text are for the log; the release's users see what failed.
    log.warning("build request to %s failed: %s", url, last)
    failure = BuildTriggerError(f"The build service did not accept the build request ({last.split(':')[0]}).")
    failure.detail = f"{url}: {last}"
    raise failure
