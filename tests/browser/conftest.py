"""Browser tests: Debian's Chromium driven by Playwright against a live server, the real worker
(`manage.py qcluster`) and the session's real MLflow server.

bin/test installs chromium; Playwright's own browser download does not work on this machine.
Screenshots of every screen go to var/screenshots/ (git-ignored).
"""
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devtools import processes
from tests.conftest import _user
from tests.workers import database_url_of_test_db, start_qcluster

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = ROOT / "var" / "screenshots"
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"


ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.fixture(scope="module")
def orm_beside_playwright():
    """Playwright's sync API runs an event loop in the test's thread; Django's ORM, used by the same tests
    (and by their database teardown), would refuse to run there. Allowed while the browser runs, that is for
    one browser module (Chromium is per module): the tests that run after it in the same process, in any order
    (pytest-xdist), run without it, and the servers the browser tests start do not inherit it."""
    os.environ[ASYNC_UNSAFE] = "true"
    yield
    os.environ.pop(ASYNC_UNSAFE, None)


@pytest.fixture(scope="module")
def chromium(orm_beside_playwright):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed: bin/test installs it (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Every page of a test context records what the Content-Security-Policy blocked (csp_violations).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def csp_violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations || []")


@dataclass
class Gateway:
    url: str
    registry: object
    contexts: list = field(default_factory=list)

    def login(self, browser, username: str, password: str | None = None, path: str = "/"):
        """A new browser context (its own cookies) signed in through the portal's login page."""
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.contexts.append(context)
        context.add_init_script(RECORD_CSP_VIOLATIONS)
        page = context.new_page()
        page.set_default_timeout(15_000)
        # Script errors and failed requests are printed with the test's output when it fails.
        page.on("pageerror", lambda error: print(f"[{username}] page error: {error}"))
        page.on("response", lambda r: r.status >= 400 and print(f"[{username}] HTTP {r.status} {r.url}"))
        page.goto(self.url + path)
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password or f"pw-{username}-123")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/login/" not in url)
        page.get_by_text(f"Signed in as {username}").wait_for()
        return page


@pytest.fixture
def gateway_env():
    """Extra settings (environment variables) for the web server and worker; a module may override it."""
    return {}


@pytest.fixture
def gateway(transactional_db, mlflow_server, mlflow_models, local_builds, settings, tmp_path, gateway_env):
    """The gateway as it runs in production, on the test database: gunicorn (whitenoise serving the built
    portal) and a real worker (`manage.py qcluster`), both on loopback, stopped by process id."""
    import requests

    env = {"MLFLOW_TRACKING_URI": mlflow_server.url, "BUILD_BACKEND": "local",
           "BUILD_REGISTRY": settings.BUILD_REGISTRY, "BUILD_REGISTRY_TLS_VERIFY": "false",
           "BUILDAH_ROOT": str(settings.BUILDAH_ROOT), "PORTAL_POLL_SECONDS": "0.5",
           # Plain http on loopback: the production-shaped settings would mark the cookies Secure.
           "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false", **gateway_env}
    worker = start_qcluster(tmp_path / "qcluster.log", **env)
    port = processes.free_port()
    web_env = dict(os.environ, DATABASE_URL=database_url_of_test_db(), **env)
    web_env.pop(ASYNC_UNSAFE, None)
    web = processes.start([sys.executable, "-m", "gunicorn", "gateway_project.wsgi", "--bind", f"127.0.0.1:{port}",
                           "--workers", "2", "--threads", "4", "--access-logfile", "-"],
                          tmp_path / "web.log", web_env, ROOT)
    url = f"http://127.0.0.1:{port}"
    served = None
    try:
        processes.wait_http(f"{url}/healthz", 60, web)
        bundle = requests.get(url + "/portal.js", timeout=10)
        assert bundle.status_code == 200 and "release-gateway" in bundle.text, (
            "the portal's bundle is not served: build it and collect static files (bin/test does both)")
        served = Gateway(url, local_builds)
        yield served
    finally:
        # The signed-in contexts close first, as a user's browser would: their keep-alive connections
        # would hold a gunicorn worker past SIGTERM until processes.stop kills it 15 s later (measured).
        for context in served.contexts if served else ():
            context.close()
        processes.stop(web)
        processes.stop(worker, whole_group=False)  # a qcluster: SIGTERM to its leader (processes.stop)


@pytest.fixture
def requester(db, django_user_model):
    return _user(django_user_model, "requester", "requesters")


@pytest.fixture
def ml_lead(db, django_user_model):
    return _user(django_user_model, "ml-lead", "ml-leads")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page (it walks open shadow roots)."""
    # Evaluated through the devtools protocol: the page's CSP (script-src 'self') would block a
    # <script> tag with axe's source, as it must block every inline script.
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"][:5]]}
            for v in result if v["impact"] in ("serious", "critical")]
