"""A real MLflow tracking server on loopback (for tests and the demo)."""
import os
import sys
from pathlib import Path

from devtools import processes


class MlflowServer:
    def __init__(self, root: Path, port: int | None = None):
        self.root = Path(root).resolve()
        self.port = port or processes.free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
            MLFLOW_DISABLE_TELEMETRY="true",
            DO_NOT_TRACK="true",
            TMPDIR=str(tmp),  # the server writes a lock file there
        )
        return env

    def start(self, timeout: float = 120) -> "MlflowServer":
        self.root.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination", str(self.root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]
        self.process = processes.start(cmd, self.root / "server.log", env=self.env())
        processes.wait_http(f"{self.url}/health", timeout, self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)
            self.process = None
