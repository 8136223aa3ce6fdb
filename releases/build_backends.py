"""Build backends: start an image build for a release; completion comes back as a signed callback.

- webhook: POST a signed JSON build request to BUILD_WEBHOOK_URL (a Tekton Triggers
  EventListener or an Argo Events webhook), the release id as Idempotency-Key.
- gitlab: GitLab's pipeline trigger API, POST /projects/:id/trigger/pipeline with token,
  ref and variables.
- local: a daemonless buildah build pushed to an OCI registry (releases/local_build.py).
"""
import json
import time
import uuid
from dataclasses import dataclass

import requests
from django.conf import settings

from releases import signing


class BuildTriggerError(Exception):
    """The backend could not be asked to build (an operational failure: retryable)."""


@dataclass
class Started:
    external_id: str = ""
    log_url: str = ""
    completion: dict | None = None  # set by backends that build in place (local)


def build_request(build) -> dict:
    release = build.release
    report = release.scan_reports.order_by("-created_at", "-id").first()
    return {
        "build_id": build.pk, "release_id": release.pk, "attempt": build.attempt,
        "model_name": release.model_name, "model_version": release.model_version,
        "environment": release.environment.name, "mlflow_source": release.mlflow_source,
        "mlflow_download_uri": release.mlflow_download_uri, "mlflow_tracking_uri": settings.MLFLOW_TRACKING_URI,
        "scan_report_id": report.pk if report else None,
        "policy_version": report.policy.version if report and report.policy_id else None,
        "callback_url": settings.BUILD_CALLBACK_URL,
    }


def _post(url: str, **kwargs) -> requests.Response:
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
    raise BuildTriggerError(f"{url} did not accept the build request ({last}).")


def start_webhook(build) -> Started:
    if not settings.BUILD_WEBHOOK_URL or not settings.BUILD_CALLBACK_SECRETS:
        raise BuildTriggerError("BUILD_WEBHOOK_URL and BUILD_CALLBACK_SECRETS must be set for the webhook backend.")
    body = json.dumps(build_request(build), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": f"release-{build.release_id}",
               **signing.headers(settings.BUILD_CALLBACK_SECRETS[0], uuid.uuid4().hex, int(time.time()), body)}
    response = _post(settings.BUILD_WEBHOOK_URL, data=body, headers=headers)
    if response.status_code >= 300:
        raise BuildTriggerError(f"The build webhook answered HTTP {response.status_code}.")
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    return Started(external_id=str(answer.get("id") or answer.get("eventID") or "")[:256],
                   log_url=str(answer.get("log_url") or "")[:1024])


def start_gitlab(build) -> Started:
    if not (settings.GITLAB_URL and settings.GITLAB_PROJECT_ID and settings.GITLAB_TRIGGER_TOKEN):
        raise BuildTriggerError("GITLAB_URL, GITLAB_PROJECT_ID and GITLAB_TRIGGER_TOKEN must be set.")
    request = build_request(build)
    form = {"token": settings.GITLAB_TRIGGER_TOKEN, "ref": settings.GITLAB_REF}
    for key, value in request.items():
        form[f"variables[GATEWAY_{key.upper()}]"] = "" if value is None else str(value)
    url = f"{settings.GITLAB_URL.rstrip('/')}/api/v4/projects/{settings.GITLAB_PROJECT_ID}/trigger/pipeline"
    response = _post(url, data=form)
    if response.status_code != 201:
        raise BuildTriggerError(f"GitLab refused the pipeline trigger: HTTP {response.status_code}.")
    try:
        pipeline = response.json()
    except ValueError:
        raise BuildTriggerError("GitLab's answer was not JSON.") from None
    return Started(external_id=str(pipeline.get("id", ""))[:256], log_url=str(pipeline.get("web_url", ""))[:1024])


def start_local(build) -> Started:
    from releases.local_build import start_local as build_locally

    return build_locally(build)


BACKENDS = {"local": start_local, "webhook": start_webhook, "gitlab": start_gitlab}
