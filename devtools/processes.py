"""Start local servers on free loopback ports and stop them by their own PID."""
import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float, process: subprocess.Popen | None = None, ok=(200,)) -> None:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code in ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout:g} s")


def start(cmd: list[str], log_path: Path, env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    # A new session so that stop() can signal the server's own children (workers) too.
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)


def stop(process: subprocess.Popen, timeout: float = 15, whole_group: bool = True) -> None:
    """SIGTERM the process group led by this PID (or, with whole_group=False, the leader alone);
    SIGKILL the group if it does not go.

    A qcluster wants whole_group=False: it stops its own workers in under a second when it alone
    gets SIGTERM, but hangs until the SIGKILL when its children get one too (measured: still
    running 25 s later, ORM or Redis broker)."""
    if process.poll() is not None:
        return
    try:
        if whole_group:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            os.kill(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything of the group the leader left behind
