"""The smoke test: the exact pushed digest is started and must answer a prediction before SUCCEEDED.

The image is pulled back from BUILD_REGISTRY by digest (not the local copy it was pushed from), and its own
config (Entrypoint, Cmd, User, Env, ExposedPorts) starts it. The model's code is untrusted, so it runs:
- in a network namespace of its own with loopback only (`unshare --net`), with the probe beside it: it can
  reach neither the gateway's database nor anything else;
- in a PID namespace of its own, with its own /proc: it sees no host process and no other command line;
- chrooted into the image's files (buildah's chroot isolation), as the image's non-root user, with none of
  the gateway's environment or files (the secret key file among them);
- bounded in time (SMOKE_TEST_TIMEOUT_SECONDS) and address space (SMOKE_TEST_MEMORY_MB).

The result (`SmokeResult`, JSON) goes on the Build, into the SUCCEEDED event and into the attestation.
"""
import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TypedDict

from django.conf import settings

import releases.builds.buildah as buildah
from releases.builds.buildah import BuildFailure

log = logging.getLogger(__name__)
PROBE = Path(__file__).with_name("smoke_probe.py")
PREFIX = "gateway-smoke-"  # + the build id: what a killed builder left is found by name (local.remove_leftovers)


class SmokeResult(TypedDict, total=False):
    passed: bool
    pinged: bool
    endpoint: str  # "/invocations", or "/ping" for a model with no input example
    status: int
    latency_ms: float
    ready_seconds: float
    input_sha256: str
    answer_sha256: str
    message: str
    log_tail: str  # the server's last lines (kept on the build, not in the attestation)
    image: str  # reference@digest that was started
    predictions: object  # the answer itself (returned to the caller, never stored)


MAX_EXAMPLE_BYTES = 1024 * 1024  # an input example is a few rows; more is not an example to send


def example_of(model_dir: Path) -> bytes | None:
    """The model's serving input example (None: it has none, and the image is pinged only).

    One that is not a plain file, or over MAX_EXAMPLE_BYTES, fails the build: it is never silently skipped."""
    path = model_dir / "serving_input_example.json"
    if not path.exists() and not path.is_symlink():
        return None
    if path.is_symlink() or not path.is_file():
        raise BuildFailure("the model's serving_input_example.json is not a plain file")
    with open(path, "rb") as fh:
        example = fh.read(MAX_EXAMPLE_BYTES + 1)
    if len(example) > MAX_EXAMPLE_BYTES:
        raise BuildFailure(f"the model's serving_input_example.json is over {MAX_EXAMPLE_BYTES} bytes: the smoke "
                           "test sends it as it is, so it must be a small example")
    return example


def _port(config: dict) -> int:
    for exposed in (config.get("ExposedPorts") or {}):
        number, _, protocol = exposed.partition("/")
        if protocol in ("", "tcp") and number.isdigit():
            return int(number)
    raise BuildFailure("the image declares no TCP port (ExposedPorts): it cannot be smoke-tested")


def run(image: str, build_id: int | str, example: bytes | None, deadline: float) -> SmokeResult:
    """Start `image` (reference@digest) as its config says and probe it; the result (passed or not)."""
    name = f"{PREFIX}{build_id}"
    buildah.call(["rm", name], 60)
    try:
        buildah.run(["from", "--name", name, buildah.tls_flag(), f"docker://{image}"], deadline,
                    doing="pulling the pushed image by digest for its smoke test")
        config = buildah.image_config(name, deadline)
        command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
        if not command:
            raise BuildFailure("the image's config has no Entrypoint or Cmd: nothing starts it")
        result = _probe(name, command, _port(config), example, deadline)
    finally:
        buildah.call(["rm", name], 60)
        buildah.call(["rmi", image], 60)  # the pulled copy; the registry keeps the image
    result["image"] = image
    return result


def _probe(name: str, command: list[str], port: int, example: bytes | None, deadline: float) -> SmokeResult:
    timeout = min(settings.SMOKE_TEST_TIMEOUT_SECONDS, max(deadline - time.monotonic(), 1))
    with tempfile.TemporaryDirectory(prefix="gateway-smoke-") as tmp:
        # Own network (loopback only) and own PID namespace, with its own /proc: the model sees no host process,
        # so no other program's command line (which may carry a password) and nothing to signal. --kill-child:
        # if unshare is killed (the timeout below), the kernel ends everything in the namespace with it.
        args = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--", sys.executable, str(PROBE),
                "--port", str(port), "--timeout", str(timeout),
                "--memory-mb", str(settings.SMOKE_TEST_MEMORY_MB)]
        if example is not None:
            (Path(tmp) / "input.json").write_bytes(example)
            args += ["--input", str(Path(tmp) / "input.json")]
        args += ["--", *buildah.command(["run", "--isolation", "chroot", name, "--", *command])]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 30, check=False,
                                  env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"passed": False, "message": f"the smoke test did not finish within {timeout + 30:g} s"}
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        log.error("smoke probe failed (exit %s): %s", proc.returncode, proc.stderr.strip()[-2000:])
        raise BuildFailure(f"the smoke test could not be run (exit {proc.returncode}); see the build log")
    return SmokeResult(**result)


def stored(result: SmokeResult) -> dict:
    """What the build keeps: the answer by digest (answer_sha256), not its predictions."""
    return {key: value for key, value in result.items() if key != "predictions"}


def describe(result: SmokeResult | None) -> str:
    """A sentence for the release's events."""
    if not result:
        return "Not smoke-tested."
    if not result.get("passed"):
        return f"Smoke test failed: {result.get('message', '')}"
    if result.get("endpoint") == "/invocations":
        return (f"Smoke-tested: ready in {result.get('ready_seconds')} s, /invocations answered 200 in "
                f"{result.get('latency_ms')} ms.")
    return f"Smoke-tested: /ping only ({result.get('message', '')})."


def input_digest(example: bytes | None) -> str:
    return hashlib.sha256(example).hexdigest() if example is not None else ""
