"""Multi-stage approvals and the promotion chain."""
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import tasks as approval_tasks
from approvals.models import ApprovalDecision, ApprovalRule, ApprovalStage
from releases.models import Environment, Release, ReleaseEvent, ScanReport
from releases.statuses import Status
from tests.conftest import token_client
from tests.factories import ensure_environments, make_release
from tests.lock_fixtures import with_lock

pytestmark = pytest.mark.django_db


def member(django_user_model, name, *groups):
    user = django_user_model.objects.create_user(name, password=f"pw-{name}-123")
    for group in groups:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def people(django_user_model):
    return {
        "lead": member(django_user_model, "lead", "ml-leads"),
        "lead2": member(django_user_model, "lead2", "ml-leads"),
        "sec": member(django_user_model, "sec", "security-officers"),
        "sre": member(django_user_model, "sre", "sre"),
        "both": member(django_user_model, "both", "ml-leads", "sre"),
    }


def waiting_release(owner, env="production", **fields):
    release = make_release(owner, status=Status.AWAITING_APPROVAL, env=env, model_version="3", **fields)
    ScanReport.objects.create(release=release, scanner="gateway-osv", started_at=timezone.now(), duration_ms=1,
                              passed=True, summary="Security scan passed.")
    return release


def approve(user, release, comment=""):
    return token_client(user).post(f"/api/releases/{release.pk}/approve/", {"comment": comment}, format="json")


def reject(user, release, comment="not ready"):
    return token_client(user).post(f"/api/releases/{release.pk}/reject/", {"comment": comment}, format="json")


def status_of(release):
    return Release.objects.get(pk=release.pk).status


def test_environment_without_stages_is_approved_automatically_with_a_reason(owner):
    release = make_release(owner, status=Status.SCAN_PASSED, env="staging")
    assert approval_tasks.request_approval(release.pk) == "approved"
    event = ReleaseEvent.objects.get(release=release)
    assert (event.to_status, event.message) == (Status.APPROVED,
                                                "No approval required: staging has no approval stages.")


def test_environment_with_stages_waits(owner):
    release = make_release(owner, status=Status.SCAN_PASSED, env="production")
    assert approval_tasks.request_approval(release.pk) == "awaiting approval"
    assert "ML lead → Security → SRE" in ReleaseEvent.objects.get(release=release).message
    assert approval_tasks.request_approval(release.pk) == "skipped"  # delivered twice


def test_three_stages_in_order(owner, people):
    release = waiting_release(owner)
    refused = approve(people["sec"], release)  # Security's stage is not open yet
    assert refused.status_code == 403 and "needs a member of ml-leads" in refused.json()["detail"]
    assert approve(people["lead"], release).json()["stages"][0]["satisfied"] is True
    assert approve(people["sec"], release).status_code == 200
    assert status_of(release) == Status.AWAITING_APPROVAL
    body = approve(people["sre"], release).json()
    assert body["status"] == Status.APPROVED and all(s["satisfied"] for s in body["stages"])
    approved = ReleaseEvent.objects.get(release=release, to_status=Status.APPROVED)
    assert approved.actor == people["sre"] and "ML lead, Security, SRE" in approved.message


def test_self_approval_refused_unless_configured_then_audited(owner, people):
    owner.groups.add(Group.objects.get(name="ml-leads"))
    release = waiting_release(owner)
    refused = approve(owner, release)
    assert refused.status_code == 403 and "does not allow self-approval" in refused.json()["detail"]
    Environment.objects.filter(name="production").update(allow_self_approval=True)
    assert approve(owner, release).status_code == 200
    decision = ApprovalDecision.objects.get(release=release, user=owner)
    assert decision.self_approval is True
    assert ReleaseEvent.objects.filter(release=release, data__self_approval=True).exists()


def test_the_mlflow_run_author_is_treated_like_the_requester(owner, people):
    release = waiting_release(owner, mlflow_run_author="lead")
    response = approve(people["lead"], release)
    assert response.status_code == 403 and "authored its MLflow run" in response.json()["detail"]


def test_the_same_person_in_two_groups_counts_once(owner, people):
    stage = ApprovalStage.objects.get(environment__name="canary", order=1)
    ApprovalRule.objects.create(stage=stage, group=Group.objects.get(name="sre"), required_count=1)
    release = waiting_release(owner, env="canary")
    body = approve(people["both"], release).json()
    assert body["status"] == Status.AWAITING_APPROVAL
    assert sorted(r["still_needed"] for r in body["stages"][0]["rules"]) == [0, 1]
    assert approve(people["lead"], release).json()["status"] == Status.APPROVED  # lead fills ml-leads, both fills sre


def test_one_person_counts_once_per_release_across_stages(owner, people):
    release = waiting_release(owner)
    approve(people["both"], release)  # fills the ML lead stage
    approve(people["sec"], release)
    response = approve(people["both"], release)  # also in sre: may not count again at the SRE stage
    assert response.status_code == 403 and "one person counts once" in response.json()["detail"]


def test_rejection_after_partial_approval_ends_the_release(owner, people):
    release = waiting_release(owner)
    approve(people["lead"], release)
    assert reject(people["sec"], release, "CVE waiver missing").json()["status"] == Status.REJECTED
    event = ReleaseEvent.objects.get(release=release, to_status=Status.REJECTED)
    assert event.message == "Rejected by sec at stage 'Security': CVE waiver missing"
    assert approve(people["sre"], release).status_code == 409


def test_rejection_needs_a_comment(owner, people):
    release = waiting_release(owner)
    response = reject(people["lead"], release, comment="  ")
    assert response.status_code == 400 and "comment" in response.json()
    assert status_of(release) == Status.AWAITING_APPROVAL


def test_a_changed_vote_and_approving_twice(owner, people):
    stage = ApprovalStage.objects.get(environment__name="canary", order=1)
    ApprovalRule.objects.filter(stage=stage).update(required_count=2)
    release = waiting_release(owner, env="canary")
    approve(people["lead"], release)
    approve(people["lead"], release)  # twice: still one vote
    assert ApprovalDecision.objects.filter(release=release).count() == 1
    assert status_of(release) == Status.AWAITING_APPROVAL
    assert reject(people["lead"], release, "found a regression").json()["status"] == Status.REJECTED
    assert "changed from approve" in ReleaseEvent.objects.filter(release=release).exclude(
        to_status=Status.REJECTED).last().message


def test_approvals_stop_counting_when_the_release_is_re_evaluated(owner, people):
    release = waiting_release(owner)
    approve(people["lead"], release)
    ScanReport.objects.create(release=release, scanner="gateway-osv", started_at=timezone.now(), duration_ms=1,
                              passed=True, summary="re-evaluated")
    body = token_client(people["lead"]).get(f"/api/releases/{release.pk}/approvals/").json()
    assert body["stages"][0]["satisfied"] is False and body["decisions"] == []
    assert body["can_decide"] is True


def test_not_awaiting_approval_is_409(owner, people):
    release = make_release(owner, status=Status.SCAN_PASSED, env="production")
    assert approve(people["lead"], release).status_code == 409


def test_approvals_view_and_pending_list(owner, people, api):
    release = waiting_release(owner)
    body = api.get(f"/api/releases/{release.pk}/approvals/").json()
    assert [s["name"] for s in body["stages"]] == ["ML lead", "Security", "SRE"]
    assert body["stages"][0]["open"] is True and body["stages"][0]["rules"] == [
        {"group": "ml-leads", "required": 1, "approvals": 0, "still_needed": 1}]
    assert body["can_decide"] is False and "needs a member of ml-leads" in body["reason"]
    pending = token_client(people["lead"]).get("/api/approvals/pending/").json()
    assert [r["id"] for r in pending["results"]] == [release.pk] and pending["results"][0]["stage"] == "ML lead"
    assert token_client(people["sec"]).get("/api/approvals/pending/").json()["count"] == 0


def test_approval_endpoints_require_authentication(client, owner):
    release = waiting_release(owner)
    for method, path in (("get", f"/api/releases/{release.pk}/approvals/"),
                         ("post", f"/api/releases/{release.pk}/approve/"),
                         ("post", f"/api/releases/{release.pk}/reject/"), ("get", "/api/approvals/pending/")):
        assert getattr(client, method)(path).status_code in (401, 403)


def test_expiry(owner):
    release = waiting_release(owner)
    Release.objects.filter(pk=release.pk).update(updated_at=timezone.now() - timedelta(hours=71))
    assert approval_tasks.expire_approvals() == "0 expired"
    Release.objects.filter(pk=release.pk).update(updated_at=timezone.now() - timedelta(hours=73))
    assert approval_tasks.expire_approvals() == "1 expired"
    release.refresh_from_db()
    assert release.status == Status.REJECTED and release.status_message == "approval expired"


# --- promotion chain ----------------------------------------------------------------------
BODY = {"model_name": "fraud-detector", "model_version": "3", "target_environment": "canary"}


def test_promotion_refused_without_the_predecessor(api):
    response = api.post("/api/releases/", BODY, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == ("canary requires a SUCCEEDED release of fraud-detector version 3 in "
                                         "staging first.")
    assert not Release.objects.exists()


def test_promotion_allowed_after_success_and_soak(api, owner):
    # canary and production require a dependency lock: the releases they promote from were locked
    with_lock(make_release(owner, status=Status.SUCCEEDED, model_name="fraud-detector", model_version="3",
                           env="staging"))
    make_release(owner, status=Status.SUCCEEDED, model_name="fraud-detector", model_version="2", env="canary")
    assert api.post("/api/releases/", BODY, format="json").status_code == 201
    production = {**BODY, "target_environment": "production"}
    assert api.post("/api/releases/", production, format="json").status_code == 409  # v3 not in canary
    Environment.objects.filter(name="canary").update(min_soak_minutes=30)
    canary_v3 = make_release(owner, status=Status.SUCCEEDED, model_name="fraud-detector", model_version="3",
                             env="canary")
    with_lock(canary_v3)
    Environment.objects.filter(name="production").update(min_soak_minutes=30)
    refused = api.post("/api/releases/", production, format="json")
    assert refused.status_code == 409 and "soaked in canary for 30 minutes" in refused.json()["detail"]
    Release.objects.filter(pk=canary_v3.pk).update(updated_at=timezone.now() - timedelta(minutes=31))
    assert api.post("/api/releases/", production, format="json").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_transition_exactly_once(django_user_model, owner):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks (CI runs it there)")
    ensure_environments()
    leads = [member(django_user_model, f"lead{i}", "ml-leads") for i in range(6)]
    release = waiting_release(owner, env="canary")
    barrier = threading.Barrier(len(leads))
    codes = []

    def run(user):
        try:
            token_client(user)  # create the token before the race
            barrier.wait(timeout=10)
            codes.append(approve(user, release).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(u,)) for u in leads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(codes).count(200) >= 1 and set(codes) <= {200, 409}
    assert status_of(release) == Status.APPROVED
    assert ReleaseEvent.objects.filter(release=release, to_status=Status.APPROVED).count() == 1
    assert ApprovalDecision.objects.filter(release=release).count() == codes.count(200)


def test_pending_list_is_paginated_with_a_query_count_that_does_not_grow(owner, people):
    lead = token_client(people["lead"])
    ApprovalDecision.objects.create(release=(first := waiting_release(owner)), user=people["lead2"],
                                    scan_report=ScanReport.objects.get(release=first), approved=True,
                                    stage=ApprovalStage.objects.get(environment__name="production", order=1))

    def queries_for_pending():
        with CaptureQueriesContext(connection) as captured:
            body = lead.get("/api/approvals/pending/?page_size=2").json()
        return len(captured), body

    queries_for_pending()  # the token's first use records last_used_at (one write a minute)
    few, _ = queries_for_pending()
    for _ in range(6):
        waiting_release(owner)
    many, body = queries_for_pending()
    assert many == few  # no query per release
    assert body["count"] == 6 and len(body["results"]) == 2 and body["next"]  # the first is past ML lead
    assert first.pk not in [r["id"] for r in body["results"]]
    assert lead.get(body["next"]).json()["results"][0]["id"] not in [r["id"] for r in body["results"]]
