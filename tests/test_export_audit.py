"""The compliance export: CSV and JSON read back equal what is stored; [since, until); no formulas."""
import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.utils import timezone

from approvals.models import ApprovalDecision
from gateway_project.audit import export
from releases.models import Release, ReleaseEvent, ReleaseEvidence, ScanReport
from releases.statuses import Status
from tests import audit_records as records
from tests.evidence_helpers import approved_waiver, complete, scanned_release
from tests.factories import make_release


@pytest.fixture
def stored(owner, django_user_model):
    lead = records.approver(django_user_model, "=HYPERLINK(\"http://evil\")")  # a username a spreadsheet would run
    released = records.succeeded_release(owner, lead, version="2")
    ApprovalDecision.objects.filter(release=released).update(comment="+SUM(A1:A9) fine by me")
    blocked = make_release(owner, model_name="churn", ref="@champion", model_version="4", env="canary",
                           mlflow_run_id="-2+3")
    blocked = records.walk_to(blocked, Status.SCANNING_DEPENDENCIES)
    records.scan_report(blocked, blocking=[records.blocking_entry(0), records.blocking_entry(1)])
    unscanned = make_release(owner, model_name="@at-model", mlflow_run_id="'quoted")
    return [released, blocked, unscanned]


def expected(release) -> dict:
    """What the database holds for a release, read independently of the export."""
    report = ScanReport.objects.filter(release=release).order_by("-created_at", "-id").first()
    arrival = ReleaseEvent.objects.filter(release=release, to_status=Status.SUCCEEDED).exclude(
        from_status=Status.SUCCEEDED).first()
    decisions = ApprovalDecision.objects.filter(release=release).order_by("created_at", "id")
    return {
        "release_id": release.pk, "model_name": release.model_name, "requested_ref": release.requested_ref,
        "model_version": release.model_version, "environment": release.environment.name,
        "status": release.status, "requested_by": release.requested_by.username,
        "requested_at": release.created_at.isoformat(), "succeeded_at": arrival and arrival.created_at.isoformat(),
        "mlflow_run_id": release.mlflow_run_id, "image_reference": release.image_reference,
        "image_digest": release.image_digest,
        "build_digests": [b.image_digest for b in release.builds.order_by("started_at", "id") if b.image_digest],
        "scan_report_id": report and report.pk, "scan_passed": report and report.passed,
        "policy_version": None, "decision_summary": report.summary if report else "",
        "blocking_count": len(report.decision["blocking"]) if report else 0,
        "counts": report.counts if report else {},
        "approvals": [{"user": d.user.username, "stage": d.stage.name, "approved": d.approved, "comment": d.comment,
                       "self_approval": d.self_approval, "scan_report_id": d.scan_report_id,
                       "at": d.created_at.isoformat(), "counted": d.scan_report_id == (report and report.pk)}
                      for d in decisions],
        "attestation_digest": getattr(ReleaseEvidence.objects.latest_for(release.pk), "envelope_digest", ""),
    }


def read_csv(text: str) -> list[dict]:
    """As a reader of the documented format: undo the formula quote, parse the JSON cells and the types."""
    rows = []
    for raw in csv.DictReader(io.StringIO(text, newline="")):
        row = {key: export.restore(value) for key, value in raw.items()}
        for key in export.STRUCTURED:
            row[key] = json.loads(row[key])
        for key in ("release_id", "scan_report_id", "policy_version", "blocking_count"):
            row[key] = int(row[key]) if row[key] else None
        row["scan_passed"] = {"true": True, "false": False, "": None}[row["scan_passed"]]
        row["succeeded_at"] = row["succeeded_at"] or None
        rows.append(row)
    return rows


def run(*args) -> str:
    out = io.StringIO()
    call_command("export_audit", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def window(releases):
    start = min(r.created_at for r in releases)
    return start.isoformat(), (max(r.created_at for r in releases) + timedelta(seconds=1)).isoformat()


def test_json_reads_back_equal_to_what_is_stored(stored):
    since, until = window(stored)
    rows = json.loads(run("--since", since, "--until", until, "--format", "json"))
    assert rows == [expected(release) for release in stored]
    assert rows[0]["approvals"][0]["comment"] == "+SUM(A1:A9) fine by me"  # JSON keeps the text as stored
    assert rows[1]["blocking_count"] == 2 and rows[1]["scan_passed"] is False


def test_csv_reads_back_equal_to_what_is_stored(stored, tmp_path):
    since, until = window(stored)
    target = tmp_path / "audit.csv"
    run("--since", since, "--until", until, "--output", str(target))
    text = target.read_text(encoding="utf-8")
    assert read_csv(text) == [
        {**expected(r), "blocking_count": expected(r)["blocking_count"]} for r in stored]
    assert text.splitlines()[0] == ",".join(export.COLUMNS)


def test_csv_cells_that_would_be_formulas_are_neutralized(stored):
    since, until = window(stored)
    cells = [cell for row in csv.reader(io.StringIO(run("--since", since, "--until", until), newline=""))
             for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'-2+3" in cells and "'@at-model" in cells and "''quoted" in cells


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "'x", "plain", "", "a=b"])
def test_neutralize_and_restore_are_inverse(cell):
    safe = export.neutralize(cell)
    assert export.restore(safe) == cell
    assert not safe.startswith(export.FORMULA_START)


def test_the_range_includes_since_and_excludes_until(stored):
    first, second, third = stored
    Release.objects.filter(pk=second.pk).update(created_at=first.created_at + timedelta(hours=1))
    Release.objects.filter(pk=third.pk).update(created_at=first.created_at + timedelta(hours=2))
    since = first.created_at.isoformat()
    until = (first.created_at + timedelta(hours=2)).isoformat()
    ids = [row["release_id"] for row in json.loads(run("--since", since, "--until", until, "--format", "json"))]
    assert ids == [first.pk, second.pk]  # created exactly at since: in; exactly at until: out
    later = json.loads(run("--since", until, "--until", (first.created_at + timedelta(days=1)).isoformat(),
                           "--format", "json"))
    assert [row["release_id"] for row in later] == [third.pk]  # consecutive ranges: nothing twice, nothing lost


def test_a_date_means_its_midnight_utc(stored):
    today = timezone.now().date()
    rows = json.loads(run("--since", today.isoformat(), "--until", (today + timedelta(days=1)).isoformat(),
                          "--format", "json"))
    assert len(rows) == 3
    assert json.loads(run("--since", "2000-01-01", "--until", today.isoformat(), "--format", "json")) == []


@pytest.mark.parametrize("args", [["--since", "last week", "--until", "2026-01-01"],
                                  ["--since", "2026-01-02", "--until", "2026-01-01"]])
def test_bad_ranges_are_refused(db, args):
    with pytest.raises(CommandError):
        run(*args)


def test_many_releases_stream_in_chunks_with_queries_per_chunk(owner, django_user_model, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(export, "CHUNK", 5)
    for index in range(12):
        make_release(owner, model_name=f"bulk-{index}")
    with CaptureQueriesContext(connection) as captured:
        rows = list(export.rows(Release.objects.all()))
    assert [r["model_name"] for r in rows] == [f"bulk-{i}" for i in range(12)]
    assert len(captured) <= 1 + 3 * 5  # the releases, and 5 queries for each of the 3 chunks


def test_admin_export_action_as_an_auditor(client, stored, django_user_model):
    auditor = django_user_model.objects.create_user("auditor-export", password="pw-auditor-123", is_staff=True)
    auditor.groups.add(Group.objects.get(name="auditors"))
    client.force_login(auditor)
    response = client.post("/admin/releases/release/", {"action": "export_csv", "index": 0,
                                                        "_selected_action": [r.pk for r in stored]})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    assert sorted(row["release_id"] for row in read_csv(text)) == sorted(r.pk for r in stored)
    response = client.post("/admin/releases/release/", {"action": "export_json", "index": 0,
                                                        "_selected_action": [stored[0].pk]})
    assert json.loads(b"".join(response.streaming_content)) == [expected(stored[0])]


def test_the_attestation_digest_is_the_stored_envelope_digest(owner, advisories):
    approved_waiver()  # the demo set's pyyaml finding would block the release
    release = scanned_release(owner)
    stored = complete(release, "registry.example:5000/models/fraud-detector:v3", records.DIGEST)
    rows = list(export.rows(Release.objects.filter(pk=release.pk)))
    assert rows[0]["attestation_digest"] == stored.envelope_digest and stored.envelope_digest.startswith("sha256:")
    assert rows[0]["image_digest"] == records.DIGEST and rows[0]["status"] == Status.SUCCEEDED


def test_a_release_built_again_exports_its_newest_attestation(owner, advisories):
    approved_waiver()
    release = scanned_release(owner)
    first = complete(release, "registry.example:5000/models/fraud-detector:v3", records.DIGEST)
    Release.objects.filter(pk=release.pk).update(status=Status.BUILDING_IMAGE)  # an operator's repair
    second = complete(Release.objects.get(pk=release.pk), "registry.example:5000/models/fraud-detector:v3b",
                      "sha256:" + "cd" * 32)
    assert first.envelope_digest != second.envelope_digest
    rows = list(export.rows(Release.objects.filter(pk=release.pk)))
    assert rows[0]["attestation_digest"] == second.envelope_digest
