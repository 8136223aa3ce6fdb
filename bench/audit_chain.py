#!/usr/bin/env python
"""What the audit chain costs: appending, verifying, and the migration's backfill.

    .venv/bin/python bench/audit_chain.py [--events 100000] [--per-release 10] [--database-url URL]

On the database in --database-url (dropped and created first; default a PostgreSQL database of its
own, `gateway_bench_audit`) or `sqlite` (a temporary file), each phase in a fresh process:
  - backfill: migrate to 0019, store N events the old way, migrate forward (0020 chains them);
  - append: an event through the chain (lock, newest link, hash, insert) against the bare insert
    of the same row in its own transaction, 2,000 of each, one release;
  - verify: `manage.py verify_audit_log` as a process over the N/5 + 4,000 events the first phases
    left, then over N: wall time (the process's start included) and peak RSS (the second must not
    need more memory than the first).
Prints a Markdown table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/gateway_bench_audit"
APPENDS = 2000


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def run(args: list[str], env: dict) -> tuple[str, float, int]:
    """A child process: (its stdout, wall seconds, peak RSS in MiB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read()
        if proc.returncode not in (0, 1) or (proc.returncode == 1 and "verify_audit_log" not in args):
            raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{err.read()[-3000:]}")
        return text, wall, usage.ru_maxrss // 1024


def phase(name: str, env: dict, *extra: str) -> dict:
    out, wall, rss = run([__file__, "--phase", name, *extra], env)
    result = json.loads(out.strip().splitlines()[-1])
    result.update(wall=wall, rss_mib=rss)
    return result


def phase_backfill(events: int, per_release: int) -> dict:
    """Old-shape events (no sequence yet) stored at 0019, then the forward migration timed."""
    setup_django()
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    before = [("releases", "0019_finding_severity_rank")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("auth", "User").objects.create(username="bench-requester")
    environment = old.get_model("releases", "Environment").objects.order_by("order").first()
    release_model, event_model = old.get_model("releases", "Release"), old.get_model("releases", "ReleaseEvent")
    now = timezone.now()
    for start in range(0, events // per_release, 1000):
        batch = release_model.objects.bulk_create([release_model(
            model_name=f"bench-{i}", requested_ref="1", environment=environment, requested_by=user,
            status="CANCELLED") for i in range(start, min(start + 1000, events // per_release))])
        event_model.objects.bulk_create([event_model(
            release=release, to_status="CANCELLED", actor=user, message=f"event {j}", created_at=now,
            data={"step": j, "score": 0.5 + j, "note": "é"}) for release in batch for j in range(per_release)])
    started = time.perf_counter()
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    return {"events": event_model.objects.count(), "seconds": time.perf_counter() - started}


def phase_append() -> dict:
    setup_django()
    import django.db.models as m
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from releases import audit_hash
    from releases.lifecycle import record_event
    from releases.models import Environment, Release, ReleaseEvent

    user = get_user_model().objects.get(username="bench-requester")
    chained, bare = (Release.objects.create(model_name=f"bench-append-{k}", requested_ref="1", requested_by=user,
                                            environment=Environment.objects.order_by("order").first(),
                                            status="CANCELLED") for k in ("chained", "bare"))
    data = {"build": 12, "log_url": "https://ci.example/12", "score": 0.93}
    timings = {"chained": [], "bare": []}
    previous = audit_hash.GENESIS
    for i in range(APPENDS):
        started = time.perf_counter()
        record_event(chained, f"note {i}", actor=user, data=data)
        timings["chained"].append(time.perf_counter() - started)
        # The same row without the chain's work: its place and hash are made outside the timing
        # (so the log still verifies), the insert alone is timed.
        row = ReleaseEvent(release=bare, from_status="CANCELLED", to_status="CANCELLED", actor=user,
                           actor_username=user.username, message=f"note {i}", data=data, sequence=i + 1,
                           created_at=timezone.now())
        row.chain_hash = previous = audit_hash.chain_hash(row.chained_fields(), previous)
        started = time.perf_counter()
        with transaction.atomic():
            m.QuerySet(ReleaseEvent).bulk_create([row])  # the plain QuerySet's insert: no linking
        timings["bare"].append(time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(APPENDS):
        audit_hash.chain_hash(row.chained_fields(), previous)
    result = {"hash_us": (time.perf_counter() - started) / APPENDS * 1e6}
    for kind, values in timings.items():
        values.sort()
        result[kind] = {"p50": statistics.median(values) * 1000, "p99": values[int(len(values) * 0.99)] * 1000}
    return result


def phase_grow(events: int, per_release: int) -> dict:
    """More releases and events, written through the chain (bulk_create links them)."""
    setup_django()
    from django.contrib.auth import get_user_model

    from releases.models import Environment, Release, ReleaseEvent

    user = get_user_model().objects.get(username="bench-requester")
    environment = Environment.objects.order_by("order").first()
    started = time.perf_counter()
    for start in range(0, events // per_release, 500):
        batch = Release.objects.bulk_create([Release(
            model_name=f"grow-{start}-{i}", requested_ref="1", environment=environment, requested_by=user,
            status="CANCELLED") for i in range(min(500, events // per_release - start))])
        ReleaseEvent.objects.bulk_create([ReleaseEvent(
            release=release, from_status="CANCELLED", to_status="CANCELLED", actor=user, message=f"event {j}",
            data={"step": j, "score": 0.5 + j}) for release in batch for j in range(per_release)])
    return {"events": ReleaseEvent.objects.count(), "seconds": time.perf_counter() - started}


def prepare(url: str) -> dict:
    env = dict(os.environ, DATABASE_URL=url)
    env.setdefault("SECRET_KEY", "bench-only-secret-key-" + "b" * 50)
    if url.startswith("postgres"):
        base, name = url.rsplit("/", 1)
        for statement in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
            subprocess.run(["psql", f"{base}/postgres", "-qc", statement], check=True, capture_output=True)
    run(["manage.py", "migrate", "-v", "0"], env)
    return env


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-release", type=int, default=10)
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a PostgreSQL URL, or 'sqlite'")
    args = parser.parse_args()
    if args.phase:
        result = {"backfill": lambda: phase_backfill(args.events, args.per_release), "append": phase_append,
                  "grow": lambda: phase_grow(args.events, args.per_release)}[args.phase]()
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.sqlite3" if args.database_url == "sqlite" else args.database_url
        env = prepare(url)
        sizes = ["--per-release", str(args.per_release)]
        backfill = phase("backfill", env, "--events", str(args.events // 5), *sizes)
        append = phase("append", env)
        rows, grown = [], 0.0
        for target in (None, args.events):  # what the first phases left, then N
            if target is not None:
                grown = phase("grow", env, "--events", str(max(target - _count(env), 0)), *sizes)["seconds"]
            out, wall, rss = run(["manage.py", "verify_audit_log"], env)
            rows.append((_count(env), out.strip().splitlines()[-1], wall, rss))
    vendor = "SQLite" if args.database_url == "sqlite" else "PostgreSQL"
    print(f"\n{vendor}, {args.per_release} events per release\n")
    print("| measure | result |\n|---|---|")
    print(f"| migration 0020 backfill, {backfill['events']:,} stored events | {backfill['seconds']:.1f} s "
          f"({backfill['events'] / backfill['seconds']:,.0f} events/s), peak RSS {backfill['rss_mib']} MiB |")
    extra = append["chained"]["p50"] - append["bare"]["p50"]
    print(f"| append one event, through the chain (p50 / p99 of {APPENDS:,}) | "
          f"{append['chained']['p50']:.2f} / {append['chained']['p99']:.2f} ms |")
    print(f"| the same row, bare insert in its own transaction | "
          f"{append['bare']['p50']:.2f} / {append['bare']['p99']:.2f} ms |")
    print(f"| extra cost per appended event (p50) | {extra:.2f} ms, of which the hash {append['hash_us']:.0f} µs |")
    for events, line, wall, rss in rows:
        print(f"| `verify_audit_log`, {events:,} events | {wall:.1f} s ({events / wall:,.0f} events/s), "
              f"peak RSS {rss} MiB: {line} |")
    print(f"| bulk_create through the chain (seeding the last {rows[-1][0] - rows[0][0]:,}) | "
          f"{grown:.1f} s |")


def _count(env: dict) -> int:
    out, _, _ = run(["manage.py", "shell", "-c", "from releases.models import ReleaseEvent as E; "
                     "print(E.objects.count())"], env)
    return int(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
