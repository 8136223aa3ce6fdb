"""The `gitlab` backend: GitLab's pipeline trigger API (POST /projects/:id/trigger/pipeline).

The build request travels as pipeline variables GATEWAY_<KEY>; the pipeline reports back
through the signed callback like any other backend. Lists and objects (the scanned model files, the
serving recipe) travel as JSON.
"""
import json

from django.conf import settings

from releases.builds.base import BuildTriggerError, Started, build_request, post
from releases.models import Build


def start(build: Build) -> Started:
    if not (settings.GITLAB_URL and settings.GITLAB_PROJECT_ID and settings.GITLAB_TRIGGER_TOKEN):
        raise BuildTriggerError("GITLAB_URL, GITLAB_PROJECT_ID and GITLAB_TRIGGER_TOKEN must be set.")
    form = {"token": settings.GITLAB_TRIGGER_TOKEN, "ref": settings.GITLAB_REF}
    for key, value in build_request(build).items():
        structured = isinstance(value, (list, dict))
        form[f"variables[GATEWAY_{key.upper()}]"] = (
            "" if value is None else json.dumps(value, sort_keys=True) if structured else str(value))
    url = f"{settings.GITLAB_URL.rstrip('/')}/api/v4/projects/{settings.GITLAB_PROJECT_ID}/trigger/pipeline"
    response = post(url, data=form)
    if response.status_code != 201:
        raise BuildTriggerError(f"GitLab refused the pipeline trigger: HTTP {response.status_code}.")
    try:
        pipeline = response.json()
    except ValueError:
        raise BuildTriggerError("GitLab's answer was not JSON.") from None
    return Started(external_id=str(pipeline.get("id", ""))[:256], log_url=str(pipeline.get("web_url", ""))[:1024])
