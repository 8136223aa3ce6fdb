"""Production settings: secrets from the environment, `check --deploy` clean."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "p" * 30 + "roduction-secret-from-the-environment-0123456789",
    "ALLOWED_HOSTS": "gateway.example.internal",
    "DATABASE_URL": "sqlite:////tmp/never-opened.sqlite3",
}


def _manage(*args, env_overrides, drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop and k not in PRODUCTION_ENV}
    env.update(env_overrides)
    env.pop("SECURE_SSL_REDIRECT", None)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_check_deploy_is_clean_for_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_overrides=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_secret_key_is_required_when_debug_is_off():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env_overrides=env, drop=("SECRET_KEY",))
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("bad", ["short", "django-insecure-" + "x" * 60])
def test_placeholder_secret_key_is_refused(bad):
    result = _manage("check", env_overrides={**PRODUCTION_ENV, "SECRET_KEY": bad})
    assert result.returncode != 0 and "SECRET_KEY is too short or a placeholder" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(PRODUCTION_ENV["SECRET_KEY"] + "\n")
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    env["SECRET_KEY_FILE"] = str(secret_file)
    result = _manage("check", env_overrides=env, drop=("SECRET_KEY",))
    assert result.returncode == 0, result.stderr


def test_task_timeout_must_stay_below_retry():
    result = _manage("check", env_overrides={**PRODUCTION_ENV, "TASK_TIMEOUT_SECONDS": "100",
                                             "TASK_RETRY_SECONDS": "100"})
    assert result.returncode != 0 and "TASK_RETRY_SECONDS must be greater" in result.stderr


@pytest.mark.parametrize("reference", ["127.0.0.1:5000/models/gateway-base:1", "127.0.0.1:5000/models/gateway-base",
                                       "debian@sha256:" + "a" * 63, "python:3.11-slim"])
def test_a_base_image_not_named_by_digest_is_refused_at_start(reference):
    result = _manage("check", env_overrides={**PRODUCTION_ENV, "BUILD_BASE_IMAGE": reference})
    assert result.returncode != 0
    assert "BUILD_BASE_IMAGE must name an image by digest (name@sha256:<64 hex>)" in result.stderr


@pytest.mark.parametrize("reference", ["127.0.0.1:5000/models/gateway-base@sha256:" + "a" * 64, "scratch"])
def test_a_base_image_by_digest_or_scratch_is_accepted(reference):
    result = _manage("check", env_overrides={**PRODUCTION_ENV, "BUILD_BASE_IMAGE": reference})
    assert result.returncode == 0, result.stderr


def test_bad_typed_value_names_the_variable():
    result = _manage("check", env_overrides={**PRODUCTION_ENV, "MLFLOW_REQUEST_TIMEOUT_SECONDS": "soon"})
    assert result.returncode != 0 and "MLFLOW_REQUEST_TIMEOUT_SECONDS must be an integer" in result.stderr


def test_queue_settings_keep_timeout_below_retry_and_cap_attempts(settings):
    """A live step renews its lease well inside the lease (so a silent worker is noticed in
    RELEASE_LEASE_SECONDS, not at django-q2's redelivery after `retry`)."""
    q = settings.Q_CLUSTER
    assert q["timeout"] < q["retry"] and settings.LEASE_RENEW_SECONDS < settings.RELEASE_LEASE_SECONDS
    assert settings.RELEASE_LEASE_SECONDS < q["retry"]
    assert q["max_attempts"] >= 1 and q["orm"] == "default"


def test_redis_broker_and_cache_are_chosen_by_the_environment(tmp_path):
    """TASK_BROKER=redis moves the queue to REDIS_URL; REDIS_URL alone moves only the caches."""
    code = ("from django.conf import settings as s; import json; print(json.dumps([s.Q_CLUSTER.get('redis'), "
            "'orm' in s.Q_CLUSTER, s.CACHES['default']['BACKEND'], s.CACHES['requests']['BACKEND']]))")
    base = {**os.environ, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "gateway_project.settings"}
    base.pop("DATABASE_URL", None)

    def read(**env):
        result = subprocess.run([sys.executable, "-c", "import django; django.setup(); " + code],
                                env={**base, **env}, capture_output=True, text=True, cwd=ROOT, check=False)
        return result

    plain = json.loads(read().stdout)
    assert plain == [None, True, "django.core.cache.backends.db.DatabaseCache",
                     "django.core.cache.backends.locmem.LocMemCache"]
    cached = json.loads(read(REDIS_URL="redis://127.0.0.1:6379/3").stdout)
    assert cached[:2] == [None, True] and cached[2] == cached[3] == "django.core.cache.backends.redis.RedisCache"
    broker = json.loads(read(REDIS_URL="redis://127.0.0.1:6379/3", TASK_BROKER="redis").stdout)
    assert broker[:2] == ["redis://127.0.0.1:6379/3", False]
    refused = read(TASK_BROKER="redis")
    assert refused.returncode != 0 and "TASK_BROKER=redis needs REDIS_URL" in refused.stderr
    assert "must look like" in read(REDIS_URL="http://x").stderr


def test_test_users_get_the_fast_hasher_and_default_hashes_still_verify(owner):
    """conftest's fast_password_hasher: the speed-up is in force, and nothing stops verifying."""
    from django.contrib.auth.hashers import check_password, make_password

    assert owner.password.startswith("md5$") and owner.check_password("pw-owner-123")
    assert check_password("pw", make_password("pw", hasher="pbkdf2_sha256"))


@pytest.mark.slow
def test_tests_that_start_processes_keep_the_production_hasher(settings):
    """Marked `slow` only to see the exemption: a subprocess on production settings must verify their users."""
    from django.contrib.auth.hashers import get_hasher

    assert get_hasher().algorithm == "pbkdf2_sha256"
    assert "django.contrib.auth.hashers.MD5PasswordHasher" not in settings.PASSWORD_HASHERS


def test_the_model_file_deadline_must_end_before_the_task_is_killed():
    result = _manage("check", env_overrides={**PRODUCTION_ENV, "TASK_TIMEOUT_SECONDS": "100",
                                             "MODEL_FILES_DEADLINE_SECONDS": "100"})
    assert result.returncode != 0 and "must be less than TASK_TIMEOUT_SECONDS" in result.stderr
    ok = _manage("check", env_overrides={**PRODUCTION_ENV, "TASK_TIMEOUT_SECONDS": "100",
                                         "MODEL_FILES_DEADLINE_SECONDS": "60"})
    assert ok.returncode == 0, ok.stderr
