#!/usr/bin/env python
"""Benchmark the advisory sync and the dependency scanner on real OSV data, on PostgreSQL.

    .venv/bin/python bench/scan_bench.py [--source DIR] [--database-url URL] [--runs 200]

Creates (drops first) the database named in --database-url, migrates it, then measures:
full sync, re-sync of unchanged data, scan latency (p50/p99) for a 150-dependency
environment mixing pinned and unpinned entries of packages that have advisories,
`manage.py scan_env` on 150 pins as a whole process (median of 10), and peak memory.
Prints a Markdown table. Reads the advisory data in place; nothing is copied.
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
DEFAULT_SOURCE = ROOT.parent / "shared" / "advisory-db" / "pypi-2026-07" / "vulns"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/gateway_bench"


def child(phase: str, env: dict, *args: str) -> tuple[dict, float, int]:
    """Run one phase in a fresh process; return (its JSON result, wall seconds, peak RSS KiB)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--phase", phase, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    _, status, usage = os.wait4(proc.pid, 0) if proc.returncode is None else (0, 0, None)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    return result, wall, result.get("maxrss_kib", 0)


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def maxrss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def phase_sync(source: str) -> dict:
    setup_django()
    from releases.scanning.sync import sync_advisories

    sync = sync_advisories(source)
    return {"outcome": sync.outcome, "seconds": sync.duration_seconds, "created": sync.created,
            "unchanged": sync.unchanged, "failed": sync.failed, "maxrss_kib": maxrss()}


def environment_files(count: int = 150) -> dict[str, str]:
    """150 dependencies, all of packages that have advisories (those with the most first):
    2/3 pinned to the newest version an advisory lists as affected, 1/3 unpinned."""
    from django.db.models import Count

    from releases.models import AffectedPackage
    from releases.scanning.matcher import parse_version

    names = list(AffectedPackage.objects.values("name").annotate(n=Count("id")).order_by("-n", "name")
                 .values_list("name", flat=True)[:count])
    lines = []
    for i, name in enumerate(names):
        if i % 3 == 2:
            lines.append(f"{name}>=1.0" if i % 2 else name)
            continue
        listed = sorted({parse_version(v) for versions in AffectedPackage.objects.filter(name=name)
                         .values_list("versions", flat=True) for v in versions} - {None})
        lines.append(f"{name}=={listed[-1] if listed else '0.1'}")
    return {"requirements.txt": "\n".join(lines) + "\n"}


def phase_scan(runs: int, out_file: str) -> dict:
    setup_django()
    from releases.scanning.envparse import parse_environment
    from releases.scanning.scanner import scan
    from releases.scanning.store import DatabaseAdvisoryStore

    files = environment_files()
    Path(out_file).write_text(files["requirements.txt"])
    started = time.perf_counter()
    first = scan(parse_environment(files), DatabaseAdvisoryStore())
    cold_ms = (time.perf_counter() - started) * 1000
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        result = scan(parse_environment(files), DatabaseAdvisoryStore())
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "deps": len(first.dependencies), "pinned": sum(1 for d in first.dependencies if d.version),
        "findings": len(result.findings), "definite": sum(1 for f in result.findings if f.definite),
        "cold_ms": cold_ms, "p50_ms": statistics.median(timings),
        "p99_ms": timings[min(len(timings) - 1, int(len(timings) * 0.99))], "maxrss_kib": maxrss(),
    }


def pins_only(requirements: str) -> str:
    return "\n".join(line for line in requirements.splitlines() if "==" in line) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=str(DEFAULT_SOURCE))
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--phase")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.phase == "sync":
        print(json.dumps(phase_sync(args.source)))
        return
    if args.phase == "scan":
        print(json.dumps(phase_scan(args.runs, args.out)))
        return

    env = {**os.environ, "DATABASE_URL": args.database_url,
           "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)}
    dbname = args.database_url.rsplit("/", 1)[1]
    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    full, _, full_rss = child("sync", env, "--source", args.source)
    again, _, _ = child("sync", env, "--source", args.source)
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "bench-requirements.txt"
        scan_result, _, scan_rss = child("scan", env, "--runs", str(args.runs), "--out", str(reqs))
        pinned = Path(tmp) / "requirements.txt"
        pinned.write_text(pins_only(reqs.read_text()) + "\n".join(
            f"extra-pkg-{i}==1.0" for i in range(150 - len(pins_only(reqs.read_text()).split()))) + "\n")
        walls, rsses, code = [], [], None
        for _ in range(10):
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "manage.py", "scan_env", str(pinned), "--json"], cwd=ROOT,
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, status, usage = os.wait4(proc.pid, 0)
            walls.append(time.perf_counter() - started)
            rsses.append(usage.ru_maxrss)
            code = os.waitstatus_to_exitcode(status)
        pin_count = len(pinned.read_text().split())

    rows = [
        ("full sync", f"{full['created']} advisories", f"{full['seconds']:.1f} s", "<= 60 s",
         f"{full_rss / 1024:.0f} MiB"),
        ("re-sync, unchanged", f"{again['unchanged']} unchanged", f"{again['seconds']:.1f} s", "", ""),
        ("scan, first (cold cache)", f"{scan_result['deps']} deps", f"{scan_result['cold_ms']:.1f} ms", "", ""),
        (f"scan p50 ({args.runs} runs)", f"{scan_result['pinned']} pinned, {scan_result['findings']} findings "
         f"({scan_result['definite']} definite)", f"{scan_result['p50_ms']:.2f} ms", "<= 10 ms",
         f"{scan_rss / 1024:.0f} MiB"),
        (f"scan p99 ({args.runs} runs)", "", f"{scan_result['p99_ms']:.2f} ms", "<= 30 ms", ""),
        ("scan_env whole process, median of 10", f"{pin_count} pins (exit {code})",
         f"{statistics.median(walls):.3f} s", "<= 0.35 s", f"{max(rsses) / 1024:.0f} MiB"),
    ]
    print("| measure | input | result | goal | peak RSS |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
