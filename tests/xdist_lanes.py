"""How bin/test spreads the tests over pytest-xdist workers (-n N): one test at a time, with two lanes.

pytest-django runs, in one process, the tests in a rolled-back transaction ("db") before the transactional
ones, because a transactional test's teardown flushes the database: the rows the migrations made (environments,
roles) are gone after it, and a later "db" test would miss them. Each worker has its own test database, so the
rule holds per worker: a worker that has run a transactional test ("in the process lane") is never given a
"db" test again.

The long transactional tests (qcluster, gunicorn, buildah, Chromium: tests/conftest.py LONG_MODULES) mostly wait.
About half of the workers (lane_size; none with one worker) start with them at once, in the order collected
(longest first), while the others run the "db" tests; once those are all handed out, every worker takes whatever
comes next.

Workers see the items, the controller only their ids: each worker writes id -> kind to the file named by
KINDS_FILE (the same content from every worker) before it reports its collection, and the scheduler reads it.
"""
import json
import os
from pathlib import Path

KINDS_FILE = "GATEWAY_TEST_KINDS_FILE"
# Modules run whole on one worker: their session fixtures are dear (the serving image tests import the base,
# build a dependency image and log real models: about a minute and a half per worker that would run one).
WHOLE_MODULES = ("tests/test_serving_image.py",)


def write_kinds(items, kind_of) -> None:
    """On a worker: the kind of every collected test, for the controller's scheduler."""
    target = os.environ.get(KINDS_FILE)
    if not target:
        return
    partial = Path(f"{target}.{os.getpid()}")
    partial.write_text(json.dumps({item.nodeid: kind_of(item) for item in items}))
    partial.replace(target)


def make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        def __init__(self, config, log=None):
            super().__init__(config, log)
            self.kinds: dict[str, str] | None = None
            self.in_process_lane: set = set()

        @property
        def lane_size(self) -> int:
            """Workers that may run transactional tests while "db" tests are left: 1 of 2, 2 of 3 or 4, always
            leaving one for the "db" tests."""
            return min((len(self.nodes) + 1) // 2, len(self.nodes) - 1)

        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            # every test is a unit of its own, but for modules whose session set-up is dear (WHOLE_MODULES)
            return module if module in WHOLE_MODULES else nodeid

        def _kind(self, nodeid: str) -> str:
            if self.kinds is None:
                self.kinds = json.loads(Path(os.environ[KINDS_FILE]).read_text())
            return self.kinds.get(nodeid, "db")  # unknown: the kind no lane worker may take

        def _next_for(self, node) -> str | None:
            kinds = [(scope, self._kind(scope)) for scope in self.workqueue]
            db_left = any(kind == "db" for _, kind in kinds)
            if not db_left:
                return next(iter(self.workqueue), None)
            if node not in self.in_process_lane and len(self.in_process_lane) >= self.lane_size:
                return next(scope for scope, kind in kinds if kind == "db")
            # A process-lane worker, or one that may become one: transactional first, then tests without a database.
            for wanted in ("transactional", "no-db"):
                for scope, kind in kinds:
                    if kind == wanted:
                        return scope
            return None if node in self.in_process_lane else next(scope for scope, kind in kinds if kind == "db")

        def _assign_work_unit(self, node) -> None:
            scope = self._next_for(node)
            if scope is None:
                return  # only "db" tests are left, and this worker ran a transactional one: it waits for the end
            if self._kind(scope) == "transactional":
                self.in_process_lane.add(node)
            work_unit = self.workqueue.pop(scope)
            self.assigned_work.setdefault(node, {})[scope] = work_unit
            collection = self.registered_collections[node]
            node.send_runtest_some([collection.index(nodeid) for nodeid, done in work_unit.items() if not done])

        def mark_test_complete(self, node, item_index: int, duration: float = 0) -> None:
            super().mark_test_complete(node, item_index, duration)
            for other in self.nodes:  # an idle worker gets work (or its shutdown) when the queue changes
                if other is not node and not other.shutting_down and not self._pending_of(self.assigned_work[other]):
                    self._reschedule(other)

    return LaneScheduling(config, log)
