"""manage.py verify_audit_log: an untouched log passes; an edit, a deletion, an insertion or a rewrite fails it."""
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from releases import audit_chain, audit_hash
from releases.lifecycle import record_creation, record_event, transition
from releases.models import ReleaseEvent
from releases.statuses import Status
from tests.audit_tools import TABLE, drop_sequence_constraint, sql, unguarded
from tests.factories import make_release
from tests.workers import ROOT, database_url_of_test_db

pytestmark = pytest.mark.django_db


def verify_log(*args) -> tuple[int, str]:
    """(exit code, stdout) of the command, as a process would give them."""
    out = []

    class Out:
        def write(self, text):
            out.append(text)

        def flush(self):
            pass

    try:
        call_command("verify_audit_log", *args, stdout=Out())
        return 0, "".join(out)
    except CommandError as exc:
        return exc.returncode, "".join(out) + str(exc)


@pytest.fixture
def history(owner):
    """A release with five events (creation, moves, notes), and a second release with two."""
    with transaction.atomic():  # a release and its first event are written together
        release = make_release(owner)
        record_creation(release, owner)
    release = transition(release, Status.SCANNING_DEPENDENCIES, message="scanning")
    record_event(release, "a note", actor=owner, data={"score": 0.93, "tags": ["é", 1e2]})
    release = transition(release, Status.CANCELLED, actor=owner, message="no longer needed")
    record_event(release, "after the end", data={"n": 1})
    with transaction.atomic():
        other = make_release(owner, model_name="other")
        record_creation(other, owner)
    record_event(other, "other note")
    return release, other


def event_at(release, sequence) -> ReleaseEvent:
    return ReleaseEvent.objects.get(release=release, sequence=sequence)


def test_an_untouched_log_verifies(history):
    code, out = verify_log()
    assert code == 0
    assert out.strip() == "OK: 2 releases, 7 events, every chain intact."


def test_an_edited_message_fails_at_that_event_and_names_it(history):
    release, other = history
    third = event_at(release, 3)
    with unguarded():
        sql(f"UPDATE {TABLE} SET message = 'nothing to see' WHERE id = %s", [third.pk])
    code, out = verify_log()
    assert code == 1
    assert f"release {release.pk}, sequence 3, event {third.pk}: edited:" in out
    assert f"release {other.pk}" not in out  # only the broken chain is named
    assert "FAILED: 1 broken" in out and "2 releases, 7 events" in out


@pytest.mark.parametrize("column, value", [("data", '{"score": 0.94, "tags": ["é", 100]}'),
                                           ("to_status", "SUCCEEDED"), ("actor_username", "someone-else"),
                                           ("chain_hash", "0" * 64)])
def test_any_edited_column_fails(history, column, value):
    release, _ = history
    third = event_at(release, 3)
    with unguarded():
        sql(f"UPDATE {TABLE} SET {column} = %s WHERE id = %s", [value, third.pk])
    [problem] = audit_chain.verify()
    assert (problem.release_id, problem.sequence, problem.event_id, problem.kind) == (release.pk, 3, third.pk, "edited")


def test_a_deleted_event_is_a_gap(history):
    release, _ = history
    second = event_at(release, 2)
    with unguarded():
        sql(f"DELETE FROM {TABLE} WHERE id = %s", [second.pk])
    code, out = verify_log()
    assert code == 1
    assert f"release {release.pk}, sequence 3, event {event_at(release, 3).pk}: deleted: sequence 2 missing" in out


def test_deleted_first_and_newest_events_are_caught(history):
    release, other = history
    with unguarded():
        sql(f"DELETE FROM {TABLE} WHERE release_id = %s AND sequence >= 4", [release.pk])  # the CANCELLED move too
        sql(f"DELETE FROM {TABLE} WHERE release_id = %s AND sequence = 1", [other.pk])
    found = {p.release_id: p for p in audit_chain.verify()}
    assert found[release.pk].kind == "deleted" and "CANCELLED" in found[release.pk].detail
    assert (found[other.pk].kind, found[other.pk].sequence) == ("deleted", 2)
    assert "sequence 1 missing" in found[other.pk].detail


def test_a_release_whose_events_are_all_gone_is_named(history):
    _, other = history
    with unguarded():
        sql(f"DELETE FROM {TABLE} WHERE release_id = %s", [other.pk])
    code, out = verify_log()
    assert code == 1 and f"release {other.pk}: deleted: the release has no events" in out


def test_an_event_inserted_mid_chain_breaks_the_next_link(history):
    release, _ = history
    first, originals = event_at(release, 1), list(release.events.order_by("-sequence"))
    forged = {**first.chained_fields(), "sequence": 2, "message": "approved by nobody"}
    forged_hash = audit_hash.chain_hash(forged, first.chain_hash)  # the forger hashes it correctly
    with unguarded():
        for event in originals[:-1]:  # make room: 5→6 … 2→3, from the top so no two share a place
            sql(f"UPDATE {TABLE} SET sequence = sequence + 1 WHERE id = %s", [event.pk])
        columns = "release_id, from_status, to_status, actor_id, actor_username, data, created_at"
        sql(f"INSERT INTO {TABLE} ({columns}, sequence, chain_hash, message) SELECT {columns}, 2, %s, "
            f"'approved by nobody' FROM {TABLE} WHERE id = %s", [forged_hash, first.pk])
    [problem] = audit_chain.verify()
    assert (problem.release_id, problem.sequence, problem.event_id) == (release.pk, 3, originals[-2].pk)
    assert problem.kind == "edited"


def test_reordered_events_are_caught(history):
    release, _ = history
    second, third = event_at(release, 2), event_at(release, 3)
    with unguarded():
        sql(f"UPDATE {TABLE} SET sequence = 99 WHERE id = %s", [second.pk])
        sql(f"UPDATE {TABLE} SET sequence = 2 WHERE id = %s", [third.pk])
        sql(f"UPDATE {TABLE} SET sequence = 3 WHERE id = %s", [second.pk])
    [problem] = audit_chain.verify()
    assert (problem.sequence, problem.event_id, problem.kind) == (2, third.pk, "edited")


def test_a_duplicated_sequence_is_caught_or_refused(history):
    release, _ = history
    columns = "release_id, from_status, to_status, actor_id, actor_username, message, data, created_at, sequence, " \
              "chain_hash"
    copy = f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM {TABLE} WHERE id = %s"
    if connection.vendor == "postgresql":
        drop_sequence_constraint()
        with unguarded():
            sql(copy, [event_at(release, 2).pk])
        [problem] = audit_chain.verify()
        assert (problem.sequence, problem.kind) == (2, "inserted")
    else:  # SQLite keeps the constraint inside the table (it cannot be dropped alone): the insert fails
        with pytest.raises(Exception, match="UNIQUE"):
            sql(copy, [event_at(release, 2).pk])


def test_one_release_can_be_checked_alone(history):
    release, other = history
    with unguarded():
        sql(f"UPDATE {TABLE} SET message = 'x' WHERE id = %s", [event_at(release, 2).pk])
    assert verify_log("--release", str(other.pk)) == (0, "OK: 1 releases, 2 events, every chain intact.\n")
    assert verify_log("--release", str(release.pk))[0] == 1
    with pytest.raises(CommandError, match="No such release: 999999"):
        call_command("verify_audit_log", "--release", "999999")


def test_a_rewritten_chain_passes_alone_but_not_against_its_anchors(history, tmp_path):
    release, other = history
    anchors = tmp_path / "heads.json"
    anchors.write_text(json.dumps(audit_chain.chain_heads([release.pk, other.pk])))
    # Someone with write access edits event 2 and recomputes every hash after it.
    previous = event_at(release, 1).chain_hash
    with unguarded():
        for event in release.events.order_by("sequence")[1:]:
            fields = event.chained_fields()
            if event.sequence == 2:
                fields["message"] = "rewritten"
                sql(f"UPDATE {TABLE} SET message = 'rewritten' WHERE id = %s", [event.pk])
            previous = audit_hash.chain_hash(fields, previous)
            sql(f"UPDATE {TABLE} SET chain_hash = %s WHERE id = %s", [previous, event.pk])
    assert verify_log()[0] == 0  # the limit of an unkeyed chain: it is consistent again
    code, out = verify_log("--anchors", str(anchors))
    assert code == 1 and f"release {release.pk}, sequence 5" in out and "anchor: the chain was rewritten" in out
    assert f"release {other.pk}" not in out


def test_a_log_cut_before_its_anchor_fails(history, tmp_path):
    release, _ = history
    anchors = tmp_path / "heads.json"
    anchors.write_text(json.dumps(audit_chain.chain_heads([release.pk])))
    with unguarded():  # the last note only: the status still matches the newest remaining event
        sql(f"DELETE FROM {TABLE} WHERE release_id = %s AND sequence = 5", [release.pk])
    assert verify_log()[0] == 0
    code, out = verify_log("--anchors", str(anchors))
    assert code == 1 and "the log ends at sequence 4, before the anchored 5" in out


def test_bad_anchor_files_are_refused(history, tmp_path):
    for content in ["[1, 2]", '{"x": {"sequence": 1, "hash": "a"}}', '{"1": {"sequence": 1}}', "not json"]:
        path = tmp_path / "a.json"
        path.write_text(content)
        with pytest.raises(CommandError, match="not chain heads"):
            call_command("verify_audit_log", "--anchors", str(path))


def test_the_chain_check_finds_duplicates_gaps_and_edits_in_any_stream():
    # The streaming check by itself, on rows no database would hold (both databases refuse duplicates).
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def row(event_id, sequence, previous, message="m"):
        fields = {"release": 7, "sequence": sequence, "from_status": "", "to_status": "PENDING", "actor": None,
                  "actor_username": "", "message": message, "data": {}, "created_at": at}
        return {"id": event_id, "release_id": 7, "sequence": sequence, "from_status": "", "to_status": "PENDING",
                "actor_id": None, "actor_username": "", "message": message, "data": {}, "created_at": at,
                "chain_hash": audit_hash.chain_hash(fields, previous)}

    first = row(1, 1, audit_hash.GENESIS)
    second = row(2, 2, first["chain_hash"])
    cases = {"inserted": [first, second, {**second, "id": 3}], "deleted": [first, row(3, 3, second["chain_hash"])],
             "edited": [first, {**second, "message": "x"}], None: [first, second]}
    for kind, rows in cases.items():
        chain = audit_chain._Chain(7, "PENDING", None)
        found = [p for r in rows for p in chain.add(r)] + list(chain.end())
        assert [p.kind for p in found] == ([kind] if kind else []), kind


@pytest.mark.django_db(transaction=True)
def test_the_command_exits_1_on_a_tampered_log_and_0_on_an_intact_one(restored_environments, history):
    release, _ = history
    env = {**os.environ, "DATABASE_URL": database_url_of_test_db()}

    def run():
        return subprocess.run([sys.executable, "manage.py", "verify_audit_log"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    intact = run()
    assert intact.returncode == 0 and "OK: 2 releases, 7 events" in intact.stdout, intact.stderr
    third = event_at(release, 3)
    with unguarded():
        sql(f"UPDATE {TABLE} SET message = 'nothing to see' WHERE id = %s", [third.pk])
    tampered = run()
    assert tampered.returncode == 1
    assert f"release {release.pk}, sequence 3, event {third.pk}: edited" in tampered.stdout
    assert "FAILED: 1 broken" in tampered.stderr
