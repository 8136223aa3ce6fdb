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


def start_gunicorn(log_path: Path, workers: int = 2, **env_overrides) -> tuple[subprocess.Popen, str]:
    """gunicorn serving the gateway on a free loopback port, on the test database; returns (process, url).

    Waits until /healthz answers. Stop it with processes.stop (it leads its own process group)."""
    port = processes.free_port()
    env = dict(os.environ)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(DATABASE_URL=database_url_of_test_db())
    env.update({k: str(v) for k, v in env_overrides.items()})
    web = processes.start([sys.executable, "-m", "gunicorn", "gateway_project.wsgi", "--bind", f"127.0.0.1:{port}",
                           "--workers", str(workers), "--threads", "4", "--access-logfile", "-"], log_path, env, ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        processes.wait_http(f"{url}/healthz", 60, web)
    except Exception:
        processes.stop(web)
        raise
    return web, url


def sigkill_group(process: subprocess.Popen) -> None:
    """SIGKILL the whole process group this process leads (a qcluster's sentinel, pusher, workers, monitor):
    no clean shutdown, nothing handed back to the broker."""
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def stop_qcluster(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM to the cluster's own pid, then SIGKILL its group (devtools.processes.stop says why)."""
    processes.stop(process, timeout=timeout, whole_group=False)


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


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te",
              "trailer", "upgrade", "content-encoding"}


class SlowProxy:
    """An HTTP proxy on a free loopback port that waits `delay` seconds before forwarding each request
    to `upstream` (host:port): a real slow registry or MLflow, with nothing of the client mocked."""

    def __init__(self, upstream: str, delay: float):
        import http.server
        import threading

        import requests

        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(self):
                body = self._body()
                time.sleep(proxy.delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                answer = requests.request(self.command, f"http://{upstream}{self.path}", data=body or None,
                                          headers=headers, allow_redirects=False, timeout=60, stream=False)
                content = b"" if self.command == "HEAD" else answer.content
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content) if self.command != "HEAD"
                                                       else answer.headers.get("Content-Length", 0)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.delay = delay
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
