"""Waiting releases are evaluated again when advisories are synced or a waiver stops counting."""
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Task

from releases import jobs, queue, steps
from releases.jobs import scheduled_advisory_sync
from releases.lifecycle import transition
from releases.models import AdvisorySync, Release, ScanReport, Waiver
from releases.statuses import Status
from tests.factories import release_with_files
from tests.osv_records import CRITICAL_V3, DEFAULT_SET, record, sync_records, write

pytestmark = pytest.mark.django_db
NEW_CRITICAL = record("GHSA-new-0001", "requests", [{"introduced": "2.32.0"}, {"fixed": "2.32.9"}],
                      vector=CRITICAL_V3, modified="2026-11-01T00:00:00Z")


@pytest.fixture
def passed_release(owner, tmp_path):
    sync_records(tmp_path / "osv", DEFAULT_SET)
    release = release_with_files(owner, requirements_txt="requests==2.32.4\n")
    assert steps.scan_dependencies(release.pk) == "passed"
    return Release.objects.get(pk=release.pk)


def test_sync_adding_an_advisory_moves_a_waiting_release_to_scan_failed(passed_release, tmp_path):
    sync = sync_records(tmp_path / "osv2", [NEW_CRITICAL])
    assert jobs.reevaluate_waiting(f"advisory sync #{sync.pk}") == "1 release(s) moved to SCAN_FAILED"
    release = Release.objects.get(pk=passed_release.pk)
    assert release.status == Status.SCAN_FAILED
    assert release.status_message.startswith(f"Re-evaluated after advisory sync #{sync.pk}: Security scan failed.")
    assert "requests GHSA-new-0001" in release.status_message
    reports = list(ScanReport.objects.filter(release=release).order_by("id"))
    assert [r.passed for r in reports] == [True, False]  # the old report is kept
    event = release.events.get(to_status=Status.SCAN_FAILED)
    assert event.from_status == Status.SCAN_PASSED and event.data["trigger"] == f"advisory sync #{sync.pk}"


def test_releases_awaiting_approval_are_re_evaluated_too(passed_release, tmp_path):
    transition(passed_release, Status.AWAITING_APPROVAL)
    sync_records(tmp_path / "osv2", [NEW_CRITICAL])
    jobs.reevaluate_waiting("test")
    assert Release.objects.get(pk=passed_release.pk).status == Status.SCAN_FAILED


def test_a_release_that_still_passes_is_left_alone(passed_release, tmp_path):
    sync_records(tmp_path / "osv2", [record("GHSA-other", "flask", [{"introduced": "0"}], vector=CRITICAL_V3)])
    assert jobs.reevaluate_waiting("test") == "0 release(s) moved to SCAN_FAILED"
    assert Release.objects.get(pk=passed_release.pk).status == Status.SCAN_PASSED
    assert ScanReport.objects.filter(release=passed_release).count() == 1


def test_sync_command_enqueues_re_evaluation_only_when_something_changed(tmp_path, monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(queue, "async_task", lambda func, *args, **kw: sent.append((func, args)))
    write(tmp_path / "osv", DEFAULT_SET)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sync_advisories", str(tmp_path / "osv"), stdout=io.StringIO(), stderr=io.StringIO())
    assert [s[0] for s in sent] == ["releases.jobs.reevaluate_waiting"] and sent[0][1][0].startswith("advisory sync")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sync_advisories", str(tmp_path / "osv"), stdout=io.StringIO(), stderr=io.StringIO())
    assert len(sent) == 1  # nothing changed: nothing to look at again


def test_waiver_expiry_re_evaluates_the_releases_it_let_through(owner, django_user_model, tmp_path):
    sync_records(tmp_path / "osv", DEFAULT_SET)
    officer = django_user_model.objects.create_user("sec")
    waiver = Waiver.objects.create(advisory_id="CVE-2020-14343", reason="safe_load only", created_by=owner,
                                   approved_by=officer, approved_at=timezone.now(),
                                   expires_at=timezone.now() + timedelta(hours=1))
    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\n")
    assert steps.scan_dependencies(release.pk) == "passed"
    assert jobs.reevaluate_after_waiver_changes() == "nothing to re-evaluate"

    Waiver.objects.filter(pk=waiver.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs.reevaluate_after_waiver_changes() == "1 release(s) moved to SCAN_FAILED"
    release.refresh_from_db()
    assert release.status == Status.SCAN_FAILED
    assert release.status_message.startswith("Re-evaluated after a waiver expired or was revoked:")


@pytest.fixture
def inline_queue(monkeypatch):
    """django-q2's sync mode: what is enqueued runs at once, in this process and transaction, and its Task is saved."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def sync_due(passed_release, settings):
    """A waiting release, and the scheduled sync due: its advisory sync finished just over the interval ago."""
    settings.ADVISORY_SYNC_INTERVAL_HOURS = 6
    AdvisorySync.objects.update(finished_at=timezone.now() - timedelta(hours=6, minutes=1))
    return settings


def test_scheduled_sync_without_a_source_does_nothing(settings):
    settings.ADVISORY_SYNC_SOURCE = ""
    assert scheduled_advisory_sync() == "no source configured"
    assert not AdvisorySync.objects.exists()


def test_scheduled_sync_is_not_due_within_the_interval_of_a_successful_sync(settings, tmp_path):
    sync_records(tmp_path / "osv", DEFAULT_SET)
    settings.ADVISORY_SYNC_SOURCE = str(write(tmp_path / "source", [NEW_CRITICAL]))
    settings.ADVISORY_SYNC_INTERVAL_HOURS = 6
    AdvisorySync.objects.update(finished_at=timezone.now() - timedelta(hours=5, minutes=59))
    assert scheduled_advisory_sync() == "not due"
    assert AdvisorySync.objects.count() == 1


def test_due_scheduled_sync_syncs_the_source_and_re_evaluates_waiting_releases(
        passed_release, sync_due, tmp_path, inline_queue, django_capture_on_commit_callbacks):
    sync_due.ADVISORY_SYNC_SOURCE = str(write(tmp_path / "source", [*DEFAULT_SET, NEW_CRITICAL]))
    with django_capture_on_commit_callbacks(execute=True):
        result = scheduled_advisory_sync()
    sync = AdvisorySync.objects.latest("pk")
    assert result == f"sync #{sync.pk} succeeded"
    assert (sync.source, sync.created, sync.unchanged) == (sync_due.ADVISORY_SYNC_SOURCE, 1, len(DEFAULT_SET))
    task = Task.objects.get(name="reevaluate-waiting")  # django_q ran the enqueued task path
    assert task.success and task.result == "1 release(s) moved to SCAN_FAILED"
    release = Release.objects.get(pk=passed_release.pk)
    assert release.status == Status.SCAN_FAILED
    assert release.status_message.startswith(f"Re-evaluated after advisory sync #{sync.pk}:")
    assert scheduled_advisory_sync() == "not due"  # the sync just made counts


def test_due_scheduled_sync_that_changes_nothing_enqueues_nothing(passed_release, sync_due, tmp_path, inline_queue,
                                                                  django_capture_on_commit_callbacks):
    sync_due.ADVISORY_SYNC_SOURCE = str(tmp_path / "osv")  # what passed_release synced already
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = scheduled_advisory_sync()
    sync = AdvisorySync.objects.latest("pk")
    assert result == f"sync #{sync.pk} succeeded" and sync.unchanged == len(DEFAULT_SET) and not sync.changed
    assert callbacks == [] and not Task.objects.exists()
    assert Release.objects.get(pk=passed_release.pk).status == Status.SCAN_PASSED


def test_failed_scheduled_sync_enqueues_nothing_and_is_tried_again(passed_release, sync_due, tmp_path, inline_queue,
                                                                   django_capture_on_commit_callbacks):
    sync_due.ADVISORY_SYNC_SOURCE = str(tmp_path / "missing")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = scheduled_advisory_sync()
    sync = AdvisorySync.objects.latest("pk")
    assert sync.outcome == AdvisorySync.Outcome.FAILED and result == f"sync #{sync.pk} failed"
    assert callbacks == [] and not Task.objects.exists()
    assert Release.objects.get(pk=passed_release.pk).status == Status.SCAN_PASSED
    # A failed sync is not a recent successful one: the next run tries again.
    assert scheduled_advisory_sync() == f"sync #{sync.pk + 1} failed"


def test_re_evaluation_decides_on_the_model_files_and_the_dependencies_together(passed_release, tmp_path):
    from releases.models import EnvironmentPolicy, ModelFile

    relaxed = EnvironmentPolicy.current_for(passed_release.environment_id)
    relaxed.model_file_unknown = "warn"  # unknown imports block by default: here they warn, beside a new advisory
    relaxed.save()
    ModelFile.objects.create(release=passed_release, path="artifacts/scaler.pkl", size=40, sha256="c" * 64,
                             format="pickle", verdict="unknown", findings=[
                                 {"member": "", "kind": "import", "name": "mycompany.features.Scaler",
                                  "classification": "unknown", "reason": "not expected for python_function"}])
    sync = sync_records(tmp_path / "osv2", [NEW_CRITICAL])
    jobs.reevaluate_waiting(f"advisory sync #{sync.pk}")
    release = Release.objects.get(pk=passed_release.pk)
    assert release.status == Status.SCAN_FAILED
    decision = ScanReport.objects.filter(release=release).latest("created_at").decision
    assert [b["advisory_id"] for b in decision["blocking"]] == ["GHSA-new-0001"]
    assert [w["reason"] for w in decision["warnings"] if w.get("model_file")] == [
        "artifacts/scaler.pkl: mycompany.features.Scaler (unknown): this file runs `mycompany.features.Scaler` "
        "when loaded; we do not know it to be safe"]  # kept: one decision over both
    assert decision["model_files"] == {"files": 1, "verdicts": {"unknown": 1}, "omitted": 0}
