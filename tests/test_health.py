"""Liveness and readiness probes (the only endpoints without authentication)."""
import pytest
from django.utils import timezone


def test_healthz_is_ok_without_authentication(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_healthz_refuses_post(client):
    assert client.post("/healthz").status_code == 405


@pytest.fixture
def live_worker(monkeypatch):
    """A cluster heartbeat as django-q2 stores it."""
    from django_q import status

    class FakeStat:
        timestamp = timezone.now()
        status = "Idle"

    monkeypatch.setattr(status.Stat, "get_all", staticmethod(lambda broker=None: [FakeStat()]))
    return FakeStat


def test_readyz_all_ok(client, db, settings, mlflow_server, live_worker):
    settings.MLFLOW_TRACKING_URI = mlflow_server.url
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "worker": "ok", "mlflow": "ok"}


def test_readyz_without_worker_heartbeat_is_503(client, db, settings, mlflow_server):
    settings.MLFLOW_TRACKING_URI = mlflow_server.url
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == "fail"


def test_readyz_with_stale_heartbeat_is_503(client, db, settings, mlflow_server, live_worker):
    from datetime import timedelta

    settings.MLFLOW_TRACKING_URI = mlflow_server.url
    live_worker.timestamp = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS + 5)
    assert client.get("/readyz").json()["checks"]["worker"] == "fail"


def test_readyz_with_mlflow_down_is_503_and_reveals_no_address(client, db, settings, live_worker):
    from devtools.processes import free_port

    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["mlflow"] == "fail"
    assert "127.0.0.1" not in response.content.decode()


def test_readyz_with_database_down_is_503(client, db, settings, mlflow_server, live_worker, monkeypatch):
    from gateway_project import health

    settings.MLFLOW_TRACKING_URI = mlflow_server.url

    class DownConnection:
        def cursor(self):
            raise RuntimeError("connection refused")

    monkeypatch.setattr(health, "connection", DownConnection())
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["database"] == "fail"
