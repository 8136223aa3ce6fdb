#!/usr/bin/env python
"""Benchmark the portal: bundle size, the cost of following a release live, and the time until a release
page with a 1,000-finding report can be used.

    .venv/bin/python bench/portal_bench.py [--runs 5] [--polls 300]

Needs the built portal (bin/test or bin/demo build it) and Debian's chromium. Uses a fresh SQLite database
under a temporary directory, a gunicorn server on a free loopback port (stopped by its process id) and
Chromium through Playwright. Prints a Markdown table.
"""
import argparse
import gzip
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DIST = ROOT / "frontend" / "dist" / "assets"
PASSWORD = "bench-password-not-secret-1"


def bundle_sizes() -> list[tuple[str, str]]:
    rows = []
    for pattern, what in (("*.js", "JS (portal + React; the CSS Modules are inside, as strings)"),
                          ("*.css", "CSS file (emitted by Vite, not loaded: the shadow root adopts the strings)")):
        files = sorted(DIST.glob(pattern))
        raw = sum(f.stat().st_size for f in files)
        packed = sum(len(gzip.compress(f.read_bytes(), 9)) for f in files)
        rows.append((f"{what}", f"{raw / 1024:.1f} KB raw, **{packed / 1024:.1f} KB gzip**"))
    return rows


def setup_django(db: Path) -> None:
    os.environ.update(DATABASE_URL=f"sqlite:///{db}", SECRET_KEY="bench-only-secret-" + "b" * 40,
                      SECURE_SSL_REDIRECT="false", SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false",
                      DJANGO_SETTINGS_MODULE="gateway_project.settings", DJANGO_ALLOW_ASYNC_UNSAFE="true",
                      # The throttle still runs (its cache reads and writes are part of a poll's cost); it
                      # just does not refuse the benchmark's hundreds of polls a minute.
                      API_THROTTLE_USER="1000000/minute")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)


def seed():
    from django.contrib.auth.models import Group, User

    from devtools.sample_reports import large_report
    from releases.lifecycle import record_event
    from releases.models import Environment, Release
    from releases.statuses import Status

    user = User.objects.create_user("bench", password=PASSWORD)
    user.groups.add(Group.objects.get(name="requesters"))
    release = Release.objects.create(model_name="bench-model", requested_ref="1", model_version="1",
                                     environment=Environment.objects.get(name="staging"), requested_by=user,
                                     status=Status.SCAN_FAILED)
    for i in range(12):
        record_event(release, f"event {i}")
    large_report(release, 1000)
    return user, release


def poll_cost(user, release, polls: int) -> list[tuple[str, str]]:
    """Server work per poll, in this process (Django test client: no network, no gunicorn)."""
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    url = f"/api/releases/{release.pk}/"
    assert client.get(url).status_code == 200  # and warm
    rows = []
    for label, headers in (("full answer (200)", {}), ("unchanged (304, If-None-Match)", None)):
        if headers is None:
            headers = {"HTTP_IF_NONE_MATCH": client.get(url)["ETag"]}
        times, sizes = [], []
        queries: list[str] = []  # counted with a wrapper: the test client's request_started clears connection.queries

        def count(execute, sql, params, many, context, seen=queries):
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            response = client.get(url, **headers)
        expected = 304 if "HTTP_IF_NONE_MATCH" in headers else 200
        for _ in range(polls):
            started = time.perf_counter()
            response = client.get(url, **headers)
            times.append((time.perf_counter() - started) * 1000)
            sizes.append(len(response.content))
            assert response.status_code == expected, response.status_code
        times.sort()
        rows.append((f"GET release, {label}", f"p50 {statistics.median(times):.2f} ms, p95 "
                     f"{times[int(len(times) * 0.95) - 1]:.2f} ms, {sizes[0]} B body, {len(queries)} queries"))
    return rows


def time_to_interactive(release, runs: int, tmp: Path) -> list[tuple[str, str]]:
    from playwright.sync_api import sync_playwright

    from devtools import processes

    port = processes.free_port()
    web = processes.start([sys.executable, "-m", "gunicorn", "gateway_project.wsgi", "--bind", f"127.0.0.1:{port}",
                           "--workers", "2", "--threads", "4"], tmp / "web.log", dict(os.environ), ROOT)
    url = f"http://127.0.0.1:{port}"
    samples = []
    try:
        processes.wait_http(f"{url}/healthz", 60, web)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            context = browser.new_context()
            page = context.new_page()
            page.goto(url + "/login/")
            page.fill("#id_username", "bench")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(url + "/")
            for _ in range(runs):
                page.goto("about:blank")
                started = time.perf_counter()
                page.goto(f"{url}/releases/{release.pk}")
                page.get_by_text("1000 findings match.").wait_for()
                page.get_by_role("table", name="Findings").locator("tbody tr").nth(49).wait_for()
                samples.append((time.perf_counter() - started) * 1000)
            browser.close()
    finally:
        processes.stop(web)
    return [("release page with 1,000 findings: navigation → findings table usable",
             f"median {statistics.median(samples):.0f} ms, min {min(samples):.0f} ms, max {max(samples):.0f} ms "
             f"({runs} runs, warm browser cache)")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--polls", type=int, default=300)
    args = parser.parse_args()
    if not (DIST.is_dir() and any(DIST.glob("*.js"))):
        raise SystemExit("frontend/dist is missing: run bin/test or bin/demo once (they build the portal).")
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        os.environ["GATEWAY_VAR_DIR"] = tmp
        setup_django(Path(tmp) / "bench.sqlite3")
        user, release = seed()
        rows = bundle_sizes() + poll_cost(user, release, args.polls)
        rows += time_to_interactive(release, args.runs, Path(tmp))
    from django.conf import settings

    print("| measure | result |\n|---|---|")
    for measure, result in rows:
        print(f"| {measure} | {result} |")
    print(f"\nAn open release page polls every {settings.PORTAL_POLL_SECONDS:g} s while the release can still change "
          f"({60 / settings.PORTAL_POLL_SECONDS:.0f} requests a minute), and stops when it has ended.")


if __name__ == "__main__":
    main()
