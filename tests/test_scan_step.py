"""The SCANNING_DEPENDENCIES step: report stored, release passed or failed, operational failures retryable."""
import pytest

from releases import steps
from releases.models import Release, ScanReport
from releases.services import retry_release
from releases.statuses import Status, Step
from tests.factories import make_release, policy_version, release_with_files
from tests.mlflow_models import CLEAN, CONDA, VULNERABLE
from tests.osv_records import DEFAULT_SET, sync_records

pytestmark = pytest.mark.django_db


def test_vulnerable_files_fail_the_scan_with_the_original_message(owner, advisories):
    staging = policy_version("staging")
    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\npillow==8.0.0\n", MLmodel="flavors: {}\n")
    assert steps.scan_dependencies(release.pk) == "failed"
    release.refresh_from_db()
    assert release.status == Status.SCAN_FAILED
    assert release.status_message == (
        "Security scan failed. Found 2 CRITICAL vulnerabilities. 1 of them has unknown severity, counted as "
        f"CRITICAL. Blocking: pyyaml GHSA-8q59-q68h-6hv4, pillow PYSEC-2021-35. (staging policy v{staging})")
    report = ScanReport.objects.get(release=release)
    assert not report.passed and report.advisory_sync_id == advisories.pk
    assert report.counts["CRITICAL"] == 1 and report.counts["UNKNOWN"] == 1
    assert report.policy.version == staging and report.decision["policy_version"] == staging
    assert {(f.package, f.version, f.definite) for f in report.findings.all()} == {
        ("pyyaml", "5.3.1", True), ("pillow", "8.0.0", True)}
    event = release.events.get(to_status=Status.SCAN_FAILED)
    assert event.data["scan_report"] == report.pk and len(event.data["blocking"]) == 2


def test_clean_files_pass(owner, advisories):
    release = release_with_files(owner, requirements_txt="pyyaml==6.0.2\nrequests==2.32.3\n")
    assert steps.scan_dependencies(release.pk) == "passed"
    release.refresh_from_db()
    assert release.status == Status.SCAN_PASSED
    assert "1 finding(s) below the CRITICAL threshold" in release.status_message


def test_model_without_environment_files_fails_closed(owner, advisories):
    release = release_with_files(owner, MLmodel="flavors: {}\n")
    steps.scan_dependencies(release.pk)
    release.refresh_from_db()
    assert release.status == Status.SCAN_FAILED and "no environment files" in release.status_message


def test_empty_advisory_database_is_an_operational_failure_then_retry_works(owner, tmp_path):
    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\n")
    assert steps.scan_dependencies(release.pk) == "failed"
    release.refresh_from_db()
    assert (release.status, release.failed_step) == (Status.FAILED, Step.SCAN)
    assert "sync_advisories" in release.status_message
    assert not ScanReport.objects.exists()

    sync_records(tmp_path / "osv", DEFAULT_SET)
    release = retry_release(release, owner)
    assert release.status == Status.SCANNING_DEPENDENCIES
    steps.scan_dependencies(release.pk)
    assert Release.objects.get(pk=release.pk).status == Status.SCAN_FAILED


def test_scan_task_delivered_twice_stores_one_report(owner, advisories):
    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\n")
    assert steps.scan_dependencies(release.pk) == "failed"
    assert steps.scan_dependencies(release.pk) == steps.SKIPPED
    assert ScanReport.objects.filter(release=release).count() == 1
    assert release.events.count() == 1


def test_unexpected_scanner_crash_is_failed_not_scan_failed(owner, advisories, monkeypatch):
    from releases.scanning import runner

    monkeypatch.setattr(runner, "scan", lambda *a, **k: 1 / 0)
    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\n")
    steps.scan_dependencies(release.pk)
    release.refresh_from_db()
    assert release.status == Status.FAILED and "ZeroDivisionError" in release.status_message


def test_rescan_after_scan_failed_keeps_the_old_report(owner, advisories):
    from releases.lifecycle import transition

    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\n")
    steps.scan_dependencies(release.pk)
    transition(Release.objects.get(pk=release.pk), Status.SCANNING_DEPENDENCIES, actor=owner, message="rescan")
    steps.scan_dependencies(release.pk)
    assert ScanReport.objects.filter(release=release).count() == 2


@pytest.mark.parametrize("name, text", [
    ("conda_yaml", "dependencies:\n  - pyyaml=5.3\n"),  # conda: 5.3.*
    ("conda_yaml", "dependencies:\n  - pyyaml<5.4\n"),
    ("conda_yaml", "dependencies:\n  - pyyaml>=5.1,<5.4\n"),
    ("conda_yaml", "dependencies:\n  - pyyaml 5.3*\n"),
    ("requirements_txt", "pyyaml<5.4\n"),  # pip: the same rule
    ("requirements_txt", "pyyaml~=5.3.0\n"),
])
def test_a_range_whose_every_version_is_affected_fails_the_scan(owner, advisories, name, text):
    release = release_with_files(owner, **{name: text})
    assert steps.scan_dependencies(release.pk) == "failed"
    release.refresh_from_db()
    assert release.status == Status.SCAN_FAILED
    assert "Blocking: pyyaml GHSA-8q59-q68h-6hv4" in release.status_message
    finding = ScanReport.objects.get(release=release).findings.get(package="pyyaml")
    assert finding.definite and not finding.version and finding.fixed_versions == ["5.4"]  # no single version


@pytest.mark.parametrize("text, expected", [
    ("pyyaml>=5.1", "possible"),  # 5.4 and later are admitted
    ("pyyaml<=5.4", "possible"),
    ("pyyaml<5.4rc1", "possible"),  # conda orders pre-release bounds otherwise: not known, so possible
    ("pyyaml=5.4", None),
])
def test_a_range_that_admits_a_fixed_version_stays_possible(owner, advisories, text, expected):
    release = release_with_files(owner, conda_yaml=f"dependencies:\n  - {text}\n")
    assert steps.scan_dependencies(release.pk) == "passed"  # staging: possible findings warn
    release.refresh_from_db()
    findings = list(ScanReport.objects.get(release=release).findings.filter(package="pyyaml"))
    assert [("definite" if f.definite else "possible") for f in findings][:1] == ([expected] if expected else [])
    if expected:
        assert "warning(s)" in release.status_message


@pytest.mark.mlflow
@pytest.mark.parametrize("model,ref,status,package", [
    (VULNERABLE, "1", Status.SCAN_FAILED, "pyyaml"),
    (CONDA, "1", Status.SCAN_FAILED, "numpy"),
    (CLEAN, "@champion", Status.SCAN_PASSED, None),
])
def test_models_from_the_test_mlflow_server_through_the_pipeline(owner, use_mlflow, advisories, model, ref, status,
                                                                 package):
    release = make_release(owner, model_name=model, ref=ref)
    assert steps.fetch_environment(release.pk) == "fetched"
    steps.scan_dependencies(release.pk)
    release.refresh_from_db()
    assert release.status == status, release.status_message
    report = release.scan_reports.get()
    assert any(d["name"] == "mlflow" for d in report.dependencies)  # MLflow adds its own pin
    if package:
        finding = report.findings.filter(package=package).first()
        assert finding is not None and finding.definite
        assert finding.source_file in ("requirements.txt", "conda.yaml")


# --- API and admin -----------------------------------------------------------------------
def test_scan_endpoint_returns_the_latest_report(api, owner, advisories):
    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\nflask\n")
    assert api.get(f"/api/releases/{release.pk}/scan/").status_code == 404
    steps.scan_dependencies(release.pk)
    body = api.get(f"/api/releases/{release.pk}/scan/").json()
    assert body["passed"] is False and body["scanner"] == "gateway-osv"
    assert body["advisory_sync"] == advisories.pk
    assert body["decision"]["blocking"][0]["advisory_id"] == "GHSA-8q59-q68h-6hv4"  # the reasons, via the API
    assert body["decision"]["warnings"][0]["reason"] == "unpinned requirement flask (any version)"
    assert body["findings_count"] == len(api.get(body["findings_url"]).json()["results"]) > 0
    page = api.get(f"/api/releases/{release.pk}/scan/findings/?package=pyyaml").json()
    finding = page["results"][0]
    assert page["count"] == 1 and finding == {
        "package": "pyyaml", "version": "5.3.1", "specifier": "==5.3.1", "ecosystem": "pypi",
        "advisory_id": "GHSA-8q59-q68h-6hv4", "aliases": ["CVE-2020-14343", "PYSEC-2021-142"],
        "summary": finding["summary"], "severity": "CRITICAL", "score": 9.8, "fixed_versions": ["5.4"],
        "definite": True, "source_file": "requirements.txt", "line": 1, "role": "runtime", "pulled_in_by": []}
    detail = api.get(f"/api/releases/{release.pk}/").json()
    assert detail["latest_scan"]["passed"] is False and detail["latest_scan"]["counts"]["CRITICAL"] == 1


def test_scan_endpoint_requires_authentication(client, owner):
    release = make_release(owner)
    assert client.get(f"/api/releases/{release.pk}/scan/").status_code in (401, 403)
    assert client.get(f"/api/releases/{release.pk}/scan/findings/").status_code in (401, 403)


def test_findings_are_paginated_filtered_and_ordered_by_severity(api, owner, advisories):
    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\nrequests==2.19.0\n")
    assert api.get(f"/api/releases/{release.pk}/scan/findings/").status_code == 404  # not scanned yet
    steps.scan_dependencies(release.pk)
    url = f"/api/releases/{release.pk}/scan/findings/"
    everything = api.get(url).json()
    severities = [f["severity"] for f in everything["results"]]
    assert severities[0] == "CRITICAL" and everything["count"] == len(severities) >= 2
    first = api.get(url + "?page_size=1").json()
    assert len(first["results"]) == 1 and first["next"] and first["count"] == everything["count"]
    high = api.get(url + "?severity=HIGH").json()["results"]
    assert high and {f["severity"] for f in high} == {"HIGH"}
    assert api.get(url + "?severity=NOPE").status_code == 400
    assert api.get(url + "?ordering=-package").json()["results"][0]["package"] == "requests"


def test_scan_report_in_admin(admin_client, owner, advisories):
    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\n")
    steps.scan_dependencies(release.pk)
    report = ScanReport.objects.get(release=release)
    page = admin_client.get(f"/admin/releases/scanreport/{report.pk}/change/")
    assert page.status_code == 200 and b"GHSA-8q59-q68h-6hv4" in page.content


def test_worst_case_report_responses_stay_small(api, owner, tmp_path):
    from tests.osv_records import CRITICAL_V3, record, sync_records

    sync_records(tmp_path / "big", [record(f"PYSEC-2099-{i}", f"big{i % 3}", [{"introduced": "0"}],
                                           vector=CRITICAL_V3, summary="x" * 400) for i in range(30)])
    text = "".join(f"big{i % 3}==1.0.{i} ; python_version > '3' and os_name != 'nt'\n" for i in range(1000))
    release = release_with_files(owner, requirements_txt=text)
    assert steps.scan_dependencies(release.pk) == "failed"
    report = api.get(f"/api/releases/{release.pk}/scan/")
    assert report.json()["findings_count"] == 5000 and not report.json()["passed"]
    assert "more than the 5000 a report keeps" in report.json()["summary"] + str(report.json()["decision"])
    page = api.get(f"/api/releases/{release.pk}/scan/findings/?page_size=1000")
    assert len(page.json()["results"]) == 200  # the page size is capped
    assert len(report.content) < 4_000_000 and len(page.content) < 500_000, (len(report.content), len(page.content))
