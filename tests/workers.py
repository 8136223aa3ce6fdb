"""Run a real django-q2 cluster (`manage.py qcluster`) against the test database."""
import os
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

from devtools import processes

ROOT = Path(__file__).resolve().parent.parent


def database_url_of_test_db() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_qcluster(log_path: Path, **env_overrides) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for the browser tests' own thread, not for a worker
    env.update(DATABASE_URL=database_url_of_test_db(), TASK_POLL_SECONDS="0.1", WORKER_PROCESSES="1")
    env.update({k: str(v) for k, v in env_overrides.items()})
    return processes.start([sys.executable, "manage.py", "qcluster"], log_path, env=env, cwd=ROOT)


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None):
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"qcluster exited ({process.returncode}) while waiting for {what}:\n"
                                 + (log.read_text()[-3000:] if log else ""))
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n"
                         + (log.read_text()[-3000:] if log else ""))
