"""`manage.py scan_env`: exit codes, JSON and table output, and the Django-free fast path."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from releases.scanning import cli
from releases.scanning.store import DatabaseAdvisoryStore
from tests.factories import ensure_environments, policy_version
from tests.osv_records import DEFAULT_SET, sync_records
from tests.workers import database_url_of_test_db

ROOT = Path(__file__).resolve().parent.parent


def files(tmp_path, **contents):
    paths = []
    for name, text in contents.items():
        path = tmp_path / name.replace("_txt", ".txt").replace("_yaml", ".yaml")
        path.write_text(text)
        paths.append(str(path))
    return paths


def run(args):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(args, store=DatabaseAdvisoryStore(use_cache=False), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_clean_files_exit_0(advisories, tmp_path):
    code, out, _ = run(files(tmp_path, requirements_txt="pyyaml==6.0.2\n"))
    assert code == 0 and "No known vulnerabilities found." in out and "Security scan passed" in out


def test_failing_files_exit_1_with_a_table(advisories, tmp_path):
    code, out, _ = run(files(tmp_path, requirements_txt="pyyaml==5.3.1\nflask\n",
                             conda_yaml="dependencies:\n  - numpy=1.19.0\n"))
    assert code == 1
    header = out.splitlines()[0].split()
    assert header == ["SEVERITY", "PACKAGE", "VERSION", "ADVISORY", "FIXED", "IN", "MATCH", "WHERE"]
    assert "GHSA-8q59-q68h-6hv4" in out and "requirements.txt:1" in out and "conda.yaml:2" in out
    assert "Security scan failed. Found 2 CRITICAL vulnerabilities." in out


def test_json_output_shape(advisories, tmp_path):
    code, out, _ = run(files(tmp_path, requirements_txt="pyyaml==5.3.1\nrequests>=2.30\n") + ["--json"])
    body = json.loads(out)
    assert code == 1 and set(body) == {"findings", "summary"}
    for finding in body["findings"]:
        assert {"package", "version", "specifier", "advisory_id", "aliases", "severity", "fixed_versions",
                "definite"} <= set(finding)
        assert isinstance(finding["definite"], bool)
    unpinned = next(f for f in body["findings"] if f["package"] == "requests")
    assert unpinned["version"] is None and unpinned["definite"] is False and unpinned["specifier"] == ">=2.30"
    assert body["summary"]["passed"] is False and body["summary"]["counts"]["CRITICAL"] == 1
    assert body["summary"]["advisory_sync"] == advisories.pk


@pytest.mark.parametrize("args", [[], ["--bogus", "x.txt"]])
def test_usage_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(args)
    assert exc.value.code == 2


def test_unreadable_input_exits_2(advisories, tmp_path):
    code, _, err = run([str(tmp_path / "missing.txt")])
    assert code == 2 and "not a file" in err
    binary = tmp_path / "requirements.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    code, _, err = run([str(binary)])
    assert code == 2 and "scan_env:" in err


def test_no_advisory_sync_exits_2(db, tmp_path):
    code, _, err = run(files(tmp_path, requirements_txt="pyyaml==5.3.1\n"))
    assert code == 2 and "sync_advisories" in err


def test_includes_resolve_between_given_files(advisories, tmp_path):
    paths = files(tmp_path, requirements_txt="-r extra.txt\n", extra_txt="pyyaml==5.3.1\n")
    code, out, _ = run(paths + ["--json"])
    assert code == 1 and json.loads(out)["findings"][0]["source_file"] == "extra.txt"


@pytest.mark.django_db(transaction=True)
def test_whole_process_runs_without_django(tmp_path):
    """The real command line: its own read-only connection to the database, exit codes intact."""
    ensure_environments()
    sync_records(tmp_path / "osv", DEFAULT_SET)
    env = {**os.environ, "DATABASE_URL": database_url_of_test_db()}
    vulnerable = files(tmp_path, requirements_txt="pyyaml==5.3.1\n")
    result = subprocess.run([sys.executable, "manage.py", "scan_env", *vulnerable, "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["findings"][0]["advisory_id"] == "GHSA-8q59-q68h-6hv4"
    (tmp_path / "clean").mkdir()
    clean = files(tmp_path / "clean", requirements_txt="pyyaml==6.0.2\n")
    result = subprocess.run([sys.executable, "manage.py", "scan_env", *clean], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "No known vulnerabilities" in result.stdout
    # The environment's policy read over plain SQL: production blocks the HIGH requests finding.
    high = files(tmp_path / "clean", requirements_txt="requests==2.19.0\n")
    for environment, expected in (("staging", 0), ("production", 1)):
        result = subprocess.run([sys.executable, "manage.py", "scan_env", *high, "--environment", environment],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == expected, result.stdout + result.stderr
    probe = ("import os, sys; from releases.scanning import cli; "
             "cli.main(sys.argv[1:], database_url=os.environ['DATABASE_URL']); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'mlflow', 'rest_framework')))")
    result = subprocess.run([sys.executable, "-c", probe, *clean], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "[]"  # nothing heavy imported


def test_unsupported_database_url_is_a_usage_error(tmp_path, monkeypatch):
    err = io.StringIO()
    assert cli.main(files(tmp_path, requirements_txt="a==1\n"), stderr=err, stdout=io.StringIO(),
                    database_url="mysql://u@127.0.0.1/db") == 2
    assert "SQLite and PostgreSQL" in err.getvalue()


def test_environment_policy_decides(advisories, tmp_path):
    paths = files(tmp_path, requirements_txt="requests==2.19.0\n")  # a HIGH finding
    assert run(paths)[0] == 0  # default rule: only CRITICAL/UNKNOWN block
    assert run(paths + ["--environment", "staging"])[0] == 0  # staging blocks CRITICAL
    code, out, _ = run(paths + ["--environment", "production", "--json"])  # production blocks HIGH
    body = json.loads(out)
    production = policy_version("production")
    assert code == 1 and body["summary"]["decision"]["policy_version"] == production
    assert body["summary"]["message"].endswith(f"(production policy v{production})")


def test_unknown_environment_exits_2(advisories, tmp_path):
    code, _, err = run(files(tmp_path, requirements_txt="a==1\n") + ["--environment", "moon"])
    assert code == 2 and "unknown environment 'moon'" in err


def test_active_waiver_applies_and_expired_one_does_not(advisories, tmp_path, owner, django_user_model):
    from datetime import timedelta

    from django.utils import timezone

    from releases.models import Waiver

    officer = django_user_model.objects.create_user("sec")
    paths = files(tmp_path, requirements_txt="requests==2.19.0\n") + ["--environment", "production"]
    waiver = Waiver.objects.create(advisory_id="PYSEC-2018-28", reason="r", created_by=owner, approved_by=officer,
                                   approved_at=timezone.now(), expires_at=timezone.now() + timedelta(hours=1))
    assert run(paths)[0] == 0
    Waiver.objects.filter(pk=waiver.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert run(paths)[0] == 1
