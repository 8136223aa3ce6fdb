"""Policy as code: a Rego policy evaluated by regopy in a child process."""
import pytest
from django.core.exceptions import ValidationError

from releases import steps
from releases.models import EnvironmentPolicy, Release, ScanReport
from releases.scanning import rego
from releases.statuses import Status, Step
from tests.factories import release_with_files
from tests.osv_records import DEFAULT_SET, sync_records

DENY_CRITICAL = """package gateway
import rego.v1

default allow := false
allow if count(deny) == 0

deny contains msg if {
    some f in input.findings
    f.definite
    f.severity == "CRITICAL"
    msg := sprintf("%s %s is CRITICAL", [f.package, f.advisory_id])
}
deny contains msg if {
    some g in input.gates
    not g.passed
    msg := sprintf("gate failed: %s", [g.gate])
}
"""


def test_allow_and_deny():
    assert rego.evaluate(DENY_CRITICAL, {"findings": [], "gates": []}) == (True, [])
    allow, reasons = rego.evaluate(DENY_CRITICAL, {"findings": [
        {"package": "pyyaml", "advisory_id": "GHSA-1", "severity": "CRITICAL", "definite": True}], "gates": []})
    assert allow is False and reasons == ["pyyaml GHSA-1 is CRITICAL"]


def test_undefined_allow_fails_closed():
    assert rego.evaluate("package gateway\n", {}) == (False, [])


def test_syntax_error_has_a_clear_message():
    message = rego.validate("package gateway\nallow if {\n")
    assert message.startswith("Rego policy error:") and "unclosed" in message
    assert rego.validate(DENY_CRITICAL) is None


@pytest.mark.parametrize("policy,message", [
    ("package gateway\nallow := 3\n", "must be true or false"),
    ("package gateway\nimport rego.v1\ndeny := 7\n", "must be a set of strings"),
    ("package other\nallow := true\n", "no package `gateway`"),
])
def test_invalid_output_is_refused(policy, message):
    with pytest.raises(rego.RegoFailure, match=message):
        rego.evaluate(policy, {})


@pytest.mark.django_db
def test_saving_a_broken_policy_is_refused():
    policy = EnvironmentPolicy(environment_id=EnvironmentPolicy.objects.first().environment_id, version=99,
                               rego_policy="package gateway\nallow if {")
    with pytest.raises(ValidationError) as exc:
        policy.full_clean()
    assert "rego_policy" in exc.value.message_dict


@pytest.fixture
def rego_staging(db, tmp_path):
    sync_records(tmp_path / "osv", DEFAULT_SET)
    current = EnvironmentPolicy.objects.get(environment__name="staging", version=1)
    current.pk, current.version, current.rego_policy = None, 2, DENY_CRITICAL
    current.save()
    return current


@pytest.mark.django_db
def test_rego_policy_decides_in_the_pipeline(owner, rego_staging):
    blocked = release_with_files(owner, requirements_txt="pyyaml==5.3.1\n")
    steps.scan_dependencies(blocked.pk)
    blocked.refresh_from_db()
    assert blocked.status == Status.SCAN_FAILED
    assert blocked.status_message == ("Security scan failed. Rego policy denied: pyyaml GHSA-8q59-q68h-6hv4 is "
                                      f"CRITICAL. (staging policy v{rego_staging.version})")
    report = ScanReport.objects.get(release=blocked)
    assert report.decision["rego"] == {"allow": False, "deny": ["pyyaml GHSA-8q59-q68h-6hv4 is CRITICAL"]}

    # UNKNOWN pillow finding would block under the built-in rule, but this Rego policy allows it.
    allowed = release_with_files(owner, requirements_txt="pillow==8.0.0\n")
    steps.scan_dependencies(allowed.pk)
    assert Release.objects.get(pk=allowed.pk).status == Status.SCAN_PASSED


@pytest.mark.django_db
def test_rego_failure_at_run_time_is_an_operational_failure(owner, rego_staging):
    EnvironmentPolicy.objects.filter(pk=rego_staging.pk).update(rego_policy="package gateway\nallow := 3\n")
    release = release_with_files(owner, requirements_txt="pyyaml==5.3.1\n")
    steps.scan_dependencies(release.pk)
    release.refresh_from_db()
    assert (release.status, release.failed_step) == (Status.FAILED, Step.SCAN)
    assert "must be true or false" in release.status_message


@pytest.mark.django_db
def test_a_rego_policy_that_allows_everything_cannot_pass_an_unreadable_file(owner, rego_staging):
    EnvironmentPolicy.objects.filter(pk=rego_staging.pk).update(rego_policy="package gateway\nallow := true\n")
    release = release_with_files(owner, python_env_yaml="dependencies: []\ndependencies: [pyyaml==5.3.1]\n")
    steps.scan_dependencies(release.pk)
    release.refresh_from_db()
    assert release.status == Status.SCAN_FAILED
    assert "python_env.yaml:2: duplicate key 'dependencies'" in release.status_message
    report = ScanReport.objects.get(release=release)
    assert report.decision["rego"]["allow"] is True and report.decision["passed"] is False
