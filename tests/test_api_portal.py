"""The API the portal adds: who am I, the MLflow catalog behind the request form (a real MLflow server),
and conditional GET of a release (ETag / If-None-Match) that live updates poll."""
import contextlib
import socket
import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.lifecycle import record_event, transition
from releases.statuses import Status
from tests.conftest import token_client
from tests.factories import make_release
from tests.hanging import hanging_server
from tests.lock_fixtures import with_lock
from tests.mlflow_models import CLEAN, VULNERABLE

pytestmark = pytest.mark.django_db


def test_me_says_what_the_caller_may_do(owner, stranger, api, stranger_api):
    body = api.get("/api/me/").json()
    assert body["username"] == "owner" and body["groups"] == ["requesters"]
    assert body["can_request"] and not body["is_security_officer"] and not body["can_manage_any"]
    nobody = stranger_api.get("/api/me/").json()
    assert not nobody["can_request"] and nobody["groups"] == []
    owner.groups.add(Group.objects.get(name="security-officers"))
    assert token_client(type(owner).objects.get(pk=owner.pk)).get("/api/me/").json()["is_security_officer"]


def test_me_needs_authentication(client):
    assert client.get("/api/me/").status_code in (401, 403)


@pytest.mark.mlflow
def test_model_search_autocompletes_from_mlflow(api, use_mlflow):
    body = api.get("/api/models/?q=MODEL").json()
    assert {CLEAN, VULNERABLE} <= set(body["results"])
    assert all("model" in name for name in body["results"])
    assert api.get("/api/models/?q=vulner").json()["results"] == [VULNERABLE]
    assert api.get("/api/models/?q=zzz-nothing").json()["results"] == []


@pytest.mark.mlflow
def test_model_detail_lists_versions_aliases_and_the_chain(api, owner, use_mlflow):
    # canary takes only a locked image (its policy requires a dependency lock): this one was locked
    with_lock(make_release(owner, status=Status.SUCCEEDED, model_name=CLEAN, ref="1", env="staging",
                           model_version="1"))
    body = api.get(f"/api/models/{CLEAN}/").json()
    assert [v["version"] for v in body["versions"]] == ["2", "1"]
    assert body["aliases"] == {"champion": "2"}
    assert body["versions"][0]["aliases"] == ["champion"]
    chain = {e["name"]: e for e in body["environments"]}
    assert chain["staging"]["any_version"] is True
    assert chain["canary"]["any_version"] is False and chain["canary"]["allowed_versions"] == ["1"]
    assert chain["production"]["allowed_versions"] == []


@pytest.mark.mlflow
def test_model_detail_counts_soak_time(api, owner, use_mlflow):
    from releases.models import Environment

    Environment.objects.filter(name="canary").update(min_soak_minutes=60)
    with_lock(make_release(owner, status=Status.SUCCEEDED, model_name=CLEAN, ref="2", env="staging",
                           model_version="2"))
    canary = {e["name"]: e for e in api.get(f"/api/models/{CLEAN}/").json()["environments"]}["canary"]
    assert canary["allowed_versions"] == [] and "2" in canary["soaking"]


@pytest.mark.mlflow
def test_model_detail_unknown_model_is_404(api, use_mlflow):
    response = api.get("/api/models/no-such-model/")
    assert response.status_code == 404
    assert "does not exist" in response.json()["detail"]


@pytest.mark.parametrize("query", ["a/b", "x" * 300, "'; DROP", "%00"])
def test_model_search_refuses_what_no_model_name_holds(api, query):
    response = api.get("/api/models/", {"q": query})
    assert response.status_code == 400 and "q" in response.json()


def test_model_detail_refuses_an_invalid_name(api):
    response = api.get("/api/models/..%20x/")
    assert response.status_code == 400


def test_catalog_is_for_requesters_only(stranger_api):
    assert stranger_api.get("/api/models/?q=a").status_code == 403
    assert stranger_api.get("/api/models/a/").status_code == 403


def test_mlflow_down_is_503_without_internal_details(api, settings):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens on the discard port
    response = api.get("/api/models/?q=a")
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert "127.0.0.1" not in response.content.decode()


def test_mlflow_hanging_is_bounded_by_the_request_timeout(api, settings):
    import time

    settings.MLFLOW_REQUEST_TIMEOUT_SECONDS = 1
    with hanging_server() as url:
        settings.MLFLOW_TRACKING_URI = url
        started = time.monotonic()
        response = api.get("/api/models/a/")
        assert response.status_code == 503
        assert time.monotonic() - started < 5


def test_release_detail_carries_an_etag_and_answers_304_while_unchanged(api, owner):
    release = make_release(owner)
    first = api.get(f"/api/releases/{release.pk}/")
    etag = first["ETag"]
    assert first.status_code == 200 and etag.startswith('"') and first["Cache-Control"] == "private, no-cache"
    with CaptureQueriesContext(connection) as queries:
        again = api.get(f"/api/releases/{release.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    sql = [q["sql"] for q in queries.captured_queries]
    tables = " ".join(sql)
    # One query for the tag; none of the serializer's (files, scan reports, the event list itself).
    assert sum('FROM "releases_release"' in q for q in sql) == 1 and "MAX(" in tables
    assert "releases_releasefile" not in tables and "releases_scanreport" not in tables

    record_event(release, "a note")  # an event changes the tag
    noted = api.get(f"/api/releases/{release.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert noted.status_code == 200 and noted["ETag"] != etag
    transition(release, Status.SCANNING_DEPENDENCIES, message="scanning")
    moved = api.get(f"/api/releases/{release.pk}/", HTTP_IF_NONE_MATCH=noted["ETag"])
    assert moved.status_code == 200 and moved.json()["status"] == Status.SCANNING_DEPENDENCIES


def test_if_none_match_on_a_missing_release_is_404(api):
    assert api.get("/api/releases/999999/", HTTP_IF_NONE_MATCH='"r999999-x"').status_code == 404


@contextlib.contextmanager
def stalling_body_server(close: bool, trickle: bool = False):
    """Answers 200 with headers and half a body, then stalls (or closes the connection, or sends a byte
    every 0.3 s: never stalled as long as one read's timeout)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()
    held = []

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"regis")
            while trickle and not stop.wait(0.3):
                with contextlib.suppress(OSError):
                    conn.sendall(b" ")
            if close:
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        sock.close()


@pytest.mark.parametrize("close, trickle", [(False, False), (True, False), (False, True)],
                         ids=["stalls-mid-body", "closes-mid-body", "trickles"])
def test_mlflow_failing_mid_body_is_a_bounded_503_not_500(api, settings, close, trickle):
    import time

    settings.MLFLOW_REQUEST_TIMEOUT_SECONDS = 1
    with stalling_body_server(close, trickle) as url:
        settings.MLFLOW_TRACKING_URI = url
        started = time.monotonic()
        response = api.get("/api/models/?q=a")
        elapsed = time.monotonic() - started
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert elapsed < 5  # the whole answer, not each read, is bounded (2 × the request timeout)
