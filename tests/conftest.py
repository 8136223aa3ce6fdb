"""Shared fixtures: named users, API clients, synced advisories, and a real MLflow server per test session."""
import os
import tempfile
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from devtools.mlflow_server import MlflowServer
from tests import xdist_lanes
from tests.factories import ensure_environments
from tests.lock_fixtures import PACKAGES
from tests.mlflow_models import register_test_models
from tests.osv_records import DEFAULT_SET, sync_records
from tests.package_index import package_index

FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"


# The modules that mostly wait on processes they start (qcluster, gunicorn, buildah, Chromium, a second
# MLflow server), longest first as measured: each runs first among the tests of its kind (database_kind), and under
# pytest-xdist the long transactional ones start at once on their own workers (tests/xdist_lanes.py), while the
# others run the rest. A stale list costs time, never a result.
LONG_MODULES = ("test_worker_faults.py", "test_scale_out_redis.py", "browser/test_release_flow.py",
                "test_e2e_worker.py", "browser/test_accessibility.py", "browser/test_embedding.py",
                "test_fetch_step.py", "test_local_build.py", "test_build_once.py", "test_evidence_e2e.py",
                "test_serving_image.py")
DATABASE_KINDS = ("db", "transactional", "no-db")


def database_kind(item) -> str:
    """pytest-django's order: tests in a transaction rolled back, then transactional tests (their teardown
    flushes the database, so the rows the migrations made are gone after them), then tests without the database."""
    marker = item.get_closest_marker("django_db")
    fixtures = getattr(item, "fixturenames", ())
    options = {}
    if marker:
        options = {**dict(zip(("transaction", "reset_sequences"), marker.args, strict=False)), **marker.kwargs}
    if options.get("transaction") or options.get("reset_sequences"):
        return "transactional"
    if "transactional_db" in fixtures or "live_server" in fixtures:
        return "transactional"
    return "db" if marker or "db" in fixtures else "no-db"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Items in pytest-django's order (database_kind), the long modules first within each kind."""
    tests = Path(__file__).parent

    def rank(item) -> int:
        name = item.path.relative_to(tests).as_posix() if item.path.is_relative_to(tests) else ""
        return LONG_MODULES.index(name) if name in LONG_MODULES else len(LONG_MODULES)

    items.sort(key=lambda item: (DATABASE_KINDS.index(database_kind(item)), rank(item)))
    if hasattr(config, "workerinput"):
        xdist_lanes.write_kinds(items, database_kind)


def pytest_configure(config):
    """With pytest-xdist (-n N, N > 0), the controller names the file its workers write the tests' kinds to."""
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    handle, path = tempfile.mkstemp(prefix="gateway-test-kinds-", suffix=".json")
    os.close(handle)
    os.environ[xdist_lanes.KINDS_FILE] = path
    config.add_cleanup(lambda: Path(path).unlink(missing_ok=True))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`-n N` (xdist's default --dist load): the lanes of tests/xdist_lanes.py. Another --dist is xdist's own."""
    if config.getoption("dist") == "load" and os.environ.get(xdist_lanes.KINDS_FILE):
        return xdist_lanes.make_scheduler(config, log)
    return None


@pytest.fixture(autouse=True)
def fast_password_hasher(request, settings):
    """Users are made with MD5, not the default 1,000,000 PBKDF2 rounds (about 0.3 s a user).

    The default hashers stay in the list, so a hash made with them still verifies. Tests
    marked `slow` start processes (qcluster, servers) with the production settings, which
    could not verify an MD5 hash: they keep the default hasher first.
    """
    if request.node.get_closest_marker("slow") is None:
        settings.PASSWORD_HASHERS = [FAST_HASHER, *settings.PASSWORD_HASHERS]


@pytest.fixture(autouse=True)
def reported_images_exist(request, monkeypatch):
    """Most completion tests report images nobody pushed (registry.example:5000/models/…): for them the
    completion path's check that the image exists in BUILD_REGISTRY (releases.builds.image_check) passes.
    Tests that start the real registry (`registry`, `local_builds`) or are marked `image_check` run the real
    check, against a real registry (tests/test_image_integrity.py covers every refusal)."""
    if {"registry", "local_builds"} & set(request.fixturenames) or request.node.get_closest_marker("image_check"):
        return
    from releases.builds import image_check

    monkeypatch.setattr(image_check, "check", lambda *args: image_check.OK)


@pytest.fixture(autouse=True)
def fresh_request_cache():
    """The per-process "requests" cache (throttle counts, read access by user id) starts empty in
    every test: ids are reused after a rollback, and a remembered answer would belong to another user.
    So does "answers" (a release's answers under its ETag): a test that changes a row behind the
    lifecycle's back (no event, no save) would otherwise read what it saw before."""
    from django.core.cache import caches

    caches["requests"].clear()
    caches["answers"].clear()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """Debian's docker-registry on a free loopback port, for the local image builds."""
    from devtools.registry import Registry

    server = Registry(tmp_path_factory.mktemp("registry")).start()
    yield server
    server.stop()


@pytest.fixture
def local_builds(settings, registry, tmp_path_factory):
    settings.BUILD_BACKEND = "local"
    settings.BUILD_REGISTRY = f"{registry.address}/models"
    settings.BUILD_REGISTRY_TLS_VERIFY = False
    settings.BUILDAH_ROOT = tmp_path_factory.getbasetemp() / "buildah"
    return registry


@pytest.fixture(scope="session")
def mlflow_models(mlflow_server):
    """name -> {version, alias...} of the models registered once for the session."""
    return register_test_models(mlflow_server.url)


@pytest.fixture
def use_mlflow(settings, mlflow_server, mlflow_models):
    settings.MLFLOW_TRACKING_URI = mlflow_server.url
    return mlflow_models


def _user(django_user_model, username, *groups, **extra):
    from django.contrib.auth.models import Group

    if groups and not Group.objects.filter(name=groups[0]).exists():
        ensure_environments()  # a transactional test flushed the roles created by migrations
    user = django_user_model.objects.create_user(username=username, password="pw-" + username + "-123", **extra)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


@pytest.fixture
def owner(db, django_user_model):
    return _user(django_user_model, "owner", "requesters")


@pytest.fixture
def outsider(db, django_user_model):
    """Another requester: may request releases, but not act on the owner's."""
    return _user(django_user_model, "outsider", "requesters")


@pytest.fixture
def stranger(db, django_user_model):
    """Signed in, in no group."""
    return _user(django_user_model, "stranger")


@pytest.fixture
def platform_admin(db, django_user_model):
    user = _user(django_user_model, "platform-admin")
    user.user_permissions.add(Permission.objects.get(codename="manage_any_release"),
                              Permission.objects.get(codename="view_release", content_type__app_label="releases"))
    return django_user_model.objects.get(pk=user.pk)  # fresh permission cache


def token_client(user) -> APIClient:
    from gateway_project import tokens

    client = APIClient()
    _token, raw = tokens.issue(user, "tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


@pytest.fixture
def api(owner):
    return token_client(owner)


@pytest.fixture
def stranger_api(stranger):
    return token_client(stranger)


@pytest.fixture
def outsider_api(outsider):
    return token_client(outsider)


@pytest.fixture
def advisories(db, tmp_path):
    """The demo-like OSV set (DEFAULT_SET) synced through the real sync; returns the AdvisorySync."""
    return sync_records(tmp_path / "osv", DEFAULT_SET)


@pytest.fixture
def restored_environments(transactional_db):
    """For transactional tests: put back the environments, policies and roles that a flush removed."""
    ensure_environments()


@pytest.fixture
def lock_index(settings, tmp_path):
    """A local PEP 503 index of generated wheels (tests.lock_fixtures.PACKAGES) as PACKAGE_INDEX_URL, with a uv
    cache of this test's own. Yields the Index: its `requests` say what uv asked for."""
    with package_index(PACKAGES, tmp_path / "built-by-setup-py") as (url, index):
        settings.PACKAGE_INDEX_URL = url
        settings.DEPENDENCY_LOCK_CACHE_DIR = tmp_path / "uv-cache"
        index.url = url
        yield index
