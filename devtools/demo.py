"""The demo: everything the gateway needs on one machine, started and seeded.

Run through bin/demo (which prepares .venv). State lives in var/ and is reused
on the next run, so running it again is quick and keeps earlier releases.
"""
import argparse
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from devtools import processes
from devtools.mlflow_server import MlflowServer
from devtools.registry import Registry
from releases.evidence.keys import write_new_key

ROOT = Path(__file__).resolve().parent.parent
DEMO_USER = "demo"
DEMO_ADVISORIES = ROOT / "devtools" / "demo_advisories"


def _persisted_secret(path: Path, nbytes: int) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(nbytes))
        path.chmod(0o600)
    return path.read_text().strip()


def _port(preferred: int, what: str = "the web server", variable: str = "GATEWAY_PORT") -> int:
    try:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", preferred))
        return preferred
    except OSError:
        port = processes.free_port()
        print(f"==> port {preferred} is busy: {what} uses {port} instead (choose one with {variable}=N)")
        return port


def _registry_port(root: Path) -> int:
    """The registry keeps its port (and its storage under var/) from run to run: the images of earlier runs are
    named by it, and promotion refuses an image that is not in BUILD_REGISTRY's registry."""
    remembered = root / "port"
    preferred = int(os.environ.get("GATEWAY_REGISTRY_PORT") or (remembered.read_text() if remembered.exists() else 0)
                    or processes.free_port())
    port = _port(preferred, "the registry", "GATEWAY_REGISTRY_PORT")
    root.mkdir(parents=True, exist_ok=True)
    remembered.write_text(str(port))
    return port


def demo_settings(var_dir: Path, mlflow_url: str, registry: str) -> dict:
    """The demo's configuration: the environment of its processes, and var/demo.env for bin/manage."""
    _persisted_secret(var_dir / "secret_key", 48)
    signing_key = var_dir / "attestation-signing-key.pem"
    if not signing_key.exists():  # made once and kept, so attestations of earlier runs still verify
        write_new_key(signing_key)
        print(f"==> made the attestation signing key {signing_key} (public key: bin/manage export_public_key)")
    return dict(
        GATEWAY_VAR_DIR=str(var_dir),
        # The settings' own default, spelt out: a DATABASE_URL in the caller's shell (CI's
        # PostgreSQL, say) must not send the demo or bin/manage to another database.
        DATABASE_URL=f"sqlite:///{var_dir / 'gateway.sqlite3'}",
        SECRET_KEY_FILE=str(var_dir / "secret_key"),  # a path, so demo.env holds no secret
        ATTESTATION_SIGNING_KEY_FILE=str(signing_key),  # signs every SUCCEEDED release's attestation
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
        # Dependency locks (releases/locking/) resolve from PyPI unless the caller names a mirror.
        PACKAGE_INDEX_URL=os.environ.get("PACKAGE_INDEX_URL") or "https://pypi.org/simple",
    )


def gateway_env(demo: dict) -> dict:
    return {**os.environ, **demo}


def write_env_file(path: Path, demo: dict) -> None:
    """Shell syntax (values quoted), so that bin/manage can source it."""
    lines = ["# Written by bin/demo at each start and loaded by bin/manage; the gateway's settings never",
             "# read it. MLflow and the registry are on new ports each run: they answer only while it runs."]
    lines += [f"{name}={shlex.quote(value)}" for name, value in demo.items()]
    path.write_text("\n".join(lines) + "\n")


def manage(env: dict, *args: str, capture: bool = False) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                            capture_output=capture, text=True)
    return result.stdout if capture else ""


def bootstrap_users(env: dict) -> list[dict]:
    """The superuser and one user per role (devtools/demo_users.py), with password and token."""
    out = manage(env, "shell", "-c", "from devtools.demo_users import main; main()", capture=True)
    return json.loads(out.strip().splitlines()[-1])


def users_table(users: list[dict]) -> str:
    rows = [f"  {'user':<15} {'role (group)':<18} {'password':<13} API token"]
    rows += [f"  {u['user']:<15} {u['role']:<18} {u['password']:<13} {u['token']}" for u in users]
    return "\n".join(rows)


def _advisory_source(value: str) -> Path:
    """--advisories PATH, relative to where bin/demo was run (it changes to the project root)."""
    path = Path(os.environ.get("GATEWAY_DEMO_CALLER_DIR", "."), value).resolve()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{path} does not exist")
    return path


# staging needs no approval: a release that passes its scan is built and pushed at once.
EXPECTED = {"churn-legacy": "SCAN_FAILED", "forecast-conda": "SCAN_FAILED", "fraud-detector": "SUCCEEDED"}
IN_PROGRESS = ("PENDING", "SCANNING_DEPENDENCIES", "SCAN_PASSED", "APPROVED", "BUILDING_IMAGE")


def smoke_check(base: str, token: str, timeout: float = 900) -> dict:
    """Release each demo model; each must end as expected (vulnerable ones fail their scan, fraud-detector is
    built, smoke-tested and SUCCEEDED; its first build on a machine downloads its wheels). Returns that release."""
    headers = {"Authorization": f"Token {token}"}
    urls, released = {}, {}
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
        print(f"==> {model}: {release['status']}: {release['status_message'][:300]}")
        if release["status"] == "SUCCEEDED":
            released = release
    # The portal: its login page, and the bundle whitenoise serves (built and collected by the demo).
    login = requests.get(f"{base}/login/", timeout=10)
    bundle = requests.get(f"{base}/portal.js", timeout=10)
    if login.status_code != 200 or bundle.status_code != 200 or "release-gateway" not in bundle.text:
        raise SystemExit(f"smoke check failed: portal login {login.status_code}, bundle {bundle.status_code}")
    print(f"==> portal: login page and bundle served ({len(bundle.content) // 1024} KB)")
    print("==> smoke check passed")
    return released


def serve_check(env: dict, release: dict, mlflow_url: str, var_dir: Path) -> None:
    """The released image, started from its digest, answers a prediction for the model's own input example."""
    import mlflow.artifacts

    image = f"{release['image_reference'].rsplit(':', 1)[0]}@{release['image_digest']}"
    example = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{release['model_name']}/{release['model_version']}/serving_input_example.json",
        dst_path=str(var_dir / "examples" / str(release["id"])), tracking_uri=mlflow_url))
    print(f"==> starting {image} (its own network, non-root) and asking it for a prediction")
    answer = json.loads(manage(env, "smoke_image", image, "--input", str(example), capture=True))
    print(f"==> the released image answered: predictions {answer['predictions']} "
          f"(ready in {answer['ready_seconds']} s, {answer['latency_ms']} ms)")
    print(f"""==> run it on your own machine:
  podman run --rm --tls-verify=false -p 8080:8080 {image}
  curl -s -H 'Content-Type: application/json' --data @{example} http://127.0.0.1:8080/invocations""")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="start, release the three demo models to staging, "
                        "check each ends as the bundled advisories decide, stop")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT", "8000")),
                        help="web server port on 127.0.0.1 (default $GATEWAY_PORT or 8000; a free one if busy)")
    parser.add_argument("--advisories", metavar="PATH", type=_advisory_source, default=DEMO_ADVISORIES,
                        help="an OSV directory or export zip to sync instead of the bundled demo set")
    args = parser.parse_args(argv)

    started_at = time.monotonic()
    var_dir = Path(os.environ.get("GATEWAY_VAR_DIR", ROOT / "var")).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    children: list = []
    mlflow = MlflowServer(var_dir / "demo-mlflow")
    registry = Registry(var_dir / "demo-registry", port=_registry_port(var_dir / "demo-registry"))

    def shutdown(*_):
        for child in reversed(children):  # the worker (a qcluster) is stopped through its leader alone
            processes.stop(child, whole_group=child.args[-1:] != ["qcluster"])
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
        demo = demo_settings(var_dir, mlflow.url, registry.address)
        print("==> the serving base image (Debian + Python; made once, about a minute, then reused)")
        demo["BUILD_BASE_IMAGE"] = manage({**gateway_env(demo), "BUILD_BASE_IMAGE": "scratch"}, "build_base_image",
                                          "--quiet-reference", capture=True).strip().splitlines()[-1]
        write_env_file(var_dir / "demo.env", demo)
        env = gateway_env(demo)
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "collectstatic", "--noinput", "-v0")
        print(f"==> syncing advisories from {args.advisories}")
        manage(env, "sync_advisories", "--replace", str(args.advisories))  # the chosen set replaces the last
        users = bootstrap_users(env)
        token = next(u["token"] for u in users if u["user"] == DEMO_USER)
        requester_token = next(u["token"] for u in users if u["role"] == "requesters")

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
  Portal:         {base}/  (sign in as any user below: requester asks, ml-lead approves)
  API docs:       {base}/api/docs/
  Django admin:   {base}/admin/
  MLflow UI:      {mlflow.url}
  OCI registry:   http://{registry.address}/v2/_catalog
  Logs:           {logs}/  (web.log, worker.log)
  Commands:       bin/manage COMMAND  (manage.py with this demo's settings, from {var_dir / "demo.env"})

Users (passwords kept in {var_dir / "demo_users.json"}; `{DEMO_USER}` is a superuser):
{users_table(users)}

Try it (as `requester`):
  curl -s -H 'Authorization: Token {requester_token}' -H 'Content-Type: application/json' \\
       -d '{{"model_name": "churn-legacy", "model_alias": "champion", "target_environment": "staging"}}' \\
       {base}/api/releases/
  curl -s -H 'Authorization: Token {requester_token}' {base}/api/releases/
Demo models, as the bundled advisories judge them:
fraud-detector (clean pins: passes its scan; staging needs no approval; image built and pushed),
churn-legacy (old, vulnerable pins: fails),
forecast-conda (conda numpy=1.19.0: fails). Scan report: GET /api/releases/ID/scan/
Press Ctrl-C to stop.
""", flush=True)
        if args.smoke:
            released = smoke_check(base, token)
            serve_check(env, released, mlflow.url, var_dir)
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
