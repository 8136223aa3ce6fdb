#!/usr/bin/env python
"""Fault benchmark of the whole gateway (issue 12 item 7): real processes killed, real servers stopped.

    .venv/bin/python bench/faults.py [--only kill,registry,postgres,mlflow,callback]

Everything runs on loopback free ports, against a PRIVATE PostgreSQL server this run creates (initdb in a
temporary directory, as the `postgres` user when run as root) and removes: the machine's server on 5432 is
never touched, so scenario `postgres` can stop and start its own. Also started: a real MLflow server with
the demo models, a real docker-registry, and per scenario gunicorn (`gateway_project.wsgi`) and
`manage.py qcluster` with production settings (bench/load.py's gateway_env). Every process is stopped by
its own pid at the end. Logs stay in var/bench-faults/<time>/<scenario>/.

Scenarios, run in this order (the two with the local build backend first), each printing what was done, its
figures and pass/fail against the expectation; the numbers are issue 12 item 7's:
  kill      1. SIGKILL the qcluster mid-scan (a scanner that hangs: DEPENDENCY_SCANNER=trivy with a stub that
            sleeps, in the first cluster only), start a new cluster; then SIGKILL the cluster and the detached
            `run_local_build` mid-push (local backend, buildah, the registry behind a slow proxy), start a
            new cluster. The release completes once: events per transition, Build rows. Recovery times.
  postgres  2. Clients list and create (Idempotency-Key) in a separate process; PostgreSQL stopped
            (pg_ctl stop -m fast) for ~10 s, then started. Answers by status during the outage (503 JSON +
            Retry-After, no 500), every 201 still there, no duplicate, the pipeline decides every release by
            itself; time until the API answers 200 again.
  mlflow    3. MLflow stopped, a release submitted: FAILED (step fetch) with its message; MLflow started,
            POST /retry/: it passes. Times.
  registry  4. The registry stopped while a local build pushes: the outcome and message; registry started,
            POST /retry/: SUCCEEDED with a digest the registry serves.
  callback  5. Signed callbacks: one delivery sent three times at once (ten builds) and three times in a row,
            then a `failed` after `succeeded`: 200s, one SUCCEEDED event each, and a 409.
"""
import argparse
import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import load  # noqa: E402  (bench/load.py: settings, seeding, process helpers, tables)

from devtools import processes  # noqa: E402
from devtools.mlflow_server import MlflowServer  # noqa: E402
from devtools.registry import Registry  # noqa: E402
from tests.workers import SlowProxy  # noqa: E402  (a real HTTP proxy that delays each request)

CLIENT = Path(__file__).resolve().parent / "faults_client.py"
# The two with the local build backend first: the others leave releases resting at APPROVED (no backend), which a
# cluster with a backend would go on to build.
SCENARIOS = ["kill", "registry", "postgres", "mlflow", "callback"]
CLEAN = {"model_name": "fraud-detector", "model_alias": "champion", "target_environment": "staging"}
PUSH_DELAY = 1.5  # seconds before each registry request through the proxy: a push takes ~15 s
SCAN_DONE = ("SCAN_PASSED", "SCAN_FAILED", "AWAITING_APPROVAL", "APPROVED", "BUILDING_IMAGE", "SUCCEEDED",
             "BUILD_FAILED", "FAILED", "REJECTED", "CANCELLED")
DECIDED = ("APPROVED", "SCAN_FAILED", "AWAITING_APPROVAL")  # with no build backend, a passing release rests at APPROVED
table = load.table


# --- the private PostgreSQL server ----------------------------------------------------------------------

class PrivatePostgres:
    """A PostgreSQL cluster of this run's own: initdb in a temporary directory, pg_ctl on a free port."""

    def __init__(self):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
        if not found:
            raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = Path(found[-1]).parent
        self.version = self.bin.parent.name
        self.dir = Path(tempfile.mkdtemp(prefix="gateway-faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = processes.free_port()
        self.as_root = os.geteuid() == 0

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        proc = subprocess.run(prefix + list(args), capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return proc

    def init(self) -> None:
        if self.as_root:  # initdb refuses to run as root; the postgres user must own the directory
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def cleanup(self, keep_log: Path | None = None) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            if keep_log is not None and self.log.exists():
                shutil.copy(self.log, keep_log)
            shutil.rmtree(self.dir, ignore_errors=True)


# --- the run's shared state -------------------------------------------------------------------------------

class Context:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.pg = PrivatePostgres()
        self.database_url = self.pg.url("gateway_faults")
        self.mlflow = MlflowServer(run_dir / "mlflow")
        self.registry = Registry(run_dir / "registry")
        self.buildah = Path(tempfile.mkdtemp(prefix="gateway-faults-buildah-"))
        self.env: dict = {}
        self.tokens: list[str] = []
        self.tokens_file = run_dir / "tokens.json"

    def gateway_env(self, **extra) -> dict:
        env = dict(self.env)
        env.update({k: str(v) for k, v in extra.items()})
        return env


class Gateway:
    """gunicorn and qcluster processes of one scenario, with its settings; logs in its own folder."""

    def __init__(self, ctx: Context, name: str, workers: int = 2, threads: int = 4, **settings):
        self.ctx, self.name, self.workers, self.threads = ctx, name, workers, threads
        self.dir = ctx.run_dir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = ctx.gateway_env(**settings)
        self.port = processes.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.web = None
        self.clusters: list[tuple[str, subprocess.Popen]] = []

    def start(self, qcluster: bool = True) -> "Gateway":
        self.web = load.start([sys.executable, "-m", "gunicorn", "gateway_project.wsgi", "--bind",
                               f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--threads",
                               str(self.threads), "--access-logfile", "-"], self.dir / "web.log", self.env)
        if qcluster:
            self.qcluster("worker")
        processes.wait_http(f"{self.base}/healthz", 60, self.web)
        return self

    def qcluster(self, name: str, **extra) -> subprocess.Popen:
        env = dict(self.env)
        env.update({k: str(v) for k, v in extra.items()})
        proc = load.start([sys.executable, "manage.py", "qcluster"], self.dir / f"{name}.log", env)
        self.clusters.append((name, proc))
        return proc

    def stop(self) -> None:
        for _, proc in reversed(self.clusters):
            stop_cluster(proc)
        if self.web is not None:
            processes.stop(self.web)

    def api(self, method: str, path: str, token: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Token {token}", "Accept": "application/json", **kwargs.pop("headers", {})}
        return requests.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def submit(self, token: str, body: dict = CLEAN) -> int:
        answer = self.api("POST", "/api/releases/", token, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        if answer.status_code != 201:
            raise AssertionError(f"POST /api/releases/ answered {answer.status_code}: {answer.text[:500]}")
        return answer.json()["id"]

    def errors(self, max_blocks: int = 2) -> dict[str, list[str]]:
        """ERROR/CRITICAL lines (and what follows: the traceback) of each of this scenario's logs."""
        found = {}
        for log in sorted(self.dir.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()
            hits = [i for i, line in enumerate(lines) if " ERROR " in line or "CRITICAL" in line
                    or line.startswith("Traceback")]
            if hits:
                blocks, last = [], -100
                for i in hits:
                    if i > last + 25 and len(blocks) < max_blocks:
                        blocks.append("\n".join(lines[i:i + 25]))
                        last = i
                found[log.name] = [f"{len(hits)} error lines"] + blocks
        return found


# --- small helpers --------------------------------------------------------------------------------------

def stop_cluster(proc: subprocess.Popen, timeout: float = 15) -> None:
    """A qcluster stops cleanly on SIGTERM to its own pid (it stops its children itself); SIGTERM to its whole
    group, as processes.stop sends, reaches the children first and the cluster then waits until SIGKILL."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything of its group still there
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=5)


def fresh(release_id: int):
    from django.db import close_old_connections

    from releases.models import Release

    close_old_connections()
    return Release.objects.select_related("environment").get(pk=release_id)


def wait_until(predicate, timeout: float, what: str, watch: list[subprocess.Popen] = (), every: float = 0.3):
    ends = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for proc in watch:
            if proc.poll() is not None:
                raise AssertionError(f"a process (pid {proc.pid}) exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > ends:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def transitions(release_id: int) -> tuple[Counter, Counter]:
    """(status changes (from, to) -> count, notes (same status) by their first words -> count)."""
    from releases.models import ReleaseEvent

    changes, notes = Counter(), Counter()
    for old, new, message in ReleaseEvent.objects.filter(release_id=release_id).values_list(
            "from_status", "to_status", "message"):
        if old == new:
            notes[message.split(";")[0].split(" (last heartbeat")[0][:60]] += 1
        else:
            changes[(old, new)] += 1
    return changes, notes


def event_time(release_id: int, old: str, new: str | None = None) -> float | None:
    from releases.models import ReleaseEvent

    events = ReleaseEvent.objects.filter(release_id=release_id, from_status=old).exclude(to_status=old)
    if new:
        events = events.filter(to_status=new)
    first = events.order_by("created_at").first()
    return first.created_at.timestamp() if first else None


def show_changes(changes: Counter) -> str:
    return ", ".join(f"{old or '∅'}→{new} ×{n}" for (old, new), n in changes.items())


def kill_group(proc: subprocess.Popen) -> float:
    """SIGKILL a process group this run started (its leader is `proc`); returns when it was killed."""
    os.killpg(proc.pid, signal.SIGKILL)
    at = time.time()
    proc.wait(timeout=10)
    return at


def gone(pid: int, timeout: float = 5) -> bool:
    """The process has exited (a zombie waiting for its new parent to reap it counts as exited)."""
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def builder_pid(build) -> int | None:
    """The detached `run_local_build <id>` of this build, from Build.external_id (host:pid), if it is alive
    and is that command (checked in /proc before anything is signalled)."""
    try:
        pid = int(build.external_id.rsplit(":", 1)[1])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (IndexError, ValueError, FileNotFoundError):
        return None
    return pid if b"run_local_build" in cmdline and str(build.pk).encode() in cmdline else None


def kill_leftover_builders() -> list[int]:
    """Builders this run's clusters spawned that are still running (a scenario that timed out)."""
    from django.db import close_old_connections

    from releases.models import Build

    close_old_connections()
    killed = []
    for build in Build.objects.filter(backend="local", external_id__contains=":"):
        pid = builder_pid(build)
        if pid is not None and os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def registry_digest(registry: Registry, reference: str) -> str | None:
    """The digest the real registry serves for `reference` (host:port/repository:tag)."""
    repository, tag = reference.split("/", 1)[1].rsplit(":", 1)
    answer = requests.head(f"http://{registry.address}/v2/{repository}/manifests/{tag}", timeout=10, headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"})
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def quiet(proxy: SlowProxy) -> SlowProxy:
    """The proxy's upstream (the registry) is stopped on purpose: no traceback per refused request."""
    proxy.server.handle_error = lambda request, address: None
    return proxy


def verdict(ok) -> str:
    return "" if ok is None else ("pass" if ok else "**FAIL**")


class Report:
    def __init__(self, title: str):
        self.title, self.done, self.rows, self.notes, self.evidence = title, "", [], [], []
        self.started = time.monotonic()

    def row(self, measure: str, result, expectation: str = "", ok=None) -> bool:
        self.rows.append([measure, result, expectation, ok])
        return bool(ok) if ok is not None else True

    @property
    def passed(self) -> bool:
        return all(ok is not False for *_, ok in self.rows) and bool(self.rows)

    def print(self) -> None:
        print(f"\n### {self.title}\n")
        if self.done:
            print(f"Done: {self.done}\n")
        print(table(["measure", "result", "expectation", "verdict"],
                    [[m, r, e, verdict(ok)] for m, r, e, ok in self.rows]))
        for note in self.notes:
            print(f"\n{note}")
        for title, text in self.evidence:
            print(f"\n{title}:\n\n```\n{text[:6000]}\n```")
        print(f"\nScenario took {time.monotonic() - self.started:.0f} s; load average now "
              f"{os.getloadavg()[0]:.2f}.", flush=True)


def attach_errors(report: Report, gateway: Gateway, always: bool = False) -> None:
    if always or not report.passed:
        for log, blocks in gateway.errors().items():
            report.evidence.append((f"{gateway.name}/{log}: {blocks[0]}", "\n\n".join(blocks[1:])))


# --- 1. SIGKILL mid-scan and mid-build ------------------------------------------------------------------

SLOW_SCANNER = """#!/bin/sh
# Stands in for Trivy in the first cluster only: a scan that takes long enough to be killed in the middle.
echo $$ >> "{marker}"
exec sleep 600
"""


def scenario_kill(ctx: Context, token: str) -> Report:
    from releases.builds import local
    from releases.models import Build
    from releases.statuses import Status

    report = Report("1. SIGKILL a worker mid-scan and mid-build")
    with quiet(SlowProxy(ctx.registry.address, PUSH_DELAY)) as proxy:
        gw = Gateway(ctx, "kill", BUILD_BACKEND="local", BUILD_BASE_IMAGE="scratch",
                     BUILD_REGISTRY=f"{proxy.address}/models", BUILD_REGISTRY_TLS_VERIFY="false",
                     BUILDAH_ROOT=ctx.buildah)
        try:
            gw.start(qcluster=False)
            marker = gw.dir / "scanner-started"
            stub = gw.dir / "slow-scanner"
            stub.write_text(SLOW_SCANNER.format(marker=marker))
            stub.chmod(0o755)
            first = gw.qcluster("worker-a", DEPENDENCY_SCANNER="trivy", TRIVY_PATH=stub, TRIVY_TIMEOUT_SECONDS=600)
            release_id = gw.submit(token)
            wait_until(lambda: marker.exists() and marker.read_text().strip(), 120, "worker A to start scanning",
                       [first])
            scanner = int(marker.read_text().split()[0])
            held = fresh(release_id)
            time.sleep(2)  # well inside the scan; the lease (renewed every 5 s) is live
            killed_scan = kill_group(first)
            scanner_gone = gone(scanner)
            second = gw.qcluster("worker-b")  # a supervisor's restart: the built-in scanner this time
            wait_until(lambda: fresh(release_id).status in SCAN_DONE, 180, "the scan to be resumed", [second])
            scanned_at = event_time(release_id, Status.SCANNING_DEPENDENCIES)
            recovery_scan = scanned_at - killed_scan if scanned_at else None

            build = wait_until(lambda: Build.objects.filter(release_id=release_id, external_id__contains=":").first(),
                               120, "the first build to start", [second])
            wait_until(lambda: build.pk in local.leftovers()["images"] or fresh(release_id).status != "BUILDING_IMAGE",
                       120, "the build's image to be committed (its push then starts)", [second], every=0.5)
            in_push = fresh(release_id).status == Status.BUILDING_IMAGE
            builder = builder_pid(Build.objects.get(pk=build.pk))
            time.sleep(1)
            killed_build = kill_group(second)
            if builder is not None:
                os.killpg(builder, signal.SIGKILL)
            left_behind = local.leftovers()
            third = gw.qcluster("worker-c")
            attempt2 = wait_until(lambda: Build.objects.filter(release_id=release_id, attempt=2).first(), 180,
                                  "the second build attempt", [third])
            recovery_build = attempt2.started_at.timestamp() - killed_build
            wait_until(lambda: fresh(release_id).status != Status.BUILDING_IMAGE, 180, "attempt 2 to finish", [third])
            finished_at = time.time()
            time.sleep(3)  # a step enqueued twice would run right behind the first
            release = fresh(release_id)
            changes, notes = transitions(release_id)
            builds = list(Build.objects.filter(release_id=release_id).order_by("attempt")
                          .values_list("attempt", "state", "error"))
            served = registry_digest(ctx.registry, release.image_reference) if release.image_reference else None
            leftovers_after = local.leftovers()
        finally:
            gw.stop()
            kill_leftover_builders()
    from django_q.models import Failure

    report.done = (f"release #{release_id} (fraud-detector@champion → staging) submitted through the API. "
                   f"Worker A (qcluster; scanner stand-in that sleeps) was SIGKILLed by process group 2 s into the "
                   f"scan (lease owner {held.lease_owner[:8]}…, status {held.status}); worker B started at once. "
                   f"When build #{build.pk} had committed its image and was pushing (registry behind a proxy that "
                   f"delays each request {PUSH_DELAY} s), worker B and the detached builder (pid {builder}) were "
                   f"SIGKILLed; worker C started at once. Default lease (RELEASE_LEASE_SECONDS=20, renewed every "
                   f"5 s) and sweep (resume_stalled every ~30 s).")
    report.row("status while killed mid-scan", held.status, "SCANNING_DEPENDENCIES, lease held",
               held.status == Status.SCANNING_DEPENDENCIES and bool(held.lease_owner))
    report.row("the scanner child died with the worker", "yes" if scanner_gone else f"no (pid {scanner})", "yes",
               scanner_gone)
    report.row("**recovery mid-scan**: SIGKILL → scan decision recorded by worker B",
               f"**{recovery_scan:.1f} s**" if recovery_scan else "never", "≤ 60 s",
               recovery_scan is not None and recovery_scan <= 60)
    report.row("killed while pushing (image committed, release BUILDING_IMAGE)", "yes" if in_push else "no",
               "yes", in_push)
    report.row("left in buildah storage right after the kill", f"containers {sorted(left_behind['containers'])}, "
               f"images {sorted(left_behind['images'])}", "(the killed build's)", None)
    report.row("**recovery mid-build**: SIGKILL → build attempt 2 started", f"**{recovery_build:.1f} s**",
               "≤ 60 s", recovery_build <= 60)
    report.row("SIGKILL (mid-build) → release decided", f"{finished_at - killed_build:.1f} s", "", None)
    report.row("final status", f"{release.status}: {release.status_message[:120]}", "SUCCEEDED",
               release.status == Status.SUCCEEDED)
    once = all(n == 1 for n in changes.values())
    report.row("status changes (events per transition)", show_changes(changes), "each exactly once", once)
    report.row("notes", ", ".join(f"{k} ×{v}" for k, v in notes.items()), "", None)
    shape = [(a, s) for a, s, _ in builds] == [(1, "failed"), (2, "succeeded")]
    report.row("Build rows (attempt, state)", ", ".join(f"#{a} {s}" + (f" ({e[:70]})" if e else "")
                                                        for a, s, e in builds),
               "#1 failed (interrupted), #2 succeeded", shape and builds[0][2].startswith("interrupted"))
    report.row("image digest served by the registry", f"{served or 'none'}; release says {release.image_digest}",
               "the same", bool(served) and served == release.image_digest)
    report.row("buildah storage at the end", f"containers {sorted(leftovers_after['containers'])}, "
               f"images {sorted(leftovers_after['images'])}", "empty",
               not leftovers_after["containers"] and not leftovers_after["images"])
    report.row("django-q2 failed tasks (whole run so far)", Failure.objects.count(), "", None)
    attach_errors(report, gw)
    return report


# --- 2. PostgreSQL restart --------------------------------------------------------------------------------

def scenario_postgres(ctx: Context, tokens: list[str], before: float = 8, down: float = 10, after: float = 22,
                      burst: int = 30) -> Report:
    from django.db import connection
    from django.db.models import F, Max

    from releases.models import IdempotencyKey, Release, ReleaseEvent

    report = Report("2. PostgreSQL restarted while requests and tasks are in flight")
    gw = Gateway(ctx, "postgres", BUILD_BACKEND="")
    last_before = Release.objects.aggregate(last=Max("pk"))["last"] or 0
    seconds = before + down + after
    out = gw.dir / "client.json"
    try:
        gw.start()
        processes.wait_http(f"{gw.base}/readyz", 60, gw.web)
        client = load.start([sys.executable, str(CLIENT), "--url", gw.base, "--tokens", str(ctx.tokens_file),
                             "--list-clients", "4", "--create-clients", "2", "--create-interval", "1",
                             "--seconds", str(seconds), "--bodies", json.dumps(load.BURST_BODIES), "--out", str(out)],
                            gw.dir / "client.log", gw.env)
        started = time.time()
        time.sleep(before - 2)
        # A backlog for the worker when the server goes: a burst of creates just before the stop.
        burst_ids: list[int] = []
        senders = [threading.Thread(target=lambda i=i: burst_ids.extend(
            gw.submit(tokens[9], load.BURST_BODIES[(i + j) % 3]) for j in range(burst // 5))) for i in range(5)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(60)
        time.sleep(max(0.0, started + before - time.time()))
        moving = ("PENDING", "SCANNING_DEPENDENCIES", "SCAN_PASSED")
        in_flight = Counter(Release.objects.filter(pk__gt=last_before, status__in=moving)
                            .values_list("status", flat=True))
        connection.close()  # this process's own connection, before its server goes
        stop_at = time.time()
        ctx.pg.stop("fast")
        stopped_at = time.time()
        time.sleep(down)
        start_at = time.time()
        ctx.pg.start()
        up_at = time.time()
        client.wait(timeout=seconds + 60)
        result = json.loads(out.read_text())
        keys = result["keys"]
        ids = sorted({k["id"] for k in keys.values() if k["id"]} | set(burst_ids))
        # The pipeline by itself: every release that got a 201 must reach a decision, with no manual step.
        try:
            wait_until(lambda: not Release.objects.filter(pk__in=ids, status__in=moving).exists(), 180,
                       "the submitted releases to be decided", [gw.clusters[0][1]], every=1)
        except (TimeoutError, AssertionError) as exc:
            report.notes.append(f"**{exc}**")
        settled_at = time.time()
        time.sleep(3)
        final = Counter(Release.objects.filter(pk__in=ids).values_list("status", flat=True))
        in_db = set(Release.objects.filter(pk__in=ids).values_list("pk", flat=True))
        new_rows = list(Release.objects.filter(pk__gt=last_before).values_list("pk", flat=True))
        unanswered = [k for k, v in keys.items() if not v["id"]]
        made_anyway = IdempotencyKey.objects.filter(key__in=unanswered).count()
        failed = list(Release.objects.filter(pk__in=ids, status="FAILED").values_list("pk", "failed_step",
                                                                                      "status_message")[:5])
        per = Counter()
        for rid, old, new in ReleaseEvent.objects.filter(release_id__in=ids).exclude(
                from_status=F("to_status")).values_list("release_id", "from_status", "to_status"):
            per[(rid, old, new)] += 1
        duplicated = len({rid for (rid, _, _), n in per.items() if n > 1})
        last_decision = ReleaseEvent.objects.filter(release_id__in=ids, to_status__in=DECIDED).aggregate(
            last=Max("created_at"))["last"]
        web_alive, worker_alive = gw.web.poll() is None, gw.clusters[0][1].poll() is None
        worker_log = (gw.dir / "worker.log").read_text(errors="replace")
        web_log = (gw.dir / "web.log").read_text(errors="replace")
        from django_q.models import Failure

        failures = Failure.objects.filter(started__gte=datetime.fromtimestamp(started).astimezone()).count()
    finally:
        gw.stop()
        if not ctx.pg.running():
            ctx.pg.start()

    samples = result["samples"]
    outage = [s for s in samples if s["done"] >= stop_at and s["sent"] <= up_at]
    by_status = Counter(str(s["status"]) for s in outage)
    all_statuses = Counter(str(s["status"]) for s in samples)
    five_hundreds = [s for s in samples if s["status"] == 500]
    s503 = [s for s in samples if s["status"] == 503]
    good503 = [s for s in s503 if s["json"] and "json" in s["type"] and s["retry_after"]]
    first_ok = min((s["done"] for s in samples if s["kind"] == "list" and s["status"] == 200 and s["sent"] >= up_at),
                   default=None)
    first_bad = min((s["done"] for s in samples if s["status"] != 200 and s["status"] != 201 and s["sent"] >= stop_at),
                    default=None)
    creates_ok = sum(1 for s in samples if s["kind"] == "create" and s["status"] == 201)
    report.done = (f"4 list clients (GET /api/releases/, 20 ms think time) and 2 create clients (POST with an "
                   f"Idempotency-Key every second; a key without its 201 sent again) from a separate process for "
                   f"{seconds:.0f} s, and a burst of {len(burst_ids)} creates from this process 2 s before the stop "
                   f"(a backlog for the worker), against gunicorn (2 workers × 4 threads) and a qcluster (2 processes, "
                   f"no build backend), on the private PostgreSQL {ctx.pg.version} (port {ctx.pg.port}). After "
                   f"{before:.0f} s: `pg_ctl stop -m fast` (took {stopped_at - stop_at:.1f} s), down "
                   f"{start_at - stopped_at:.1f} s, `pg_ctl start -w` (took {up_at - start_at:.1f} s).")
    report.row("releases in the pipeline when PostgreSQL stopped",
               ", ".join(f"{k}: {v}" for k, v in sorted(in_flight.items())) or "none", "some", None)
    report.row("requests in the whole run, by status", ", ".join(f"{k}: {v}" for k, v in sorted(all_statuses.items())),
               "", None)
    report.row("answers during the outage (stop → server up again), by status",
               ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items())) or "none", "503 (no 500)",
               "503" in by_status and "500" not in by_status)
    report.row("500 answers (whole run)", len(five_hundreds), "0", not five_hundreds)
    report.row("503 answers with a JSON body and Retry-After", f"{len(good503)} of {len(s503)}"
               + (f" (Retry-After: {sorted({s['retry_after'] for s in good503})})" if good503 else ""),
               "all", len(good503) == len(s503) and bool(s503))
    other = Counter(str(s["status"]) for s in samples if s["status"] not in (200, 201, 503))
    report.row("other answers and connection errors (whole run)", ", ".join(f"{k}: {v}" for k, v in other.items())
               or "none", "", None)
    report.row("stop → first failed answer", f"{first_bad - stop_at:.2f} s" if first_bad else "none", "", None)
    report.row("**API answers 200 again**: server up → first list 200",
               f"**{first_ok - up_at:.2f} s**" if first_ok else "never",
               "promptly (connections are health-checked)", first_ok is not None and first_ok - up_at <= 5)
    report.row("stop → first list 200 (whole outage as a client saw it)",
               f"{first_ok - stop_at:.1f} s" if first_ok else "never", "", None)
    report.row("releases answered 201 (clients + burst) / distinct ids / still in the database",
               f"{creates_ok} + {len(burst_ids)} / {len(ids)} / {len(in_db)}", "all equal",
               creates_ok + len(burst_ids) == len(ids) == len(in_db))
    retried = sum(1 for k in keys.values() if k["id"] and len(k["statuses"]) > 1)
    report.row("keys answered 201 only after a retry with the same key", retried, "", None)
    report.row("releases the database gained / ids answered + keys never answered that made one",
               f"{len(new_rows)} / {len(ids)} + {made_anyway}", "equal (no duplicates)",
               len(new_rows) == len(ids) + made_anyway)
    report.row("keys never answered 201 (the run ended first)", len(unanswered), "", None)
    report.row("submitted releases decided without a manual step", ", ".join(f"{k}: {v}" for k, v in
                                                                          sorted(final.items())),
               f"all {len(ids)} in {', '.join(DECIDED[:2])}",
               sum(final[s] for s in DECIDED) == len(ids))
    if failed:
        report.notes.append("FAILED releases (first 5): "
                            + "; ".join(f"#{p} step {s}: {m[:160]}" for p, s, m in failed))
    report.row("server up → last decision", f"{last_decision.timestamp() - up_at:.1f} s" if last_decision else "",
               "", None)
    report.row("releases with a transition recorded twice", duplicated, "0", duplicated == 0)
    report.row("gunicorn and qcluster still running afterwards (never restarted)",
               f"gunicorn {'yes' if web_alive else 'NO'}, qcluster {'yes' if worker_alive else 'NO'}", "yes, yes",
               web_alive and worker_alive)
    report.row("django-q2 failed tasks during the scenario", failures, "", None)
    report.row("worker.log during the outage", f"monitor reincarnated {worker_log.count('reincarnated')}×, "
               f"'Failed to pull task from broker' {worker_log.count('Failed to pull task from broker')}×, "
               f"'Could not save task result' {worker_log.count('Could not save task result')}×", "", None)
    report.row("web.log: 'Service Unavailable' (503 logged with its traceback) / 'Internal Server Error'",
               f"{web_log.count('Service Unavailable: /api/')} / {web_log.count('Internal Server Error')}", "",
               None)
    if five_hundreds:
        report.evidence.append(("500 answers (first 3)", "\n".join(
            f"{s['kind']} sent {s['sent'] - stop_at:+.2f} s after the stop: {s['status']} {s['type']} {s['body']}"
            for s in five_hundreds[:3])))
    attach_errors(report, gw, always=bool(five_hundreds))
    report.notes.append(f"All submitted releases settled {settled_at - up_at:.0f} s after the server came back. "
                        "A task whose result could not be saved stays in django-q2's queue and is delivered again "
                        "after TASK_RETRY_SECONDS (180 s, after this scenario); its step then finds its release "
                        "moved on and skips.")
    return report


# --- 3. MLflow down, then up --------------------------------------------------------------------------------

def scenario_mlflow(ctx: Context, token: str) -> Report:
    from releases.statuses import Status

    report = Report("3. MLflow down, then up")
    gw = Gateway(ctx, "mlflow", BUILD_BACKEND="")
    try:
        gw.start()
        ctx.mlflow.stop()
        down_at = time.time()
        submitted = time.time()
        answer = gw.api("POST", "/api/releases/", token, json=CLEAN, headers={"Idempotency-Key": uuid.uuid4().hex})
        if answer.status_code != 201:
            raise AssertionError(f"POST /api/releases/ with MLflow down answered {answer.status_code}: {answer.text}")
        release_id = answer.json()["id"]
        worker = gw.clusters[0][1]
        wait_until(lambda: fresh(release_id).status not in ("PENDING",), 120, "the fetch step to give up", [worker])
        failed = fresh(release_id)
        failed_at = event_time(release_id, Status.PENDING) or time.time()
        up0 = time.time()
        ctx.mlflow.start()
        up_at = time.time()
        retry = gw.api("POST", f"/api/releases/{release_id}/retry/", token)
        retried_at = time.time()
        wait_until(lambda: fresh(release_id).status not in ("PENDING", "SCANNING_DEPENDENCIES", "SCAN_PASSED"),
                   120, "the retried release to be decided", [worker])
        time.sleep(2)
        release = fresh(release_id)
        decided_at = event_time(release_id, Status.SCAN_PASSED) or event_time(release_id, Status.SCANNING_DEPENDENCIES)
        changes, notes = transitions(release_id)
    finally:
        gw.stop()
        if ctx.mlflow.process is None:
            ctx.mlflow.start()
    report.done = (f"MLflow stopped (SIGTERM to its pid); release #{release_id} (fraud-detector@champion → staging) "
                   f"submitted: POST answered {answer.status_code}. Once it failed, MLflow started again on the same "
                   f"port and store (took {up_at - up0:.0f} s), then POST /api/releases/{release_id}/retry/.")
    report.row("status with MLflow down", failed.status, "FAILED", failed.status == Status.FAILED)
    report.row("failed step", failed.failed_step or "(none)", "fetch", failed.failed_step == "fetch")
    report.row("message", failed.status_message[:300], "clear, names MLflow", "mlflow" in failed.status_message.lower())
    internal = f"127.0.0.1:{ctx.mlflow.port}" in failed.status_message
    report.row("message shows the internal MLflow address", "yes" if internal else "no",
               "no (issue 12 item 3)", not internal)
    report.row("submit → FAILED", f"{failed_at - submitted:.1f} s", "≤ MLFLOW_STEP_DEADLINE_SECONDS (30 s)",
               failed_at - submitted <= 35)
    report.row("retry answer", f"{retry.status_code} ({retry.json().get('status') if retry.ok else retry.text[:200]})",
               "200", retry.status_code == 200)
    report.row("retry → decision", f"{decided_at - retried_at:.1f} s" if decided_at else "", "", None)
    report.row("final status", f"{release.status}: {release.status_message[:120]}", "APPROVED (scan passed; "
               "staging needs no approval; no build backend here)", release.status == Status.APPROVED)
    report.row("status changes", show_changes(changes), "each once",
               all(n == 1 for n in changes.values()))
    report.row("MLflow down → release passing again", f"{decided_at - down_at:.0f} s" if decided_at else "", "", None)
    attach_errors(report, gw)
    return report


# --- 4. the registry down during a push ---------------------------------------------------------------------

def scenario_registry(ctx: Context, token: str) -> Report:
    from releases.builds import local
    from releases.models import Build
    from releases.statuses import Status

    report = Report("4. The registry down during a push")
    with quiet(SlowProxy(ctx.registry.address, PUSH_DELAY)) as proxy:
        gw = Gateway(ctx, "registry", BUILD_BACKEND="local", BUILD_BASE_IMAGE="scratch",
                     BUILD_REGISTRY=f"{proxy.address}/models", BUILD_REGISTRY_TLS_VERIFY="false",
                     BUILDAH_ROOT=ctx.buildah)
        try:
            gw.start()
            worker = gw.clusters[0][1]
            release_id = gw.submit(token)
            build = wait_until(lambda: Build.objects.filter(release_id=release_id, external_id__contains=":").first(),
                               120, "the build to start", [worker])
            wait_until(lambda: build.pk in local.leftovers()["images"] or fresh(release_id).status != "BUILDING_IMAGE",
                       120, "the image to be committed (its push then starts)", [worker], every=0.5)
            pushing = fresh(release_id).status == Status.BUILDING_IMAGE
            ctx.registry.stop()
            down_at = time.time()
            wait_until(lambda: fresh(release_id).status != Status.BUILDING_IMAGE, 240, "the push to fail", [worker])
            outcome = fresh(release_id)
            outcome_at = time.time()
            up0 = time.time()
            ctx.registry.start()
            up_at = time.time()
            retry = gw.api("POST", f"/api/releases/{release_id}/retry/", token)
            retried_at = time.time()
            wait_until(lambda: fresh(release_id).status not in ("BUILDING_IMAGE", "APPROVED")
                       and Build.objects.filter(release_id=release_id).count() > 1, 180, "the retried build", [worker])
            done_at = time.time()
            time.sleep(2)
            release = fresh(release_id)
            builds = list(Build.objects.filter(release_id=release_id).order_by("attempt")
                          .values_list("attempt", "state", "error"))
            served = registry_digest(ctx.registry, release.image_reference) if release.image_reference else None
            changes, _ = transitions(release_id)
            leftovers_after = local.leftovers()
        finally:
            gw.stop()
            kill_leftover_builders()
            if ctx.registry.process is None:
                ctx.registry.start()
    report.done = (f"release #{release_id} (fraud-detector@champion → staging) built by the local backend (buildah) "
                   f"through a proxy that delays each registry request {PUSH_DELAY} s; when build #{build.pk} had "
                   f"committed its image and was pushing, the registry was stopped (SIGTERM to its pid). Once the "
                   f"release had its outcome, the registry started again (same port and storage, took "
                   f"{up_at - up0:.1f} s), then POST /api/releases/{release_id}/retry/.")
    report.row("registry stopped while the push ran", "yes" if pushing else "no (the build had finished)", "yes",
               pushing)
    report.row("outcome", outcome.status + (f" (step {outcome.failed_step})" if outcome.failed_step else ""),
               "BUILD_FAILED or FAILED", outcome.status in (Status.BUILD_FAILED, Status.FAILED))
    text = outcome.status_message
    report.row("message", text if len(text) <= 320 else f"{text[:200]} … {text[-110:]}",
               "clear: the push to the registry failed",
               "push" in outcome.status_message.lower())
    report.row("registry down → outcome", f"{outcome_at - down_at:.1f} s", "bounded (BUILD_STEP_TIMEOUT_SECONDS=60)",
               outcome_at - down_at <= 90)
    report.row("retry answer", f"{retry.status_code} ({retry.json().get('status') if retry.ok else retry.text[:200]})",
               "200", retry.status_code == 200)
    report.row("retry → SUCCEEDED", f"{done_at - retried_at:.1f} s", "", None)
    report.row("final status", f"{release.status}: {release.status_message[:150]}", "SUCCEEDED",
               release.status == Status.SUCCEEDED)
    report.row("digest served by the registry", f"{served or 'none'}; release says {release.image_digest or 'none'}",
               "the same", bool(served) and served == release.image_digest)
    report.row("Build rows", ", ".join(f"#{a} {s}" + (f" ({e[:90]})" if e else "") for a, s, e in builds),
               "#1 failed, #2 succeeded", [(a, s) for a, s, _ in builds] == [(1, "failed"), (2, "succeeded")])
    report.row("status changes", show_changes(changes), "each once", all(n == 1 for n in changes.values()))
    report.row("buildah storage at the end", f"containers {sorted(leftovers_after['containers'])}, "
               f"images {sorted(leftovers_after['images'])}", "empty",
               not leftovers_after["containers"] and not leftovers_after["images"])
    attach_errors(report, gw)
    return report


# --- 5. callbacks delivered three times, and a late `failed` -------------------------------------------------

def pushed_image(repository: str) -> str:
    """A tiny image (config + one random layer) pushed with the gateway's registry client; its digest."""
    from django.test import override_settings

    from releases import registry

    with override_settings(BUILD_REGISTRY=repository.rsplit("/", 1)[0], BUILD_REGISTRY_TLS_VERIFY=False):
        layer = secrets.token_bytes(64)
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        descriptors = [{"digest": registry.push_blob(repository, blob), "size": len(blob)}
                       for blob in (config, layer)]
        manifest = json.dumps({"schemaVersion": 2, "mediaType": registry.OCI_MANIFEST,
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **descriptors[0]},
                               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **descriptors[1]}]})
        return registry.put_manifest(repository, f"bench-{uuid.uuid4().hex[:12]}", manifest.encode(),
                                     registry.OCI_MANIFEST)


def scenario_callback(ctx: Context) -> Report:
    from django.contrib.auth.models import User

    from releases import signing
    from releases.models import Build, CallbackDelivery, Environment, Release
    from releases.statuses import Status

    report = Report("5. A callback delivered three times, and a `failed` after `succeeded`")
    secret = secrets.token_urlsafe(32)
    # A reported image must exist in the release's repository (releases/builds/image_check.py): the
    # gateway checks each digest in the run's registry, and each one here is really pushed there.
    gw = Gateway(ctx, "callback", BUILD_CALLBACK_SECRETS=secret, BUILD_REGISTRY=f"{ctx.registry.address}/models",
                 BUILD_REGISTRY_TLS_VERIFY="false")
    repository = f"{ctx.registry.address}/models/fraud-detector"
    owner = User.objects.get(username="load-000")
    staging = Environment.objects.get(name="staging")

    def building():
        release = Release.objects.create(model_name="fraud-detector", requested_ref="1", model_version="1",
                                         environment=staging, requested_by=owner, status=Status.BUILDING_IMAGE,
                                         status_message="placed at BUILDING_IMAGE by bench/faults.py")
        return release, Build.objects.create(release=release, backend="webhook", attempt=1, external_id="bench-faults")

    def post(body: dict, delivery: str, stamp: int | None = None):
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json",
                   **signing.headers(secret, delivery, stamp or int(time.time()), raw)}
        answer = requests.post(f"{gw.base}/api/builds/callback/", data=raw, headers=headers, timeout=30)
        return answer.status_code, answer.text[:200]

    def succeeded(build) -> dict:
        return {"build_id": build.pk, "status": "succeeded", "digest": pushed_image(repository),
                "image_reference": f"{repository}:v1-r{build.release_id}-a1"}

    concurrent_rounds = 10
    try:
        gw.start(qcluster=False)
        # Three copies of one delivery at the same moment (2 workers × 4 threads serve them in parallel).
        concurrent = []
        for _ in range(concurrent_rounds):
            release, build = building()
            body, delivery = succeeded(build), uuid.uuid4().hex
            stamp = int(time.time())
            barrier = threading.Barrier(3)
            answers = [None] * 3

            def copy(i, body=body, delivery=delivery, stamp=stamp, barrier=barrier, answers=answers):
                barrier.wait()
                answers[i] = post(body, delivery, stamp)

            threads = [threading.Thread(target=copy, args=(i,)) for i in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            concurrent.append((release.pk, build.pk, delivery, body, answers))
        # Three copies in a row.
        release, build = building()
        body, delivery = succeeded(build), uuid.uuid4().hex
        stamp = int(time.time())
        in_a_row = [post(body, delivery, stamp) for _ in range(3)]
        sequential = (release.pk, build.pk, delivery, body, in_a_row)
        # A `failed` (a new delivery) for a build that already succeeded.
        late_release, late_build = concurrent[0][0], concurrent[0][1]
        late = post({"build_id": late_build, "status": "failed", "message": "late failure from bench/faults.py"},
                    uuid.uuid4().hex)
        time.sleep(0.5)
    finally:
        gw.stop()

    def checked(rounds):
        statuses, bad_events, bad_rows = Counter(), [], []
        for release_id, build_id, delivery, body, answers in rounds:
            statuses[" ".join(str(a[0]) for a in sorted(answers))] += 1
            changes, _ = transitions(release_id)
            if changes != Counter({("BUILDING_IMAGE", "SUCCEEDED"): 1}):
                bad_events.append((release_id, show_changes(changes)))
            build = Build.objects.get(pk=build_id)
            release = fresh(release_id)
            if (build.state != "succeeded" or build.image_digest != body["digest"]
                    or release.status != Status.SUCCEEDED or release.image_digest != body["digest"]
                    or CallbackDelivery.objects.filter(delivery_id=delivery).count() != 1):
                bad_rows.append(release_id)
        return statuses, bad_events, bad_rows

    statuses, bad_events, bad_rows = checked(concurrent)
    row_statuses, row_bad_events, row_bad_rows = checked([sequential])
    late_after = fresh(late_release)
    late_changes, _ = transitions(late_release)
    late_build_row = Build.objects.get(pk=late_build)
    report.done = (f"releases placed at BUILDING_IMAGE with a RUNNING webhook Build through the ORM (bench database); "
                   f"callbacks signed with releases.signing.headers and POSTed to gunicorn (2 workers × 4 threads) at "
                   f"/api/builds/callback/: {concurrent_rounds} deliveries each sent 3 times at once (a barrier), one "
                   f"sent 3 times in a row, then a `failed` callback (new delivery id) for a build that had succeeded.")
    report.row(f"3 concurrent copies × {concurrent_rounds} deliveries: statuses per delivery",
               ", ".join(f"[{k}] ×{v}" for k, v in statuses.items()), "[200 200 200] every time",
               statuses == Counter({"200 200 200": concurrent_rounds}))
    report.row("... releases without exactly one BUILDING_IMAGE→SUCCEEDED event (and nothing else)",
               len(bad_events) if not bad_events else f"{len(bad_events)}: {bad_events[:3]}", "0", not bad_events)
    report.row("... build, release digest and one delivery row as sent", "all right" if not bad_rows else
               f"wrong for {bad_rows}", "all right", not bad_rows)
    report.row("3 copies in a row: statuses", ", ".join(f"{s} {t[:60]}" for s, t in in_a_row),
               "200, then 200 replays", [s for s, _ in in_a_row] == [200, 200, 200]
               and all("replayed" in t for _, t in in_a_row[1:]))
    report.row("... events and rows", "one SUCCEEDED event, rows right" if not row_bad_events and not row_bad_rows
               else f"{row_bad_events} {row_bad_rows}", "one SUCCEEDED", not row_bad_events and not row_bad_rows)
    report.row("late `failed` after `succeeded`", f"{late[0]} {late[1]}", "409", late[0] == 409)
    report.row("... the release afterwards", f"{late_after.status}, build {late_build_row.state}, "
               f"{show_changes(late_changes)}", "SUCCEEDED, build succeeded, one event",
               late_after.status == Status.SUCCEEDED and late_build_row.state == "succeeded"
               and late_changes == Counter({("BUILDING_IMAGE", "SUCCEEDED"): 1}))
    attach_errors(report, gw)
    return report


# --- setup and main --------------------------------------------------------------------------------------------

def setup(ctx: Context) -> dict:
    """Private PostgreSQL, MLflow with the demo models, the registry, the migrated database, advisories, tokens."""
    run_dir = ctx.run_dir
    ctx.pg.init()
    ctx.pg.start()
    load.recreate_database(ctx.database_url)
    os.environ["BUILDAH_ROOT"] = str(ctx.buildah)  # this process looks into the builders' storage
    ctx.env = load.gateway_env(SimpleNamespace(database_url=ctx.database_url, worker_processes=2), run_dir,
                               ctx.mlflow.url)
    ctx.env["BUILDAH_ROOT"] = str(ctx.buildah)
    (run_dir / "var" / "static").mkdir(parents=True, exist_ok=True)
    migrate = load.manage(ctx.env, "migrate", "--noinput", "-v0", log=run_dir / "setup.log")
    ctx.mlflow.start()
    ctx.registry.start()
    load.finish(migrate, "migrate", run_dir / "setup.log")
    sync = load.manage(ctx.env, "sync_advisories", str(load.DEMO_ADVISORIES), log=run_dir / "setup.log")
    models = load.start([sys.executable, "-c", "import json, sys; from devtools.demo_models import seed; "
                         "print('VERSIONS', json.dumps(seed(sys.argv[1])))", ctx.mlflow.url],
                        run_dir / "models.log", ctx.env)
    load.finish(models, "registering the demo models", run_dir / "models.log")
    load.finish(sync, "sync_advisories", run_dir / "setup.log")
    versions = json.loads((run_dir / "models.log").read_text().split("VERSIONS ", 1)[1].splitlines()[0])
    load.setup_django(ctx.env)
    ctx.tokens = load.seed_users(10)
    ctx.tokens_file.write_text(json.dumps(ctx.tokens))
    from django.db import connection

    connection.close()
    return versions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated scenarios to run, in this order: {', '.join(SCENARIOS)}")
    args = parser.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    chosen = [s for s in SCENARIOS if s in chosen]

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run_dir = ROOT / "var" / "bench-faults" / datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    began = time.monotonic()
    ctx = Context(run_dir)
    summary = []
    try:
        versions = setup(ctx)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.splitlines()
        print(f"## bench/faults.py, {datetime.now():%Y-%m-%d %H:%M}\n")
        print(table(["setting", "value"], [
            ["code", f"commit {head}" + (f" + uncommitted changes in {len(dirty)} files (others' work)" if dirty
                                         else "")],
            ["machine", f"{os.cpu_count()} cores shared with other engineers' test runs: times are noisy; "
                        f"load average {os.getloadavg()[0]:.2f} at start"],
            ["database", f"private PostgreSQL {ctx.pg.version} on 127.0.0.1:{ctx.pg.port} (initdb in a temporary "
                         f"directory; the server on 5432 is not touched), database gateway_faults"],
            ["MLflow", f"{ctx.mlflow.url}, demo models {versions}"],
            ["registry", f"docker-registry on {ctx.registry.address}; buildah storage {ctx.buildah}"],
            ["settings", "production (DEBUG off), RELEASE_LEASE_SECONDS=20, TASK_TIMEOUT_SECONDS=120, "
                         "TASK_RETRY_SECONDS=180, resume_stalled every ~30 s (defaults)"],
            ["ready after", f"{time.monotonic() - began:.0f} s (logs: {run_dir.relative_to(ROOT)})"],
        ]), flush=True)
        runners = {
            "kill": lambda: scenario_kill(ctx, ctx.tokens[6]),
            "postgres": lambda: scenario_postgres(ctx, ctx.tokens),
            "mlflow": lambda: scenario_mlflow(ctx, ctx.tokens[7]),
            "registry": lambda: scenario_registry(ctx, ctx.tokens[8]),
            "callback": lambda: scenario_callback(ctx),
        }
        for name in chosen:
            started = time.monotonic()
            try:
                report = runners[name]()
            except Exception as exc:  # one scenario's failure is reported; the others still run
                import traceback

                report = Report(f"{name}: did not complete")
                report.row("error", f"{type(exc).__name__}: {str(exc)[:500]}", "", False)
                report.evidence.append(("traceback", traceback.format_exc()))
                for log in sorted((run_dir / name).glob("*.log")):
                    report.evidence.append((f"{name}/{log.name} (last lines)",
                                            "\n".join(log.read_text(errors="replace").splitlines()[-15:])))
            report.print()
            summary.append([name, "pass" if report.passed else "**FAIL**",
                            sum(1 for *_, ok in report.rows if ok is False), f"{time.monotonic() - started:.0f} s"])
        print("\n### Summary\n")
        print(table(["scenario", "result", "checks failed", "took"], summary))
        print(f"\nTotal run time {time.monotonic() - began:.0f} s (setup included).")
        return 0 if all(row[1] == "pass" for row in summary) else 1
    finally:
        try:
            if ctx.env:
                kill_leftover_builders()
        except Exception:  # the database may be the thing that failed
            pass
        for proc in reversed(load.STARTED):
            processes.stop(proc)
        ctx.registry.stop()
        ctx.mlflow.stop()
        ctx.pg.cleanup(keep_log=run_dir / "postgresql.log")
        shutil.rmtree(ctx.buildah, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
