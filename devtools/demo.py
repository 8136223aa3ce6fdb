"""The demo: everything the gateway needs on one machine, started and seeded.

Run through bin/demo (which prepares .venv). State lives in var/ and is reused
on the next run, so running it again is quick and keeps earlier releases.
"""
import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from devtools import processes
from devtools.mlflow_server import MlflowServer
from devtools.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
DEMO_USER = "demo"


def _persisted_secret(path: Path, nbytes: int) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(nbytes))
        path.chmod(0o600)
    return path.read_text().strip()


def _port(preferred: int) -> int:
    try:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", preferred))
        return preferred
    except OSError:
        return processes.free_port()


def gateway_env(var_dir: Path, mlflow_url: str, registry: str) -> dict:
    env = dict(os.environ)
    env.update(
        GATEWAY_VAR_DIR=str(var_dir),
        SECRET_KEY=_persisted_secret(var_dir / "secret_key", 48),
        MLFLOW_TRACKING_URI=mlflow_url,
        # Production settings, minus HTTPS: the demo is plain HTTP on loopback.
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        SECURE_HSTS_SECONDS="0",
        # Approved releases are built here with buildah and pushed to the local registry.
        BUILD_BACKEND="local",
        BUILD_REGISTRY=f"{registry}/models",
        BUILD_REGISTRY_TLS_VERIFY="false",
    )
    env.pop("DATABASE_URL", None)  # embedded default: SQLite under var/
    return env


def manage(env: dict, *args: str, capture: bool = False) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                            capture_output=capture, text=True)
    return result.stdout if capture else ""


def bootstrap_user(env: dict, password: str) -> str:
    """Create (or refresh) the demo superuser; return its API token."""
    code = (
        "from django.contrib.auth import get_user_model\n"
        "from rest_framework.authtoken.models import Token\n"
        f"u, _ = get_user_model().objects.get_or_create(username={DEMO_USER!r})\n"
        "u.is_staff = u.is_superuser = True\n"
        f"u.set_password({password!r}); u.save()\n"
        "print(Token.objects.get_or_create(user=u)[0].key)\n"
    )
    return manage(env, "shell", "-c", code, capture=True).strip().splitlines()[-1]


# staging needs no approval: a release that passes its scan is built and pushed at once.
EXPECTED = {"churn-legacy": "SCAN_FAILED", "forecast-conda": "SCAN_FAILED", "fraud-detector": "SUCCEEDED"}
IN_PROGRESS = ("PENDING", "SCANNING_DEPENDENCIES", "SCAN_PASSED", "APPROVED", "BUILDING_IMAGE")


def smoke_check(base: str, token: str, timeout: float = 90) -> None:
    """Release each demo model; each must end its scan as expected (vulnerable ones fail)."""
    headers = {"Authorization": f"Token {token}"}
    urls = {}
    for model in EXPECTED:
        body = {"model_name": model, "model_alias": "champion", "target_environment": "staging"}
        response = requests.post(f"{base}/api/releases/", json=body, headers=headers, timeout=10)
        response.raise_for_status()
        urls[model] = f"{base}/api/releases/{response.json()['id']}/"
    ends = time.monotonic() + timeout
    for model, url in urls.items():
        while True:
            release = requests.get(url, headers=headers, timeout=10).json()
            if release["status"] not in IN_PROGRESS or time.monotonic() > ends:
                break
            time.sleep(0.5)
        if release["status"] != EXPECTED[model]:
            raise SystemExit(f"smoke check failed: {model} is {release['status']}: {release['status_message']}")
        print(f"==> {model}: {release['status']}: {release['status_message']}")
    print("==> smoke check passed")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="start, request one release, check, stop")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT", "8000")))
    args = parser.parse_args(argv)

    started_at = time.monotonic()
    var_dir = Path(os.environ.get("GATEWAY_VAR_DIR", ROOT / "var")).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    children: list = []
    mlflow = MlflowServer(var_dir / "demo-mlflow")
    registry = Registry(var_dir / "demo-registry")

    def shutdown(*_):
        for child in reversed(children):
            processes.stop(child)
        registry.stop()
        mlflow.stop()

    signal.signal(signal.SIGTERM, lambda *_: (shutdown(), sys.exit(0)))
    try:
        print(f"==> starting MLflow on {mlflow.url} (store: {mlflow.root})")
        mlflow.start()
        from devtools.demo_models import seed

        versions = seed(mlflow.url)
        print(f"==> demo models: {versions}")

        registry.start()
        print(f"==> OCI registry on {registry.address}")
        env = gateway_env(var_dir, mlflow.url, registry.address)
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "collectstatic", "--noinput", "-v0")
        manage(env, "sync_advisories", str(ROOT / "devtools" / "demo_advisories"))
        password = _persisted_secret(var_dir / "demo_password", 12)
        token = bootstrap_user(env, password)

        port = _port(args.port)
        base = f"http://127.0.0.1:{port}"
        logs = var_dir / "logs"
        children.append(processes.start([sys.executable, "manage.py", "qcluster"], logs / "worker.log", env, ROOT))
        children.append(processes.start(
            [sys.executable, "-m", "gunicorn", "gateway_project.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--threads", "4", "--access-logfile", "-"], logs / "web.log", env, ROOT))
        processes.wait_http(f"{base}/healthz", 60, children[-1])
        processes.wait_http(f"{base}/readyz", 60, children[-1])
        ready_in = time.monotonic() - started_at

        print(f"""
Model Release Gateway is running (ready in {ready_in:.0f} s).
  Portal (home):  {base}/
  API docs:       {base}/api/docs/
  Django admin:   {base}/admin/
  MLflow UI:      {mlflow.url}
  OCI registry:   http://{registry.address}/v2/_catalog
  Log in as:      {DEMO_USER} / {password}
  API token:      {token}
  Logs:           {logs}/  (web.log, worker.log)

Try it:
  curl -s -H 'Authorization: Token {token}' -H 'Content-Type: application/json' \\
       -d '{{"model_name": "churn-legacy", "model_alias": "champion", "target_environment": "staging"}}' \\
       {base}/api/releases/
  curl -s -H 'Authorization: Token {token}' {base}/api/releases/
Demo models: fraud-detector (clean pins: passes its scan; staging needs no approval; image built and pushed),
churn-legacy (old, vulnerable pins: fails),
forecast-conda (conda numpy=1.19.0: fails). Scan report: GET /api/releases/ID/scan/
Press Ctrl-C to stop.
""", flush=True)
        if args.smoke:
            smoke_check(base, token)
            return 0
        while all(child.poll() is None for child in children):
            time.sleep(1)
        print("a child process exited; see the logs", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        print("==> stopping")
        shutdown()


if __name__ == "__main__":
    sys.exit(main())
