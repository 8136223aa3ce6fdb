#!/usr/bin/env python
"""What scanning a large model file costs, against reading the same file from disk.

    .venv/bin/python bench/artifact_scan.py [--mb 500] [--dir /var/tmp] [--compare /path/to/other/venv/python]

Writes each file on the fly (streamed to disk, deleted afterwards):
  - pickle:  a dict of large numpy float32 arrays, pickle protocol 4 (one big BINBYTES per array);
  - joblib:  the same object with joblib.dump (raw array bytes in the middle of the stream);
  - joblib-z: joblib.dump(compress=3), zlib-compressed (the scan decompresses); arrays are random;
  - small-ops: a pickle of many small objects (a list of floats, ints and strings, about mb/10 MB):
    the opcode-bound worst case.
Each measurement runs in a fresh child process with the file's pages dropped from the page cache
first (posix_fadvise DONTNEED on that file only), and reports wall time and the child's peak RSS
above its RSS after imports. "read+sha256" is the floor: reading the file in 1 MiB chunks and
hashing it, which the scan also does. With --compare, the same files go through picklescan,
fickling and modelscan in that interpreter (install them in a scratch venv). Prints a Markdown table.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_files(directory: Path, mb: int) -> dict:
    import pickle

    import joblib
    import numpy as np

    arrays = max(1, mb // 100)
    per_array = mb * 1024 * 1024 // arrays // 4
    rng = np.random.default_rng(0)  # random weights: compression cannot shrink them away
    obj = {f"layer{i}": rng.random(per_array, dtype=np.float32) for i in range(arrays)}
    files = {}
    files["pickle"] = directory / "model.pkl"
    with files["pickle"].open("wb") as fh:
        pickle.dump(obj, fh, protocol=4)
    files["joblib"] = directory / "model.joblib"
    joblib.dump(obj, files["joblib"])
    files["joblib-z"] = directory / "model.joblib.z"
    joblib.dump(obj, files["joblib-z"], compress=3)
    del obj
    items = max(1, mb * 1024 * 1024 // 10 // 12)
    small = [(float(i), i, f"t{i % 1000}") for i in range(items // 3)]
    files["small-ops"] = directory / "small.pkl"
    with files["small-ops"].open("wb") as fh:
        pickle.dump(small, fh, protocol=4)
    return files


def drop_cache(path: Path) -> None:
    with path.open("rb") as fh:
        os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def child(mode: str, path: str) -> None:
    """Runs in the child: import, note RSS, do the work, print JSON."""
    if mode == "scan":
        from releases.artifact_scan import scan_files, summarize
    elif mode == "read":
        import hashlib
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if mode == "scan":
        with open(path, "rb") as fh:
            report = scan_files([(Path(path).name, fh)], flavors=("sklearn",))
        result = summarize(report)["verdict"]
    else:
        sha = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                sha.update(chunk)
        result = sha.hexdigest()[:12]
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": elapsed, "peak_mb": peak / 1024, "extra_mb": (peak - base) / 1024,
                      "result": result}))


OTHER = {
    "picklescan": "from picklescan.scanner import scan_file_path as s; r = s(P); res = (r.issues_count, r.scan_err)",
    "fickling": "import fickling; res = fickling.is_likely_safe(P)",
    "modelscan": ("from modelscan.modelscan import ModelScan; m = ModelScan(); out = m.scan(P);"
                  " res = (len(out['issues']), len(out['errors']))"),
}


def other_child(tool: str, path: str) -> str:
    return (
        "import json, resource, time, sys\n"
        "P = sys.argv[1]\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = time.perf_counter()\n"
        "try:\n"
        f"    {OTHER[tool]}\n"
        "except Exception as e:\n"
        "    res = type(e).__name__ + ': ' + str(e)[:80]\n"
        "el = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'seconds': el, 'peak_mb': peak / 1024, 'extra_mb': (peak - base) / 1024,"
        " 'result': str(res)[:60]}))\n"
    )


def measure(cmd: list, path: Path) -> dict:
    drop_cache(path)
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    if out.returncode != 0:
        return {"seconds": float("nan"), "peak_mb": float("nan"), "extra_mb": float("nan"),
                "result": (out.stderr.strip().splitlines() or ["failed"])[-1][:60]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--compare", default=None, help="a python with picklescan, fickling, modelscan")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-artifact-scan-") as tmp:
        files = make_files(Path(tmp), args.mb)
        for kind, path in files.items():
            size = path.stat().st_size / 1024 / 1024
            runs = {"read+sha256": measure([sys.executable, __file__, "--child", "read", str(path)], path),
                    "artifact_scan": measure([sys.executable, __file__, "--child", "scan", str(path)], path)}
            if args.compare:
                for tool in OTHER:
                    runs[tool] = measure([args.compare, "-c", other_child(tool, str(path)), str(path)], path)
            for name, r in runs.items():
                rows.append((kind, f"{size:.0f}", name, r["seconds"], size / r["seconds"] if r["seconds"] else 0,
                             r["extra_mb"], r["result"]))
    print("| file | MB | tool | seconds | MB/s | peak RSS over baseline (MB) | result |")
    print("|---|---:|---|---:|---:|---:|---|")
    for kind, size, name, seconds, rate, extra, result in rows:
        print(f"| {kind} | {size} | {name} | {seconds:.2f} | {rate:.0f} | {extra:.0f} | {result} |")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
