"""The Trivy adapter, against a fake `trivy` executable that writes Trivy's documented JSON report."""
import json
from pathlib import Path

import pytest

from releases import steps
from releases.models import Release, ScanReport
from releases.scanning.envparse import parse_environment
from releases.scanning.severity import Level
from releases.scanning.trivy import TrivyError, scan_with_trivy
from releases.statuses import Status, Step
from tests.factories import release_with_files

FAKE = str(Path(__file__).parent / "fakes" / "trivy")
FILES = {"requirements.txt": "pyyaml==5.3.1\nflask>=2\n",
         "conda.yaml": "dependencies:\n  - numpy=1.19.0\n  - python=3.11\n"}


def test_report_becomes_findings_and_conda_pins_are_passed_on(tmp_path, monkeypatch):
    argv_file = tmp_path / "argv.json"
    monkeypatch.setenv("FAKE_TRIVY_ARGV", str(argv_file))
    result = scan_with_trivy(parse_environment(FILES), FAKE, timeout=20, extra_args=["--skip-db-update"])
    assert result.scanner == "trivy" and result.scanner_version == "0.58.1"
    findings = {f.advisory_id: f for f in result.findings}
    pyyaml = findings["CVE-2020-14343"]
    assert (pyyaml.package, pyyaml.version, pyyaml.severity, pyyaml.score, pyyaml.fixed_versions) == (
        "pyyaml", "5.3.1", Level.CRITICAL, 9.8, ["5.4"])
    assert (pyyaml.source_file, pyyaml.line, pyyaml.definite) == ("requirements.txt", 1, True)
    numpy = findings["CVE-2021-41495"]
    assert numpy.severity == Level.UNKNOWN and numpy.fixed_versions == ["1.19.1", "1.22.0"]
    assert numpy.source_file == "conda.yaml"
    assert result.raw_output["Results"][0]["Type"] == "pip"  # kept verbatim
    notes = " ".join(i["message"] for i in result.issues)
    assert "not scanned: flask" in notes and "numpy" in notes
    argv = json.loads(argv_file.read_text())
    assert argv[:4] == ["fs", "--format", "json", "--scanners"] and "--skip-db-update" in argv


@pytest.mark.parametrize("mode,message", [
    ("fail", "Trivy exited with code 1; its message is in the worker log"),
    ("garbage", "did not print a JSON report"),
])
def test_trivy_failures_are_errors(monkeypatch, caplog, mode, message):
    monkeypatch.setenv("FAKE_TRIVY_MODE", mode)
    with pytest.raises(TrivyError, match=message) as failure:
        scan_with_trivy(parse_environment(FILES), FAKE, timeout=20)
    assert "FATAL" not in str(failure.value)  # Trivy's own text is for the log only
    if mode == "fail":
        assert "FATAL\tinit error" in caplog.text


def test_missing_binary(tmp_path, caplog):
    with pytest.raises(TrivyError, match="Trivy executable .TRIVY_PATH. was not found") as failure:
        scan_with_trivy(parse_environment(FILES), str(tmp_path / "no-trivy"), timeout=5)
    assert str(tmp_path) not in str(failure.value) and str(tmp_path / "no-trivy") in caplog.text


def test_timeout(monkeypatch):
    monkeypatch.setenv("FAKE_TRIVY_MODE", "sleep")
    with pytest.raises(TrivyError, match="did not finish within 1 s"):
        scan_with_trivy(parse_environment(FILES), FAKE, timeout=1)


@pytest.mark.django_db
def test_pipeline_with_trivy_selected(owner, settings):
    settings.DEPENDENCY_SCANNER = "trivy"
    settings.TRIVY_PATH = FAKE
    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\n")
    assert steps.scan_dependencies(release.pk) == "failed"  # no advisory sync needed for Trivy
    release.refresh_from_db()
    assert release.status == Status.SCAN_FAILED
    report = ScanReport.objects.get(release=release)
    assert report.scanner == "trivy" and report.raw_output["SchemaVersion"] == 2
    assert report.findings.get().advisory_id == "CVE-2020-14343"


@pytest.mark.django_db
def test_pipeline_with_trivy_missing_is_a_retryable_failure(owner, settings, tmp_path):
    settings.DEPENDENCY_SCANNER = "trivy"
    settings.TRIVY_PATH = str(tmp_path / "absent")
    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\n")
    steps.scan_dependencies(release.pk)
    release = Release.objects.get(pk=release.pk)
    assert (release.status, release.failed_step) == (Status.FAILED, Step.SCAN)
    assert "Trivy executable (TRIVY_PATH) was not found" in release.status_message
    assert str(tmp_path) not in release.status_message
