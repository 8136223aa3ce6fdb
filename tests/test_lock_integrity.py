"""The lock that ships is the lock that was scanned (issue 25, item 6): an attacker with write access to the
database edits a release's stored DependencyLock (its content, or its content and sha256), or removes it.

Locks are append-only (the model, and a trigger like the audit events'); and wherever the lock is used (the
build request, the promotion, the attestation, verify_release) its digest is re-derived from the content and
compared with the digest the fetch step recorded in its hash-chained event (releases.locking.shipping)."""
import hashlib
import uuid
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from releases import audit_chain, steps
from releases.builds.base import BuildTriggerError, build_request
from releases.builds.completion import record_completion
from releases.evidence import attest, keys
from releases.evidence.stored import verify_stored
from releases.locking import shipping
from releases.models import Build, DependencyLock, Release, ReleaseEvidence
from releases.models.core import AppendOnlyError
from releases.statuses import Status, Step
from tests.evidence_helpers import approved_waiver, complete, scanned_release
from tests.factories import make_release, scanned_model_files
from tests.fake_ci import fake_ci
from tests.lock_fixtures import record_fetched_lock

pytestmark = pytest.mark.django_db
TRIGGER = "releases_dependencylock_append_only"
SCANNED = "leaflib==2.0 \\\n    --hash=sha256:" + "a" * 64 + "\n"
EVIL = SCANNED + "evil==6.6.6 \\\n    --hash=sha256:" + "c" * 64 + "\n"
DIGEST = "sha256:" + "ab" * 32


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def with_lock(release: Release, content: str = SCANNED) -> DependencyLock:
    """The lock as the fetch step stores it, with the fetch event that records its digest."""
    lock = DependencyLock.objects.create(release=release, outcome=DependencyLock.Outcome.RESOLVED, content=content,
                                         package_count=content.count("=="), python_version="3.11")
    record_fetched_lock(release, lock)
    return lock


@contextmanager
def owning_the_table():
    """An attacker who owns the table can drop its trigger (README: what the trigger cannot stop); the test's
    transaction puts it back when it rolls back."""
    with connection.cursor() as cursor:
        on = " ON releases_dependencylock" if connection.vendor == "postgresql" else ""
        cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}{on}")
        yield cursor


def tamper(lock: DependencyLock, how: str) -> None:
    """`content`: the content edited; `both`: the content and its sha256 column; `deleted`: the row removed."""
    with owning_the_table() as cursor:
        if how == "deleted":
            cursor.execute("DELETE FROM releases_dependencylock WHERE id = %s", [lock.pk])
            return
        column = sha256(EVIL) if how == "both" else lock.sha256
        cursor.execute("UPDATE releases_dependencylock SET content = %s, sha256 = %s WHERE id = %s",
                       [EVIL, column, lock.pk])


TAMPERINGS = ["content", "both", "deleted"]


# --- Append-only, like the audit events ---------------------------------------------------------------------

def test_the_model_refuses_to_change_or_remove_a_lock(owner):
    lock = with_lock(make_release(owner))
    lock.content = EVIL
    refused = [lambda: lock.save(), lambda: lock.delete(),
               lambda: DependencyLock.objects.filter(pk=lock.pk).update(content=EVIL),
               lambda: DependencyLock.objects.filter(pk=lock.pk).delete(),
               lambda: DependencyLock.objects.bulk_update([lock], ["content"]),
               lambda: DependencyLock.objects.bulk_create([lock], update_conflicts=True, unique_fields=["release"],
                                                          update_fields=["content"])]
    for attempt in refused:
        with pytest.raises(AppendOnlyError, match="never changed"):
            attempt()
    assert DependencyLock.objects.get(pk=lock.pk).content == SCANNED


def test_the_database_refuses_an_update_in_sql(owner):
    lock = with_lock(make_release(owner))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE releases_dependencylock SET content = %s WHERE id = %s", [EVIL, lock.pk])
    assert DependencyLock.objects.get(pk=lock.pk).content == SCANNED


@pytest.mark.postgres
def test_postgresql_refuses_a_delete_in_sql_too(owner):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps DELETE (Django flushes with it): shipping's check catches a removed lock")
    lock = with_lock(make_release(owner))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM releases_dependencylock WHERE id = %s", [lock.pk])
    assert DependencyLock.objects.filter(pk=lock.pk).exists()


def test_the_trigger_is_in_place_after_the_whole_migration_chain():
    # A later migration that rebuilds the table on SQLite drops the trigger with it: this fails then.
    assert list(audit_chain.guard_problems()) == []


def test_verify_audit_log_reports_a_dropped_lock_trigger(owner):
    with owning_the_table():
        [problem] = audit_chain.guard_problems()
    assert problem.kind == "guard" and f"trigger {TRIGGER} is missing: dependency locks" in problem.detail
    assert audit_chain.LOCK_GUARD_TRIGGER == TRIGGER


# --- Every use re-derives the digest and compares it with the fetch event -------------------------------------

def test_an_untouched_lock_is_the_recorded_one(owner):
    release = make_release(owner)
    lock = with_lock(release)
    assert shipping.lock_problem(release.pk) == ""
    assert shipping.lock_digest(release) == sha256(SCANNED) == lock.sha256


@pytest.mark.parametrize("how", TAMPERINGS)
def test_a_changed_lock_is_never_sent_to_a_builder(owner, settings, how):
    settings.BUILD_BACKEND, settings.BUILD_CALLBACK_SECRETS, settings.BUILD_TRIGGER_RETRIES = "webhook", ["s" * 32], 0
    release = scanned_model_files(make_release(owner, status=Status.BUILDING_IMAGE, model_version="1"))
    tamper(with_lock(release), how)
    with fake_ci() as (url, received):
        settings.BUILD_WEBHOOK_URL = f"{url}/hook"
        assert steps.trigger_build(release.pk) == "failed"
    release.refresh_from_db()
    assert received == []  # not asked to build at all
    assert release.status == Status.FAILED and release.failed_step == Step.BUILD
    assert release.status_message.startswith("Not built: the dependency lock")
    assert not Build.objects.filter(release=release).exists()


def test_the_local_builders_request_refuses_a_changed_lock(owner):
    """The local builder reads build_request first (releases.builds.local.build_image): it builds nothing."""
    release = scanned_model_files(make_release(owner, status=Status.BUILDING_IMAGE, model_version="1"))
    lock = with_lock(release)
    build = Build.objects.create(release=release, backend="local", dependency_lock_sha256=lock.sha256)
    tamper(lock, "both")
    with pytest.raises(BuildTriggerError, match="Not built: the dependency lock in the record .* is not the one "
                                                "recorded at fetch time"):
        build_request(build)


def test_a_lock_the_fetch_step_never_recorded_is_not_shipped(owner):
    release = scanned_model_files(make_release(owner, status=Status.BUILDING_IMAGE, model_version="1"))
    DependencyLock.objects.create(release=release, outcome=DependencyLock.Outcome.RESOLVED, content=EVIL)
    with pytest.raises(shipping.LockMismatch, match="not recorded by the fetch step"):
        shipping.request_fields(release)


def _promotable(owner) -> tuple[Release, Release]:
    """staging SUCCEEDED with its lock; canary building the same model version with the same lock."""
    evidence = {"model_version": "1", "mlflow_run_id": "run-a", "mlflow_source": "models:/m/1",
                "mlflow_download_uri": "mlflow-artifacts:/1/run-a/artifacts/model"}
    staging = make_release(owner, status=Status.SUCCEEDED, model_name="m", image_digest=DIGEST,
                           image_reference="registry.local/models/m:v1", **evidence)
    Build.objects.create(release=staging, backend="local", state="succeeded", finished_at=timezone.now(),
                         image_digest=DIGEST, image_reference="registry.local/models/m:v1")
    canary = make_release(owner, status=Status.BUILDING_IMAGE, model_name="m", env="canary", **evidence)
    return staging, canary


@pytest.mark.parametrize("which", ["staging", "canary", "both"])
def test_a_promotion_is_refused_when_a_lock_was_changed(owner, which):
    """Before: the same edit on both rows (content and sha256) made the digests agree, and the promotion signed
    an attestation over the edited lock."""
    staging, canary = _promotable(owner)
    locks = {"staging": with_lock(staging), "canary": with_lock(canary)}
    for name, lock in locks.items():
        if which in (name, "both"):
            tamper(lock, "both")
    assert steps.trigger_build(canary.pk) == "refused"
    canary.refresh_from_db()
    assert canary.status == Status.BUILD_FAILED
    where = "here" if which == "canary" else "there"
    assert f"the dependency lock {where} is not the one that was scanned" in canary.status_message
    assert not ReleaseEvidence.objects.filter(release=canary).exists()


def test_an_untouched_promotion_still_compares_the_locks(owner):
    staging, canary = _promotable(owner)
    with_lock(staging)
    with_lock(canary, EVIL)
    assert steps.trigger_build(canary.pk) == "refused"
    canary.refresh_from_db()
    assert (f"a different dependency lock (sha256 {sha256(SCANNED)[:12]} there, {sha256(EVIL)[:12]} here)"
            in canary.status_message)


@pytest.mark.parametrize("how", TAMPERINGS)
def test_a_changed_lock_is_not_attested_and_the_release_does_not_succeed(owner, how):
    release = make_release(owner, status=Status.BUILDING_IMAGE, model_version="3")
    lock = with_lock(release)
    build = Build.objects.create(release=release, backend="webhook", dependency_lock_sha256=lock.sha256)
    tamper(lock, how)
    done = record_completion(uuid.uuid4().hex, {"build_id": build.pk, "status": "succeeded", "digest": DIGEST,
                                                "image_reference": "registry.example:5000/models/clean-model:v3"})
    assert done.outcome.value == "recorded"
    release.refresh_from_db()
    assert release.status == Status.BUILD_FAILED
    assert release.status_message.startswith("Build failed: not attested: the dependency lock")
    assert not ReleaseEvidence.objects.filter(release=release).exists()


def test_attest_itself_refuses_to_sign_over_a_changed_lock(owner):
    """The backstop: whoever calls attest, nothing is signed over a lock that is not the recorded one."""
    release = make_release(owner, status=Status.SUCCEEDED, model_version="3", image_digest=DIGEST,
                           image_reference="registry.example:5000/models/clean-model:v3")
    lock = with_lock(release)
    build = Build.objects.create(release=release, backend="webhook", state="succeeded", image_digest=DIGEST,
                                 image_reference=release.image_reference)
    tamper(lock, "both")
    with pytest.raises(shipping.LockMismatch):
        attest.attest(release, build)
    assert not ReleaseEvidence.objects.filter(release=release).exists()


# --- verify_release re-derives the lock too ---------------------------------------------------------------------

@pytest.fixture
def attested(owner, advisories):
    approved_waiver()  # the helper's files carry a waived CRITICAL
    release = scanned_release(owner)
    lock = with_lock(release)
    evidence = complete(release, "registry.example:5000/models/fraud-detector:v3", DIGEST)
    return evidence, lock


def verify(capsys, tmp_path, release_id: int) -> tuple[int, str]:
    key = tmp_path / "public.pem"
    key.write_text(keys.public_pem(keys.signing_key().public_key()))
    try:
        call_command("verify_release", f"registry.example:5000/models/fraud-detector@{DIGEST}", "--key", str(key),
                     "--release", str(release_id))
        code = 0
    except CommandError as exc:
        code = exc.returncode
    out = capsys.readouterr()
    return code, out.out + out.err


def test_an_untouched_lock_verifies(attested, capsys, tmp_path):
    evidence, lock = attested
    code, output = verify(capsys, tmp_path, evidence.release_id)
    assert code == 0 and "VERIFIED" in output, output


@pytest.mark.parametrize("how", TAMPERINGS)
def test_verify_release_reports_a_changed_lock(attested, capsys, tmp_path, how):
    evidence, lock = attested
    tamper(lock, how)
    code, output = verify(capsys, tmp_path, evidence.release_id)
    assert code == 1 and "NOT VERIFIED" in output and "the dependency lock" in output, output
    stored = verify_stored(Release.objects.get(pk=evidence.release_id))
    assert not stored.ok and any("dependency lock" in problem for problem in stored.problems)
