"""Concurrent transitions on PostgreSQL: exactly one of the racers wins."""
import threading

import pytest
from django.db import connection, connections

from releases.lifecycle import TransitionConflict, transition
from releases.models import Release, ReleaseEvent
from releases.statuses import Status
from tests.factories import make_release

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("restored_environments")]


def _race(n, prepare, action):
    """Each thread prepares (reads) first, then all act at once."""
    barrier = threading.Barrier(n)
    results = []

    def run(i):
        try:
            prepared = prepare(i)
            barrier.wait(timeout=10)
            results.append(("won", action(i, prepared)))
        except TransitionConflict:
            results.append(("lost", i))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.postgres
def test_two_concurrent_transitions_from_same_state_exactly_one_wins(owner):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (CI runs it there)")
    for _ in range(5):  # several rounds: a race that passes once by luck would fail here
        release = make_release(owner, status=Status.PENDING)
        targets = [Status.SCANNING_DEPENDENCIES, Status.CANCELLED] * 4
        # Every racer read the release while it was PENDING, then all try to move it.
        results = _race(len(targets), lambda i: Release.objects.get(pk=release.pk),  # noqa: B023 (run now)
                        lambda i, seen: transition(seen, targets[i]))  # noqa: B023
        assert [r[0] for r in results].count("won") == 1, results
        assert ReleaseEvent.objects.filter(release=release).count() == 1
        final = Release.objects.get(pk=release.pk)
        assert final.status == ReleaseEvent.objects.get(release=release).to_status
