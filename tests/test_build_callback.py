"""The signed build-completion callback: every security case, a replay, and both outcomes."""
import json
import time
import uuid

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from releases import signing
from releases.models import Build, Release, ReleaseEvent, ScanReport
from releases.statuses import Status
from tests.factories import make_release, policy_version

pytestmark = pytest.mark.django_db
URL = "/api/builds/callback/"
SECRET, OLD_SECRET = "s3cret-current-0123456789", "s3cret-previous-0123456789"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(autouse=True)
def secrets(settings):
    settings.BUILD_CALLBACK_SECRETS = [SECRET, OLD_SECRET]


@pytest.fixture
def build(owner):
    release = make_release(owner, status=Status.BUILDING_IMAGE, model_version="3")
    return Build.objects.create(release=release, backend="webhook")


def post(body, secret=SECRET, delivery=None, timestamp=None, signature=None, raw=None):
    raw = raw if raw is not None else json.dumps(body).encode()
    delivery = delivery or uuid.uuid4().hex
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = signing.headers(secret, delivery, timestamp, raw)
    if signature is not None:
        headers["X-Gateway-Signature"] = signature
    return APIClient().post(URL, raw, content_type="application/json",
                            **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})


def succeeded(build):
    return {"build_id": build.pk, "status": "succeeded", "image_reference": "registry.local/models/fraud",
            "digest": DIGEST, "log_url": "https://ci.example/runs/7"}


def test_success_records_reference_and_digest(build):
    response = post(succeeded(build))
    assert response.status_code == 200, response.json()
    release = Release.objects.get(pk=build.release_id)
    assert release.status == Status.SUCCEEDED
    assert (release.image_reference, release.image_digest) == ("registry.local/models/fraud", DIGEST)
    assert ReleaseEvent.objects.get(release=release).message == (f"Image built: registry.local/models/fraud@{DIGEST}. "
                                                                  "Not smoke-tested.")
    build.refresh_from_db()
    assert build.state == "succeeded" and build.finished_at and build.log_url == "https://ci.example/runs/7"


def test_failure_records_the_message(build):
    response = post({"release_id": build.release_id, "attempt": 1, "status": "failed", "message": "pip install failed"})
    assert response.status_code == 200
    release = Release.objects.get(pk=build.release_id)
    assert release.status == Status.BUILD_FAILED and release.status_message == "Build failed: pip install failed"


@pytest.mark.parametrize("kwargs", [
    {"signature": "v1,AAAA"},
    {"signature": ""},
    {"secret": "wrong-secret"},
    {"offset": -305},
    {"offset": +305},
    {"signature": "v2,whatever"},
])
def test_bad_signatures_and_stale_timestamps_are_401(build, kwargs):
    kwargs = dict(kwargs)
    if "offset" in kwargs:  # computed now, not at collection time
        kwargs["timestamp"] = int(time.time()) + kwargs.pop("offset")
    response = post(succeeded(build), **kwargs)
    assert response.status_code == 401
    assert Release.objects.get(pk=build.release_id).status == Status.BUILDING_IMAGE


def test_missing_headers_are_401(build):
    response = APIClient().post(URL, succeeded(build), format="json")
    assert response.status_code == 401 and "Missing" in response.json()["detail"]


def test_a_tampered_body_is_401(build):
    raw = json.dumps(succeeded(build)).encode()
    delivery, stamp = "d-1", int(time.time())
    headers = signing.headers(SECRET, delivery, stamp, raw)
    tampered = raw.replace(b"fraud", b"evil!")
    response = APIClient().post(URL, tampered, content_type="application/json", HTTP_X_GATEWAY_DELIVERY=delivery,
                                HTTP_X_GATEWAY_TIMESTAMP=str(stamp),
                                HTTP_X_GATEWAY_SIGNATURE=headers["X-Gateway-Signature"])
    assert response.status_code == 401


def test_within_the_window_rotated_secret_and_several_signatures_are_accepted(owner):
    for kwargs in ({"timestamp": int(time.time()) - 290}, {"secret": OLD_SECRET}):
        release = make_release(owner, status=Status.BUILDING_IMAGE)
        build = Build.objects.create(release=release, backend="webhook")
        assert post(succeeded(build), **kwargs).status_code == 200
    release = make_release(owner, status=Status.BUILDING_IMAGE)
    build = Build.objects.create(release=release, backend="webhook")
    raw = json.dumps(succeeded(build)).encode()
    good = signing.signature(SECRET, "multi", str(int(time.time())), raw)
    assert post(None, raw=raw, delivery="multi", signature=f"v1,bm9wZQ== {good}").status_code == 200


def test_no_configured_secret_refuses_everything(build, settings):
    settings.BUILD_CALLBACK_SECRETS = []
    assert post(succeeded(build)).status_code == 401


def test_a_replay_is_a_no_op_200(build):
    body = succeeded(build)
    assert post(body, delivery="once").status_code == 200
    events = ReleaseEvent.objects.count()
    replay = post(body, delivery="once")
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    assert ReleaseEvent.objects.count() == events


def test_callback_for_a_build_that_is_not_running_is_409(build):
    Release.objects.filter(pk=build.release_id).update(status=Status.CANCELLED)
    assert post(succeeded(build)).status_code == 409
    build.refresh_from_db()
    assert build.state == "running"


@pytest.mark.parametrize("digest", ["sha256:" + "AB" * 32, "sha256:abc", "md5:" + "a" * 64, "sha256:" + "a" * 65])
def test_bad_digest_is_400(build, digest):
    response = post({**succeeded(build), "digest": digest})
    assert response.status_code == 400 and "digest" in response.json()
    assert Release.objects.get(pk=build.release_id).status == Status.BUILDING_IMAGE


def test_other_bad_bodies(build):
    assert post(None, raw=b"{not json").status_code == 400
    assert post({"build_id": build.pk, "status": "succeeded"}).status_code == 400  # no image/digest
    assert post({"release_id": build.release_id, "status": "failed"}).status_code == 400  # which attempt?
    assert post({"attempt": 1, "status": "failed"}).status_code == 400
    assert post({"build_id": build.pk, "release_id": build.release_id + 1, "status": "failed"}).status_code == 404
    assert post({"build_id": build.pk, "attempt": 2, "status": "failed"}).status_code == 404
    assert post({"build_id": 999999, "status": "failed"}).status_code == 404
    assert Release.objects.get(pk=build.release_id).status == Status.BUILDING_IMAGE


# --- A callback names its build attempt (issue 25, item 6) --------------------------------------------------

@pytest.fixture
def second_attempt(build):
    """Attempt 1 failed; a rebuild started attempt 2, which is building now."""
    assert post({"build_id": build.pk, "status": "failed", "message": "flaky"}, delivery="attempt-1-failed"
                ).status_code == 200
    Release.objects.filter(pk=build.release_id).update(status=Status.BUILDING_IMAGE)
    return Build.objects.create(release_id=build.release_id, backend="webhook", attempt=2)


def test_a_late_callback_of_attempt_1_is_not_applied_to_attempt_2(build, second_attempt):
    late = {"release_id": build.release_id, "attempt": 1, "status": "succeeded",
            "image_reference": "registry.local/models/fraud", "digest": DIGEST}
    for body in (late, succeeded(build)):  # named by release and attempt, or by its build id
        response = post(body)
        assert response.status_code == 409
        assert f"is attempt 1 of release #{build.release_id}; attempt 2 replaced it" in response.json()["detail"]
    second_attempt.refresh_from_db()
    release = Release.objects.get(pk=build.release_id)
    assert second_attempt.state == "running" and release.status == Status.BUILDING_IMAGE and not release.image_digest
    assert post({**late, "attempt": 2}).status_code == 200  # the running attempt, named
    assert Release.objects.get(pk=build.release_id).status == Status.SUCCEEDED


def test_a_release_id_alone_names_no_attempt_and_is_400(build, second_attempt):
    response = post({"release_id": build.release_id, "status": "succeeded",
                     "image_reference": "registry.local/models/fraud", "digest": DIGEST})
    assert response.status_code == 400
    assert "build_id, or release_id and attempt" in json.dumps(response.json())
    second_attempt.refresh_from_db()
    assert second_attempt.state == "running"


def test_a_replay_of_attempt_1s_delivery_stays_a_no_op_200(build, second_attempt):
    events = ReleaseEvent.objects.count()
    replay = post({"build_id": build.pk, "status": "failed", "message": "flaky"}, delivery="attempt-1-failed")
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    assert ReleaseEvent.objects.count() == events
    second_attempt.refresh_from_db()
    assert second_attempt.state == "running"


def test_ids_that_name_different_builds_are_404(build, second_attempt):
    assert post({"build_id": second_attempt.pk, "release_id": build.release_id, "attempt": 1,
                 "status": "failed"}).status_code == 404
    assert post({"release_id": build.release_id, "attempt": 3, "status": "failed"}).status_code == 404
    second_attempt.refresh_from_db()
    assert second_attempt.state == "running"


def test_signing_round_trip_and_constant_time_verify():
    body = b'{"a": 1}'
    headers = signing.headers(SECRET, "d", 1000, body)
    signing.verify("d", "1000", headers["X-Gateway-Signature"], body, [SECRET], now=1000)
    with pytest.raises(signing.SignatureError, match="window"):
        signing.verify("d", "1000", headers["X-Gateway-Signature"], body, [SECRET], now=1301)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_copies_of_one_delivery_record_once_and_replay_the_rest(owner):
    """40 copies of one signed delivery at once: one is recorded, the other 39 are the documented 200 replay."""
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    release = make_release(owner, status=Status.BUILDING_IMAGE, model_version="3")
    build = Build.objects.create(release=release, backend="webhook")
    raw = json.dumps(succeeded(build)).encode()
    copies, start, answers = 40, threading.Barrier(40), []

    def deliver():
        try:
            start.wait(timeout=30)
            response = post(None, raw=raw, delivery="one-delivery")
            answers.append((response.status_code, response.json().get("replayed", False)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == [(200, False)] + [(200, True)] * (copies - 1)
    assert Release.objects.get(pk=release.pk).status == Status.SUCCEEDED
    assert ReleaseEvent.objects.filter(release=release, to_status=Status.SUCCEEDED).count() == 1


# --- The smoke test a remote backend reports (releases.builds.completion._smoke_refusal) ----------------------

PASSED_SMOKE = {"passed": True, "endpoint": "/invocations", "status": 200, "latency_ms": 14.2, "ready_seconds": 6.1,
                "input_sha256": "cd" * 32, "message": "answered /ping and a prediction"}


def requiring_smoke(environment):
    from releases.models import EnvironmentPolicy

    current = EnvironmentPolicy.current_for(environment.pk)
    current.require_smoke_test, current.comment = True, "tests: smoke required"
    current.save()  # a new version


def test_a_passed_smoke_test_is_kept_on_the_build_and_named_in_the_event(build, monkeypatch):
    requiring_smoke(build.release.environment)
    # The base the release's scan read its OS packages from, and the image's OS packages, read from nowhere
    # here: tests/test_os_advisories.py reads them from a real registry and covers every refusal.
    from releases.scanning import os_inventory

    monkeypatch.setattr(os_inventory, "for_image", lambda image: os_inventory.Inventory(image, "Debian:12"))
    ScanReport.objects.create(release=build.release, scanner="gateway-osv", started_at=timezone.now(), duration_ms=1,
                              passed=True, summary="passed", base_image="registry.local/base@" + DIGEST)
    response = post({**succeeded(build), "smoke_test": {**PASSED_SMOKE, "unknown_field": "dropped"},
                     "base_image": "registry.local/base@" + DIGEST})
    assert response.status_code == 200, response.json()
    build.refresh_from_db()
    assert build.smoke_test == PASSED_SMOKE and build.base_image == "registry.local/base@" + DIGEST
    release = Release.objects.get(pk=build.release_id)
    assert release.status == Status.SUCCEEDED
    assert "Smoke-tested: ready in 6.1 s, /invocations answered 200 in 14.2 ms." in release.status_message


def test_no_smoke_test_where_the_policy_requires_one_fails_the_build(build):
    requiring_smoke(build.release.environment)
    assert post(succeeded(build)).status_code == 200
    release = Release.objects.get(pk=build.release_id)
    assert release.status == Status.BUILD_FAILED
    assert f"policy (v{policy_version('staging')}) requires a passed smoke test of the image, and the build " \
        "reported none" in release.status_message
    assert release.image_digest == ""  # nothing was recorded as released


def test_a_failed_smoke_test_fails_the_build_whatever_the_policy(build):
    response = post({**succeeded(build), "smoke_test": {**PASSED_SMOKE, "passed": False, "status": 500,
                                                        "message": "/invocations answered HTTP 500"}})
    assert response.status_code == 200
    release = Release.objects.get(pk=build.release_id)
    assert release.status == Status.BUILD_FAILED
    assert "the image failed its smoke test: /invocations answered HTTP 500" in release.status_message


@pytest.mark.parametrize("smoke", [{}, {"passed": "yes"}, {"passed": True, "message": ["not", "text"]},
                                   {"passed": True, "message": "x" * 2001}])
def test_a_malformed_smoke_test_is_a_400_and_changes_nothing(build, smoke):
    response = post({**succeeded(build), "smoke_test": smoke})
    assert response.status_code == 400 and "smoke_test" in response.json()
    assert Release.objects.get(pk=build.release_id).status == Status.BUILDING_IMAGE


def test_production_requires_a_smoke_test_by_default():
    from releases.models import Environment, EnvironmentPolicy

    required = {env.name: EnvironmentPolicy.current_for(env.pk).require_smoke_test for env in Environment.objects.all()}
    assert required == {"staging": False, "canary": False, "production": True}
