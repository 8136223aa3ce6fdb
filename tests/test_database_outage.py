"""While the database cannot be reached, every request gets 503 + Retry-After (JSON for the API),
never a 500: clients can tell an outage from a bug. The connection settings are pointed at a
database that is not there (a closed port; for SQLite, a file that cannot be opened)."""
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test import Client

from devtools.processes import free_port
from tests.conftest import token_client


@contextmanager
def database_unreachable():
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-dir/gateway.sqlite3"
    else:
        connection.settings_dict["PORT"] = str(free_port())
        connection.settings_dict["OPTIONS"] = {**saved.get("OPTIONS", {}), "connect_timeout": 2}
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_api_and_pages_answer_503_with_retry_after_during_an_outage(owner, restored_environments):
    api = token_client(owner)
    portal = Client(raise_request_exception=False)
    portal.force_login(owner)
    api.raise_request_exception = False
    with database_unreachable():
        for response in (api.get("/api/releases/"), api.get("/api/releases/1/"),
                         api.post("/api/releases/", {"model_name": "m", "model_version": "1",
                                                     "target_environment": "staging"}, format="json")):
            assert response.status_code == 503
            assert response["Content-Type"] == "application/json"
            assert response.json() == {"detail": "The database is unavailable; try again shortly."}
            assert int(response["Retry-After"]) > 0
        page = portal.get("/releases")
        assert page.status_code == 503 and int(page["Retry-After"]) > 0
        assert b"Traceback" not in page.content and b"5432" not in page.content
    # and back: the same clients work again without a restart
    assert api.get("/api/releases/").status_code == 200


def test_a_bug_is_still_a_500_not_an_outage(rf):
    from gateway_project.errors import server_error

    request = rf.get("/api/releases/")
    try:
        raise KeyError("a bug")
    except KeyError:
        response = server_error(request)
    assert response.status_code == 500 and "Retry-After" not in response
    assert b"a bug" not in response.content


@pytest.mark.django_db(transaction=True)
def test_an_outage_is_logged_one_line_a_request_without_tracebacks(owner, restored_environments, caplog):
    api = token_client(owner)
    api.raise_request_exception = False
    with database_unreachable():
        for _ in range(3):
            assert api.get("/api/releases/").status_code == 503
    refused = [r for r in caplog.records if r.name == "django.request" and getattr(r, "status_code", 0) == 503]
    assert len(refused) == 3 and all(r.exc_info is None for r in refused)
