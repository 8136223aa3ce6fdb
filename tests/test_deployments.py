"""Deployment history: what was in each environment at an instant, from the SUCCEEDED events."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from gateway_project.audit.deployments import deployed_at
from releases.lifecycle import record_event, transition
from releases.models import ReleaseEvent
from releases.statuses import Status, Step
from tests import audit_records as records
from tests.conftest import token_client
from tests.factories import make_release


def arrived(release):
    return ReleaseEvent.objects.exclude(from_status=Status.SUCCEEDED).get(release=release,
                                                                        to_status=Status.SUCCEEDED).created_at


@pytest.fixture
def history(owner, django_user_model):
    """fraud-detector v1 then v2 in canary, then v3 failed and v4 cancelled there; churn v9 in canary;
    fraud-detector v5 in staging."""
    lead = records.approver(django_user_model, "lead-hist")
    first = records.succeeded_release(owner, lead, version="1", digest="sha256:" + "1" * 64)
    second = records.succeeded_release(owner, lead, version="2", digest="sha256:" + "2" * 64)
    failed = make_release(owner, model_name="fraud-detector", ref="3", model_version="3", env="canary")
    failed = records.walk_to(failed, Status.SCANNING_DEPENDENCIES)
    transition(failed, Status.FAILED, message="scanner down", fields={"failed_step": Step.SCAN})
    cancelled = make_release(owner, model_name="fraud-detector", ref="4", model_version="4", env="canary")
    cancelled = transition(cancelled, Status.CANCELLED, actor=owner, message="not needed")
    other_model = records.succeeded_release(owner, lead, model_name="churn", version="9")
    staging = make_release(owner, model_name="fraud-detector", ref="5", model_version="5", env="staging")
    staging = records.walk_to(staging, Status.SCANNING_DEPENDENCIES, Status.SCAN_PASSED, Status.APPROVED,
                              Status.BUILDING_IMAGE, Status.SUCCEEDED)
    last = ReleaseEvent.objects.order_by("-created_at").first().created_at
    return {"first": first, "second": second, "failed": failed, "cancelled": cancelled, "churn": other_model,
            "staging": staging, "lead": lead, "end": last + timedelta(seconds=1)}


def versions(at, **filters):
    return {(d.environment, d.model_name): d.model_version for d in deployed_at(at, **filters)}


def test_before_between_at_and_after(history):
    t1, t2 = arrived(history["first"]), arrived(history["second"])
    assert versions(t1 - timedelta(microseconds=1)) == {}  # before the first release
    assert versions(t1) == {("canary", "fraud-detector"): "1"}  # arriving at exactly `at` counts
    assert versions(t1 + (t2 - t1) / 2) == {("canary", "fraud-detector"): "1"}
    assert versions(t2) == {("canary", "fraud-detector"): "2"}
    # After a later FAILED and a later CANCELLED release of the same model: still version 2.
    assert versions(history["end"]) == {("canary", "fraud-detector"): "2", ("canary", "churn"): "9",
                                        ("staging", "fraud-detector"): "5"}


def test_a_later_event_of_a_succeeded_release_is_not_an_arrival(history):
    """An alias set on the older release after the newer arrived does not bring the older one back."""
    record_event(history["first"], "alias set", data={"alias": "canary"})
    later = ReleaseEvent.objects.order_by("-created_at", "-id").first().created_at + timedelta(seconds=1)
    row = deployed_at(later, environment="canary", model="fraud-detector")[0]
    assert (row.model_version, row.since) == ("2", arrived(history["second"]))


def test_filters_and_what_each_row_says(history):
    rows = deployed_at(history["end"], environment="canary", model="fraud-detector")
    assert len(rows) == 1
    row = rows[0]
    second = history["second"]
    assert (row.release_id, row.image_digest, row.since, row.requested_by) == (
        second.pk, "sha256:" + "2" * 64, arrived(second), "owner")
    assert [(a["user"], a["stage"]) for a in row.approvals] == [("lead-hist", "ML lead")]
    assert deployed_at(history["end"], environment="production") == []
    assert len(deployed_at(history["end"], limit=2)) == 2  # bounded


def test_a_rollback_to_an_older_version_replaces_the_newer(history, owner):
    rollback = records.succeeded_release(owner, history["lead"], version="1", digest="sha256:" + "9" * 64)
    now = arrived(rollback) + timedelta(seconds=1)
    row = deployed_at(now, environment="canary", model="fraud-detector")[0]
    assert (row.model_version, row.release_id) == ("1", rollback.pk)


def test_one_query_for_the_rows_however_many_releases(history, owner):
    with CaptureQueriesContext(connection) as few:
        deployed_at(history["end"])
    for version in range(10, 16):
        records.succeeded_release(owner, history["lead"], model_name=f"model-{version}", version=str(version))
    with CaptureQueriesContext(connection) as many:
        rows = deployed_at(history["end"] + timedelta(minutes=5))
    assert len(rows) == 9 and len(many) == len(few) <= 3


# --- the API ---------------------------------------------------------------------------------------------------

def test_api_answers_the_question(history, api):
    t = arrived(history["first"]) + (arrived(history["second"]) - arrived(history["first"])) / 2
    response = api.get("/api/deployments/", {"environment": "canary", "at": t.isoformat()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 1
    row = body["results"][0]
    assert (row["model_name"], row["model_version"], row["release_id"]) == ("fraud-detector", "1",
                                                                            history["first"].pk)
    assert row["image_digest"] == "sha256:" + "1" * 64 and row["requested_by"] == "owner"
    assert row["approvals"][0]["user"] == "lead-hist" and row["approvals"][0]["self_approval"] is False
    assert api.get("/api/deployments/", {"at": "1999-01-01T00:00:00Z"}).json()["count"] == 0
    everything = api.get("/api/deployments/", {"page_size": 2}).json()  # default: now, all environments
    assert everything["count"] == 3 and len(everything["results"]) == 2 and everything["next"]


@pytest.mark.parametrize("params", [
    {"at": "yesterday"}, {"at": "2026-11-30"}, {"at": "2026-11-30T12:00:00"},  # no time zone: ambiguous
    {"at": "2026-13-01T00:00:00Z"}, {"environment": "no such/env"}, {"model": "-bad name-"},
    {"page_size": "0"},
])
def test_api_refuses_bad_parameters(db, api, params):
    response = api.get("/api/deployments/", params)
    assert response.status_code == 400, (params, response.content)


def test_api_extreme_instants_are_answered(history, api):
    for at in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        assert api.get("/api/deployments/", {"at": at}).status_code == 200


def test_api_needs_a_role(db, stranger_api):
    assert stranger_api.get("/api/deployments/").status_code == 403
    assert APIClient().get("/api/deployments/").status_code == 401


def test_api_reads_for_every_role(history, django_user_model):
    user = django_user_model.objects.create_user("auditor-api")
    user.groups.add(Group.objects.get(name="auditors"))
    assert token_client(user).get("/api/deployments/").json()["count"] == 3


# --- the admin page --------------------------------------------------------------------------------------------

@pytest.fixture
def auditor_client(client, django_user_model):
    user = django_user_model.objects.create_user("auditor-hist", password="pw-auditor-123", is_staff=True)
    user.groups.add(Group.objects.get(name="auditors"))
    client.force_login(user)
    return client


def test_admin_page_answers_and_is_linked_from_the_release_list(history, auditor_client):
    listing = auditor_client.get("/admin/releases/release/").content.decode()
    assert 'href="/admin/releases/release/deployments/"' in listing
    t = arrived(history["first"]) + (arrived(history["second"]) - arrived(history["first"])) / 2
    page = auditor_client.get("/admin/releases/release/deployments/", {"environment": "canary", "at": t.isoformat()})
    html = page.content.decode()
    assert page.status_code == 200 and "sha256:" + "1" * 64 in html and "sha256:" + "2" * 64 not in html
    assert f'/admin/releases/release/{history["first"].pk}/change/' in html and "lead-hist (ML lead)" in html
    now = auditor_client.get("/admin/releases/release/deployments/").content.decode()
    assert "sha256:" + "2" * 64 in now and "churn" in now


def test_admin_page_refuses_bad_input_and_staff_without_a_role(history, auditor_client, client, django_user_model):
    assert auditor_client.get("/admin/releases/release/deployments/", {"at": "noon"}).status_code == 400
    assert auditor_client.get("/admin/releases/release/deployments/", {"environment": "nowhere"}).status_code == 400
    staff = django_user_model.objects.create_user("staff-no-role", password="pw-staff-123", is_staff=True)
    other = client.__class__()
    other.force_login(staff)
    assert other.get("/admin/releases/release/deployments/").status_code == 403
