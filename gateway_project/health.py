"""Liveness and readiness probes.

They are the only endpoints without authentication (orchestrators call them),
so they say which check failed but reveal no configuration or error details.
"""
import logging
from datetime import timedelta

import requests
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django_q.status import Stat

log = logging.getLogger(__name__)


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1
    except Exception:
        log.warning("readyz: database check failed", exc_info=True)
        return False


def _worker_ok() -> bool:
    oldest = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS)
    try:
        return any(stat.timestamp >= oldest and stat.status != "Stopped" for stat in Stat.get_all())
    except Exception:
        log.warning("readyz: worker check failed", exc_info=True)
        return False


def _mlflow_ok() -> bool:
    uri = settings.MLFLOW_TRACKING_URI or ""
    if not uri.startswith(("http://", "https://")):
        return True  # not an HTTP server (e.g. a local store): nothing to probe
    try:
        return requests.get(uri.rstrip("/") + "/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@require_GET
def readyz(request):
    checks = {"database": _database_ok(), "worker": _worker_ok(), "mlflow": _mlflow_ok()}
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": {k: "ok" if v else "fail" for k, v in checks.items()}}
    return JsonResponse(body, status=200 if ready else 503)
