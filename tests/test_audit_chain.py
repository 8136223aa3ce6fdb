"""The audit chain: every event linked to its predecessor by SHA-256, and nothing may change or remove one."""
import hashlib
import threading
from datetime import datetime, timedelta
from datetime import timezone as fixed_offset

import pytest
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from releases import audit_chain, audit_hash
from releases.lifecycle import record_creation, record_event, transition
from releases.models import AppendOnlyError, Release, ReleaseEvent
from releases.statuses import Status
from tests.audit_tools import TABLE, sql, unguarded
from tests.factories import ensure_environments, make_release

pytestmark = pytest.mark.django_db


def problems(**kwargs):
    return list(audit_chain.verify(**kwargs))


def stored_hash_matches(event: ReleaseEvent, previous: str) -> bool:
    again = ReleaseEvent.objects.get(pk=event.pk)  # as the database gives it back
    return audit_hash.chain_hash(again.chained_fields(), previous) == again.chain_hash


def test_each_event_links_to_the_previous_one_of_its_release(owner):
    release = make_release(owner)
    other = make_release(owner)
    record_creation(release, owner)
    record_creation(other, owner)
    release = transition(release, Status.SCANNING_DEPENDENCIES, message="scanning")
    record_event(release, "a note", actor=owner, data={"k": [1, 2]})
    events = list(ReleaseEvent.objects.filter(release=release).order_by("sequence"))
    assert [e.sequence for e in events] == [1, 2, 3]
    assert [e.sequence for e in other.events.all()] == [1]  # each release has its own chain
    previous = audit_hash.GENESIS
    for event in events:
        assert len(event.chain_hash) == 64 and stored_hash_matches(event, previous)
        previous = event.chain_hash
    assert audit_chain.chain_heads([release.pk, other.pk, 10**9]) == {
        release.pk: {"sequence": 3, "hash": events[-1].chain_hash},
        other.pk: {"sequence": 1, "hash": other.events.get().chain_hash}}
    assert problems() == []


def test_the_hash_covers_every_field_and_the_predecessor(owner):
    release = make_release(owner)
    event = record_event(release, "m", actor=owner, data={"a": 1})
    fields = ReleaseEvent.objects.get(pk=event.pk).chained_fields()
    base = audit_hash.chain_hash(fields, audit_hash.GENESIS)
    changed = {"release": fields["release"] + 1, "sequence": 2, "from_status": "FAILED", "to_status": "FAILED",
               "actor": None, "actor_username": "someone", "message": "m.", "data": {"a": 2},
               "created_at": fields["created_at"] + timedelta(microseconds=1)}
    for name, value in changed.items():
        assert audit_hash.chain_hash({**fields, name: value}, audit_hash.GENESIS) != base, name
    assert audit_hash.chain_hash(fields, "f" * 64) != base


# Each is stored as JSON and read back; the hash must still match on both databases, although
# PostgreSQL's jsonb gives back 1e300 as a 301-digit integer and 1.0 as 1.0 (and Python reads both).
AWKWARD_DATA = [
    {"floats": [1.0, 1e2, 0.1 + 0.2, -0.0, 1.5e-7, 5e-324, 1.7976931348623157e308, 1e300, -2.50]},
    {"ints": [0, -1, 2**53 + 1, 2**70, -(10**30)], "bools": [True, False, None]},
    {"nested": {"z": {"y": [{"x": [[], {}, [1.25, {"deep": "é"}]]}]}, "a": 1}},
    {"text": "naïve café — 日本語 🙂 \u2028 \t\n\"quoted\" back\\slash \x01", "ключ": "значение"},
    {1: "int key becomes a string", "tuple": (1, 2), "empty": ""},
]


@pytest.mark.parametrize("data", AWKWARD_DATA, ids=["floats", "ints", "nested", "unicode", "python-only"])
def test_hashes_survive_the_databases_round_trip(owner, data):
    release = make_release(owner)
    event = record_event(release, "awkward data 🙂", actor=owner, data=data)
    assert stored_hash_matches(event, audit_hash.GENESIS)
    assert problems() == []


def test_postgresql_really_rewrites_numbers_and_the_hash_does_not_care(owner):
    release = make_release(owner)
    event = record_event(release, "n", data={"big": 1e300, "one": 1.0})
    back = ReleaseEvent.objects.get(pk=event.pk).data
    # The reason numbers are hashed by value: the spelling does not survive jsonb.
    if connection.vendor == "postgresql":
        assert type(back["big"]) is int and back["big"] == 10**300  # not the float that was written
    else:
        assert type(back["big"]) is float and back["big"] == 1e300
    assert back["one"] == 1
    assert stored_hash_matches(event, audit_hash.GENESIS)


def test_data_with_no_json_form_is_refused_and_nothing_is_stored(owner):
    release = make_release(owner)
    for bad in (float("nan"), float("inf"), {1, 2}):
        with pytest.raises((ValueError, TypeError)):
            record_event(release, "nan", data={"x": bad})
    # Refused before any query: the caller's transaction is still usable.
    assert not ReleaseEvent.objects.filter(release=release).exists()


def test_the_caller_cannot_choose_place_time_or_hash(owner):
    release = make_release(owner)
    record_event(release, "first")
    forged = ReleaseEvent.objects.create(release=release, message="backdated", to_status=release.status, sequence=1,
                                         chain_hash="0" * 64, created_at=timezone.now() - timedelta(days=365),
                                         actor_username="root")
    assert forged.sequence == 2 and forged.actor_username == ""
    assert forged.created_at > timezone.now() - timedelta(minutes=1)
    assert problems() == []


def test_bulk_create_chains_each_event_in_order(owner):
    one, two = make_release(owner), make_release(owner)
    record_event(two, "already there")
    ReleaseEvent.objects.bulk_create([ReleaseEvent(release=r, message=f"bulk {i}", actor=owner, to_status=r.status)
                                      for i, r in enumerate([one, two, one, two, one])])
    assert list(one.events.order_by("sequence").values_list("sequence", "message")) == [
        (1, "bulk 0"), (2, "bulk 2"), (3, "bulk 4")]
    assert list(two.events.order_by("sequence").values_list("sequence", flat=True)) == [1, 2, 3]
    assert set(one.events.values_list("actor_username", flat=True)) == {owner.username}
    assert problems() == []


def test_the_username_at_the_time_is_kept_and_hashed(owner):
    release = make_release(owner)
    event = record_event(release, "by owner", actor=owner)
    old_name = owner.username
    owner.username = "renamed-later"
    owner.save()
    again = ReleaseEvent.objects.get(pk=event.pk)
    assert again.actor_username == old_name and again.actor_name == old_name
    assert problems() == []  # a rename is not tampering


def test_no_query_may_change_or_remove_an_event(owner):
    release = make_release(owner)
    event = record_event(release, "original", data={"v": 1})
    attempts = [
        lambda: ReleaseEvent.objects.filter(pk=event.pk).update(message="forged"),
        lambda: ReleaseEvent.objects.filter(pk=event.pk).delete(),
        lambda: ReleaseEvent.objects.all().delete(),
        lambda: release.events.update(message="forged"),
        lambda: ReleaseEvent.objects.bulk_update([event], ["message"]),
        lambda: ReleaseEvent.objects.bulk_create([ReleaseEvent(release=release, message="x")], update_conflicts=True,
                                                 update_fields=["message"], unique_fields=["release", "sequence"]),
        lambda: ReleaseEvent.objects.bulk_create([ReleaseEvent(release=release)], ignore_conflicts=True),
        event.save,
        event.delete,
    ]
    event.message = "forged"
    for attempt in attempts:
        with pytest.raises(AppendOnlyError, match="append-only"):
            attempt()
    assert list(ReleaseEvent.objects.values_list("message", "sequence")) == [("original", 1)]


def test_the_database_refuses_to_update_an_event_in_sql(owner):
    release = make_release(owner)
    event = record_event(release, "original")
    for statement in (f"UPDATE {TABLE} SET message = 'forged' WHERE id = %s",
                      f"UPDATE {TABLE} SET chain_hash = 'x', sequence = 9 WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            sql(statement, [event.pk])
    assert ReleaseEvent.objects.get(pk=event.pk).message == "original"


def test_the_database_refuses_a_delete_on_postgresql_and_verify_catches_one_on_sqlite(owner):
    release = make_release(owner)
    record_event(release, "first")
    second = record_event(release, "second")
    record_event(release, "third")
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError, match="append-only: DELETE refused"), transaction.atomic():
            sql(f"DELETE FROM {TABLE} WHERE id = %s", [second.pk])
        assert ReleaseEvent.objects.filter(release=release).count() == 3
        assert problems() == []
    else:  # no DELETE trigger on SQLite (the migration says why): the chain shows the gap
        sql(f"DELETE FROM {TABLE} WHERE id = %s", [second.pk])
        [problem] = problems()
        assert (problem.release_id, problem.sequence, problem.kind) == (release.pk, 3, "deleted")


def test_the_unique_sequence_refuses_a_fork_even_without_the_guard(owner):
    release = make_release(owner)
    first = record_event(release, "first")
    with unguarded(), pytest.raises(IntegrityError), transaction.atomic():
        columns = "release_id, from_status, to_status, actor_username, data, created_at, sequence, chain_hash"
        sql(f"INSERT INTO {TABLE} ({columns}, message) SELECT {columns}, 'fork' FROM {TABLE} WHERE id = %s", [first.pk])


def test_a_second_first_event_is_refused_and_nothing_is_stored(owner):
    # open_chain (a create's first event) reads no head: the unique sequence is what stops it forking a chain.
    release = make_release(owner)
    record_creation(release, owner)
    record_event(release, "a note", actor=owner)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReleaseEvent.open_chain(release, from_status="", to_status=release.status, actor=owner, message="again")
    assert list(release.events.order_by("sequence").values_list("sequence", "message")) == [
        (1, "Release requested."), (2, "a note")]
    assert problems() == []


@pytest.mark.django_db(transaction=True)
def test_a_first_event_outside_the_releases_transaction_is_refused(restored_environments, owner):
    release = make_release(owner)  # committed on its own: another writer may already have linked to it
    with pytest.raises(transaction.TransactionManagementError):
        record_creation(release, owner)
    assert not release.events.exists()


def test_the_guard_is_in_place_after_the_whole_migration_chain():
    # A later migration that rebuilds the table on SQLite drops the trigger with it: this fails then.
    assert list(audit_chain.guard_problems()) == []


def test_verify_reports_a_missing_or_disabled_guard(owner):
    release = make_release(owner)
    record_event(release, "fine")
    with unguarded():
        [problem] = problems()
    assert problem.kind == "guard" and audit_chain.GUARD_TRIGGER in problem.detail
    assert problems() == []


def _append_in_threads(release_id: int, writers: int, each: int) -> list:
    barrier, errors = threading.Barrier(writers), []

    def write(i):
        try:
            barrier.wait(timeout=10)
            for j in range(each):
                record_event(Release.objects.get(pk=release_id), f"writer {i} event {j}", data={"w": i, "j": j})
        except Exception as exc:  # noqa: BLE001 (collected, then asserted empty)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_make_one_linear_chain(restored_environments, owner):
    for _ in range(3):  # several rounds: a race that passes once by luck fails here
        with transaction.atomic():  # a release and its first event are written together
            release = make_release(owner)
            record_creation(release, owner)
        assert _append_in_threads(release.pk, writers=6, each=5) == []
        sequences = list(ReleaseEvent.objects.filter(release=release).order_by("sequence")
                         .values_list("sequence", flat=True))
        assert sequences == list(range(1, 32))
        assert sorted(ReleaseEvent.objects.filter(release=release).values_list("data__w", flat=True)
                      .exclude(data__w=None)) == sorted(list(range(6)) * 5)
    assert problems() == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_transitions_and_notes_stay_linear(restored_environments, owner):
    release = make_release(owner, status=Status.AWAITING_APPROVAL)
    barrier, errors = threading.Barrier(4), []

    def note(i):
        try:
            barrier.wait(timeout=10)
            for j in range(5):
                record_event(Release.objects.get(pk=release.pk), f"note {i}.{j}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    def move():
        try:
            barrier.wait(timeout=10)
            transition(Release.objects.get(pk=release.pk), Status.APPROVED)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=note, args=(i,)) for i in range(3)] + [threading.Thread(target=move)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert list(ReleaseEvent.objects.filter(release=release).order_by("sequence").values_list(
        "sequence", flat=True)) == list(range(1, 17))
    # The newest event does not have to be the transition (notes after it record APPROVED as their status).
    assert Release.objects.get(pk=release.pk).status == Status.APPROVED
    assert problems() == []


@pytest.mark.django_db(transaction=True)
def test_the_migration_chains_events_stored_before_it(restored_environments, owner):
    executor = MigrationExecutor(connection)
    before = [("releases", "0019_finding_severity_rank")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    environment = old.get_model("releases", "Environment").objects.get(name="staging")
    user = old.get_model("auth", "User").objects.get(pk=owner.pk)
    releases = [old.get_model("releases", "Release").objects.create(
        model_name=f"m{i}", requested_ref="1", environment=environment, requested_by=user,
        status=Status.CANCELLED) for i in range(2)]
    event_model = old.get_model("releases", "ReleaseEvent")
    start = timezone.now() - timedelta(days=3)
    # Interleaved releases, two events at the same instant (id decides), stored out of time order.
    stored = [(releases[0], start + timedelta(hours=2), "third"), (releases[1], start, "only"),
              (releases[0], start, "first"), (releases[0], start + timedelta(hours=1), "second a"),
              (releases[0], start + timedelta(hours=1), "second b")]
    for release, at, message in stored:
        event = event_model.objects.create(release=release, message=message, to_status=Status.CANCELLED,
                                           actor=user, data={"f": 1.0, "é": [1e300]})
        event_model.objects.filter(pk=event.pk).update(created_at=at)  # auto_now_add then: set it after
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    chained = list(ReleaseEvent.objects.filter(release_id=releases[0].pk).order_by("sequence").values_list(
        "sequence", "message", "actor_username"))
    assert chained == [(1, "first", owner.username), (2, "second a", owner.username),
                       (3, "second b", owner.username), (4, "third", owner.username)]
    assert list(audit_chain.guard_problems()) == []
    assert problems() == []
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        sql(f"UPDATE {TABLE} SET message = 'x'")
    ensure_environments()


def test_admin_shows_the_chain_and_changes_none_of_it(admin_client, owner):
    release = make_release(owner)
    event = record_event(release, "shown", actor=owner)
    listing = admin_client.get(f"/admin/releases/releaseevent/?release={release.pk}")
    assert listing.status_code == 200 and event.chain_hash.encode() in listing.content
    page = admin_client.get(f"/admin/releases/releaseevent/{event.pk}/change/")
    assert page.status_code == 200 and event.chain_hash.encode() in page.content and b"Sequence" in page.content
    forged = admin_client.post(f"/admin/releases/releaseevent/{event.pk}/change/",
                               {"message": "forged", "chain_hash": "0" * 64, "sequence": "7"})
    assert forged.status_code == 403
    assert ReleaseEvent.objects.filter(pk=event.pk, message="shown", sequence=1).exists()


def test_the_hashed_bytes_are_exactly_the_documented_format():
    # mrg-audit-v1 is frozen (stored hashes depend on it): this pins it, byte for byte.
    fields = {"release": 7, "sequence": 2, "from_status": "PENDING", "to_status": "CANCELLED", "actor": 3,
              "actor_username": "zoë", "message": 'line\n"two"', "data": {"b": [1.0, 1e2, -0.0, 2.5e-7], "a": True,
                                                                           "c": None},
              "created_at": datetime(2026, 12, 1, 16, 0, 0, 5, tzinfo=fixed_offset(timedelta(hours=2)))}
    expected = ('{"actor":3,"actor_username":"zoë","chain":"mrg-audit-v1","created_at":"2026-12-01T14:00:00.000005Z",'
                '"data":{"a":true,"b":[1,100,0,0.00000025],"c":null},"from_status":"PENDING",'
                '"message":"line\\n\\"two\\"","previous":"' + "ab" * 32 + '","release":7,"sequence":2,'
                '"to_status":"CANCELLED"}').encode()
    assert audit_hash.canonical_event(fields, "ab" * 32) == expected
    assert audit_hash.chain_hash(fields, "ab" * 32) == hashlib.sha256(expected).hexdigest()
    with pytest.raises(ValueError, match="timezone-aware"):
        audit_hash.chain_hash({**fields, "created_at": datetime(2026, 12, 1)}, "ab" * 32)
