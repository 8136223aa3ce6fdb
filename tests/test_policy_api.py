"""Waivers (API and admin), policy versions in admin, the dry run, and decisions in the pipeline."""
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from releases import steps
from releases.models import Environment, EnvironmentPolicy, Release, ReleaseEvent, ScanReport, Waiver
from releases.scanning.store import DatabaseAdvisoryStore
from releases.statuses import Status
from releases.waivers import is_security_officer
from tests.conftest import token_client
from tests.factories import make_release, policy_version, release_with_files
from tests.mlflow_models import BARE, CLEAN, DUPLICATE_KEY, VULNERABLE

pytestmark = pytest.mark.django_db
URL = "/api/waivers/"


@pytest.fixture
def officers(django_user_model):
    group = Group.objects.get(name="security-officers")
    users = []
    for name in ("sec-alice", "sec-bob"):
        user = django_user_model.objects.create_user(name, password="pw-" + name + "-123")
        user.groups.add(group)
        users.append(user)
    return users


def waiver_body(**overrides):
    body = {"advisory_id": "CVE-2020-14343", "package": "PyYAML", "reason": "Only safe_load is used.",
            "expires_at": (timezone.now() + timedelta(days=30)).isoformat()}
    body.update(overrides)
    return body


def test_only_security_officers_create_waivers(api, officers):
    assert api.post(URL, waiver_body(), format="json").status_code == 403
    response = token_client(officers[0]).post(URL, waiver_body(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "pending" and body["created_by"] == "sec-alice" and body["package"] == "pyyaml"
    assert api.get(URL).json()["count"] == 1  # everyone signed in may read them


@pytest.mark.parametrize("overrides,field", [
    ({"expires_at": None}, "expires_at"),
    ({"expires_at": (timezone.now() - timedelta(minutes=1)).isoformat()}, "expires_at"),
    ({"expires_at": (timezone.now() + timedelta(days=91)).isoformat()}, "expires_at"),
    ({"reason": "   "}, "reason"),
    ({"advisory_id": "has space"}, "advisory_id"),
    ({"model_name": "../x"}, "model_name"),
    ({"environment": "moon"}, "environment"),
])
def test_waiver_validation(officers, overrides, field):
    body = waiver_body(**overrides)
    if body.get("expires_at") is None:
        body.pop("expires_at")
    response = token_client(officers[0]).post(URL, body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Waiver.objects.exists()


def test_approval_needs_a_second_officer_and_happens_once(api, officers):
    alice, bob = (token_client(u) for u in officers)
    waiver_id = alice.post(URL, waiver_body(), format="json").json()["id"]
    assert api.post(f"{URL}{waiver_id}/approve/").status_code == 403
    refused = alice.post(f"{URL}{waiver_id}/approve/")
    assert refused.status_code == 403 and "second security officer" in refused.json()["detail"]
    approved = bob.post(f"{URL}{waiver_id}/approve/")
    assert approved.status_code == 200 and approved.json()["state"] == "active"
    assert approved.json()["approved_by"] == "sec-bob"
    assert bob.post(f"{URL}{waiver_id}/approve/").status_code == 409
    assert alice.post(f"{URL}{waiver_id}/revoke/").json()["state"] == "revoked"
    assert alice.post(f"{URL}{waiver_id}/revoke/").status_code == 409


def test_waivers_require_authentication(client):
    assert client.get(URL).status_code in (401, 403)
    assert client.post("/api/policy/evaluate/", {}).status_code in (401, 403)


def _waiver(officers, approved=True, **fields):
    values = {"advisory_id": "CVE-2020-14343", "reason": "r", "created_by": officers[0],
              "expires_at": timezone.now() + timedelta(days=1)}
    values.update(fields)
    if approved:
        values.update(approved_by=officers[1], approved_at=timezone.now())
    return Waiver.objects.create(**values)


def test_pending_waiver_does_not_count_and_approved_one_does(owner, officers, advisories):
    pending = _waiver(officers, approved=False)
    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\n")
    steps.scan_dependencies(release.pk)
    assert Release.objects.get(pk=release.pk).status == Status.SCAN_FAILED

    Waiver.objects.filter(pk=pending.pk).update(approved_by=officers[1], approved_at=timezone.now())
    second = release_with_files(owner, requirements_txt="pyyaml==5.3.1\n")
    steps.scan_dependencies(second.pk)
    second.refresh_from_db()
    assert second.status == Status.SCAN_PASSED and f"waiver #{pending.pk}" in second.status_message
    report = ScanReport.objects.get(release=second)
    assert report.decision["waivers_used"] == [pending.pk] and report.decision["waived"][0]["package"] == "pyyaml"
    assert ReleaseEvent.objects.get(release=second).data["waivers_used"] == [pending.pk]


def test_policy_version_recorded_and_admin_change_adds_a_version(owner, advisories, admin_client):
    staging = EnvironmentPolicy.current_for(1)
    v = staging.version
    response = admin_client.post(f"/admin/releases/environmentpolicy/{staging.pk}/change/", {
        "environment": staging.environment_id, "block_at": "HIGH", "unknown_counts_as": "CRITICAL",
        "possible_findings": "warn", "unpinned_requirements": "warn", "unpinned_build_dependencies": "warn",
        "direct_references": "block", "resolve_dependencies": "require",
        "model_file_dangerous": "block", "model_file_unreadable": "block", "model_file_unknown": "warn",
        "metric_gates": "[]", "required_tags": "[]", "comment": "stricter"})
    assert response.status_code == 302
    versions = list(EnvironmentPolicy.objects.filter(environment_id=staging.environment_id)
                    .order_by("version").values_list("version", "block_at", "resolve_dependencies"))
    assert versions[-2:] == [(v, "CRITICAL", "warn"), (v + 1, "HIGH", "require")]  # the old version is kept
    release = release_with_files(owner, requirements_txt="requests==2.19.0\n")  # HIGH finding
    steps.scan_dependencies(release.pk)
    report = ScanReport.objects.get(release=release)
    assert report.policy.version == v + 1 and not report.passed
    assert report.decision["policy_version"] == v + 1 and f"(staging policy v{v + 1})" in report.summary


def test_invalid_gates_are_refused_in_admin(admin_client):
    staging = EnvironmentPolicy.current_for(1)
    versions = EnvironmentPolicy.objects.filter(environment_id=staging.environment_id).count()
    response = admin_client.post(f"/admin/releases/environmentpolicy/{staging.pk}/change/", {
        "environment": staging.environment_id, "block_at": "HIGH", "unknown_counts_as": "CRITICAL",
        "possible_findings": "warn", "unpinned_requirements": "warn", "unpinned_build_dependencies": "warn",
        "direct_references": "block", "resolve_dependencies": "warn",
        "metric_gates": '[{"metric": "accuracy", "op": "~", "value": 1}]', "required_tags": "[]"})
    assert response.status_code == 200 and b"Each gate is" in response.content
    assert EnvironmentPolicy.objects.filter(environment_id=staging.environment_id).count() == versions


def test_waiver_admin_is_for_security_officers(admin_client, client, officers, owner, django_user_model):
    client.force_login(owner)
    assert client.get("/admin/releases/waiver/add/").status_code == 302  # not staff: sent to the admin login
    assert admin_client.get("/admin/releases/waiver/add/").status_code == 200  # superuser
    staff = django_user_model.objects.create_user("staff-only", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/releases/waiver/add/").status_code == 403  # staff, but no security officer
    django_user_model.objects.filter(pk=officers[0].pk).update(is_staff=True)
    client.force_login(officers[0])
    assert client.get("/admin/releases/waiver/add/").status_code == 200


# --- dry run -------------------------------------------------------------------------------
@pytest.mark.mlflow
def test_dry_run_returns_the_decision_and_stores_nothing(api, use_mlflow, advisories, lock_index):
    counts = (Release.objects.count(), ScanReport.objects.count(), ReleaseEvent.objects.count())
    response = api.post("/api/policy/evaluate/", {"model_name": VULNERABLE, "model_alias": "champion",
                                                  "environment": "production"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["model_version"] == "1" and body["decision"]["passed"] is False
    assert body["decision"]["policy_version"] == policy_version("production")
    assert body["decision"]["environment"] == "production"
    assert {b["package"] for b in body["decision"]["blocking"]} >= {"pyyaml", "requests"}  # HIGH blocks here
    # production requires a lock, and the test index serves none of this model's requirements
    assert any(b.get("lock") == "unresolvable" for b in body["decision"]["blocking"])
    assert any(f["advisory_id"] == "GHSA-8q59-q68h-6hv4" for f in body["scan"]["findings"])
    assert (Release.objects.count(), ScanReport.objects.count(), ReleaseEvent.objects.count()) == counts

    clean = api.post("/api/policy/evaluate/", {"model_name": CLEAN, "model_version": "2",
                                               "environment": "staging"}, format="json")
    assert clean.status_code == 200 and clean.json()["decision"]["passed"] is True


@pytest.mark.mlflow
def test_dry_run_errors(api, use_mlflow, advisories):
    missing = api.post("/api/policy/evaluate/", {"model_name": "nope", "model_version": "1",
                                                 "environment": "staging"}, format="json")
    assert missing.status_code == 404 and "does not exist" in missing.json()["detail"]
    bad = api.post("/api/policy/evaluate/", {"model_name": "a/b", "model_version": "1", "environment": "staging"},
                   format="json")
    assert bad.status_code == 400 and "model_name" in bad.json()


def test_dry_run_with_mlflow_down_is_503(api, settings, advisories):
    from devtools.processes import free_port

    port = free_port()
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{port}"
    settings.MLFLOW_MAX_RETRIES = 0
    response = api.post("/api/policy/evaluate/", {"model_name": "m", "model_version": "1",
                                                  "environment": "staging"}, format="json")
    assert response.status_code == 503 and "could not be reached" in response.json()["detail"]
    assert str(port) not in response.content.decode() and "Error" not in response.json()["detail"].split("(")[0]


def test_dry_run_is_only_for_requesters(stranger_api):
    response = stranger_api.post("/api/policy/evaluate/", {"model_name": "m", "model_version": "1",
                                                           "environment": "staging"}, format="json")
    assert response.status_code == 403 and "requesters" in response.json()["detail"]


# --- one decision for the worker, the dry run and scan_env ------------------------------------
@pytest.mark.mlflow
@pytest.mark.parametrize("model,evidence", [
    (BARE, "the model has no environment files"),
    (DUPLICATE_KEY, "python_env.yaml:3: duplicate key 'dependencies'"),
])
def test_dry_run_worker_and_scan_env_give_the_same_blocked_decision(model, evidence, api, owner, use_mlflow,
                                                                    advisories, tmp_path):
    from releases.scanning import cli

    dry = api.post("/api/policy/evaluate/", {"model_name": model, "model_version": "1", "environment": "staging"},
                   format="json").json()
    assert dry["decision"]["passed"] is False and evidence in dry["decision"]["summary"]

    release = make_release(owner, model_name=model)
    assert steps.fetch_environment(release.pk) == "fetched"
    assert steps.scan_dependencies(release.pk) == "failed"
    release.refresh_from_db()
    assert release.status == "SCAN_FAILED" and evidence in release.status_message
    report = ScanReport.objects.get(release=release)
    assert report.decision["unreadable"] == dry["decision"]["unreadable"]

    paths = []
    for stored in release.files.all():
        path = tmp_path / stored.name
        path.write_text(stored.content)
        paths.append(str(path))
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(paths + ["--environment", "staging", "--json"], store=DatabaseAdvisoryStore(), stdout=out,
                    stderr=err)
    assert code == 1, err.getvalue()
    assert json.loads(out.getvalue())["summary"]["decision"]["unreadable"] == dry["decision"]["unreadable"]


# --- waivers: one normalisation, and no change once created ------------------------------------
def test_a_waiver_entered_in_admin_is_normalised_and_matches(admin_client, officers):
    response = admin_client.post("/admin/releases/waiver/add/", {
        "advisory_id": " CVE-2020-14343 ", "package": "PyYAML", "model_name": "", "reason": "safe_load only",
        "expires_at_0": (timezone.now() + timedelta(days=5)).strftime("%Y-%m-%d"), "expires_at_1": "12:00:00"})
    assert response.status_code == 302, response.content[:2000]
    waiver = Waiver.objects.get()
    assert (waiver.package, waiver.advisory_id) == ("pyyaml", "CVE-2020-14343")


def test_a_waiver_cannot_be_widened_after_it_was_created(officers, admin_client):
    waiver = _waiver(officers, approved=False, package="pyyaml", model_name="churn")
    for field, value in (("package", ""), ("model_name", ""), ("advisory_id", "GHSA-x"),
                         ("expires_at", waiver.expires_at + timedelta(days=1)), ("reason", "other")):
        stale = Waiver.objects.get(pk=waiver.pk)
        setattr(stale, field, value)
        with pytest.raises(Waiver.ChangeRefused, match="cannot change once the waiver exists"):
            stale.save()
    stored = Waiver.objects.get(pk=waiver.pk)
    assert (stored.package, stored.model_name, stored.reason) == ("pyyaml", "churn", "r")
    # Admin shows an existing waiver read-only: a second officer cannot edit, then approve it.
    page = admin_client.get(f"/admin/releases/waiver/{waiver.pk}/change/")
    assert page.status_code == 200 and b'name="package"' not in page.content
    posted = admin_client.post(f"/admin/releases/waiver/{waiver.pk}/change/", {"package": "", "reason": "x"})
    assert posted.status_code == 403 and Waiver.objects.get(pk=waiver.pk).package == "pyyaml"


def test_a_security_officer_is_whoever_holds_the_permission_not_a_group_name(django_user_model):
    plain = django_user_model.objects.create_user("plain", password="pw-plain-123")
    assert not is_security_officer(plain)
    plain.user_permissions.add(Permission.objects.get(codename="manage_waivers"))
    assert is_security_officer(django_user_model.objects.get(pk=plain.pk))  # fresh object: no permission cache
    renamed = Group.objects.create(name="secops")
    renamed.permissions.add(Permission.objects.get(codename="manage_waivers"))
    member = django_user_model.objects.create_user("secops-member", password="pw-secops-123")
    member.groups.add(renamed)
    assert is_security_officer(member)
    assert Group.objects.get(name="security-officers").permissions.filter(codename="manage_waivers").exists()


def test_saving_a_policy_always_adds_the_next_version(owner):
    staging = Environment.objects.get(name="staging")
    current = EnvironmentPolicy.current_for(staging.pk)
    v = current.version
    current.block_at = "HIGH"
    current.version = 1  # a stale or forged version number is ignored
    current.save()
    assert EnvironmentPolicy.objects.filter(environment=staging).count() == v + 1
    assert EnvironmentPolicy.current_for(staging.pk).version == v + 1
    assert EnvironmentPolicy.objects.get(environment=staging, version=1).block_at == "CRITICAL"  # untouched
    fresh = EnvironmentPolicy(environment=staging, block_at="LOW")
    fresh.save()
    assert (fresh.version, EnvironmentPolicy.current_for(staging.pk).block_at) == (v + 2, "LOW")
