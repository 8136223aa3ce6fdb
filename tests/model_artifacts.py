"""Model versions whose files are given as bytes, logged to the session's real MLflow server, and a
proxy in front of that server that records what is asked of it and can cut a download short."""
import contextlib
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import mlflow
import requests
from mlflow.tracking import MlflowClient

from tests.local_http import serving

MLMODEL_PYFUNC = (b"flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n"
                  b"    python_model: python_model.pkl\n")
REQUIREMENTS = b"requests==2.32.3\n"


def register_files(server, name: str, files: dict[str, bytes]) -> Path:
    """Register `name` version 1 whose artifacts are exactly `files` (relative path -> bytes); returns the
    directory that holds them in the server's artifact store (so a test can change them there)."""
    mlflow.set_tracking_uri(server.url)
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    mlflow.set_experiment("model-file-scan")
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run() as run:
        root = Path(tmp) / name
        for path, data in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
        mlflow.log_artifacts(str(root), name)
    client.create_registered_model(name)
    client.create_model_version(name, f"{run.info.artifact_uri}/{name}", run.info.run_id)
    relative = run.info.artifact_uri.removeprefix("mlflow-artifacts:").lstrip("/")
    return server.root / "artifacts" / relative / name


def model(payload_path: str, payload: bytes, mlmodel: bytes = MLMODEL_PYFUNC) -> dict[str, bytes]:
    return {"MLmodel": mlmodel, "requirements.txt": REQUIREMENTS, payload_path: payload}


class Proxy:
    """What the proxy saw, and how it misbehaves: `cut` = (path fragment, bytes to send before closing);
    `drip` = (path fragment, seconds between 16-byte pieces of the body)."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.seen: list[tuple[str, str]] = []
        self.cut: tuple[str, int] | None = None
        self.drip: tuple[str, float] | None = None
        self.lock = threading.Lock()

    def artifact_downloads(self) -> list[str]:
        return [path for method, path in self.seen if method == "GET" and "/mlflow-artifacts/artifacts/" in path]


def _handler(proxy: Proxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _forward(self):
            with proxy.lock:
                proxy.seen.append((self.command, self.path))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            upstream = requests.request(self.command, proxy.upstream + self.path, data=body, headers=headers,
                                        timeout=30, allow_redirects=False)
            content = upstream.content
            cut = proxy.cut
            self.send_response(upstream.status_code)
            for key, value in upstream.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            if cut and cut[0] in self.path:  # promise the whole body, send the start, hang up
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(content[:cut[1]])
                self.wfile.flush()
                self.close_connection = True
                return
            self.end_headers()
            drip = proxy.drip
            if drip and drip[0] in self.path:
                try:
                    for start in range(0, len(content), 16):
                        if proxy.drip is None:  # the test is over: so is the body
                            break
                        self.wfile.write(content[start:start + 16])
                        self.wfile.flush()
                        time.sleep(drip[1])
                except OSError:  # the client gave up: what the test wants
                    self.close_connection = True
                return
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    return Handler


@contextlib.contextmanager
def proxy_to(upstream: str):
    proxy = Proxy(upstream)
    with serving(_handler(proxy)) as server:
        proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield proxy
        finally:
            proxy.drip = proxy.cut = None  # a dripping body stops, so the server's threads end
