"""Every case of the evasion corpus ends blocked, never passed, under the most lenient policy.

The policy below allows everything an environment's admin can allow except findings at
CRITICAL (UNKNOWN counted as CRITICAL): a vulnerable pin the scanner sees blocks, and so
does a file it cannot read. `evidence` names which of the two it must be.
"""
from datetime import UTC, datetime

import pytest

from releases.scanning.decision import decide
from releases.scanning.envparse import parse_environment
from releases.scanning.policy import PolicyRules
from releases.scanning.scanner import scan
from releases.scanning.store import DatabaseAdvisoryStore
from tests.evasion.corpus import CASES, SOURCES
from tests.osv_records import DEFAULT_SET, sync_records

pytestmark = pytest.mark.django_db

LENIENT = PolicyRules(environment="lenient", block_at="CRITICAL", unknown_counts_as="CRITICAL",
                      possible_findings="allow", unpinned_requirements="allow", unpinned_build_dependencies="allow",
                      direct_references="allow")
DEFAULT = PolicyRules(environment="staging", direct_references="block")


@pytest.fixture
def store(tmp_path):
    sync_records(tmp_path / "osv", DEFAULT_SET)
    return DatabaseAdvisoryStore(use_cache=False)


def decision_for(files, store, rules):
    return decide(scan(parse_environment(files), store), rules, now=datetime.now(UTC))


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_evasion_ends_blocked(name, store):
    files, evidence = CASES[name]
    decision = decision_for(files, store, LENIENT)
    reasons = [f"{b.get('advisory_id', '')} {b.get('reason', '')} {b.get('where', '')}" for b in decision.blocking]
    assert not decision.passed, decision.summary
    assert any(evidence in reason for reason in reasons), (evidence, reasons)
    assert decision.summary.startswith("Security scan failed.")


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_package_sources_other_than_the_index_are_blocked_by_default(name, store):
    decision = decision_for(SOURCES[name], store, DEFAULT)
    assert not decision.passed
    assert any("not from the package index" in b["reason"] or "package source option" in b["reason"]
               for b in decision.blocking), decision.blocking
    assert decision_for(SOURCES[name], store, LENIENT).passed  # an admin may allow them


def test_unreadable_reasons_name_the_file_the_line_and_the_reason(store):
    decision = decision_for({"python_env.yaml": "dependencies: []\ndependencies: [pyyaml==5.3.1]\n"}, store, LENIENT)
    assert decision.unreadable == [{
        "package": "", "where": "python_env.yaml:2", "unreadable": True,
        "reason": "python_env.yaml:2: duplicate key 'dependencies' (first on line 1): PyYAML keeps the last, "
                  "conda refuses the file"}]
    assert "cannot be read completely and unambiguously: python_env.yaml:2: duplicate key" in decision.summary


def test_a_clean_model_as_mlflow_writes_it_passes_every_default_policy(store):
    files = {
        "MLmodel": "flavors:\n  python_function: {}\n",
        "conda.yaml": "channels:\n- conda-forge\ndependencies:\n- python=3.11.7\n- pip<=24.0\n- pip:\n"
                      "  - mlflow==3.17.2\n  - pyyaml==6.0.2\nname: mlflow-env\n",
        "python_env.yaml": "python: 3.11.7\nbuild_dependencies:\n- pip==24.0\n- setuptools==69.0.3\n- wheel\n"
                           "dependencies:\n- -r requirements.txt\n",
        "requirements.txt": "mlflow==3.17.2\npyyaml==6.0.2\n",
    }
    for rules in (PolicyRules(environment="production", block_at="HIGH", unpinned_requirements="block",
                              direct_references="block"), DEFAULT):
        decision = decision_for(files, store, rules)
        assert decision.passed, decision.summary
    warning = decision_for(files, store, DEFAULT).warnings[0]
    assert warning["role"] == "build" and warning["reason"] == "unpinned build dependency wheel (any version)"
