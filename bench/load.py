#!/usr/bin/env python
"""Load benchmark of the whole gateway: gunicorn, the django-q2 worker, PostgreSQL and a real MLflow server.

    .venv/bin/python bench/load.py [--clients 5,50] [--seconds 30] [--workers 4] [--threads 1]
    .venv/bin/python bench/load.py --burst 500 [--burst-clients 20] [--worker-processes 2]

Drops and creates the database in --database-url (default gateway_load on 127.0.0.1:5432, user postgres),
migrates it, syncs the bundled demo advisories, starts MLflow with the demo models, then gunicorn
(`gateway_project.wsgi`) and `manage.py qcluster` on free loopback ports with production settings
(DEBUG off, a random SECRET_KEY, ALLOWED_HOSTS; only HTTPS is off, as on any loopback run). Every server
is stopped by its own process id at the end. Logs stay in var/bench-load/<time>/.

Default mode: queries per request type (counted in this process, see count_queries), then closed-loop
load from bench/load_client.py (a separate process) at each --clients level with mixed traffic (list;
detail, report and findings page of a release with a 5,000-finding report; create with an
Idempotency-Key, and replays of a key), then gunicorn workers' memory across 100 requests of each read
of the large release. --burst N: N releases of the demo models submitted at once; releases per minute
to a scan decision, and every release's audit events counted per transition (lost or duplicated work).
Prints Markdown tables.
"""
import argparse
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools import processes  # noqa: E402
from devtools.mlflow_server import MlflowServer  # noqa: E402
from releases.evidence.keys import write_new_key  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/gateway_load"
CLIENT = Path(__file__).resolve().parent / "load_client.py"
DEMO_ADVISORIES = ROOT / "devtools" / "demo_advisories"
# The three demo models, each asked for in turn: one passes its scan, two fail it (devtools/demo.py).
BURST_BODIES = [
    {"model_name": "fraud-detector", "model_alias": "champion", "target_environment": "staging"},
    {"model_name": "churn-legacy", "model_version": "1", "target_environment": "staging"},
    {"model_name": "forecast-conda", "model_version": "1", "target_environment": "staging"},
]
# Statuses a release leaves by itself (a worker step runs). APPROVED is left out: with no build backend
# (this bench configures none) an approved release rests there, as README says.
MOVING = ("PENDING", "SCANNING_DEPENDENCIES", "SCAN_PASSED")
GOALS = {50: (150, 500), 5: (None, 50)}  # clients -> (min requests/s, max p99 ms), from issue 12


# --- processes and the machine ----------------------------------------------------------------------------

def children_of(pid: int) -> list[int]:
    """Direct children, from /proc (the kernel's own list; no process is found by name)."""
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(p) for p in f.read().split()]
    except FileNotFoundError:
        pass
    return found


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += children_of(p)
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest rank: the smallest sample with at least p% of the samples at or below it."""
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


# --- the gateway's settings and database ------------------------------------------------------------------

def gateway_env(args, run_dir: Path, mlflow_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DJANGO_SETTINGS_MODULE="gateway_project.settings",
        DATABASE_URL=args.database_url,
        GATEWAY_VAR_DIR=str(run_dir / "var"),
        MLFLOW_TRACKING_URI=mlflow_url,
        # Production settings (README, Configuration): DEBUG off, a real key, the hosts it answers as.
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # Plain HTTP on loopback: the HTTPS-only settings would redirect or mark cookies Secure.
        SECURE_SSL_REDIRECT="false", SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false",
        SECURE_HSTS_SECONDS="0",
        # The throttle still runs (its cache reads and writes are part of every request's cost); it just
        # does not refuse a client that sends a few thousand requests a minute.
        API_THROTTLE_USER="100000000/minute",
        WORKER_PROCESSES=str(args.worker_processes),
        # Whatever the caller's shell says: approved releases rest at APPROVED (see MOVING), tasks run in
        # the worker, not inline in the request.
        BUILD_BACKEND="", TASKS_RUN_INLINE="false",
        # A key of the run's own: with a build backend (bench/faults.py sets one), production settings refuse
        # to start without one, and a SUCCEEDED release is always attested.
        ATTESTATION_SIGNING_KEY_FILE=str(write_new_key(run_dir / "attestation-signing-key.pem")),
    )
    return env


def lower_priority(leaders: list[int], nice: int) -> None:
    """Nice every process of these sessions, and the sessions' scheduler groups: with autogroup on (Linux's
    default here), CPU is shared between sessions first, so a process's own nice value only ranks it within
    its session (each server here is started in a session of its own) and would change nothing."""
    for leader in leaders:
        with contextlib.suppress(OSError):  # no autogroup in this kernel, or not allowed
            Path(f"/proc/{leader}/autogroup").write_text(str(nice))
        for pid in tree(leader):  # what they fork later (qcluster's replaced workers) inherits it
            with contextlib.suppress(ProcessLookupError):
                os.setpriority(os.PRIO_PROCESS, pid, nice)


def recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        # FORCE: a previous run that was killed may have left connections (its gunicorn) behind.
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


STARTED: list[subprocess.Popen] = []  # every process this run started, stopped (by pid) in main's finally


def start(cmd: list[str], log: Path, env: dict) -> subprocess.Popen:
    proc = processes.start(cmd, log, env, ROOT)
    STARTED.append(proc)
    return proc


def manage(env: dict, *args: str, log: Path) -> subprocess.Popen:
    return start([sys.executable, "manage.py", *args], log, env)


def finish(proc: subprocess.Popen, what: str, log: Path) -> None:
    if proc.wait() != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode}):\n{log.read_text()[-3000:]}")


def setup_django(env: dict) -> None:
    # This process only seeds and counts: its INFO lines (each enqueued task) would crowd the tables.
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "GATEWAY_VAR_DIR",
                                           "MLFLOW_TRACKING_URI", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS",
                                           "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                                           "SECURE_HSTS_SECONDS", "API_THROTTLE_USER", "WORKER_PROCESSES")})
    import django

    django.setup()


# --- seed data (in this process, through the ORM, once migrated) --------------------------------------------

def seed_users(count: int) -> list[str]:
    """`count` requesters, each with its own API token (the throttle is per user, and so is a key)."""
    from django.contrib.auth.models import Group, User

    try:  # hashed, expiring tokens (issue 12 item 3), where the tree has them
        from gateway_project.tokens import issue

        def make_token(user) -> str:
            return issue(user, "bench/load.py")[1]
    except ImportError:  # DRF's plain tokens
        from rest_framework.authtoken.models import Token

        def make_token(user) -> str:
            return Token.objects.get_or_create(user=user)[0].key

    requesters = Group.objects.get(name="requesters")
    tokens = []
    for i in range(count):
        user = User.objects.create_user(f"load-{i:03d}")  # no password: nothing to hash, no login needed
        user.groups.add(requesters)
        tokens.append(make_token(user))
    return tokens


def seed_releases(count: int, findings: int) -> tuple[int, dict]:
    """`count` finished releases (what a list shows) and one with a report as large as the gateway stores:
    `findings` findings (scanner.MAX_FINDINGS is 5,000), 1,000 dependencies (envparse.MAX_DEPENDENCIES),
    200 notes (MAX_NOTES), 4 files and 12 events. Returns its id and what was made."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from devtools.sample_reports import large_report
    from releases.lifecycle import record_event
    from releases.models import Environment, Release, ReleaseEvent, ReleaseFile, ScanReport
    from releases.statuses import Status

    owner = User.objects.create_user("load-seed")
    staging = Environment.objects.get(name="staging")
    statuses = [Status.SCAN_FAILED, Status.APPROVED, Status.CANCELLED, Status.FAILED]
    rows = Release.objects.bulk_create([
        Release(model_name=BURST_BODIES[i % 3]["model_name"], requested_ref="1", model_version="1",
                environment=staging, requested_by=owner, status=statuses[i % len(statuses)],
                status_message="seeded by bench/load.py", failed_step="fetch" if i % 4 == 3 else "")
        for i in range(count)])
    ReleaseEvent.objects.bulk_create([ReleaseEvent(release=r, from_status="", to_status=Status.PENDING,
                                                   actor=owner, message="Release requested.") for r in rows])
    big = Release.objects.create(model_name="large-report-model", requested_ref="1", model_version="1",
                                 environment=staging, requested_by=owner, status=Status.SCAN_FAILED,
                                 status_message="Security scan failed (seeded).")
    for i in range(12):
        record_event(big, f"seeded event {i}", actor=owner)
    for name in ("MLmodel", "conda.yaml", "requirements.txt", "python_env.yaml"):
        content = "\n".join(f"pkg-{i:04d}==1.{i % 10}.0" for i in range(1000)) if name == "requirements.txt" \
            else f"# {name}\n"
        ReleaseFile.objects.create(release=big, name=name, size=len(content), sha256="0" * 64, content=content)
    report = large_report(big, findings)
    dependencies = [{"name": f"pkg-{i:04d}", "specifier": f"==1.{i % 10}.0", "version": f"1.{i % 10}.0",
                     "source_file": "requirements.txt", "line": i + 1, "ecosystem": "pypi", "kind": "pinned",
                     "url": "", "raw_name": f"pkg-{i:04d}", "extras": [], "marker": "", "matchable": True,
                     "also_in": [], "role": "runtime"} for i in range(1000)]
    notes = [{"file": "requirements.txt", "line": i + 1, "message": f"seeded note {i}: " + "x" * 80}
             for i in range(200)]
    ScanReport.objects.filter(pk=report.pk).update(dependencies=dependencies, issues=notes,
                                                   started_at=timezone.now())
    return big.pk, {"releases": count + 1, "findings": findings, "dependencies": len(dependencies),
                    "notes": len(notes)}


# --- queries per request -----------------------------------------------------------------------------------

def count_queries(token: str, release_id: int) -> list[tuple]:
    """Each request type once to warm, then once counted, in this process through Django's test Client:
    the whole middleware stack, token authentication and throttle, the same PostgreSQL database and
    settings as gunicorn, with django.test.utils.CaptureQueriesContext (it detaches the request_started
    handler that would otherwise clear the query log mid-request). Not pg_stat_statements: it needs
    shared_preload_libraries, i.e. a restart of a PostgreSQL server that others use. Counted in-process,
    not in gunicorn: counting there would mean changing the project (a middleware or a setting)."""
    import uuid

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT="application/json")
    body = json.dumps(BURST_BODIES[0])
    key = uuid.uuid4().hex
    requests = {
        "list": lambda: client.get("/api/releases/"),
        "detail": lambda: client.get(f"/api/releases/{release_id}/"),
        "scan": lambda: client.get(f"/api/releases/{release_id}/scan/"),
        "findings": lambda: client.get(f"/api/releases/{release_id}/scan/findings/"),
        "create": lambda: client.post("/api/releases/", body, content_type="application/json",
                                      HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex),
        "replay": lambda: client.post("/api/releases/", body, content_type="application/json",
                                      HTTP_IDEMPOTENCY_KEY=key),
    }
    rows = []
    for kind, send in requests.items():
        send()  # warm: the throttle's cache row, content types, the replayed key's first use
        with CaptureQueriesContext(connection) as captured:
            response = send()
        sql = [q["sql"] for q in captured.captured_queries]
        cache = sum("gateway_cache" in s for s in sql)
        auth = sum("authtoken_token" in s or "apitoken" in s for s in sql)  # DRF's table, or the hashed one
        cpu = ""
        if kind in READS:  # this process's CPU per answer (Django + DRF + psycopg; not PostgreSQL's)
            started = time.process_time()
            for _ in range(CPU_REPEATS):
                send()
            cpu = f"{(time.process_time() - started) / CPU_REPEATS * 1000:.1f} ms"
        rows.append((kind, response.status_code, len(sql), cache, auth, len(sql) - cache - auth,
                     len(response.content), cpu))
    return rows


READS = ("list", "detail", "scan", "findings")
CPU_REPEATS = 100


# --- phases ----------------------------------------------------------------------------------------------

def run_client(run_dir: Path, name: str, *args: str, on_mark=None) -> dict:
    """bench/load_client.py in its own process; `on_mark(word)` is called as it opens and closes its
    measured window (lines on its stdout)."""
    out = run_dir / f"{name}.json"
    log = run_dir / f"{name}.log"
    with open(log, "wb") as errors:
        proc = subprocess.Popen([sys.executable, str(CLIENT), *args, "--out", str(out)], stdout=subprocess.PIPE,
                                stderr=errors, cwd=ROOT, text=True)
        try:
            for line in proc.stdout:
                if on_mark is not None:
                    on_mark(line.strip())
            proc.wait()
        finally:
            if proc.poll() is None:  # this process failed while reading: stop the client, by its pid
                proc.kill()
                proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"load client failed:\n{log.read_text()[-3000:]}")
    return json.loads(out.read_text())


def backlog() -> int:
    from django.db import close_old_connections

    from releases.models import Release

    close_old_connections()
    return Release.objects.filter(status__in=MOVING).count()


def postgres_backends(url: str) -> list[int]:
    """The PostgreSQL server processes serving the bench's database (the gateway's connections persist,
    DATABASE_CONN_MAX_AGE, so the same backends serve a whole phase)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return [pid for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                               "AND pid <> pg_backend_pid()")]


def cpu_snapshot(servers: dict, database_url: str) -> tuple[dict, float, float]:
    """CPU seconds of each server's process tree and of this database's PostgreSQL backends, the whole
    machine's busy seconds, and the load average: what else ran is the machine's busy time minus ours."""
    cpu = {name: cpu_seconds(tree(p.pid)) for name, p in servers.items()}
    cpu.update({f"pg:{pid}": cpu_seconds([pid]) for pid in postgres_backends(database_url)})
    return cpu, machine_cpu()[0], os.getloadavg()[0]


def cpu_used(servers: dict, start: tuple, end: tuple) -> tuple[dict, float]:
    (cpu0, busy0, _), (cpu1, busy1, _) = start, end
    cpu = {name: cpu1[name] - cpu0[name] for name in servers}
    # A backend that connected in between counts from zero; one that left is lost (rare: they persist).
    cpu["PostgreSQL (this database)"] = sum(v - cpu0.get(k, 0) for k, v in cpu1.items() if k.startswith("pg:"))
    return cpu, busy1 - busy0


def load_phase(args, run_dir, base, tokens, release_id, clients, servers) -> dict:
    marks = {}

    def snapshot(word: str):
        """Read as the client opens and closes its measured window (the warm-up is left out)."""
        marks[word] = cpu_snapshot(servers, args.database_url)

    from django.db.models import Max

    from releases.models import Release

    backlog0 = backlog()
    last_before = Release.objects.aggregate(last=Max("pk"))["last"]
    result = run_client(
        run_dir, f"load-{clients}", "--url", base, "--tokens", str(run_dir / "tokens.json"),
        "--clients", str(clients), "--seconds", str(args.seconds), "--warmup", str(args.warmup),
        "--release-id", str(release_id), "--mix", args.mix, "--max-requests", str(args.max_requests),
        on_mark=snapshot)
    cpu, busy = cpu_used(servers, marks["window-start"], marks["window-end"])
    result.update(clients=clients, cpu=cpu, machine_busy=busy, load_before=marks["window-start"][2],
                  backlog_before=backlog0, backlog_after=backlog(),
                  # Replays must not add releases: the new rows are exactly the creates' answers.
                  new_in_db=Release.objects.filter(pk__gt=last_before).count())
    return result


def drain(timeout: float) -> tuple[int, float]:
    """Let the worker finish the releases the last phase created (bounded): the next phase should not
    inherit its backlog. Returns (left, seconds waited)."""
    started = time.monotonic()
    while (left := backlog()) and time.monotonic() - started < timeout:
        time.sleep(1)
    return left, time.monotonic() - started


def worker_serving(sock, server_port: int, workers: list[int]) -> int | None:
    """Which gunicorn worker holds the server end of this client socket: the TCP entry whose remote port
    is our local port gives the socket's inode, and the worker with that inode among its descriptors
    holds it (gthread keeps a keep-alive connection in the worker that accepted it)."""
    client_port = sock.getsockname()[1]
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == server_port and int(fields[2].split(":")[1], 16) == client_port:
                inode = fields[9]
    for pid in workers:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except FileNotFoundError:
                continue
    return None


def memory_phase(base: str, token: str, release_id: int, master_pid: int, count: int) -> dict:
    """RSS of every gunicorn worker (children of the master, from /proc) before and after `count` sequential
    requests of each read of the large release, all on one keep-alive connection, so that one worker,
    identified by its socket, serves them all; the other workers are the control."""
    import http.client
    from urllib.parse import urlsplit

    port = urlsplit(base).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    paths = [("detail", f"/api/releases/{release_id}/"), ("scan report", f"/api/releases/{release_id}/scan/"),
             ("findings page_size=200", f"/api/releases/{release_id}/scan/findings/?page_size=200")]
    workers = sorted(children_of(master_pid))

    def get(path):
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status

    get(paths[0][1])  # opens the connection
    sock = conn.sock
    # Sync workers close every connection after its answer: then each worker serves a share of the requests
    # (serving None), and every worker's growth is the measure.
    serving = worker_serving(sock, port, workers) if sock is not None else None
    snapshots = [("at the start", {pid: rss_kib(pid) for pid in workers})]
    statuses = Counter()
    # A first large answer in a worker grows its heap once (allocator arenas, cached querysets' classes):
    # 10 of each first, so that what follows measures growth per request, which is what would leak.
    for label, path in paths:
        for _ in range(10):
            statuses[(label, get(path))] += 1
    snapshots.append(("after 10 of each (warm-up)", {pid: rss_kib(pid) for pid in workers}))
    for label, path in paths:
        for _ in range(count):
            statuses[(label, get(path))] += 1
        snapshots.append((f"after {count} × {label}", {pid: rss_kib(pid) for pid in workers}))
    same = conn.sock is sock and sorted(children_of(master_pid)) == workers
    conn.close()
    return {"snapshots": snapshots, "statuses": sorted(statuses.items()), "serving": serving, "same": same}


def burst_phase(args, run_dir, base, tokens, servers) -> dict:
    from django.db.models import Count, Max, Min

    from releases.models import Release, ReleaseEvent

    cpu_start = cpu_snapshot(servers, args.database_url)
    started = time.monotonic()
    result = run_client(run_dir, "burst", "--url", base, "--tokens", str(run_dir / "tokens.json"),
                           "--clients", str(args.burst_clients), "--burst", str(args.burst),
                           "--burst-bodies", "|".join(json.dumps(b) for b in BURST_BODIES))
    ids = result["created"]
    ends = time.monotonic() + args.burst_timeout
    while Release.objects.filter(pk__in=ids, status__in=MOVING).exists() and time.monotonic() < ends:
        time.sleep(1)
    cpu, busy = cpu_used(servers, cpu_start, cpu_snapshot(servers, args.database_url))
    seconds = time.monotonic() - started
    # Wait a little before counting: a step enqueued twice would run just behind the first. (A task that is
    # never acknowledged is delivered again only after TASK_RETRY_SECONDS, 180 s: raise --burst-settle.)
    time.sleep(args.burst_settle)
    events = ReleaseEvent.objects.filter(release_id__in=ids)
    per = defaultdict(Counter)  # release -> (from, to) -> count
    for release_id, old, new, message in events.values_list("release_id", "from_status", "to_status", "message"):
        per[release_id][(old, new) if old != new else (old, f"note: {message[:40]}")] += 1
    decisions = events.filter(from_status="SCANNING_DEPENDENCIES").exclude(to_status="SCANNING_DEPENDENCIES")
    span = decisions.aggregate(first=Min("release__created_at"), last=Max("created_at"))
    latencies = sorted((e.created_at - e.release.created_at).total_seconds()
                       for e in decisions.select_related("release").only("created_at", "release__created_at"))
    from django_q.models import Failure

    return {"result": result, "ids": ids, "per": per, "span": span, "latencies": latencies,
            "cpu": cpu, "busy": busy, "seconds": seconds, "load": cpu_start[2],
            "timeline": sorted(decisions.values_list("created_at", flat=True)),
            "final": dict(Release.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("id"))),
            "in_db": Release.objects.filter(requested_by__username__startswith="load-").exclude(
                requested_by__username="load-seed").count(),
            "decided": decisions.filter(to_status__in=("SCAN_PASSED", "SCAN_FAILED")).count(),
            "failed_tasks": Failure.objects.count()}


# --- tables ----------------------------------------------------------------------------------------------

def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(v: float) -> str:
    return f"{v:.0f} ms" if v >= 100 else f"{v:.1f} ms"


def print_load(results: list[dict], expected: dict) -> None:
    rows, kinds = [], []
    for r in results:
        samples = r["samples"]
        times = sorted(s[2] for s in samples)
        errors = Counter(str(s[1]) for s in samples if s[1] != expected[s[0]])
        rate = len(samples) / r["window_seconds"]
        p99 = percentile(times, 99)
        min_rate, max_p99 = GOALS.get(r["clients"], (None, None))
        goal, met = [], []
        if min_rate is not None:
            goal.append(f"≥ {min_rate}/s")
            met.append(rate >= min_rate)
        if max_p99 is not None:
            goal.append(f"p99 ≤ {max_p99} ms")
            met.append(p99 <= max_p99)
        if goal:
            goal.append("0 errors")
            met.append(not errors)
        rows.append([r["clients"], len(samples), f"**{rate:.0f}/s**", ms(percentile(times, 50)),
                     ms(percentile(times, 95)), f"**{ms(p99)}**", ms(times[-1]) if times else "",
                     ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "0",
                     ", ".join(goal), ("met" if all(met) else "**missed**") if goal else ""])
        for kind in expected:
            mine = [s for s in samples if s[0] == kind]
            if not mine:
                continue
            t = sorted(s[2] for s in mine)
            statuses = Counter(str(s[1]) for s in mine)
            kinds.append([r["clients"], kind, len(mine), ms(percentile(t, 50)), ms(percentile(t, 95)),
                          ms(percentile(t, 99)), ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))])
    print("\n### Load (closed loop, no think time)\n")
    print(table(["clients", "requests", "throughput", "p50", "p95", "p99", "max", "errors by status", "goal",
                 "result"], rows))
    for r in results:
        created = r["created"]
        replays = [x for x in r["samples"] if x[0] == "replay"]
        same = sum(1 for x in replays if x[1] == 201)
        print(f"\nIdempotency at {r['clients']} clients: {len(created)} creates (warm-up included) answered 201 with "
              f"{len(set(created))} distinct releases, and the database gained {r['new_in_db']}; {same} of "
              f"{len(replays)} measured replays of a key returned its release, marked Idempotent-Replayed.")
    print("\n### Latency by request type\n")
    print(table(["clients", "request", "count", "p50", "p95", "p99", "statuses"], kinds))
    print("\n### Where the CPU went during each measured window (2 cores = 200 %)\n")
    cpu_rows = []
    for r in results:
        window, ours, busy = r["window_seconds"], r["cpu"], r["machine_busy"]
        other = busy - sum(ours.values()) - r["client_cpu"]
        # CPU per answered request of gunicorn and its PostgreSQL backends: less noisy than the throughput
        # when other jobs share the machine (2 cores / this = the most requests/s the web tier could give).
        per_request = (ours["gunicorn"] + ours["PostgreSQL (this database)"]) / max(1, len(r["samples"])) * 1000
        cpu_rows.append([r["clients"], f"{busy / window * 100:.0f} %"] +
                        [f"{v / window * 100:.0f} %" for v in ours.values()] +
                        [f"{r['client_cpu'] / window * 100:.0f} %", f"{other / window * 100:.0f} %",
                         f"{per_request:.1f} ms", f"{r['load_before']:.2f}",
                         f"{r['backlog_before']} → {r['backlog_after']}"])
    names = list(results[0]["cpu"]) if results else []
    print(table(["clients", "machine busy"] + names +
                ["load client", "rest (other PostgreSQL work, others' jobs)", "gunicorn + PostgreSQL CPU per request",
                 "load avg before", "releases in the pipeline"], cpu_rows))


def print_memory(m: dict) -> None:
    snapshots = m["snapshots"]
    header = ["gunicorn worker"] + [label for label, _ in snapshots] + ["growth after the warm-up"]
    rows = []
    for pid in snapshots[0][1]:
        values = [snap[pid] for _, snap in snapshots]
        shared = m["serving"] is None
        name = f"{pid} (served a share)" if shared else (
            f"{pid} (served them all)" if pid == m["serving"] else f"{pid} (idle: control)")
        growth = f"{(values[-1] - values[1]) / 1024:+.1f} MiB"
        rows.append([name] + [f"{v / 1024:.1f} MiB" for v in values] +
                    [f"**{growth}**" if shared or pid == m["serving"] else growth])
    how = ("a new connection each (sync workers), served by every worker" if m["serving"] is None
           else "one connection")
    print(f"\n### gunicorn worker memory (VmRSS) across sequential reads of the large release, {how}\n")
    print(table(header, rows))
    print("\nAnswers: " + ", ".join(f"{label} {status}: {n}" for (label, status), n in m["statuses"]) +
          ("" if m["same"] else ". **The connection was reopened or a worker replaced: the serving worker may "
           "have changed.**") + " Goal (issue 12 item 4): flat across 100 such requests.")


def print_burst(b: dict, args) -> None:
    result, ids = b["result"], b["ids"]
    creates = sorted(s[2] for s in result["samples"])
    codes = Counter(str(s[1]) for s in result["samples"])
    submit = result["last_answer"] - result["first_sent"]
    first, last = b["span"]["first"], b["span"]["last"]
    minutes = (last - first).total_seconds() / 60 if first and last else float("nan")
    rate = b["decided"] / minutes if minutes else float("nan")
    lat = b["latencies"]
    print(f"\n### Burst: {args.burst} releases submitted at once ({args.burst_clients} clients), "
          f"{args.worker_processes} qcluster workers\n")
    print(table(["measure", "result", "goal"], [
        ["submitted: answers", ", ".join(f"{k}: {v}" for k, v in sorted(codes.items())), f"{args.burst} × 201"],
        ["submitting took", f"{submit:.1f} s (create p50 {ms(percentile(creates, 50))}, "
                            f"p99 {ms(percentile(creates, 99))})", ""],
        ["distinct release ids answered / releases in the database",
         f"{len(set(ids))} / {b['in_db']}", f"{args.burst} / {args.burst}"],
        ["reached a scan decision (SCAN_PASSED or SCAN_FAILED)", f"{b['decided']} of {len(ids)}", "all"],
        ["first created → last decision", f"{minutes * 60:.1f} s", ""],
        ["**releases per minute to a decision**", f"**{rate:.0f}/min**",
         f"≥ 300/min (before: 133–155/min): {'met' if rate >= 300 else '**missed**'}"],
        ["time from request to decision, p50 / p95 / max",
         f"{percentile(lat, 50):.1f} s / {percentile(lat, 95):.1f} s / {lat[-1] if lat else float('nan'):.1f} s", ""],
        ["final statuses", ", ".join(f"{k}: {v}" for k, v in sorted(b["final"].items())), ""],
        ["django-q2 failed tasks", b["failed_tasks"], "0"],
        ["CPU from submit to settled (2 cores = 200 %)",
         f"machine {b['busy'] / b['seconds'] * 100:.0f} %: " + ", ".join(
             f"{k} {v / b['seconds'] * 100:.0f} %" for k, v in b["cpu"].items()) +
         f", the rest (others' jobs) {(b['busy'] - sum(b['cpu'].values())) / b['seconds'] * 100:.0f} %; "
         f"load average {b['load']:.2f} at the start", ""],
    ]))
    if first and b["timeline"]:
        step = 10
        marks = list(range(step, int((b["timeline"][-1] - first).total_seconds()) + step, step))
        rows = [[f"{m} s", sum(1 for t in b["timeline"] if (t - first).total_seconds() <= m)] for m in marks]
        print("\n### Burst: decisions so far, by seconds since the first release was created\n")
        print(table(["after", "decided"], rows))
    per = b["per"]
    transitions = Counter()
    seen = Counter()
    for counts in per.values():
        for transition, n in counts.items():
            transitions[transition] += 1
            if n > 1:
                seen[transition] += 1
    print("\n### Burst: audit events per release, by transition (a duplicate is a release with it more than once)\n")
    rows = []
    for (old, new), n in sorted(transitions.items(), key=lambda kv: (-kv[1], kv[0])):
        rows.append([f"{old or '∅'} → {new}", n, seen[(old, new)]])
    no_events = len(set(ids) - set(per))
    missing_creation = sum(1 for rid in ids if per.get(rid, {}).get(("", "PENDING"), 0) != 1)
    print(table(["transition", "releases with it", "releases with it more than once"], rows))
    decided_by_release = Counter()
    for rid in ids:
        decided_by_release[rid] = sum(n for (old, new), n in per.get(rid, {}).items()
                                      if old == "SCANNING_DEPENDENCIES" and not new.startswith("note"))
    lost = sum(1 for rid in ids if decided_by_release[rid] == 0)
    duplicated = sum(1 for rid in ids if any(n > 1 for (old, new), n in per.get(rid, {}).items()))
    print(f"\nLost (no decision event): **{lost}**; releases with any transition recorded twice: **{duplicated}**; "
          f"without a creation event exactly once: {missing_creation}; with no events at all: {no_events}.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="5,50", help="comma-separated client counts, one phase each")
    parser.add_argument("--seconds", type=float, default=30, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=3, help="seconds per phase not measured")
    parser.add_argument("--max-requests", type=int, default=100_000, help="cap per phase")
    parser.add_argument("--mix", default="list=55,detail=20,scan=5,findings=15,create=4,replay=1",
                        help="request kinds and weights: list, detail, scan, findings, create, replay")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per gunicorn worker: 1 is sync workers, as gunicorn.conf.py; more is gthread")
    parser.add_argument("--worker-processes", type=int, default=2, help="qcluster workers (WORKER_PROCESSES)")
    parser.add_argument("--background-nice", type=int, default=19,
                        help="nice value of the qcluster and MLflow (0: the same priority as gunicorn). On one "
                             "machine the pipeline's work then queues behind requests, as it would on machines "
                             "of its own; every release is still followed to its decision (the drain)")
    parser.add_argument("--large-findings", type=int, default=5000)
    parser.add_argument("--releases", type=int, default=300, help="seeded releases besides the large one")
    parser.add_argument("--drain-seconds", type=float, default=150,
                        help="after a phase, wait this long at most for its releases to leave the pipeline")
    parser.add_argument("--memory-requests", type=int, default=100, help="per read, for the memory phase (0: skip)")
    parser.add_argument("--burst", type=int, default=0, help="burst mode: submit this many releases at once")
    parser.add_argument("--burst-clients", type=int, default=20)
    parser.add_argument("--burst-timeout", type=float, default=600)
    parser.add_argument("--burst-settle", type=float, default=5,
                        help="seconds to wait once the burst settled, before its events are counted")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    levels = [] if args.burst else [int(c) for c in args.clients.split(",") if c]

    # SIGTERM (a CI timeout, say) unwinds through the finally below, so that the servers are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run_dir = ROOT / "var" / "bench-load" / datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    started = time.monotonic()
    mlflow = MlflowServer(run_dir / "mlflow")
    servers: dict[str, subprocess.Popen] = {}
    try:
        recreate_database(args.database_url)
        env = gateway_env(args, run_dir, mlflow.url)
        # No collectstatic (the API serves no static files), but whitenoise warns at startup without the folder.
        (run_dir / "var" / "static").mkdir(parents=True)
        # MLflow takes 10-50 s to start: migrate meanwhile.
        migrate = manage(env, "migrate", "--noinput", "-v0", log=run_dir / "setup.log")
        mlflow.start()
        finish(migrate, "migrate", run_dir / "setup.log")
        sync = manage(env, "sync_advisories", str(DEMO_ADVISORIES), log=run_dir / "setup.log")
        # The demo models, from their own process: MLflow prints a banner per run, and it overlaps the sync.
        models = start([sys.executable, "-c", "import json, sys; from devtools.demo_models import seed; "
                        "print('VERSIONS', json.dumps(seed(sys.argv[1])))", mlflow.url], run_dir / "models.log", env)
        finish(models, "registering the demo models", run_dir / "models.log")
        versions = json.loads((run_dir / "models.log").read_text().split("VERSIONS ", 1)[1].splitlines()[0])
        finish(sync, "sync_advisories", run_dir / "setup.log")

        setup_django(env)
        tokens = seed_users(max(levels + [args.burst_clients, 1]))
        (run_dir / "tokens.json").write_text(json.dumps(tokens))
        release_id, seeded = (0, {}) if args.burst else seed_releases(args.releases, args.large_findings)
        from django.db import connection

        # Statistics for the planner and the visibility map, as autovacuum keeps them on a database in use:
        # without statistics the planner takes the freshly seeded tables for empty and sorts all 5,000
        # findings for a page (8.6 ms, not 0.3); without the map, counting them visits every row.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        queries = [] if args.burst else count_queries(tokens[0], release_id)

        connection.close()  # not held open through the phases

        port = processes.free_port()
        base = f"http://127.0.0.1:{port}"
        servers["qcluster"] = manage(env, "qcluster", log=run_dir / "worker.log")
        servers["gunicorn"] = start(
            [sys.executable, "-m", "gunicorn", "gateway_project.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(args.workers), "--threads", str(args.threads)], run_dir / "web.log", env)
        servers["mlflow"] = mlflow.process
        processes.wait_http(f"{base}/healthz", 60, servers["gunicorn"])
        processes.wait_http(f"{base}/readyz", 90, servers["gunicorn"])  # database, worker heartbeat, MLflow
        if args.background_nice:
            lower_priority([servers["qcluster"].pid, mlflow.process.pid], args.background_nice)
        ready = time.monotonic() - started

        import psycopg

        with psycopg.connect(args.database_url) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.splitlines()
        print(f"## bench/load.py, {datetime.now():%Y-%m-%d %H:%M}\n")
        print(table(["setting", "value"], [
            ["code", f"commit {head}" + (f" + uncommitted changes in {len(dirty)} files" if dirty else "")],
            ["machine", f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start"],
            ["web", f"gunicorn {args.workers} workers × {args.threads} threads "
                    f"({'gthread' if args.threads > 1 else 'sync'}), DEBUG off, port {port}"],
            ["worker", f"manage.py qcluster, {args.worker_processes} processes, ORM broker, "
                       f"nice {args.background_nice} (MLflow too)"],
            ["database", f"PostgreSQL {pg}, {args.database_url.rsplit('/', 1)[1]} (recreated)"],
            ["MLflow", f"{mlflow.url}, demo models {versions}"],
            ["seeded", f"{len(tokens)} requesters with tokens; " + (
                f"{seeded['releases']} releases, the large one #{release_id}: {seeded['findings']} findings, "
                f"{seeded['dependencies']} dependencies, {seeded['notes']} notes" if seeded else "no releases")],
            ["ready after", f"{ready:.0f} s (logs: {run_dir.relative_to(ROOT)})"],
        ]))

        if args.burst:
            burst = burst_phase(args, run_dir, base, tokens, servers)
            print_burst(burst, args)
        else:
            print("\n### Queries per request (in-process test Client, same database and settings; "
                  "second of two identical requests)\n")
            print(table(["request", "status", "queries", "of which cache (throttle)", "of which token",
                         "of which the view", "body", f"CPU per answer in process ({CPU_REPEATS} ×)"],
                        [[k, s, f"**{n}**", c, a, v, f"{b / 1024:.1f} KiB", cpu]
                         for k, s, n, c, a, v, b, cpu in queries]))
            results, drains = [], []
            for clients in levels:
                results.append(load_phase(args, run_dir, base, tokens, release_id, clients, servers))
                drains.append((clients, *drain(args.drain_seconds)))
            from load_client import EXPECTED

            print_load(results, EXPECTED)
            print("\nPipeline after each phase (creates are real releases: the worker fetches from MLflow and "
                  "scans them): " + "; ".join(f"{c} clients: {left} still moving after {waited:.0f} s"
                                             for c, left, waited in drains))
            if args.memory_requests:
                print_memory(memory_phase(base, tokens[0], release_id, servers["gunicorn"].pid,
                                          args.memory_requests))
        log = (run_dir / "web.log").read_text(errors="replace").splitlines()
        errors = [i for i, line in enumerate(log) if " ERROR " in line or "[CRITICAL]" in line]
        print(f"\nweb.log: {len(errors)} error lines. Total run time {time.monotonic() - started:.0f} s.")
        if errors:  # the first one with its traceback: the evidence for a bug report
            print("\n```\n" + "\n".join(log[errors[0]:errors[0] + 40]) + "\n```")
        return 0
    finally:
        for proc in reversed(STARTED):  # gunicorn, qcluster, and any setup command still running
            processes.stop(proc, whole_group=proc.args[-1:] != ["qcluster"])  # a qcluster: its leader alone
        mlflow.stop()


if __name__ == "__main__":
    sys.exit(main())
