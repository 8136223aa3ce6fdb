"""What the request form offers: model names, versions and aliases, read from MLflow's REST API.

The portal's browser never talks to MLflow; it asks the gateway, which asks MLflow here. These calls
run in the web process, so they use plain HTTP (MLflow's documented REST API, 2.0) with the same
timeouts as every MLflow call, and not the mlflow client (importing it costs 3.7 s and 200 MB).
Every answer is bounded: a result cap per call and a byte cap per response.
"""
import json
import os
import time
from dataclasses import dataclass

import requests
import urllib3
from django.conf import settings

from releases.mlflow_source import MlflowUnavailable, ModelNotFound

MAX_MODELS = 20  # names offered per autocomplete query
MAX_VERSIONS = 100  # newest versions listed for one model
MAX_RESPONSE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class ModelVersionInfo:
    version: str
    run_id: str
    created_at: int  # ms since the epoch, as MLflow gives it
    description: str


def _auth() -> dict:
    """The credentials the mlflow client would use (MLFLOW_TRACKING_TOKEN, or USERNAME/PASSWORD)."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"headers": {"Authorization": f"Bearer {token}"}}
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    return {"auth": (user, password)} if user and password else {}


def _get(path: str, params: dict) -> dict:
    url = settings.MLFLOW_TRACKING_URI.rstrip("/") + "/api/2.0/mlflow/" + path
    timeout = settings.MLFLOW_REQUEST_TIMEOUT_SECONDS
    try:
        with requests.get(url, params=params, timeout=timeout, stream=True, **_auth()) as response:
            body = _read_bounded(response, deadline=time.monotonic() + 2 * timeout)
            status = response.status_code
    # The body is read from urllib3 directly: its errors (a stall or a close mid-body) are not requests'.
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise MlflowUnavailable(f"MLflow could not be reached ({type(exc).__name__}).") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise MlflowUnavailable("MLflow's answer was larger than the gateway reads.")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise MlflowUnavailable(f"MLflow answered {status} with something that is not JSON.") from None
    if status == 404 or data.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
        raise ModelNotFound(str(data.get("message") or "Not found in the MLflow Model Registry.")[:300])
    if status != 200:
        raise MlflowUnavailable(f"MLflow answered {status} ({str(data.get('error_code') or '')[:80]}).")
    return data


def _read_bounded(response, deadline: float) -> bytes:
    """At most MAX_RESPONSE_BYTES + 1 bytes, by `deadline`: each read waits at most the request timeout,
    and a server trickling bytes cannot stretch the whole answer past the deadline."""
    chunks, size = [], 0
    while size <= MAX_RESPONSE_BYTES:
        if time.monotonic() > deadline:
            raise MlflowUnavailable("MLflow did not finish answering in time.")
        # read1: what has arrived (up to the size), so the deadline is checked while bytes trickle in.
        chunk = response.raw.read1(min(65536, MAX_RESPONSE_BYTES + 1 - size), decode_content=True)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _like_literal(text: str) -> str:
    """`text` inside an MLflow filter string: quotes doubled. (Names are validated before this; `_` and
    `%` stay wildcards, which only widens an autocomplete, and results are filtered again below.)"""
    return text.replace("'", "''")


def search_models(query: str) -> list[str]:
    """Registered model names containing `query` (case-insensitive), at most MAX_MODELS, sorted."""
    params = {"max_results": MAX_MODELS, "order_by": "name ASC"}
    if query:
        params["filter"] = f"name ILIKE '%{_like_literal(query)}%'"
    data = _get("registered-models/search", params)
    names = [str(m.get("name", "")) for m in data.get("registered_models", [])]
    return [n for n in names if query.casefold() in n.casefold()][:MAX_MODELS]


def aliases(name: str) -> dict[str, str]:
    """alias -> version of one registered model (ModelNotFound if there is no such model)."""
    model = _get("registered-models/get", {"name": name}).get("registered_model", {})
    return {str(a["alias"]): str(a["version"]) for a in model.get("aliases", []) if "alias" in a}


def versions(name: str) -> list[ModelVersionInfo]:
    """The newest MAX_VERSIONS versions of a model, newest first."""
    data = _get("model-versions/search", {"filter": f"name = '{_like_literal(name)}'",
                                          "max_results": MAX_VERSIONS, "order_by": "version_number DESC"})
    found = [ModelVersionInfo(str(v.get("version", "")), str(v.get("run_id", "") or ""),
                              int(v.get("creation_timestamp", 0) or 0), str(v.get("description", "") or "")[:500])
             for v in data.get("model_versions", [])]
    found.sort(key=lambda v: int(v.version) if v.version.isdigit() else 0, reverse=True)
    return found[:MAX_VERSIONS]
