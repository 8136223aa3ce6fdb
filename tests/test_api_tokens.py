"""API tokens: hashed at rest, expiring, revocable, listed by their owner only; made from a session."""
import hashlib
import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from gateway_project import tokens
from gateway_project.models import ApiToken
from tests.conftest import token_client

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


@pytest.fixture
def session(owner):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    client.get("/")  # the portal sets the CSRF cookie
    return client


def csrf(client) -> dict:
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


def test_a_token_made_in_a_session_is_shown_once_and_stored_only_as_its_digest(session, owner):
    response = session.post("/api/tokens/", {"name": "ci-nightly", "expires_in_days": 30}, format="json",
                            **csrf(session))
    assert response.status_code == 201
    body = response.json()
    raw = body["token"]
    assert raw.startswith("mrg_") and len(raw) >= 40 and body["prefix"] == raw[:12]
    stored = ApiToken.objects.get(pk=body["id"])
    assert stored.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {str(getattr(stored, f.attname)) for f in ApiToken._meta.fields}
    assert timedelta(days=29, hours=23) < stored.expires_at - timezone.now() <= timedelta(days=30)
    assert bearer(raw).get("/api/releases/").status_code == 200
    listed = session.get("/api/tokens/").json()["results"]
    assert [t["prefix"] for t in listed] == [raw[:12]] and "token" not in listed[0]


def test_a_token_cannot_make_another_token(api):
    response = api.post("/api/tokens/", {"name": "sneaky"}, format="json")
    assert response.status_code == 403 and "session" in response.json()["detail"]


def test_a_session_post_without_csrf_is_refused(session):
    assert session.post("/api/tokens/", {"name": "x"}, format="json").status_code == 403


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "x" * 101}, {"name": "ok", "expires_in_days": 0},
                                  {"name": "ok", "expires_in_days": 366}, {"name": "tab\there"}])
def test_bad_token_requests_are_400(session, body):
    before = ApiToken.objects.count()
    assert session.post("/api/tokens/", body, format="json", **csrf(session)).status_code == 400
    assert ApiToken.objects.count() == before


def test_revoked_and_expired_tokens_are_refused_with_the_reason(owner):
    token, raw = tokens.issue(owner, "script")
    client = bearer(raw)
    assert client.post(f"/api/tokens/{token.pk}/revoke/").json()["state"] == "revoked"
    response = client.get("/api/releases/")
    assert response.status_code == 401 and "revoked" in response.json()["detail"]

    old, raw_old = tokens.issue(owner, "old", days=1)
    ApiToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(raw_old).get("/api/releases/")
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"


def test_revoking_twice_keeps_the_first_time(owner):
    token, raw = tokens.issue(owner, "script")
    first = tokens.revoke(token).revoked_at
    assert tokens.revoke(token).revoked_at == first


def test_tokens_are_private_to_their_owner(owner, outsider):
    mine, _ = tokens.issue(owner, "mine")
    theirs = token_client(outsider)
    assert theirs.get(f"/api/tokens/{mine.pk}/").status_code == 404
    assert theirs.post(f"/api/tokens/{mine.pk}/revoke/").status_code == 404
    assert mine.pk not in [t["id"] for t in theirs.get("/api/tokens/").json()["results"]]
    mine.refresh_from_db()
    assert mine.revoked_at is None


@pytest.mark.parametrize("header", ["Token", "Token a b", "Token " + "x" * 200, "Token mrg_nope",
                                    "Bearer mrg_" + "A" * 43])
def test_malformed_or_unknown_tokens_are_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/releases/").status_code == 401


def test_a_token_with_the_right_prefix_but_wrong_secret_is_refused(owner):
    _token, raw = tokens.issue(owner, "script")
    assert bearer(raw[:12] + "B" * (len(raw) - 12)).get("/api/releases/").status_code == 401


def test_last_used_is_written_at_most_once_a_minute(owner, django_assert_max_num_queries):
    token, raw = tokens.issue(owner, "script")
    client = bearer(raw)
    client.get("/api/me/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    client.get("/api/me/")
    token.refresh_from_db()
    assert token.last_used_at == first


def test_an_inactive_users_token_is_refused(owner):
    _token, raw = tokens.issue(owner, "script")
    owner.is_active = False
    owner.save()
    assert bearer(raw).get("/api/releases/").status_code == 401


def test_plaintext_tokens_from_before_are_hashed_and_keep_working(owner, settings):
    """The data migration on a database that still has DRF's plaintext table."""
    key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp with time zone "
                       "NOT NULL, user_id integer NOT NULL)" if connection.vendor == "postgresql" else
                       "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created datetime NOT NULL, "
                       "user_id integer NOT NULL)")
        cursor.execute("INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
                       [key, timezone.now(), owner.pk])
    migration = importlib.import_module("gateway_project.migrations.0002_hash_existing_tokens")
    # The function reads only the schema editor's connection; a real schema editor cannot be opened
    # inside the test's transaction on SQLite (foreign key checks are on there).
    migration.hash_legacy_tokens(apps, SimpleNamespace(connection=connection))
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0  # no plaintext left
    migrated = ApiToken.objects.get(user=owner)
    assert migrated.digest == hashlib.sha256(key.encode()).hexdigest() and migrated.prefix == key[:12]
    assert bearer(key).get("/api/releases/").status_code == 200
    assert migrated.expires_at - timezone.now() > timedelta(days=settings.API_TOKEN_DAYS - 1)


def test_admin_lists_tokens_without_their_digest(owner, django_user_model):
    tokens.issue(owner, "script")
    auditor = django_user_model.objects.create_user("aud", password="pw-aud-123", is_staff=True)
    from django.contrib.auth.models import Group

    auditor.groups.add(Group.objects.get(name="auditors"))
    client = Client()
    client.force_login(auditor)
    page = client.get("/admin/gateway_project/apitoken/")
    assert page.status_code == 200 and b"script" in page.content
    token = ApiToken.objects.get(name="script")
    assert token.digest.encode() not in client.get(f"/admin/gateway_project/apitoken/{token.pk}/change/").content
    # an auditor cannot revoke: the action needs the change permission
    client.post("/admin/gateway_project/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_command_prints_a_working_token_once(owner):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out, err = StringIO(), StringIO()
    call_command("create_api_token", "owner", "--name", "nightly", "--days", "7", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    assert bearer(raw).get("/api/releases/").status_code == 200
    assert raw not in err.getvalue() and raw[:12] in err.getvalue()
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "nobody", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="1 to"):
        call_command("create_api_token", "owner", "--days", "0", stdout=StringIO(), stderr=StringIO())
