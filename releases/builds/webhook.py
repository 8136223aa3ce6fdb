"""The `webhook` backend: POST a signed JSON build request to BUILD_WEBHOOK_URL.

A Tekton Triggers EventListener or an Argo Events webhook receives it; the release id is the
Idempotency-Key. The body carries the scanned model files (`model_files`, `model_files_sha256`): the
pipeline must build only a download that matches them. Completion comes back as a signed callback
(releases/api/builds.py).
"""
import json
import time
import uuid

from django.conf import settings

from releases import signing
from releases.builds.base import BuildTriggerError, Started, build_request, post
from releases.models import Build


def start(build: Build) -> Started:
    if not settings.BUILD_WEBHOOK_URL or not settings.BUILD_CALLBACK_SECRETS:
        raise BuildTriggerError("BUILD_WEBHOOK_URL and BUILD_CALLBACK_SECRETS must be set for the webhook backend.")
    body = json.dumps(build_request(build), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": f"release-{build.release_id}",
               **signing.headers(settings.BUILD_CALLBACK_SECRETS[0], uuid.uuid4().hex, int(time.time()), body)}
    response = post(settings.BUILD_WEBHOOK_URL, data=body, headers=headers)
    if response.status_code >= 300:
        raise BuildTriggerError(f"The build webhook answered HTTP {response.status_code}.")
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    return Started(external_id=str(answer.get("id") or answer.get("eventID") or "")[:256],
                   log_url=str(answer.get("log_url") or "")[:1024])
