"""A real OCI registry (Debian's docker-registry) on a free loopback port, for tests and the demo."""
from pathlib import Path

from devtools import processes


class Registry:
    def __init__(self, root: Path, port: int | None = None):
        self.root = Path(root).resolve()
        self.port = port or processes.free_port()
        self.process = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "Registry":
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n"
        )
        self.process = processes.start(["docker-registry", "serve", str(config)], self.root / "registry.log")
        processes.wait_http(f"http://{self.address}/v2/", timeout, self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)
            self.process = None
