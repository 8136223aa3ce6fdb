"""The release API: authentication, validation, idempotency, listing, actions."""
import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from releases.models import IdempotencyKey, Release, ReleaseEvent
from releases.statuses import TERMINAL, Status, Step
from tests.conftest import token_client
from tests.factories import ensure_environments, make_release

URL = "/api/releases/"
BODY = {"model_name": "fraud-detector", "model_version": "3", "target_environment": "staging"}


# --- authentication -----------------------------------------------------------
@pytest.mark.parametrize("method,path", [
    ("get", URL), ("post", URL), ("get", f"{URL}1/"), ("post", f"{URL}1/cancel/"), ("post", f"{URL}1/retry/"),
    ("get", "/api/environments/"), ("get", "/api/environments/staging/"), ("get", "/api/schema/"),
    ("get", "/api/docs/"), ("get", "/api/"),
])
def test_every_endpoint_requires_authentication(db, method, path, owner):
    make_release(owner)
    response = getattr(APIClient(), method)(path)
    assert response.status_code in (401, 403), (path, response.status_code)


def test_bad_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get(URL).status_code == 401


def test_session_auth_enforces_csrf(owner):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get(URL).status_code == 200
    response = client.post(URL, BODY, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not Release.objects.exists()


# --- creation and validation ----------------------------------------------------------
def test_create_by_version(api, owner):
    response = api.post(URL, BODY, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == Status.PENDING and body["requested_ref"] == "3"
    assert body["requested_by"] == "owner" and body["environment"] == "staging"
    assert response["Location"] == f"/api/releases/{body['id']}/"
    assert [e["to_status"] for e in body["events"]] == [Status.PENDING]


def test_a_created_release_is_answered_as_stored_in_a_bounded_number_of_queries(api):
    api.post(URL, BODY, format="json")  # warm: the token's last use, the requester's permissions
    with CaptureQueriesContext(connection) as captured:
        created = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-answer")
    assert created.status_code == 201, created.json()
    sql = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]  # the test's transaction
    # Token, environment, key lookup; the release, its first event and the key inserted. Not: a lock or head
    # query for the first event (no one else can see the new release), nor reading the release, its events,
    # files or scan back (the 201 is built from what was just committed).
    assert len(sql) == 6, sql
    assert not [q for q in sql if q.startswith('SELECT "releases_release"')], sql
    stored = api.get(f"{URL}{created.json()['id']}/")
    assert created.json() == stored.json()  # ... and it says what the database says
    replayed = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-answer")
    assert replayed.json() == stored.json()


@pytest.mark.parametrize("alias", ["champion", "@champion"])
def test_create_by_alias_accepts_with_or_without_at(api, alias):
    body = {"model_name": "fraud-detector", "model_alias": alias, "target_environment": "staging"}
    response = api.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["requested_ref"] == "@champion"


def test_create_enqueues_the_fetch_step_after_commit(api, django_capture_on_commit_callbacks, monkeypatch):
    from releases import queue

    sent = []
    monkeypatch.setattr(queue, "async_task", lambda task, *args, **kw: sent.append((task, args)))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(URL, BODY, format="json")
    assert sent == [("releases.steps.fetch_environment", (response.json()["id"],))]


@pytest.mark.parametrize("body,field", [
    ({**BODY, "model_name": "../etc/passwd"}, "model_name"),
    ({**BODY, "model_name": "a/b"}, "model_name"),
    ({**BODY, "model_name": "a\\b"}, "model_name"),
    ({**BODY, "model_name": "models..x"}, "model_name"),
    ({**BODY, "model_name": "bad\x00name"}, "model_name"),
    ({**BODY, "model_name": "tab\tname"}, "model_name"),
    ({**BODY, "model_name": " leading"}, "model_name"),
    ({**BODY, "model_name": ""}, "model_name"),
    ({**BODY, "model_name": "x" * 257}, "model_name"),
    ({**BODY, "model_name": "name?query"}, "model_name"),
    ({**BODY, "model_version": "0"}, "model_version"),
    ({**BODY, "model_version": "1/../2"}, "model_version"),
    ({**BODY, "model_version": "latest"}, "model_version"),
    ({**BODY, "model_version": "-1"}, "model_version"),
    ({"model_name": "m", "model_alias": "a/b", "target_environment": "staging"}, "model_alias"),
    ({"model_name": "m", "model_alias": "@", "target_environment": "staging"}, "model_alias"),
    ({"model_name": "m", "model_alias": "a..b", "target_environment": "staging"}, "model_alias"),
    ({**BODY, "target_environment": "moon"}, "target_environment"),
    ({k: v for k, v in BODY.items() if k != "target_environment"}, "target_environment"),
    ({**BODY, "model_alias": "champion"}, "non_field_errors"),
    ({"model_name": "m", "target_environment": "staging"}, "non_field_errors"),
    ({**BODY, "status": Status.SUCCEEDED}, "status"),
    ({**BODY, "image_digest": "sha256:" + "0" * 64}, "image_digest"),
])
def test_validation_errors_are_400_per_field(api, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    assert not Release.objects.exists()


def test_malformed_json_is_400(api):
    response = api.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert not Release.objects.exists()


def test_status_is_not_writable_by_any_method(api, owner):
    release = make_release(owner)
    for method in ("put", "patch"):
        response = getattr(api, method)(f"{URL}{release.pk}/", {"status": Status.SUCCEEDED}, format="json")
        assert response.status_code == 405
    assert api.delete(f"{URL}{release.pk}/").status_code == 405
    assert Release.objects.get(pk=release.pk).status == Status.PENDING


# --- idempotency --------------------------------------------------------------------
def test_same_key_same_body_returns_the_same_release(api):
    first = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert Release.objects.count() == 1
    assert ReleaseEvent.objects.count() == 1


def test_same_key_different_body_is_409_and_changes_nothing(api):
    api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    response = api.post(URL, {**BODY, "model_version": "4"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 409
    assert "different request body" in response.json()["detail"]
    assert Release.objects.count() == 1


def test_alias_spelling_does_not_change_the_fingerprint(api):
    body = {"model_name": "m", "model_alias": "champion", "target_environment": "staging"}
    a = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    b = api.post(URL, {**body, "model_alias": "@champion"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert a.json()["id"] == b.json()["id"]


def test_keys_are_per_user(api, outsider_api):
    a = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    b = outsider_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert a.json()["id"] != b.json()["id"]
    assert b.json()["requested_by"] == "outsider"


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "bad\x01key"])
def test_invalid_idempotency_key_is_400(api, key):
    response = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()
    assert not Release.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_release(owner):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locking (CI runs it there)")
    ensure_environments()
    barrier = threading.Barrier(6)
    statuses, ids = [], []

    def post():
        try:
            client = token_client(owner)
            barrier.wait(timeout=10)
            response = client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="race")
            statuses.append(response.status_code)
            ids.append(response.json()["id"])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert statuses == [201] * 6
    assert len(set(ids)) == 1
    assert Release.objects.count() == 1 and IdempotencyKey.objects.count() == 1


# --- listing ---------------------------------------------------------------------------
def test_list_is_paginated_with_results(api, owner):
    for i in range(3):
        make_release(owner, model_name=f"m{i}")
    body = api.get(URL, {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert "events" not in body["results"][0]


def test_list_query_count_does_not_grow_with_page_size(api, owner, outsider):
    for i in range(30):
        make_release(owner if i % 2 else outsider, model_name=f"m{i}", env=["staging", "canary"][i % 2])

    def count(page_size):
        with CaptureQueriesContext(connection) as ctx:
            response = api.get(URL, {"page_size": page_size})
        assert len(response.json()["results"]) == page_size
        return len(ctx.captured_queries)

    api.get(URL)  # the token's first use records last_used_at (one write a minute): not a per-page cost
    assert count(2) == count(30)


def test_the_list_is_counted_without_the_joins_its_columns_need_and_under_the_same_filters(api, owner, outsider):
    for i in range(5):
        make_release(owner if i % 2 else outsider, model_name=f"m{i}", env=["staging", "canary"][i % 2])
    api.get(URL)  # the token's first use
    with CaptureQueriesContext(connection) as ctx:
        body = api.get(URL, {"page_size": 2}).json()
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"]]
    assert body["count"] == 5 and len(counts) == 1 and "JOIN" not in counts[0], counts
    for params, expected in (({"environment": "canary"}, 2), ({"requested_by": "outsider"}, 3),
                             ({"environment": "staging", "requested_by": "owner"}, 0)):
        body = api.get(URL, params).json()
        assert body["count"] == len(body["results"]) == expected, params


def test_filters(api, owner, outsider):
    make_release(owner, model_name="alpha", env="staging", status=Status.FAILED)
    make_release(owner, model_name="alpha", env="canary")
    make_release(outsider, model_name="beta", env="staging", status=Status.CANCELLED)

    def names(**params):
        return sorted((r["model_name"], r["environment"]) for r in api.get(URL, params).json()["results"])

    assert names(model_name="alpha") == [("alpha", "canary"), ("alpha", "staging")]
    assert names(environment="staging") == [("alpha", "staging"), ("beta", "staging")]
    assert names(status=Status.FAILED) == [("alpha", "staging")]
    assert names(requested_by="outsider") == [("beta", "staging")]
    assert names(model_name_contains="ET") == [("beta", "staging")]
    both = api.get(f"{URL}?status=FAILED&status=CANCELLED").json()["results"]
    assert len(both) == 2


def test_unknown_status_filter_is_400(api):
    response = api.get(URL, {"status": "DONE"})
    assert response.status_code == 400 and "status" in response.json()


def test_ordering(api, owner):
    for name in ["b", "c", "a"]:
        make_release(owner, model_name=name)
    ordered = [r["model_name"] for r in api.get(URL, {"ordering": "model_name"}).json()["results"]]
    assert ordered == ["a", "b", "c"]
    newest_first = [r["model_name"] for r in api.get(URL).json()["results"]]
    assert newest_first == ["a", "c", "b"]


# --- detail ------------------------------------------------------------------------------
def test_detail_has_events_and_file_metadata_without_content(api, owner):
    from releases.models import ReleaseFile

    release = make_release(owner)
    ReleaseFile.objects.create(release=release, name="requirements.txt", size=3, sha256="a" * 64, content="x=1")
    ReleaseEvent.objects.create(release=release, from_status="", to_status=Status.PENDING, actor=owner)
    body = api.get(f"{URL}{release.pk}/").json()
    assert body["files"] == [{"name": "requirements.txt", "size": 3, "sha256": "a" * 64,
                              "fetched_at": body["files"][0]["fetched_at"]}]
    assert body["events"][0]["actor"] == "owner"
    assert api.get(f"{URL}999999/").status_code == 404


# --- actions ---------------------------------------------------------------------------
def test_cancel_by_requester(api, owner):
    release = make_release(owner)
    response = api.post(f"{URL}{release.pk}/cancel/", {"reason": "wrong model"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == Status.CANCELLED
    event = ReleaseEvent.objects.get(release=release)
    assert event.actor == owner and "wrong model" in event.message


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_release_cannot_be_cancelled(api, owner, status):
    release = make_release(owner, status=status)
    response = api.post(f"{URL}{release.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["status"] == status
    assert Release.objects.get(pk=release.pk).status == status


def test_other_users_cannot_cancel_or_retry(outsider_api, owner):
    release = make_release(owner, status=Status.FAILED)
    assert outsider_api.post(f"{URL}{release.pk}/cancel/").status_code == 403
    assert outsider_api.post(f"{URL}{release.pk}/retry/").status_code == 403
    assert Release.objects.get(pk=release.pk).status == Status.FAILED


def test_platform_admin_can_cancel_any_release(platform_admin, owner):
    release = make_release(owner)
    response = token_client(platform_admin).post(f"{URL}{release.pk}/cancel/")
    assert response.status_code == 200


@pytest.mark.parametrize("step,entry", [(Step.FETCH, Status.PENDING), (Step.SCAN, Status.SCANNING_DEPENDENCIES),
                                        (Step.BUILD, Status.APPROVED)])
def test_retry_returns_to_the_failed_step(api, owner, step, entry):
    release = make_release(owner, status=Status.FAILED, failed_step=step, status_message="MLflow down")
    response = api.post(f"{URL}{release.pk}/retry/")
    assert response.status_code == 200 and response.json()["status"] == entry
    event = ReleaseEvent.objects.get(release=release)
    assert event.data == {"retried_step": step, "previous_error": "MLflow down"}


@pytest.mark.parametrize("status", [s for s in Status.values if s not in (Status.FAILED, Status.BUILD_FAILED)])
def test_retry_only_from_failed(api, owner, status):
    release = make_release(owner, status=status)
    response = api.post(f"{URL}{release.pk}/retry/")
    assert response.status_code == 409 and "Only FAILED or BUILD_FAILED" in response.json()["detail"]
    assert Release.objects.get(pk=release.pk).status == status


# --- environments and schema ----------------------------------------------------------------
def test_environments_promotion_chain(api):
    body = api.get("/api/environments/").json()
    assert [(e["name"], e["requires_success_in"]) for e in body] == [
        ("staging", None), ("canary", "staging"), ("production", "canary")]


def test_openapi_schema_generates_and_docs_render(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    doc = schema.json()
    assert "/api/releases/" in doc["paths"] and "/api/releases/{id}/retry/" in doc["paths"]
    create_schema = doc["components"]["schemas"]["ReleaseCreate"]["properties"]
    assert "status" not in create_schema
    assert api.get("/api/docs/").status_code == 200


def test_only_requesters_may_request_releases(stranger):
    response = token_client(stranger).post(URL, BODY, format="json")
    assert response.status_code == 403 and "requesters" in response.json()["detail"]
    assert token_client(stranger).get(URL).status_code == 403  # no role, no reading (tests/test_read_access.py)
    assert not Release.objects.exists()
