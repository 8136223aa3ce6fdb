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
    """Runs in the child: import, do the work (none for a baseline), print JSON."""
    if mode in ("scan", "scan-baseline"):
        from releases.artifact_scan import scan_files, summarize
    import hashlib

    if mode.endswith("baseline"):
        print(json.dumps({"seconds": 0.0, "result": "imports only"}))
        return
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
    print(json.dumps({"seconds": time.perf_counter() - started, "result": result}))


OTHER = {  # tool -> (imports, the scan of P setting `res`)
    "picklescan": ("from picklescan.scanner import scan_file_path",
                   "r = scan_file_path(P); res = ('issues', r.issues_count, 'error', r.scan_err)"),
    "fickling": ("import fickling", "res = ('likely safe', fickling.is_likely_safe(P))"),
    "modelscan": ("from modelscan.modelscan import ModelScan",
                  "out = ModelScan().scan(P); res = ('issues', len(out['issues']), 'errors', len(out['errors']))"),
}


def other_child(tool: str, baseline: bool = False) -> str:
    imports, call = OTHER[tool]
    return (
        f"import json, sys, time\n{imports}\n"
        "P = sys.argv[1]\n"
        "t = time.perf_counter()\n"
        "try:\n"
        f"    {'res = None' if baseline else call}\n"
        "except Exception as e:\n"
        "    res = type(e).__name__ + ': ' + str(e)[:80]\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'result': str(res)[:60]}))\n"
    )


def measure(cmd: list, path: Path) -> dict:
    """Run `cmd` in a child; its own peak RSS comes from wait4 (that child's rusage, no other's)."""
    drop_cache(path)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()  # not communicate(): it would reap the child
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss / 1024
    if proc.returncode != 0 or not out.strip():
        return {"seconds": float("nan"), "peak_mb": peak, "result": (err.strip().splitlines() or ["failed"])[-1][:60]}
    return {**json.loads(out.strip().splitlines()[-1]), "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--compare", default=None, help="a python with picklescan, fickling, modelscan")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child and args.child[0] == "make":
        return print(json.dumps({k: str(v) for k, v in make_files(Path(args.child[1]), args.mb).items()}))
    if args.child:
        return child(*args.child)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-artifact-scan-") as tmp:
        # made in a child: this process stays small, and a forked child's peak RSS starts from its size
        made = subprocess.run([sys.executable, __file__, "--mb", str(args.mb), "--child", "make", tmp],
                              capture_output=True, text=True, check=True, cwd=ROOT)
        files = {k: Path(v) for k, v in json.loads(made.stdout.strip().splitlines()[-1]).items()}
        for kind, path in files.items():
            size = path.stat().st_size / 1024 / 1024
            me = [sys.executable, __file__, "--child"]
            runs = {"read+sha256": (me + ["read", str(path)], me + ["read-baseline", str(path)]),
                    "artifact_scan": (me + ["scan", str(path)], me + ["scan-baseline", str(path)])}
            if args.compare:
                for tool in OTHER:
                    runs[tool] = ([args.compare, "-c", other_child(tool), str(path)],
                                  [args.compare, "-c", other_child(tool, baseline=True), str(path)])
            for name, (cmd, baseline_cmd) in runs.items():
                r, base = measure(cmd, path), measure(baseline_cmd, path)
                rate = size / r["seconds"] if r["seconds"] else 0
                rows.append((kind, f"{size:.0f}", name, r["seconds"], rate, r["peak_mb"],
                             r["peak_mb"] - base["peak_mb"], r["result"]))
    print("| file | MB | tool | seconds | MB/s | peak RSS (MB) | over its imports (MB) | result |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for kind, size, name, seconds, rate, peak, extra, result in rows:
        print(f"| {kind} | {size} | {name} | {seconds:.2f} | {rate:.0f} | {peak:.0f} | {extra:.0f} | {result} |")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
