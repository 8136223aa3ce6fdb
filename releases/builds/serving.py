"""The serving image's recipe: where things go, what starts, and who runs it. One place for all backends.

Layers, from the bottom: the base (by digest), the locked dependencies in a venv (one layer, shared by every
model version with the same lock on the same base), then the model's files and its lock (one layer). Each is
committed with a fixed timestamp and the bytecode is hash-based (no timestamps in it), so the same base, lock,
model files and recipe give the same image digest.

What the venv layer holds: every package of the lock, installed by pip from the lock's wheels, checked by hash,
with two changes made after pip, both for the image's size and start time:
- Packages' own test suites are not kept: a directory named `tests` or `test` inside a package (never a
  top-level one) that holds pytest modules (`test_*.py` or `conftest.py`) is deleted (numpy's, scipy's,
  pandas', scikit-learn's, ... about 110 MB of the 500 for a scikit-learn model). Nothing imports them to
  serve a model; the package is still the one the lock names and the scan checked (its dist-info RECORD
  still lists those files).
- The bytecode is written once by `compileall` as `unchecked-hash` pyc instead of pip's default (with
  SOURCE_DATE_EPOCH set, `checked-hash`, which makes Python read and hash every module's source at each
  import). The image is immutable and read-only to its user, so a source can never be newer than its pyc.

The image runs MLflow's pyfunc scoring server (uvicorn) from the venv, as the base's non-root user, with the
model owned by root and so read-only to it. Its config alone starts it: Entrypoint + Cmd, ExposedPorts. The
entrypoint imports the server's app (MLflow, the model's libraries, the model itself) with Python's cyclic
garbage collector paused, then turns it back on, freezes what the import made (the collector no longer walks
those long-lived objects) and hands over to uvicorn's own command line with the same app: the same server,
started sooner (the collector otherwise runs hundreds of times during that import, for little garbage).
"""
import hashlib
import json

from django.conf import settings

VENV = "/opt/venv"
MODEL_DIR = "/model"
RECIPE_VERSION = "mlflow-pyfunc-2"  # change it when anything below changes what an image holds
USER = "10001:10001"  # releases.builds.base_image's `model` user
INPUT_EXAMPLE = "serving_input_example.json"  # what MLflow writes when a model is logged with an input example


def tidy_script(venv: str) -> str:
    """After pip: the packages' test suites go, then the bytecode is written once, in one process, in a sorted
    walk (the same files give the same pyc), as unchecked-hash pyc (see above). Like pip's own compile step, a
    module that does not compile (a template, Python 2 code in a package's data) is left without bytecode."""
    site = f"{venv}/lib/python3*/site-packages"
    return (f"find {site} -mindepth 2 -type d \\( -name tests -o -name test \\) -prune -exec sh -c "
            "'for d; do if [ -n \"$(find \"$d\" \\( -name \"test_*.py\" -o -name conftest.py \\) -print -quit)\" ]; "
            "then rm -rf \"$d\"; fi; done' sh {} +; "
            f"{venv}/bin/python -m compileall -q -q --invalidation-mode unchecked-hash {site} || true")


# pip is run from a throw-away venv against the image's venv (`--python`), so pip itself is not installed in an
# image whose every package must be in the lock. Wheels only, no network (the step runs in `unshare --net`).
INSTALL_SCRIPT = (
    f"set -e; python3 -m venv --without-pip {VENV}; python3 -m venv /tmp/installer; "
    f"/tmp/installer/bin/python -m pip --python {VENV}/bin/python install --quiet --no-input "
    "--disable-pip-version-check --no-index --find-links /wheels --require-hashes --no-deps --only-binary :all: "
    "--no-compile -r /lock/requirements.lock.txt; rm -rf /tmp/installer /root/.cache; " + tidy_script(VENV)
)
SERVER_APP = "mlflow.pyfunc.scoring_server.app"  # loads the model at import (from __pyfunc_model_path__)
# Python's -c: the app imported with the cyclic collector paused, then uvicorn's command line with the Cmd.
LAUNCHER = (f"import gc, sys; gc.disable(); import {SERVER_APP}; gc.enable(); gc.freeze(); "
            f"from uvicorn.main import main; sys.argv[:1] = ['uvicorn', '{SERVER_APP}:app']; main()")


def entrypoint() -> list[str]:
    return [f"{VENV}/bin/python", "-c", LAUNCHER]


def cmd() -> list[str]:
    return ["--host", "0.0.0.0", "--port", str(settings.SERVING_PORT)]


def environment() -> dict[str, str]:
    return {
        "PATH": f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin",
        "__pyfunc_model_path__": MODEL_DIR,  # where SERVER_APP loads the model from
        "MLFLOW_MODEL_URI": MODEL_DIR,
        "PYTHONDONTWRITEBYTECODE": "1",  # the image is read-only to its user; the venv ships its bytecode
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "HOME": "/tmp",
    }


def healthcheck() -> str:
    """The check a runtime should use (OCI images carry no HEALTHCHECK: it is a label)."""
    return json.dumps({"http_get": "/ping", "port": settings.SERVING_PORT, "interval_seconds": 10})


def config_args(labels: dict[str, str]) -> list[str]:
    """`buildah config` arguments for the final image."""
    args = ["--user", USER, "--workingdir", "/tmp", "--port", f"{settings.SERVING_PORT}/tcp",
            "--entrypoint", json.dumps(entrypoint()), "--cmd", json.dumps(cmd()), "--stop-signal", "SIGTERM"]
    for name, value in environment().items():
        args += ["--env", f"{name}={value}"]
    for name, value in {**labels, "gateway.healthcheck": healthcheck()}.items():
        args += ["--label", f"{name}={value}"]
    return args


def deps_key(base_reference: str, lock_sha256: str) -> str:
    """The dependency layer's identity: the same base, lock and recipe give the same layer."""
    return hashlib.sha256(f"{base_reference}\n{lock_sha256}\n{RECIPE_VERSION}\n{INSTALL_SCRIPT}".encode()).hexdigest()


def request_fields() -> dict:
    """The recipe a remote builder (webhook, GitLab) must follow to build the same image as the local backend:
    the base by digest, where the lock is installed and how, and what starts the server as whom."""
    base = settings.BUILD_BASE_IMAGE if settings.BUILD_BASE_IMAGE not in ("", "scratch") else ""
    return {"base_image": base, "serving_recipe": {
        "version": RECIPE_VERSION, "venv": VENV, "model_dir": MODEL_DIR, "user": USER,
        "port": settings.SERVING_PORT, "entrypoint": entrypoint(), "cmd": cmd(), "env": environment(),
        "install": INSTALL_SCRIPT, "input_example": INPUT_EXAMPLE,
        "timestamp": 0,  # every layer committed with this creation time: the same inputs give the same digest
        "smoke_test": "start the pushed digest, wait for /ping, POST input_example to /invocations; report "
                      "smoke_test in the callback"}}
