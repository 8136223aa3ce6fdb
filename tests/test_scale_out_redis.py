"""Scale-out: several `qcluster` processes on django-q2's Redis broker, with gunicorn in front.

Everything is real: Redis at 127.0.0.1:6379, two `manage.py qcluster` processes, gunicorn, the
session's MLflow server and the test PostgreSQL database. Clusters are killed with SIGKILL on
their whole process group, by pid.

When to move from the ORM broker to Redis
-----------------------------------------
The ORM broker (the default) keeps the queue in PostgreSQL, so it needs nothing else to run, and a
task stays in its table until a worker acknowledges it: a worker that dies mid-task is redelivered
by django-q2 after TASK_RETRY_SECONDS, and the lease sweep gets there sooner. Stay on it while one
machine runs the workers and the queue is small.

Move to Redis (`TASK_BROKER=redis`, `REDIS_URL=redis://host:6379/N`) when:

- workers run on several machines, or many clusters: on the ORM broker every idle cluster polls the
  task table every TASK_POLL_SECONDS, and all of them race for the same oldest row (a SELECT and a
  compare-and-set UPDATE per try, the losers try again), so the load on PostgreSQL and the wasted tries
  grow with the number of clusters; Redis hands each task to one waiting cluster (BLPOP), with no
  polling and no race;
- queue throughput matters: enqueue and take are one Redis command each instead of an INSERT, a
  SELECT and a compare-and-set UPDATE to take, and a DELETE to acknowledge in PostgreSQL, so bursts
  of releases do not load the database that also serves the API. `REDIS_URL` also moves the caches
  (rate limiter, worker heartbeat) out of it.

Every process, gunicorn (it enqueues) and each qcluster, needs the same TASK_BROKER, REDIS_URL and
SECRET_KEY (django-q2 signs the tasks with it).

What Redis does not do, and what the gateway does about it:

- No redelivery. A task popped by a cluster is gone from Redis; if that cluster dies (SIGKILL, OOM,
  machine lost) before finishing it, django-q2 never delivers it again, and `retry` does nothing.
  The gateway finds such releases itself: a running step holds a lease renewed by a heartbeat
  (RELEASE_LEASE_SECONDS, default 20 s); `releases.jobs.resume_stalled` (every ~30 s) re-enqueues a
  release whose lease expired, or one without a lease that has waited longer than the lease and whose
  task is not in Redis's waiting list. So the schedules must run: at least one cluster must run with
  the scheduler on. Recovery after a killed cluster is bounded by the lease plus the sweep interval
  plus one step: measured here with RELEASE_LEASE_SECONDS=6, the killed cluster's releases were
  decided 29-30 s after the SIGKILL; with the default 20 s lease, expect up to about a minute.
  A cluster also takes up to queue_limit (WORKER_PROCESSES squared) + 1 tasks from Redis ahead of its
  workers; those are lost with it too, and resumed the same way (seen below: a cluster killed during
  its first step had taken two more). A sweep cannot see such taken-but-not-started tasks of a live
  cluster either, so it may queue them once more: harmless duplicates (the step finds its release
  moved on or held and does nothing), at most queue_limit + 1 per cluster per sweep, however long the
  backlog.
- No persistence unless configured. Redis keeps the queue in memory: configure it to persist
  (`appendonly yes`, or at least RDB snapshots) and to not evict keys (`maxmemory-policy noeviction`),
  or a Redis restart loses every waiting task. Release steps come back (the sweep re-enqueues them at
  its next run, once they are older than the lease, a large backlog all at once); other one-off tasks,
  such as the re-evaluation queued after an advisory sync, are lost.
  The Redis on this development machine keeps nothing on disk (`save ""`, `appendonly no`): fine for
  tests, not for production.
- One queue per site: django-q2 names the list after Q_CLUSTER["name"] ("gateway", fixed in
  settings), so two gateways sharing one Redis need different database numbers in REDIS_URL. These
  tests claim a database number of their own (9-15) for the same reason.
- Schedules live in the database either way. With several clusters, each one's scheduler looks at
  the Schedule rows every ~30 s under SELECT ... FOR UPDATE, so a due schedule becomes one task in
  total, whichever cluster makes it (checked below); and resume_stalled is safe to run twice anyway,
  because steps claim their release before doing anything.
"""
import re
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import requests
from django.db import close_old_connections, connection
from django.db.models import F
from django.utils import timezone

from devtools import processes
from releases.models import Release, ReleaseEvent
from releases.statuses import Status
from tests.mlflow_models import CLEAN, VULNERABLE
from tests.workers import SlowProxy, sigkill_group, start_gunicorn, start_qcluster, stop_qcluster, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.postgres,
              pytest.mark.mlflow, pytest.mark.usefixtures("restored_environments", "advisories", "use_mlflow")]

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DBS = range(9, 16)  # the numbers these tests may claim; each run takes a free one
CLAIM_KEY = "gateway-tests:scale-out:claimed-by"
QUEUE_KEY = "django_q:gateway:q"  # django-q2's list for Q_CLUSTER["name"] = "gateway"
LEASE = 6  # RELEASE_LEASE_SECONDS for the clusters (default 20): a dead worker is seen sooner
DECIDED = {Status.SCAN_FAILED, Status.APPROVED}  # staging needs no approval; no build backend: rests at APPROVED

# What each release must go through, each exactly once.
TRANSITIONS = {
    VULNERABLE: Counter({("", Status.PENDING): 1, (Status.PENDING, Status.SCANNING_DEPENDENCIES): 1,
                         (Status.SCANNING_DEPENDENCIES, Status.SCAN_FAILED): 1}),
    CLEAN: Counter({("", Status.PENDING): 1, (Status.PENDING, Status.SCANNING_DEPENDENCIES): 1,
                    (Status.SCANNING_DEPENDENCIES, Status.SCAN_PASSED): 1, (Status.SCAN_PASSED, Status.APPROVED): 1}),
}
STEPS = {
    VULNERABLE: Counter({"releases.steps.fetch_environment": 1, "releases.steps.scan_dependencies": 1}),
    CLEAN: Counter({"releases.steps.fetch_environment": 1, "releases.steps.scan_dependencies": 1,
                    "approvals.tasks.request_approval": 1, "releases.steps.start_build": 1}),
}
PROCESSING = re.compile(r"processing (release-(\d+)-[a-z_]+) '")
SCHEDULED = re.compile(r"created task \S+ from schedule \[([^\]]+)\]")
RUNNING = re.compile(r"^(\S+ \S+) INFO django-q: Q Cluster \S+ \[[^\]]+\] running", re.M)


@pytest.fixture
def redis_db():
    """A Redis database number of this run's own: claimed with SET NX in an empty one, FLUSHDB'd at the end.

    Q_CLUSTER["name"] cannot be set from the environment (django-q2's Q_CLUSTER_NAME needs an
    ALT_CLUSTERS entry in settings, or it raises KeyError), so the number is what keeps two runs on one
    Redis apart. Never FLUSHALL: other things use this Redis."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (several processes write the test database at once)")
    import redis

    me = uuid.uuid4().hex
    for number in REDIS_DBS:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number, socket_timeout=5)
        try:
            claimed = client.set(CLAIM_KEY, me, nx=True, ex=900)
        except redis.ConnectionError:
            pytest.skip(f"needs Redis at {REDIS_HOST}:{REDIS_PORT}")
        if not claimed:
            continue
        if client.dbsize() == 1:  # only our claim: nobody else uses this number
            break
        client.delete(CLAIM_KEY)  # someone's data is there: leave it alone
    else:
        pytest.fail(f"no free Redis database among {list(REDIS_DBS)}")
    try:
        yield number, client
    finally:
        client.flushdb()  # this number only: the queue, django-q2's stats, the caches, the claim
        client.close()


@pytest.fixture
def redis_env(redis_db, mlflow_server):
    number, _client = redis_db
    return {"TASK_BROKER": "redis", "REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}",
            "MLFLOW_TRACKING_URI": mlflow_server.url, "RELEASE_LEASE_SECONDS": LEASE}


def submit(url: str, user, count: int) -> dict[int, str]:
    """POST `count` releases through gunicorn (half vulnerable, half clean), 4 at a time; id -> model."""
    from gateway_project import tokens

    _token, raw = tokens.issue(user, "scale-out")
    headers = {"Authorization": f"Token {raw}"}
    models = [VULNERABLE if i % 2 else CLEAN for i in range(count)]

    def post(model):
        body = {"model_name": model, "model_version": "1" if model == VULNERABLE else "2",
                "target_environment": "staging"}
        answer = requests.post(f"{url}/api/releases/", json=body, headers=headers, timeout=30)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"], model

    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(post, models))


def statuses(ids) -> dict[int, str]:
    close_old_connections()
    return dict(Release.objects.filter(pk__in=ids).values_list("pk", "status"))


def all_decided(ids) -> bool:
    now = statuses(ids)
    failed = [r for r, status in now.items() if status == Status.FAILED]
    if failed:  # an operational failure would wait forever: say why at once
        raise AssertionError(list(Release.objects.filter(pk__in=failed).values_list("pk", "status_message")))
    return set(now.values()) <= DECIDED


def step_tasks(ids) -> list[tuple[int, str, object, bool]]:
    """(release id, func, result, success) of every step task the clusters ran for these releases."""
    from django_q.models import Task

    close_old_connections()
    rows = []
    for name, func, result, success in Task.objects.filter(name__startswith="release-").values_list(
            "name", "func", "result", "success"):
        release_id = int(name.split("-")[1])
        if release_id in ids:
            rows.append((release_id, func, result, success))
    return rows


def all_steps_ran(releases: dict[int, str]) -> bool:
    ran = Counter((r, f) for r, f, result, _ in step_tasks(set(releases)) if result != "skipped")
    return all(ran[(r, f)] >= 1 for r, model in releases.items() for f in STEPS[model])


def processed_by(log) -> dict[str, set[int]]:
    """task name -> set of release ids, as the cluster's log says it processed them."""
    seen = {}
    for name, release_id in PROCESSING.findall(log.read_text()):
        seen.setdefault(name, set()).add(int(release_id))
    return seen


def assert_each_step_once(releases: dict[int, str]) -> int:
    """Every release went through each of its transitions once and ran each step once; returns the
    number of duplicate deliveries (tasks that found their release moved on or held, and did nothing)."""
    for release_id, model in releases.items():
        # A note (an event that changes nothing) has from_status == to_status: only moves are counted.
        moves = Counter(ReleaseEvent.objects.filter(release_id=release_id).exclude(from_status=F("to_status"))
                        .values_list("from_status", "to_status"))
        assert moves == TRANSITIONS[model], (release_id, model, moves)
    tasks = step_tasks(set(releases))
    assert [t for t in tasks if not t[3]] == [], "a step task raised"
    done = Counter((r, f) for r, f, result, _ in tasks if result != "skipped")
    for release_id, model in releases.items():
        mine = Counter({f: n for (r, f), n in done.items() if r == release_id})
        assert mine == STEPS[model], (release_id, model, mine)
    return sum(1 for t in tasks if t[2] == "skipped")


def test_two_clusters_on_redis_run_each_step_once(owner, redis_db, redis_env, tmp_path):
    """20 releases through gunicorn, two clusters on one Redis queue: every transition and every step
    happens once, both clusters do work, and each due schedule becomes one task, not one per cluster."""
    from django_q.models import Schedule, Task

    _number, client = redis_db
    logs = [tmp_path / "cluster-a.log", tmp_path / "cluster-b.log"]
    # Every schedule due now: both clusters' first scheduler pass (~30 s after they start) finds all of
    # them due, and none falls due again within the next minute (every interval is >= 1 minute).
    names = set(Schedule.objects.values_list("name", flat=True))
    assert "resume-stalled-releases" in names
    Schedule.objects.update(next_run=timezone.now())
    web, clusters = None, []
    try:
        clusters = [start_qcluster(log, **redis_env) for log in logs]
        web, url = start_gunicorn(tmp_path / "web.log", **redis_env)
        started = time.monotonic()
        releases = submit(url, owner, 20)
        submitted = time.monotonic()
        wait_for(lambda: all_decided(releases) and all_steps_ran(releases), 120, "20 decisions", clusters[0], logs[0])
        decided = time.monotonic()
        ready = requests.get(f"{url}/readyz", timeout=10)  # gunicorn reads the clusters' heartbeats in Redis
        assert ready.status_code == 200 and ready.json()["checks"]["worker"] == "ok", ready.text
        # Each cluster's scheduler first looks at the Schedule rows 30 s after its guard loop starts
        # ("running" in its log): wait until both have, with a margin. Both find the same rows due at
        # about the same moment; each due schedule must still become one task, not one per cluster.
        running = [wait_for(lambda log=log: RUNNING.findall(log.read_text()), 30, "running", c, log)[0]
                   for c, log in zip(clusters, logs, strict=True)]
        last_start = max(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f") for stamp in running)
        time.sleep(max(0.0, 34 - (datetime.now() - last_start).total_seconds()))
        wait_for(lambda: Task.objects.filter(func="releases.jobs.resume_stalled").exists(), 30,
                 "the first resume_stalled sweep", clusters[1], logs[1])
        time.sleep(1)  # results are saved by each cluster's monitor
        assert all(c.poll() is None for c in clusters), "a cluster exited"
        assert client.llen(QUEUE_KEY) == 0
    finally:
        for process in clusters:
            stop_qcluster(process)
        if web is not None:
            processes.stop(web)

    duplicates = assert_each_step_once(releases)
    per_cluster = [processed_by(log) for log in logs]
    steps_by = [sum(len(ids) for name, ids in seen.items()) for seen in per_cluster]
    assert all(steps_by), f"both clusters must have run steps: {steps_by}"
    made = [Counter(SCHEDULED.findall(log.read_text())) for log in logs]
    tasks_per_schedule = Counter(Task.objects.exclude(group="releases").values_list("group", flat=True))
    assert tasks_per_schedule == made[0] + made[1], (tasks_per_schedule, made)
    assert tasks_per_schedule == Counter(names), "each due schedule must become one task, not one per cluster"
    sweeps_run_by = [log.read_text().count("'releases.jobs.resume_stalled' [") for log in logs]
    print(f"\n20 releases, 2 clusters x 1 worker on Redis: submitted in {submitted - started:.1f} s, all decided "
          f"{decided - submitted:.1f} s after the last 201 ({20 / (decided - submitted) * 60:.0f}/min); "
          f"steps run by cluster A/B: {steps_by[0]}/{steps_by[1]}; duplicate deliveries (skipped): {duplicates}; "
          f"schedule tasks made by A: {dict(made[0])}, by B: {dict(made[1])}; resume_stalled run by A/B: "
          f"{sweeps_run_by[0]}/{sweeps_run_by[1]}")


def test_a_killed_clusters_releases_are_finished_by_the_other_once(owner, redis_db, redis_env, mlflow_server,
                                                                    tmp_path):
    """Cluster A reads MLflow through a slow proxy, so its fetch is still running when it is SIGKILLed with the
    tasks it took from Redis (the one running, the ones prefetched). Redis never gives those back: cluster B
    finishes every release, each transition once, after the leases expire and the sweep re-enqueues them."""
    _number, client = redis_db
    log_a, log_b = tmp_path / "cluster-a.log", tmp_path / "cluster-b.log"
    web = a = b = None
    with SlowProxy(mlflow_server.url.removeprefix("http://"), delay=1.0) as slow_mlflow:
        try:
            a = start_qcluster(log_a, **{**redis_env, "MLFLOW_TRACKING_URI": f"http://{slow_mlflow.address}"})
            b = start_qcluster(log_b, **redis_env)
            web, url = start_gunicorn(tmp_path / "web.log", **redis_env)
            releases = submit(url, owner, 12)

            def a_mid_step():
                for name, ids in processed_by(log_a).items():
                    (release_id,) = ids
                    release = Release.objects.filter(pk=release_id).values("status", "lease_owner").get()
                    if release["status"] == Status.PENDING and release["lease_owner"]:
                        return release_id, name
                close_old_connections()
                return None

            mid_step, task_name = wait_for(a_mid_step, 60, "cluster A to be mid-fetch", a, log_a)
            sigkill_group(a)
            killed = time.monotonic()
            taken_by_a = set().union(*processed_by(log_a).values())
            left = statuses(releases)
            waiting_in_redis = client.llen(QUEUE_KEY)
            wait_for(lambda: statuses([mid_step])[mid_step] in DECIDED, 90, "B to finish A's release", b, log_b)
            recovered = time.monotonic() - killed
            wait_for(lambda: all_decided(releases) and all_steps_ran(releases), 90, "all 12 decisions", b, log_b)
            all_done = time.monotonic() - killed
            assert client.llen(QUEUE_KEY) == 0
        finally:
            for process in (a, b):
                if process is not None:
                    stop_qcluster(process)
            if web is not None:
                processes.stop(web)

    duplicates = assert_each_step_once(releases)
    resumed = {int(n) for n in re.findall(r"release (\d+) stalled in", log_b.read_text())}
    assert mid_step in resumed, "A's release came back through the sweep, not from Redis"
    assert task_name in processed_by(log_b), "B ran the step A was killed in"
    undecided_at_kill = sorted(r for r, s in left.items() if s not in DECIDED)
    print(f"\nSIGKILL of cluster A mid-fetch of release {mid_step} (A had started {sorted(taken_by_a)}; "
          f"{waiting_in_redis} tasks still in Redis; {len(undecided_at_kill)} of 12 undecided); lease {LEASE} s: "
          f"A's release decided {recovered:.1f} s after the kill, all 12 {all_done:.1f} s after; "
          f"re-enqueued by the sweep: {sorted(resumed)} (taken from Redis by A and never started: "
          f"{sorted(resumed - taken_by_a)}); duplicate deliveries (skipped): {duplicates}")
    assert recovered < LEASE + 2 * 30 + 10, "bounded by the lease, the ~30 s sweep and one step"
