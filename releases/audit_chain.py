"""Reading the audit chain: each release's newest link, and a full re-check of every link.

Every event stores `sequence` (1, 2, 3… per release) and `chain_hash`, a SHA-256 over the event
and its predecessor's hash (releases.audit_hash says exactly what; models.core.link_to_chain
writes them). verify() recomputes every chain from what the database gives back and reports the
first broken link of each release: an edited event (its hash no longer matches), a deleted one (a
gap in the sequence, a release whose status its newest event does not explain, a release with no
events), an inserted or reordered one (a duplicate sequence, or a hash that does not follow).

What it cannot see alone: someone who can write the database and recomputes every hash after the
one they changed. That is what anchors are for: chain_heads() is what a signed attestation
records, and verify(anchors=...) checks that the chain still passes through each anchored link.
"""
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Exists, OuterRef, Subquery

from releases.audit_hash import GENESIS, canonical_event, chain_hash  # noqa: F401 (canonical_event: API)
from releases.models import DependencyLock, Release, ReleaseEvent

# Created by migration 0020 (PostgreSQL: UPDATE and DELETE; SQLite: UPDATE, see the migration).
GUARD_TRIGGER = "releases_event_append_only"
LOCK_GUARD_TRIGGER = "releases_dependencylock_append_only"  # migration 0026: locks are append-only too
CHUNK = 2000  # rows per fetch: the memory of a verification does not grow with the log
_COLUMNS = ("id", "release_id", "sequence", "from_status", "to_status", "actor_id", "actor_username", "message",
            "data", "created_at", "chain_hash", "release__status")


def chain_heads(release_ids: Iterable[int]) -> dict[int, dict]:
    """{release id: {"sequence": n, "hash": "<64 hex>"}} of each release's newest event, in one query.

    A release without events is absent. This is what an attestation signs to anchor the log."""
    newest = ReleaseEvent.objects.filter(release_id=OuterRef("release_id")).order_by("-sequence").values("sequence")
    rows = ReleaseEvent.objects.filter(release_id__in=list(release_ids), sequence=Subquery(newest[:1]))
    return {release_id: {"sequence": sequence, "hash": digest}
            for release_id, sequence, digest in rows.values_list("release_id", "sequence", "chain_hash")}


@dataclass(frozen=True)
class Problem:
    release_id: int | None  # None: not one release's (the database's guard)
    sequence: int | None
    event_id: int | None
    kind: str  # edited, deleted, inserted, unreadable, anchor, guard
    detail: str

    def __str__(self) -> str:
        where = [f"release {self.release_id}"] if self.release_id is not None else ["database"]
        where += [f"sequence {self.sequence}"] if self.sequence is not None else []
        where += [f"event {self.event_id}"] if self.event_id is not None else []
        return f"{', '.join(where)}: {self.kind}: {self.detail}"


@dataclass
class Verification:
    """Iterate problems() once; then `releases` and `events` say how much was checked."""

    release_ids: list[int] | None = None
    anchors: Mapping[int, Mapping] | None = None  # chain_heads()'s shape, from a signed document
    releases: int = 0
    events: int = 0
    _gone: set = field(default_factory=set)

    def problems(self) -> Iterator[Problem]:
        yield from guard_problems()
        yield from self._chains()
        yield from self._releases_without_events()

    def _chains(self) -> Iterator[Problem]:
        rows = ReleaseEvent.objects.order_by("release_id", "sequence", "id").values_list(*_COLUMNS)
        if self.release_ids is not None:
            rows = rows.filter(release_id__in=self.release_ids)
        chain, anchored_seen = None, set()
        # One query (a server-side cursor on PostgreSQL): one snapshot, so the releases' statuses
        # and their events are read at the same moment, CHUNK rows at a time.
        for row in rows.iterator(chunk_size=CHUNK):
            event = dict(zip(_COLUMNS, row, strict=True))
            if chain is None or chain.release_id != event["release_id"]:
                if chain is not None:
                    yield from chain.end()
                chain = _Chain(event["release_id"], event["release__status"], (self.anchors or {}).get(
                    event["release_id"]))
                self.releases += 1
                if chain.anchor:
                    anchored_seen.add(chain.release_id)
            self.events += 1
            yield from chain.add(event)
        if chain is not None:
            yield from chain.end()
        in_scope = set(self.anchors or ()) if self.release_ids is None else set(self.anchors or ()) & set(
            self.release_ids)
        self._gone = in_scope - anchored_seen
        for release_id in sorted(self._gone):
            yield Problem(release_id, None, None, "deleted", "the release's anchored events are gone")

    def _releases_without_events(self) -> Iterator[Problem]:
        bare = Release.objects.filter(~Exists(ReleaseEvent.objects.filter(release_id=OuterRef("pk"))))
        if self.release_ids is not None:
            bare = bare.filter(pk__in=self.release_ids)
        for release_id in bare.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=CHUNK):
            self.releases += 1
            if release_id in self._gone:
                continue  # reported above
            yield Problem(release_id, None, None, "deleted", "the release has no events (its creation event is gone)")


def verify(release_ids: list[int] | None = None, anchors: Mapping[int, Mapping] | None = None) -> Iterator[Problem]:
    """Every problem, at most one per release (its first broken link), plus the database's guard."""
    return Verification(release_ids, anchors).problems()


class _Chain:
    """One release's events in sequence order, checked as they stream past."""

    def __init__(self, release_id: int, status: str, anchor: Mapping | None):
        self.release_id, self.status, self.anchor = release_id, status, anchor
        self.sequence, self.previous, self.to_status = 0, GENESIS, None
        self.broken = False

    def add(self, event: dict) -> Iterator[Problem]:
        if self.broken:
            return  # the first broken link is the one to look at; what follows it is unverifiable
        problem = self._check(event)
        if problem:
            self.broken = True
            yield Problem(self.release_id, event["sequence"], event["id"], *problem)
            return
        self.sequence, self.previous, self.to_status = event["sequence"], event["chain_hash"], event["to_status"]
        if self.anchor and self.anchor.get("sequence") == self.sequence and self.anchor.get("hash") != self.previous:
            self.broken = True
            yield Problem(self.release_id, self.sequence, event["id"], "anchor", "the chain was rewritten: the "
                          f"anchored hash {self.anchor.get('hash')} is now {self.previous}")

    def _check(self, event: dict) -> tuple[str, str] | None:
        expected = self.sequence + 1
        if event["sequence"] == self.sequence:
            return "inserted", f"a second event with sequence {self.sequence}"
        if event["sequence"] != expected:
            missing = f"{expected}" if event["sequence"] == expected + 1 else f"{expected}–{event['sequence'] - 1}"
            return "deleted", f"sequence {missing} missing before this event"
        try:
            recomputed = chain_hash(_chained_fields(event), self.previous)
        except (TypeError, ValueError) as exc:
            return "unreadable", f"no canonical form ({exc})"
        if recomputed != event["chain_hash"]:
            return "edited", ("the event does not match its hash: it was changed, or inserted or moved here "
                              f"(stored {event['chain_hash'] or '(empty)'}, recomputed {recomputed})")
        return None

    def end(self) -> Iterator[Problem]:
        if self.broken:
            return
        if self.anchor and self.sequence < self.anchor.get("sequence", 0):
            yield Problem(self.release_id, self.anchor["sequence"], None, "deleted",
                          f"the log ends at sequence {self.sequence}, before the anchored {self.anchor['sequence']}")
        elif self.to_status != self.status:
            # lifecycle.transition writes the status and its event in one transaction: a status no
            # event leads to means the newest events were removed.
            yield Problem(self.release_id, self.sequence, None, "deleted",
                          f"the release is {self.status}, but its newest event leads to {self.to_status or '(none)'}")


def _chained_fields(event: dict) -> dict:
    return {"release": event["release_id"], "sequence": event["sequence"], "from_status": event["from_status"],
            "to_status": event["to_status"], "actor": event["actor_id"], "actor_username": event["actor_username"],
            "message": event["message"], "data": event["data"], "created_at": event["created_at"]}


def guard_problems() -> Iterator[Problem]:
    """The append-only triggers must be there and enabled (an attacker's first step is to drop them): the
    events' (migration 0020) and the dependency locks' (migration 0026, the evidence of what ships)."""
    yield from _trigger_problems(GUARD_TRIGGER, ReleaseEvent._meta.db_table, "events")
    yield from _trigger_problems(LOCK_GUARD_TRIGGER, DependencyLock._meta.db_table, "dependency locks")


def _trigger_problems(trigger: str, table: str, rows: str) -> Iterator[Problem]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = %s AND tgrelid = %s::regclass",
                           [trigger, table])
            row = cursor.fetchone()
            state = None if row is None else row[0]
            if state in ("D", b"D"):
                yield Problem(None, None, None, "guard", f"trigger {trigger} is disabled")
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = %s", [trigger])
            state = cursor.fetchone()
        else:
            return
    if state is None:
        yield Problem(None, None, None, "guard", f"trigger {trigger} is missing: {rows} can be changed in SQL")
