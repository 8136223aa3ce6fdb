"""An admin list page makes as many queries for 2 rows as for 40: no per-row query (N+1)."""
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import ApprovalDecision
from releases.lifecycle import transition
from releases.models import Build, Finding, Release, ReleaseEvent, ReleaseEvidence, ScanReport, Waiver
from releases.statuses import Status
from tests import audit_records as records
from tests.factories import make_release

LISTS = [Release, ReleaseEvent, ScanReport, Finding, ApprovalDecision, Build, Waiver, ReleaseEvidence]


@pytest.fixture
def auditor_client(client, django_user_model):
    user = django_user_model.objects.create_user("auditor-counts", password="pw-auditor-123", is_staff=True)
    user.groups.add(Group.objects.get(name="auditors"))
    client.force_login(user)
    return client


def add_rows(count: int, django_user_model, start: int) -> None:
    """`count` of each listed row, each release with its own requester and approver (nothing shared to cache)."""
    officer = records.approver(django_user_model, f"officer-{start}", "security-officers")
    for index in range(start, start + count):
        owner = records.approver(django_user_model, f"requester-{index}", "requesters")
        lead = records.approver(django_user_model, f"lead-{index}")
        release = make_release(owner, model_name=f"model-{index}", env="canary")
        release = transition(release, Status.SCANNING_DEPENDENCIES, actor=owner)
        report = records.scan_report(release, findings=1)
        records.approve(release, report, lead)
        build = Build.objects.create(release=release, backend="local", state=Build.State.SUCCEEDED,
                                     image_digest="sha256:x")
        # A row as attest writes it (its content does not matter to the list: the list never loads it).
        ReleaseEvidence.objects.create(release=release, build=build, subject_name="registry.local/models/m",
                                       subject_digest="sha256:x", predicate_type="p", key_id="k", envelope="{}",
                                       envelope_digest="sha256:e", sbom="{}", sbom_digest="sha256:s")
        Waiver.objects.create(advisory_id=f"GHSA-{index}", reason="r", expires_at=timezone.now() + timedelta(days=1),
                              created_by=officer, approved_by=lead, approved_at=timezone.now(),
                              environment=release.environment)


def queries(client, model, url_suffix="") -> int:
    url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/{url_suffix}"
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def test_list_queries_do_not_depend_on_the_number_of_rows(auditor_client, django_user_model, monkeypatch):
    for model in LISTS:
        monkeypatch.setattr(admin.site._registry[model], "list_per_page", 100)
    add_rows(2, django_user_model, 0)
    few = {model._meta.label: queries(auditor_client, model) for model in LISTS}
    add_rows(20, django_user_model, 100)
    many = {model._meta.label: queries(auditor_client, model) for model in LISTS}
    assert Release.objects.count() == 22 and Finding.objects.count() == 22
    assert many == few


def test_list_queries_do_not_depend_on_the_page_size(auditor_client, django_user_model, monkeypatch):
    add_rows(12, django_user_model, 0)
    counts = {}
    for per_page in (3, 50):
        for model in LISTS:
            monkeypatch.setattr(admin.site._registry[model], "list_per_page", per_page)
        counts[per_page] = {model._meta.label: queries(auditor_client, model) for model in LISTS}
    assert counts[3] == counts[50]


def test_filtered_lists_too(auditor_client, django_user_model):
    """The filters of the auditor screens (severity, model, requester, release) add no per-row query."""
    add_rows(2, django_user_model, 0)
    filters = {Release: "?severity=HIGH&requester=requester-0", ScanReport: "?severity=HIGH",
               Finding: "?severity=HIGH&model=model-1", ReleaseEvent: "?model=model-0",
               ApprovalDecision: "?requester=requester-1", Build: "?model=model-1"}
    few = {model: queries(auditor_client, model, query) for model, query in filters.items()}
    add_rows(10, django_user_model, 100)
    assert {model: queries(auditor_client, model, query) for model, query in filters.items()} == few
