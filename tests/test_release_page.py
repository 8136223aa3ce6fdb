"""A release's admin page tells its whole story, and stays small however large the record grows."""
import pytest
from django.contrib.auth.models import Group

from releases.lifecycle import record_event, transition
from releases.models import Finding, Release, ReleaseEvent, ReleaseEvidence
from releases.statuses import Status, Step
from tests import audit_records as records
from tests.evidence_helpers import approved_waiver, complete, scanned_release
from tests.factories import make_release


@pytest.fixture
def auditor_client(client, django_user_model):
    user = django_user_model.objects.create_user("auditor-page", password="pw-auditor-123", is_staff=True)
    user.groups.add(Group.objects.get(name="auditors"))
    client.force_login(user)
    return client


def page(client, release) -> str:
    response = client.get(f"/admin/releases/release/{release.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_shows_timeline_scan_decision_approvals_build_and_digest(auditor_client, owner, django_user_model):
    lead = records.approver(django_user_model, "lead-lena")
    release = records.succeeded_release(owner, lead, model_name="fraud-detector", version="7")
    record_event(release, "alias not set", data={ReleaseEvent.STAFF_DETAIL: "mlflow at 10.1.2.3:5000 said 503",
                                                 "alias": "production"})
    blocked = make_release(owner, model_name="churn", env="canary")
    blocked = transition(blocked, Status.SCANNING_DEPENDENCIES, message="scanning")
    report = records.scan_report(blocked, blocking=[records.blocking_entry(0), records.blocking_entry(1, "HIGH")],
                                 counts={"CRITICAL": 1, "HIGH": 9})
    transition(blocked, Status.SCAN_FAILED, message="blocked by 2 findings")

    html = page(auditor_client, release)
    assert "to BUILDING_IMAGE" in html and "image pushed" in html  # the timeline, with messages
    assert "BUILDING_IMAGE → SUCCEEDED" in html
    succeeded = ReleaseEvent.objects.get(release=release, from_status=Status.BUILDING_IMAGE,
                                         to_status=Status.SUCCEEDED)
    assert f'<td title="chain hash {succeeded.chain_hash}">{succeeded.sequence}</td>' in html  # the audit chain
    assert "staff only:" in html and "mlflow at 10.1.2.3:5000 said 503" in html and "alias: production" in html
    assert "lead-lena" in html and "looks right" in html and "approved" in html  # the approval and its comment
    assert f"#{release.scan_reports.get().pk}" in html  # which report the approver saw
    assert records.DIGEST in html and "registry.local/models/fraud-detector:7" in html  # build and digest
    assert "Decision: PASSED" in html
    # Written straight to SUCCEEDED here, not through the build completion that attests: the page says so.
    assert "No attestation is kept for this release — a SUCCEEDED release without one" in html

    html = page(auditor_client, blocked)
    assert "Decision: BLOCKED" in html
    assert "<th scope=\"row\">CRITICAL</th><td>1</td><td>0</td>" in html  # severity counts, definite and possible
    assert "<th scope=\"row\">HIGH</th><td>9</td><td>0</td>" in html
    assert "<th scope=\"row\">MEDIUM</th><td>0</td><td>3</td>" in html
    assert "Blocking (2)" in html and "GHSA-block-0" in html and "GHSA-block-1" in html  # blocking findings
    assert "unpinned requirement loose" in html  # a warning
    assert f"/admin/releases/finding/?report={report.pk}" in html
    assert "{&quot;passed&quot;" not in html and '{"passed"' not in html  # no raw decision JSON in the story


def test_self_approval_and_voided_votes_are_marked(auditor_client, owner, django_user_model):
    lead = records.approver(django_user_model, "lead-sam")
    release = make_release(owner, env="canary", status=Status.SCANNING_DEPENDENCIES)
    first = records.scan_report(release)
    records.approve(release, first, lead, comment="on the old report")
    latest = records.scan_report(release)
    records.approve(release, latest, owner, comment="my own", self_approval=True)
    html = page(auditor_client, release)
    assert "SELF-APPROVAL" in html and "my own" in html
    assert f"#{first.pk} (voided: an earlier report)" in html and f"#{latest.pk}</td>" in html


def test_a_huge_record_makes_a_bounded_page(auditor_client, owner):
    small = make_release(owner, model_name="small", status=Status.SCANNING_DEPENDENCIES)
    records.scan_report(small, findings=5, blocking=[records.blocking_entry(0)])
    small_size = len(page(auditor_client, small))

    huge = make_release(owner, model_name="huge", status=Status.SCANNING_DEPENDENCIES)
    report = records.scan_report(huge, findings=5000, blocking=[records.blocking_entry(i) for i in range(5000)])
    for index in range(300):
        record_event(huge, f"event number {index}", data={"n": index, "blob": "x" * 2000})
    html = page(auditor_client, huge)
    assert Finding.objects.filter(report=report).count() == 5000
    assert "event number 299" in html and "event number 249" not in html  # the newest 50, newest first
    assert f'href="/admin/releases/releaseevent/?release={huge.pk}">All 300 events' in html
    assert "Blocking (5000, the first 50 shown)" in html and "All 5000 findings" in html
    assert len(html) < small_size + 250_000, (small_size, len(html))  # 50 events of 0.5 kB shown, not 300 of 2


def test_a_failed_release_shows_its_step_and_message(auditor_client, owner):
    release = make_release(owner)
    transition(release, Status.FAILED, message="MLflow is unreachable", fields={"failed_step": Step.FETCH},
               data={ReleaseEvent.STAFF_DETAIL: "connect to 127.0.0.1:5999 refused"})
    html = page(auditor_client, release)
    assert "PENDING → FAILED" in html and "MLflow is unreachable" in html and "127.0.0.1:5999 refused" in html
    assert "Not scanned yet." in html


def test_the_attestation_is_verified_on_the_page(auditor_client, owner, advisories):
    approved_waiver()  # the demo set's pyyaml finding would block the release
    release = scanned_release(owner)
    stored = complete(release, "registry.example:5000/models/fraud-detector:v3", records.DIGEST)
    release = Release.objects.get(pk=release.pk)
    html = page(auditor_client, release)
    assert "Verified on this page" in html and stored.envelope_digest in html and stored.sbom_digest in html
    assert f"<code>{records.DIGEST}</code> (the release's digest)" in html
    Finding.objects.filter(report__release=release).order_by("id").first().delete()  # someone hides a finding
    html = page(auditor_client, release)
    assert "NOT VERIFIED" in html and "changed since it was attested" in html


def test_a_swapped_subject_digest_is_flagged(auditor_client, owner, advisories):
    approved_waiver()  # the demo set's pyyaml finding would block the release
    release = scanned_release(owner)
    complete(release, "registry.example:5000/models/fraud-detector:v3", records.DIGEST)
    Release.objects.filter(pk=release.pk).update(image_digest="sha256:" + "ee" * 32)  # production runs another image
    html = page(auditor_client, Release.objects.get(pk=release.pk))
    assert "NOT VERIFIED" in html and "NOT the release's digest" in html
    assert ReleaseEvidence.objects.filter(release=release).count() == 1


def test_a_promoted_build_names_the_build_and_digest_it_copied(auditor_client, owner, django_user_model):
    from releases.models import Build

    lead = records.approver(django_user_model, "lead-promo")
    staging = records.succeeded_release(owner, lead, env="staging", version="4", digest="sha256:" + "5" * 64)
    source = staging.builds.get()
    canary = make_release(owner, model_name="fraud-detector", ref="4", env="canary")
    Build.objects.create(release=canary, backend="promote", kind=Build.Kind.PROMOTE, source_build=source,
                         state=Build.State.SUCCEEDED, image_digest="sha256:" + "5" * 64)
    html = page(auditor_client, canary)
    assert f"promote of build #{source.pk} (release" in html and f"/admin/releases/release/{staging.pk}/change/" in html
    listing = auditor_client.get("/admin/releases/build/?kind=promote").content.decode()
    assert f"build #{source.pk}" in listing
