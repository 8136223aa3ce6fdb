"""`uv pip compile`: the model's requirements to a hashed lock, from one index, without running package code.

- Wheels only (`--no-build`): resolving from an sdist would run its build code on the gateway. A
  package with no wheel for the target is "cannot be resolved", in uv's words.
- One index (`--default-index PACKAGE_INDEX_URL`), no configuration files (`--no-config`), and an
  environment of our own: no UV_* or PIP_* variable of the worker's, no ~/.netrc, its own cache.
- The target is fixed (`--python-version` from the model, `--python-platform` DEPENDENCY_LOCK_PLATFORM),
  so markers are judged for the image, not for the gateway's machine.
- Bounded: the whole run by DEPENDENCY_LOCK_TIMEOUT_SECONDS, the lock by DEPENDENCY_LOCK_MAX_BYTES,
  uv's messages by MAX_MESSAGE_BYTES (it writes to files, read only up to the cap).

Outcomes: a lock; "cannot be resolved" with uv's message (a verdict, the policy decides what it
means); or ResolverUnavailable (the index down or refusing, uv missing or killed): an operational
failure, retryable. uv exits 1 when no solution exists and 2 on errors (a failed request among them).
"""
import functools
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from releases.locking.inputs import CONSTRAINTS_NAME, INPUT_NAME, LockInput

log = logging.getLogger(__name__)
LOCK_NAME = "requirements.lock.txt"
MAX_MESSAGE_BYTES = 64 * 1024
MAX_MESSAGE_CHARS = 4000  # kept with the lock and shown in the report
_PASSED_THROUGH = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy",
                   "SSL_CERT_FILE", "SSL_CERT_DIR")
# uv's words for a request that failed (connection, TLS, 5xx, 401/403 from the index), as opposed to no solution.
_UNREACHABLE = ("Failed to fetch", "error sending request", "Request failed after", "HTTP status server error",
                "HTTP status client error", "Failed to download", "tcp connect error", "operation timed out",
                "dns error", "connection closed")


class ResolverUnavailable(Exception):
    """The lock could not be made now (index unreachable, uv missing): retryable. `detail` is for staff."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


@dataclass
class Resolution:
    resolved: bool
    content: str  # the lock (empty unless resolved)
    message: str  # uv's reason when it could not resolve; "" otherwise
    uv_version: str


def public_index_url(url: str) -> str:
    """The index URL without user name or password: what is stored and shown."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@functools.cache
def uv_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()[:64]


def _environment(home: Path, timeout: int) -> dict[str, str]:
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    return {**env, "HOME": str(home), "UV_CACHE_DIR": str(settings.DEPENDENCY_LOCK_CACHE_DIR),
            "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never", "UV_HTTP_TIMEOUT": str(timeout),
            "UV_HTTP_RETRIES": "1", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}


def command(lock_input: LockInput, index_url: str, workdir: Path) -> list[str]:
    cmd = [settings.UV_PATH, "pip", "compile", "--no-config", "--no-header", "--generate-hashes", "--no-build",
           "--no-python-downloads", "--python", sys.executable,
           "--python-version", lock_input.python_version, "--python-platform", settings.DEPENDENCY_LOCK_PLATFORM,
           "--default-index", index_url, "--index-strategy", "first-index",
           "--color", "never", "--no-progress", "--quiet", "-o", str(workdir / LOCK_NAME), INPUT_NAME]
    if lock_input.constraints:
        cmd += ["--constraint", CONSTRAINTS_NAME]
    return cmd


def _read(path: Path, limit: int) -> tuple[str, bool]:
    """At most `limit` bytes of `path`, and whether there was more."""
    if not path.exists():
        return "", False
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    return data[:limit].decode("utf-8", "replace"), len(data) > limit


def _public_message(text: str, index_url: str) -> str:
    """uv's reason, without our index's address (its credentials least of all) and without progress lines."""
    public = public_index_url(index_url)
    for address in sorted({index_url, index_url.rstrip("/"), public, public.rstrip("/")}, key=len, reverse=True):
        if address:
            text = text.replace(address, "PACKAGE_INDEX_URL")
    netloc = urlsplit(index_url).netloc
    if netloc:
        text = text.replace(netloc, "the package index")
    lines = [line for line in text.strip().splitlines() if not line.startswith(("Resolved ", "warning: "))]
    return "\n".join(lines)[:MAX_MESSAGE_CHARS]


def resolve(lock_input: LockInput, index_url: str, preferred: str = "") -> Resolution:
    """Run uv once; raises ResolverUnavailable for an outage (see the module docstring).

    `preferred`: a lock whose versions uv keeps where the requirements still allow them (uv reads an
    existing output file as preferences): the predecessor environment's, so a promotion finds the same lock."""
    timeout = settings.DEPENDENCY_LOCK_TIMEOUT_SECONDS
    version = uv_version(settings.UV_PATH)
    settings.DEPENDENCY_LOCK_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gateway-lock-") as tmp:
        workdir = Path(tmp)
        (workdir / INPUT_NAME).write_text(lock_input.requirements_text())
        if lock_input.constraints:
            (workdir / CONSTRAINTS_NAME).write_text(lock_input.constraints_text())
        (workdir / "home").mkdir()
        if preferred:
            (workdir / LOCK_NAME).write_text(preferred)
        returncode = _run(command(lock_input, index_url, workdir), workdir, timeout)
        message, _more = _read(workdir / "uv.err", MAX_MESSAGE_BYTES)
        content, too_big = _read(workdir / LOCK_NAME, settings.DEPENDENCY_LOCK_MAX_BYTES)
    if returncode == 0:
        if too_big:
            return Resolution(False, "", f"the lock is larger than DEPENDENCY_LOCK_MAX_BYTES "
                                         f"({settings.DEPENDENCY_LOCK_MAX_BYTES} bytes)", version)
        return Resolution(True, content, "", version)
    public = _public_message(message, index_url)
    if returncode == 1 or "No solution found" in message:
        return Resolution(False, "", public or f"uv could not resolve the requirements (exit {returncode})", version)
    if returncode < 0 or any(words in message for words in _UNREACHABLE):
        log.warning("dependency lock: uv exit %s: %s", returncode, message.strip()[-2000:])
        raise ResolverUnavailable("The package index (PACKAGE_INDEX_URL) could not be reached or refused a request; "
                                  "the step can be retried.", detail=message.strip()[-1000:])
    return Resolution(False, "", public or f"uv could not resolve the requirements (exit {returncode})", version)


def _run(cmd: list[str], workdir: Path, timeout: int) -> int:
    with open(workdir / "uv.out", "wb") as out, open(workdir / "uv.err", "wb") as err:
        try:
            proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env=_environment(workdir / "home", timeout), start_new_session=True)
        except OSError as exc:
            log.error("dependency lock: cannot run %s: %s", cmd[0], exc)
            raise ResolverUnavailable("The resolver (uv, UV_PATH) cannot be run on the worker.",
                                      detail=f"{type(exc).__name__}") from None
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ResolverUnavailable(f"Resolving the dependencies did not finish within "
                                      f"{timeout} s (DEPENDENCY_LOCK_TIMEOUT_SECONDS); the step can be retried.") \
                from None
