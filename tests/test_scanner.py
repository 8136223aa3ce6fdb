"""The built-in scanner over the advisory tables: findings, alias merging, the fail-closed decision."""
import pytest

from releases.scanning.decision import decide
from releases.scanning.envparse import parse_environment
from releases.scanning.policy import PolicyRules
from releases.scanning.scanner import EmptyAdvisoryDatabase, scan
from releases.scanning.severity import Level
from releases.scanning.store import DatabaseAdvisoryStore
from tests.osv_records import CRITICAL_V3, DEFAULT_SET, HIGH_V3, record, sync_records

pytestmark = pytest.mark.django_db


def run(files, use_cache=False):
    return scan(parse_environment(files), DatabaseAdvisoryStore(use_cache=use_cache))


def test_scanning_without_any_sync_is_refused():
    with pytest.raises(EmptyAdvisoryDatabase, match="sync_advisories"):
        run({"requirements.txt": "pyyaml==5.3.1\n"})


def test_linked_records_become_one_finding_with_the_highest_severity(advisories):
    result = run({"requirements.txt": "pyyaml==5.3.1\n"})
    assert len(result.findings) == 1
    finding = result.findings[0]
    # PYSEC-2021-142 has no severity; its alias GHSA-8q59-q68h-6hv4 scores 9.8.
    assert finding.severity == Level.CRITICAL and finding.score == 9.8
    assert finding.advisory_id == "GHSA-8q59-q68h-6hv4"
    assert set(finding.aliases) == {"PYSEC-2021-142", "CVE-2020-14343"}
    assert finding.definite and finding.version == "5.3.1" and list(finding.fixed_versions) == ["5.4"]
    assert (finding.source_file, finding.line) == ("requirements.txt", 1)


def test_severity_found_through_an_alias_record_that_does_not_match(tmp_path):
    """The linked record may cover other versions; its severity still describes the vulnerability."""
    sync_records(tmp_path / "osv", [
        record("PYSEC-1", "lib", [{"introduced": "0"}, {"fixed": "2.0"}], aliases=["CVE-1"]),
        record("GHSA-1", "lib", versions=["0.0.1"], vector=HIGH_V3, aliases=["CVE-1"]),
    ])
    finding = run({"requirements.txt": "lib==1.0\n"}).findings[0]
    # The finding is named after the record that matched, and lists the linked one.
    assert finding.advisory_id == "PYSEC-1" and "GHSA-1" in finding.aliases
    assert finding.severity == Level.HIGH and finding.score == 7.5


def test_fixed_and_unaffected_versions_have_no_findings(advisories):
    result = run({"requirements.txt": "pyyaml==5.4\nrequests==2.32.4\nnumpy==1.19.1\nunknown-pkg==1.0\n"})
    assert result.findings == []
    assert decide(result).passed


def test_unpinned_requirement_gives_possible_findings_distinct_from_definite(advisories):
    result = run({"requirements.txt": "requests>=2.25\npyyaml\n"})
    by_id = {f.advisory_id: f for f in result.findings}
    assert set(by_id) == {"PYSEC-2026-1872", "GHSA-8q59-q68h-6hv4"}  # requests<2.20 cannot be installed
    assert all(not f.definite and f.version is None for f in result.findings)
    assert by_id["PYSEC-2026-1872"].specifier == ">=2.25"
    assert result.counts(definite=True)["CRITICAL"] == 0 and result.counts(definite=False)["CRITICAL"] == 1
    assert decide(result).passed  # possible findings do not fail the interim rule


def test_withdrawn_advisories_are_never_matched(tmp_path):
    sync_records(tmp_path / "osv", [record("PYSEC-W", "lib", [{"introduced": "0"}], vector=CRITICAL_V3,
                                           withdrawn="2024-02-01T00:00:00Z")])
    assert run({"requirements.txt": "lib==1.0\n"}).findings == []


def test_conda_packages_are_matched_and_conda_only_ones_are_not(tmp_path):
    sync_records(tmp_path / "osv", DEFAULT_SET + [record("PYSEC-PY", "python", [{"introduced": "0"}])])
    result = run({"conda.yaml": "dependencies:\n  - python=3.8.0\n  - numpy=1.19.0\n"})
    assert [(f.package, f.ecosystem, f.source_file, f.line) for f in result.findings] == [
        ("numpy", "conda", "conda.yaml", 3)]


def test_a_specifier_whose_every_version_is_affected_is_definite_pip_and_conda_alike(advisories):
    result = run({"requirements.txt": "pyyaml<5.4\n", "conda.yaml": "dependencies:\n  - pyyaml=5.3\n"})
    assert {(f.source_file, f.specifier, f.definite, f.version) for f in result.findings} == {
        ("requirements.txt", "<5.4", True, None), ("conda.yaml", "==5.3.*", True, None)}
    assert not decide(result).passed  # definite CRITICAL: blocks like a pin


def test_the_same_specifier_is_read_by_its_installer_rules(advisories):
    """`<5.4rc1` admits only affected versions under PEP 440; conda orders pre-releases otherwise, so from
    conda.yaml the match stays possible (and the cached answer of one is not the other's)."""
    files = {"requirements.txt": "pyyaml<5.4rc1\n", "conda.yaml": "dependencies:\n  - pyyaml<5.4rc1\n"}
    for use_cache in (False, True, True):
        result = run(files, use_cache=use_cache)
        assert {(f.source_file, f.definite) for f in result.findings} == {
            ("requirements.txt", True), ("conda.yaml", False)}


def test_interim_decision_fails_closed_on_critical_and_unknown(advisories):
    result = run({"requirements.txt": "pyyaml==5.3.1\npillow==8.0.0\nrequests==2.19.0\n"})
    decision = decide(result)
    assert not decision.passed
    # pyyaml (CRITICAL through its alias) and pillow (UNKNOWN) block; requests is HIGH/MEDIUM.
    assert decision.summary == ("Security scan failed. Found 2 CRITICAL vulnerabilities. "
                                "1 of them has unknown severity, counted as CRITICAL. "
                                "Blocking: pyyaml GHSA-8q59-q68h-6hv4, pillow PYSEC-2021-35. (default policy)")
    assert {b["package"] for b in decision.blocking} == {"pyyaml", "pillow"}


def test_high_findings_alone_pass_the_interim_rule(advisories):
    decision = decide(run({"requirements.txt": "requests==2.19.0\n"}))
    assert decision.passed and "2 finding(s) below the CRITICAL threshold" in decision.summary


def test_non_pep440_pin_is_scanned_as_unpinned_with_a_note(advisories):
    result = run({"requirements.txt": "requests===weird.version.x\n"})
    assert result.findings and all(not f.definite for f in result.findings)
    assert any("not PEP 440" in issue["message"] for issue in result.issues)


def test_report_records_scanner_and_snapshot(advisories):
    result = run({"requirements.txt": "pyyaml==5.3.1\n"})
    assert result.snapshot_id == advisories.pk and result.snapshot_at == advisories.finished_at
    assert result.scanner == "gateway-osv" and result.duration_ms > 0


def test_cache_is_dropped_when_a_new_sync_lands(tmp_path, advisories):
    assert run({"requirements.txt": "lib==1.0\n"}, use_cache=True).findings == []
    sync_records(tmp_path / "osv2", [record("PYSEC-NEW", "lib", [{"introduced": "0"}], vector=CRITICAL_V3)])
    assert [f.advisory_id for f in run({"requirements.txt": "lib==1.0\n"}, use_cache=True).findings] == ["PYSEC-NEW"]


def test_findings_past_the_cap_block_and_the_report_keeps_the_most_severe(tmp_path):
    from releases.scanning.scanner import MAX_FINDINGS

    records = [record(f"PYSEC-2099-{i}", "big", [{"introduced": "0"}], vector=HIGH_V3 if i else CRITICAL_V3)
               for i in range(6)]
    sync_records(tmp_path / "osv", records)
    text = "".join(f"big==1.0.{i}\n" for i in range(1000))  # 6,000 definite findings
    result = run({"requirements.txt": text})
    assert len(result.findings) == MAX_FINDINGS
    assert result.findings[0].severity == Level.CRITICAL
    assert any(f"more than the {MAX_FINDINGS} a report keeps" in e["message"] for e in result.errors)
    lenient = decide(result, PolicyRules(block_at="CRITICAL", possible_findings="allow"))
    assert not lenient.passed and lenient.unreadable
