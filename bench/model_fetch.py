#!/usr/bin/env python
"""What the fetch step's model-file download and scan cost, against MLflow's own download of the same model.

    .venv/bin/python bench/model_fetch.py [--mb 200] [--runs 2]

Starts a real MLflow server (devtools.mlflow_server) in a temporary directory. Logs one model version
whose python_model.pkl is a pickle of float32 arrays of about --mb MB, beside MLmodel and
requirements.txt. Then, each run in a fresh child process:
  - mlflow download: mlflow.artifacts.download_artifacts of the whole model (what the local build does);
  - fetch+scan: releases.model_files.fetch_and_scan: list, limits, streamed download with SHA-256, scan.
Reports wall time, MB/s and the child's peak RSS once its imports are done and at the end. Prints a
Markdown table. Everything it starts and writes is stopped and removed at the end.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, os, sys, tempfile, time
import django
django.setup()
import mlflow.artifacts
from releases import model_files
from releases.mlflow_source import MlflowSource
def hwm():  # peak RSS of this process in MB (VmHWM starts anew at exec; ru_maxrss would be the parent's)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
source = MlflowSource()
model = source.resolve(sys.argv[2], version="1")
base = hwm()
started = time.monotonic()
if sys.argv[1] == "download":
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.artifacts.download_artifacts(artifact_uri=model.download_uri, dst_path=tmp,
                                            tracking_uri=source.tracking_uri)
    verdict = "-"
else:
    scanned = model_files.fetch_and_scan(source, model)
    verdict = model_files.overview(scanned)["verdicts"]
seconds = time.monotonic() - started
peak = hwm()
print(json.dumps({"seconds": seconds, "base_mb": base, "peak_mb": peak, "verdict": verdict}))
"""


def log_model(url: str, mb: int, root: Path) -> int:
    import pickle

    import mlflow
    import numpy as np
    from mlflow.tracking import MlflowClient

    model_dir = root / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors:\n  python_function:\n    python_model: python_model.pkl\n")
    (model_dir / "requirements.txt").write_text("numpy==1.26.4\n")
    arrays = max(1, mb // 100)
    rng = np.random.default_rng(0)
    weights = {f"layer{i}": rng.random(mb * 1024 * 1024 // arrays // 4, dtype=np.float32) for i in range(arrays)}
    with (model_dir / "python_model.pkl").open("wb") as fh:
        pickle.dump(weights, fh, protocol=4)
    del weights
    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("bench-model-fetch")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(model_dir), "model")
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    client.create_registered_model("bench-model")
    client.create_model_version("bench-model", f"{run.info.artifact_uri}/model", run.info.run_id)
    return sum(f.stat().st_size for f in model_dir.iterdir())


def measure(what: str, url: str, var: Path) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gateway_project.settings", "MLFLOW_TRACKING_URI": url,
           "SECRET_KEY": "bench-only-key-not-used-for-anything-else-0123456789-abcdef", "GATEWAY_VAR_DIR": str(var),
           "TASK_TIMEOUT_SECONDS": "900", "MODEL_FILES_DEADLINE_SECONDS": "600", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("DATABASE_URL", None)  # nothing here touches a database
    done = subprocess.run([sys.executable, "-c", CHILD, what, "bench-model"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    from devtools.mlflow_server import MlflowServer

    with tempfile.TemporaryDirectory(prefix="bench-model-fetch-") as tmp:
        root = Path(tmp)
        server = MlflowServer(root / "mlflow").start()
        try:
            size = log_model(server.url, args.mb, root)
            print(f"model: {size / 1e6:.0f} MB in 3 files; MLflow {server.url}\n")
            print("| what | run | seconds | MB/s | peak RSS after imports → at the end (MB) | verdicts |")
            print("|---|---:|---:|---:|---:|---|")
            for what in ("download", "fetch+scan"):
                for run in range(1, args.runs + 1):
                    started = time.monotonic()
                    result = measure("download" if what == "download" else "scan", server.url, root / "var")
                    assert time.monotonic() - started >= result["seconds"]
                    label = "mlflow download" if what == "download" else "fetch+scan"
                    print(f"| {label} | {run} | {result['seconds']:.1f} | {size / 1e6 / result['seconds']:.0f} | "
                          f"{result['base_mb']:.0f} → {result['peak_mb']:.0f} | {result['verdict']} |")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
