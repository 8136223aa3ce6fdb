"""The demo's helpers: var/demo.env reaches bin/manage and nothing else; users per role, idempotent."""
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from devtools.demo import demo_settings, write_env_file
from devtools.demo_users import ROLE_USERS, SUPERUSER, ensure_users
from gateway_project import tokens

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # 8 users, twice


def _run(cmd, var_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SECRET_KEY_FILE", "DEBUG")}
    env["GATEWAY_VAR_DIR"] = str(var_dir)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_demo_env_serves_bin_manage_and_never_the_settings(tmp_path):
    values = demo_settings(tmp_path, "http://127.0.0.1:1", "127.0.0.1:2")
    write_env_file(tmp_path / "demo.env", {**values, "ODD": "it's $HOME; `x`"})
    assert "SECRET_KEY=" not in (tmp_path / "demo.env").read_text()  # only the key file's path
    plain = _run([sys.executable, "manage.py", "check"], tmp_path)
    assert plain.returncode != 0 and "SECRET_KEY must be set" in plain.stderr
    demo = _run(["bin/manage", "shell", "-v", "0", "-c",
                 "import os; from django.conf import settings; print(settings.DEBUG, os.environ['ODD'])"], tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.splitlines()[-1] == "False it's $HOME; `x`"  # quoted, not expanded


def test_bin_manage_says_to_run_the_demo_first(tmp_path):
    result = _run(["bin/manage", "check"], tmp_path)
    assert result.returncode == 2 and "run bin/demo once first" in result.stderr


@pytest.mark.django_db
def test_demo_users_one_per_role_stable_across_runs(tmp_path):
    first = ensure_users(tmp_path)
    again = ensure_users(tmp_path)
    assert first == again
    assert [row["user"] for row in first] == [SUPERUSER, *ROLE_USERS]
    assert stat.S_IMODE((tmp_path / "demo_users.json").stat().st_mode) == 0o600
    for row in first:
        user = User.objects.get(username=row["user"])
        assert user.check_password(row["password"]) and tokens.check(row["token"]).user == user
    auditor, sre = User.objects.get(username="auditor"), User.objects.get(username="sre")
    assert auditor.is_staff and list(auditor.groups.values_list("name", flat=True)) == ["auditors"]
    assert not sre.is_staff and not sre.is_superuser
    assert User.objects.get(username=SUPERUSER).is_superuser
    assert User.objects.filter(groups__name="security-officers").count() == 2


@pytest.mark.django_db
def test_a_changed_password_is_set_back_to_the_printed_one(tmp_path):
    rows = {row["user"]: row for row in ensure_users(tmp_path)}
    user = User.objects.get(username="requester")
    user.set_password("something-else-entirely")
    user.save()
    ensure_users(tmp_path)
    assert User.objects.get(username="requester").check_password(rows["requester"]["password"])
