"""Every policy knob, both ways, on the pure engine (no database)."""
from datetime import UTC, datetime, timedelta

import pytest

from releases.scanning.envparse import parse_environment
from releases.scanning.policy import PolicyRules, WaiverRule, evaluate
from releases.scanning.scanner import FindingData
from releases.scanning.severity import Level

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def finding(package="pyyaml", severity="HIGH", definite=True, fixed=("5.4",), advisory="PYSEC-1", aliases=("CVE-1",)):
    return FindingData(package, "5.3.1" if definite else None, "==5.3.1" if definite else ">=5", "pypi", advisory,
                       aliases, "", Level(severity), None, fixed, definite, "requirements.txt", 1)


def decide(findings=(), rules=PolicyRules(), waivers=(), requirements="", metrics=None, tags=None, model="m", now=NOW):  # noqa: B008 (frozen)
    deps = parse_environment({"requirements.txt": requirements}).dependencies if requirements else []
    return evaluate(list(findings), deps, rules, list(waivers), model_name=model, now=now, metrics=metrics, tags=tags)


@pytest.mark.parametrize("block_at,severity,blocks", [
    ("CRITICAL", "CRITICAL", True), ("CRITICAL", "HIGH", False),
    ("HIGH", "HIGH", True), ("HIGH", "MEDIUM", False),
    ("MEDIUM", "MEDIUM", True), ("LOW", "LOW", True), ("MEDIUM", "LOW", False),
])
def test_severity_threshold(block_at, severity, blocks):
    decision = decide([finding(severity=severity)], PolicyRules(block_at=block_at))
    assert decision.passed is (not blocks)
    assert len(decision.blocking) == (1 if blocks else 0)
    assert decision.below_threshold == (0 if blocks else 1)


@pytest.mark.parametrize("unknown_as,block_at,blocks", [
    ("CRITICAL", "CRITICAL", True), ("LOW", "CRITICAL", False), ("HIGH", "HIGH", True), ("MEDIUM", "HIGH", False)])
def test_what_unknown_counts_as(unknown_as, block_at, blocks):
    decision = decide([finding(severity="UNKNOWN")], PolicyRules(block_at=block_at, unknown_counts_as=unknown_as))
    assert decision.passed is (not blocks)
    if blocks:
        assert f"counted as {unknown_as}" in decision.blocking[0]["reason"]


def test_ignore_unfixed_both_ways():
    unfixed = finding(severity="CRITICAL", fixed=())
    assert not decide([unfixed]).passed
    ignoring = decide([unfixed], PolicyRules(ignore_unfixed=True))
    assert ignoring.passed and ignoring.ignored[0]["reason"].startswith("no fixed version")
    # A finding with a fix still blocks when ignore_unfixed is on.
    assert not decide([finding(severity="CRITICAL")], PolicyRules(ignore_unfixed=True)).passed


@pytest.mark.parametrize("action,passed,warnings", [("allow", True, 0), ("warn", True, 1), ("block", False, 0)])
def test_possible_findings_action(action, passed, warnings):
    decision = decide([finding(severity="CRITICAL", definite=False)], PolicyRules(possible_findings=action))
    assert decision.passed is passed and len(decision.warnings) == warnings


@pytest.mark.parametrize("action,passed,warnings", [("allow", True, 0), ("warn", True, 1), ("block", False, 0)])
def test_unpinned_requirements_action(action, passed, warnings):
    decision = decide(rules=PolicyRules(unpinned_requirements=action), requirements="flask>=2\nrequests==2.32.4\n")
    assert decision.passed is passed and len(decision.warnings) == warnings
    if not passed:
        assert decision.blocking[0]["reason"] == "unpinned requirement flask>=2"


@pytest.mark.parametrize("action,passed", [("allow", True), ("block", False)])
def test_direct_references_action(action, passed):
    decision = decide(rules=PolicyRules(direct_references=action),
                      requirements="git+https://example.com/org/lib.git@v1#egg=lib\n")
    assert decision.passed is passed
    if not passed:
        assert "vcs requirement" in decision.summary.lower()


def test_metric_gates_both_ways_and_missing_metric():
    rules = PolicyRules(metric_gates=({"metric": "accuracy", "op": ">=", "value": 0.9},
                                      {"metric": "latency_ms", "op": "<=", "value": 50}))
    assert decide(rules=rules, metrics={"accuracy": 0.93, "latency_ms": 12}).passed
    low = decide(rules=rules, metrics={"accuracy": 0.85, "latency_ms": 12})
    assert not low.passed and "accuracy >= 0.9 (accuracy = 0.85)" in low.summary
    missing = decide(rules=rules, metrics={"accuracy": 0.95})
    assert not missing.passed
    assert [g["message"] for g in missing.gates if not g["passed"]] == ["metric 'latency_ms' is missing from the run"]


def test_required_tags():
    rules = PolicyRules(required_tags=("git_sha",))
    assert decide(rules=rules, tags={"git_sha": "4f2c9e1"}).passed
    for tags in ({}, {"git_sha": "  "}):
        decision = decide(rules=rules, tags=tags)
        assert not decision.passed and "tag 'git_sha' is missing from the run" in decision.summary


def waiver(**overrides):
    values = {"id": 7, "advisory_id": "CVE-1", "expires_at": NOW + timedelta(days=1)}
    values.update(overrides)
    return WaiverRule(**values)


def test_waiver_by_alias_waives_and_is_named():
    decision = decide([finding(severity="CRITICAL")], waivers=[waiver()])
    assert decision.passed and decision.waivers_used == [7]
    assert decision.waived[0]["waiver"] == 7 and "waiver #7" in decision.summary


@pytest.mark.parametrize("overrides", [
    {"advisory_id": "CVE-2"}, {"package": "pillow"}, {"model_name": "other-model"}, {"environment": "production"}])
def test_waiver_scope_must_match(overrides):
    decision = decide([finding(severity="CRITICAL")], PolicyRules(environment="staging"),
                      waivers=[waiver(**overrides)])
    assert not decision.passed and decision.waivers_used == []


def test_waiver_scope_matching_all_fields():
    w = waiver(package="pyyaml", model_name="m", environment="staging", advisory_id="PYSEC-1")
    assert decide([finding(severity="CRITICAL")], PolicyRules(environment="staging"), waivers=[w]).passed


def test_waiver_expiry_boundary():
    expires = NOW
    w = waiver(expires_at=expires)
    crit = [finding(severity="CRITICAL")]
    assert decide(crit, waivers=[w], now=expires - timedelta(microseconds=1)).passed
    assert not decide(crit, waivers=[w], now=expires).passed  # expired at the instant it expires


def test_policy_version_in_every_decision():
    decision = decide([finding(severity="CRITICAL")], PolicyRules(version=4, environment="production"))
    assert decision.policy_version == 4 and decision.summary.endswith("(production policy v4)")
    assert decide().summary.endswith("(default policy)")
