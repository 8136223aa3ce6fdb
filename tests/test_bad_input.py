"""Input that once reached a 500: each is now a clear 4xx, and nothing stored changes."""
import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db.backends.sqlite3.base import DatabaseWrapper
from rest_framework.test import APIClient

from releases import signing
from releases.api.parsers import MAX_DEPTH, JSONBodyError, loads
from releases.models import Release
from releases.statuses import Status
from tests.factories import make_release

pytestmark = pytest.mark.django_db
SECRET = "s3cret-current-0123456789"


def nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 100_000])
def test_deep_json_on_an_api_endpoint_is_400(api, depth):
    before = Release.objects.count()
    body = b'{"model_name": "m", "model_version": "1", "target_environment": "staging", "x": ' + nested(depth) + b"}"
    response = api.post("/api/releases/", body, content_type="application/json")
    assert response.status_code == 400 and "nested deeper" in response.json()["detail"]
    assert Release.objects.count() == before


@pytest.mark.parametrize("path", ["/api/policy/evaluate/", "/api/waivers/"])
def test_deep_json_is_400_on_every_json_endpoint(api, path):
    response = api.post(path, nested(5_000), content_type="application/json")
    assert response.status_code == 400


def test_json_not_quite_json_is_400(api):
    for raw in (b'{"model_name": NaN}', b"\xff\xfe", b'{"a": 1', b'{"model_name": Infinity}'):
        response = api.post("/api/releases/", raw, content_type="application/json")
        assert response.status_code == 400, raw


def test_loads_accepts_what_it_should():
    assert loads(nested(MAX_DEPTH)) == loads(nested(MAX_DEPTH))
    with pytest.raises(JSONBodyError):
        loads(nested(MAX_DEPTH + 1))


def _signed(raw: bytes, timestamp: str | None = None):
    delivery = uuid.uuid4().hex
    stamp = timestamp if timestamp is not None else str(int(time.time()))
    headers = {"X-Gateway-Delivery": delivery, "X-Gateway-Timestamp": stamp,
               "X-Gateway-Signature": signing.signature(SECRET, delivery, stamp, raw)}
    return APIClient().post("/api/builds/callback/", raw, content_type="application/json",
                            **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})


def test_deep_json_on_a_validly_signed_callback_is_400(settings):
    settings.BUILD_CALLBACK_SECRETS = [SECRET]
    response = _signed(nested(2_000))
    assert response.status_code == 400 and "nested deeper" in response.json()["detail"]


@pytest.mark.parametrize("stamp", ["9" * 309, "1e400", "-1", " 1", "１２３", "12345678901234"])
def test_absurd_callback_timestamps_are_401_before_any_arithmetic(settings, stamp):
    settings.BUILD_CALLBACK_SECRETS = [SECRET]
    response = _signed(b"{}", timestamp=stamp)
    assert response.status_code == 401 and "unix seconds" in response.json()["detail"]


@pytest.mark.parametrize("offset", ["+23:59", "-23:00", "+16:00", "-15:59", "Z"])
def test_created_after_with_any_parseable_offset_is_answered(api, owner, offset):
    make_release(owner)
    response = api.get("/api/releases/", {"created_after": f"2026-01-01T00:00:00{offset}",
                                          "created_before": f"2999-01-01T00:00:00{offset}"})
    assert response.status_code == 200 and response.json()["count"] == 1


def test_created_after_offset_is_applied_not_dropped(api, owner):
    release = make_release(owner)
    at = release.created_at
    # the same instant written 20 hours ahead: still the same instant, so it matches "at or after"
    ahead = (at.replace(tzinfo=None) + timedelta(hours=20)).isoformat() + "+20:00"
    assert api.get("/api/releases/", {"created_after": ahead}).json()["count"] == 1
    later = (at.replace(tzinfo=None) + timedelta(hours=20, seconds=1)).isoformat() + "+20:00"
    assert api.get("/api/releases/", {"created_after": later}).json()["count"] == 0


@pytest.mark.parametrize("path", ["/api/environments/%00/", "/api/releases/?model_name=%00",
                                  "/api/releases/?environment=a%00b", "/api/models/a%00/",
                                  "/api/waivers/?package=%00", "/releases/%00",
                                  "/api/releases/1/scan/findings/?package=%00"])
def test_a_nul_in_the_url_is_400(api, path):
    response = api.get(path)
    assert response.status_code == 400 and "NUL" in response.content.decode()


def test_a_nul_in_a_json_string_is_400(api):
    before = Release.objects.count()
    response = api.post("/api/releases/", {"model_name": "m\x00", "model_version": "1",
                                           "target_environment": "staging"}, format="json")
    assert response.status_code == 400 and Release.objects.count() == before


def test_sqlite_writers_wait_for_each_other_instead_of_failing(tmp_path, settings):
    """The embedded default's settings: a second writer waits for the first (IMMEDIATE + timeout)
    rather than failing at once with "database is locked" when it upgrades a read to a write."""
    options = {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20, "transaction_mode": "IMMEDIATE"}
    assert settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3" or (
        settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE")

    def connect():
        return DatabaseWrapper({"NAME": str(tmp_path / "db.sqlite3"), "OPTIONS": options, "ATOMIC_REQUESTS": False,
                                "AUTOCOMMIT": True, "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": False, "TIME_ZONE": None,
                                "USER": "", "PASSWORD": "", "HOST": "", "PORT": "", "TEST": {}}, alias="sqlite-probe")

    setup = connect()
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE votes (n INTEGER)")
    setup.close()
    errors, holding = [], threading.Event()

    def first():
        conn = connect()
        try:
            conn.set_autocommit(False)  # Django's atomic(): BEGIN IMMEDIATE with this transaction_mode
            conn.cursor().execute("INSERT INTO votes VALUES (1)")
            holding.set()
            time.sleep(1.0)
            conn.commit()
        finally:
            conn.close()

    def second():
        conn = connect()
        holding.wait(5)
        try:
            conn.set_autocommit(False)
            with conn.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM votes")  # read first, then write: the case that failed
                cursor.execute("INSERT INTO votes VALUES (2)")
            conn.commit()
        except Exception as exc:  # noqa: BLE001 - the failure under test
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    check = connect()
    with check.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM votes")
        assert cursor.fetchone()[0] == 2
    check.close()


def test_unknown_content_type_is_415_not_500(api):
    response = api.post("/api/releases/", "model_name=m", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert Release.objects.filter(status=Status.PENDING).count() == 0
    assert json.loads(response.content)["detail"]


@pytest.mark.parametrize("query", ["page=0", "page=-1", "page=abc", "page=", "page_size=0", "page_size=1.5",
                                   "page_size=9999999999", "page=１"])
def test_a_page_or_page_size_that_is_not_a_whole_number_from_1_is_400(api, owner, query):
    make_release(owner)
    response = api.get(f"/api/releases/?{query}")
    assert response.status_code == 400 and set(response.json()) <= {"page", "page_size"}


def test_a_page_size_above_the_maximum_gives_the_maximum(api, owner):
    assert api.get("/api/releases/?page_size=100000").status_code == 200


def test_a_parameter_given_twice_is_400_unless_it_is_a_list(api, owner):
    make_release(owner)
    response = api.get("/api/releases/?environment=staging&environment=canary")
    assert response.status_code == 400 and "environment" in response.json()["detail"]
    assert api.get("/api/releases/?status=PENDING&status=FAILED").json()["count"] == 1
