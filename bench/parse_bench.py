#!/usr/bin/env python
"""Benchmark the environment-file reader on ordinary and hostile inputs of up to 1 MiB.

    .venv/bin/python bench/parse_bench.py [--runs 5]

Each input is at most MLFLOW_MAX_FILE_BYTES (1 MiB), the fetch step's cap per file. For
each: the median wall time of `parse_environment`, its peak Python allocation
(tracemalloc), and what the reader concluded (dependencies, errors). Needs no database.
Prints a Markdown table.
"""
import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from releases.scanning.envparse import parse_environment  # noqa: E402

MIB = 1024 * 1024


def fill(line: str, limit: int = MIB) -> str:
    return line * (limit // len(line))


MLFLOW_MODEL = {
    "MLmodel": "flavors:\n  python_function: {}\n",
    "conda.yaml": "channels:\n- conda-forge\ndependencies:\n- python=3.11.7\n- pip<=24.0\n- pip:\n"
                  "  - mlflow==3.17.2\n  - scikit-learn==1.5.0\n  - pandas==2.2.2\nname: mlflow-env\n",
    "python_env.yaml": "python: 3.11.7\nbuild_dependencies:\n- pip==24.0\n- setuptools==69.0.3\n- wheel\n"
                       "dependencies:\n- -r requirements.txt\n",
    "requirements.txt": "mlflow==3.17.2\nscikit-learn==1.5.0\npandas==2.2.2\n",
}

CASES = {
    "MLflow model, 4 files": MLFLOW_MODEL,
    "requirements.txt, 300 pins": {"requirements.txt": "".join(f"package-{i}==1.{i}.0\n" for i in range(300))},
    "1 MiB of pins (cap 1000)": {"requirements.txt": "".join(f"p{i}==1.0\n" for i in range(MIB // 10))[:MIB]},
    "1 MiB of invalid lines": {"requirements.txt": fill("this is not a requirement ===\n")},
    "1 MiB of comments": {"requirements.txt": fill("# a comment that pip skips, as the gateway does\n")},
    "1 MiB of continuations": {"requirements.txt": fill("a\\\n")},
    "1 MiB single marker line": {"requirements.txt": "x==1; " + " and ".join(["os_name=='a'"] * (MIB // 17))},
    "1 MiB pip list in conda.yaml": {"conda.yaml": "dependencies:\n- pip:\n" + fill("  - pkg==1.0\n")},
    "1 MiB nesting": {"python_env.yaml": "dependencies: " + "[" * (MIB // 2) + "]" * (MIB // 2)},
    "1 MiB alias fan-out": {"conda.yaml": "x: &p {pip: [" + ", ".join(f"p{i}==1" for i in range(3000))
                            + "]}\ndependencies: [" + ", ".join(["*p"] * ((MIB - 40000) // 4)) + "]\n"},
    "1 MiB of mapping keys": {"conda.yaml": "".join(f"key{i}: v\n" for i in range(MIB // 12))},
}


def measure(files: dict, runs: int) -> tuple[float, float, object]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        parsed = parse_environment(files)
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    parse_environment(files)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak / MIB, parsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("| input | size | median | peak alloc | dependencies | errors | first error |")
    print("|---|---|---|---|---|---|---|")
    for name, files in CASES.items():
        size = sum(len(text.encode()) for text in files.values())
        seconds, peak, parsed = measure(files, args.runs)
        first = parsed.errors[0].message[:60] if parsed.errors else ""
        print(f"| {name} | {size / 1024:.0f} KiB | {seconds * 1000:.1f} ms | {peak:.1f} MiB | "
              f"{len(parsed.dependencies)} | {len(parsed.errors)} | {first} |")


if __name__ == "__main__":
    main()
