#!/usr/bin/env python
"""Lock time of an MLflow scikit-learn model's requirements, cold and with a warm uv cache (goal: warm ≤ 2 s).

    .venv/bin/python bench/lock_time.py [--runs 5]

Hermetic: a local PEP 503 index on loopback (tests/package_index.py) serves generated wheels in the
shape of the real closure of `mlflow==3.17.2` + `scikit-learn==1.5.0` — 110 packages, four levels deep,
three versions of each, and the compiled ones (numpy, scipy, pandas, pyarrow, scikit-learn…) with a
wheel per CPython version and platform, so the lock carries as many hashes as PyPI's would. The model's
files are those MLflow writes for a sklearn model (requirements.txt pins, python_env.yaml with pinned
build dependencies and `-r requirements.txt`). Each run is `releases.locking.service.make_lock`, the fetch
step's call: reading the files, `uv pip compile --generate-hashes --no-build`, reading the lock back.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "b" * 50)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from releases.locking import service  # noqa: E402
from tests.package_index import Package, package_index  # noqa: E402

DECLARED = {"mlflow": "3.17.2", "cloudpickle": "3.1.1", "numpy": "2.2.6", "pandas": "2.3.1", "psutil": "7.0.0",
            "scikit-learn": "1.5.0", "scipy": "1.15.3"}
BUILD = {"pip": "25.1", "setuptools": "80.9.0", "wheel": "0.45.1"}
COMPILED = {"numpy", "scipy", "pandas", "scikit-learn", "pyarrow", "psutil", "sqlalchemy", "matplotlib",
            "pillow", "kiwisolver", "contourpy", "markupsafe", "greenlet", "pydantic-core", "grpcio", "protobuf"}
PLATFORM_TAGS = tuple(f"cp{py}-cp{py}-{plat}" for py in ("310", "311", "312", "313")
                      for plat in ("manylinux_2_17_x86_64", "manylinux_2_28_aarch64", "musllinux_1_2_x86_64",
                                   "macosx_11_0_arm64", "macosx_10_13_x86_64", "win_amd64"))
LEVEL1 = ["mlflow-skinny", "mlflow-tracing", "flask", "alembic", "docker", "graphene", "gunicorn", "matplotlib",
          "pyarrow", "sqlalchemy", "fastapi", "uvicorn", "huey", "markdown", "jinja2", "cryptography", "pillow"]
LEVEL2 = ["click", "cachetools", "databricks-sdk", "gitpython", "importlib-metadata", "opentelemetry-api",
          "opentelemetry-sdk", "packaging", "protobuf", "pydantic", "pyyaml", "requests", "sqlparse",
          "typing-extensions", "blinker", "itsdangerous", "werkzeug", "markupsafe", "mako", "urllib3",
          "graphql-core", "graphql-relay", "contourpy", "cycler", "fonttools", "kiwisolver", "pyparsing",
          "python-dateutil", "greenlet", "starlette", "h11", "cffi", "threadpoolctl", "joblib", "pytz", "tzdata"]
LEVEL3 = ["certifi", "charset-normalizer", "idna", "six", "zipp", "smmap", "gitdb", "pycparser", "annotated-types",
          "pydantic-core", "typing-inspection", "anyio", "sniffio", "google-auth", "rsa", "pyasn1", "pyasn1-modules",
          "deprecated", "wrapt", "opentelemetry-semantic-conventions", "grpcio", "googleapis-common-protos",
          "exceptiongroup", "colorama", "aniso8601", "numexpr", "bottleneck", "platformdirs", "filelock",
          "distlib", "tomli", "iniconfig", "pluggy", "mdurl", "markdown-it-py", "pygments", "rich", "shellingham",
          "typer", "wcwidth", "prompt-toolkit", "decorator", "jsonschema", "attrs", "referencing", "rpds-py",
          "jsonschema-specifications", "websockets", "httptools", "uvloop"]


def closure() -> list[Package]:
    """Three versions of every package; requirements are ranges, as real metadata has them."""
    children = {"mlflow": LEVEL1 + ["numpy", "pandas", "scikit-learn", "scipy", "cloudpickle", "psutil"]}
    for i, name in enumerate(LEVEL1):
        children[name] = [LEVEL2[(i * 2 + k) % len(LEVEL2)] for k in range(3)]
    for i, name in enumerate(LEVEL2):
        children[name] = [LEVEL3[(i + k) % len(LEVEL3)] for k in range(2)]
    children["scikit-learn"] = ["numpy", "scipy", "joblib", "threadpoolctl"]
    children["pandas"] = ["numpy", "python-dateutil", "pytz", "tzdata"]
    children["scipy"] = ["numpy"]
    pins = {**DECLARED, **BUILD}
    names = sorted({*children, *LEVEL1, *LEVEL2, *LEVEL3, *DECLARED, *BUILD})
    packages = []
    for name in names:
        versions = [pins[name]] if name in pins else []
        versions += [f"{major}.{minor}.0" for major, minor in ((1, 0), (1, 5), (2, 0))][:3 - len(versions)]
        tags = PLATFORM_TAGS if name in COMPILED else ("py3-none-any",)
        for version in versions:
            packages.append(Package(name, version, [f"{c}>=1.0" if c not in pins else c
                                                    for c in children.get(name, ())], tags=tags))
    return packages


def model_files() -> dict[str, str]:
    requirements = "".join(f"{name}=={version}\n" for name, version in DECLARED.items())
    python_env = ("python: 3.11.13\nbuild_dependencies:\n" + "".join(f"- {n}=={v}\n" for n, v in BUILD.items())
                  + "dependencies:\n- -r requirements.txt\n")
    return {"MLmodel": "flavors:\n  python_function: {}\n  sklearn: {}\n", "requirements.txt": requirements,
            "python_env.yaml": python_env}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    packages = closure()
    with tempfile.TemporaryDirectory(prefix="lock-bench-") as tmp, \
            package_index(packages, Path(tmp) / "built") as (url, index):
        settings.PACKAGE_INDEX_URL, settings.DEPENDENCY_LOCK_CACHE_DIR = url, Path(tmp) / "uv-cache"
        rows = []
        plan = [("cold cache", 600)] + [(f"warm #{n}", 600) for n in range(1, args.runs + 1)] + [
            (f"warm, pages revalidated #{n}", 0) for n in range(1, args.runs + 1)]
        for name, max_age in plan:
            if max_age != index.page_max_age:  # a new cache, primed with pages that say "revalidate every time"
                index.page_max_age, settings.DEPENDENCY_LOCK_CACHE_DIR = max_age, Path(tmp) / "uv-cache-revalidate"
                service.make_lock(model_files(), "require")
            asked = len(index.requests)
            started = time.perf_counter()
            lock = service.make_lock(model_files(), "require")
            took = time.perf_counter() - started
            if not lock.resolved:
                raise SystemExit(f"not resolved: {lock.message}")
            rows.append((name, took, lock.package_count, lock.content.count("--hash="), len(lock.content),
                         len(index.requests) - asked))
    print(f"{lock.uv_version}; {len({p.name for p in packages})} projects, {len(packages)} releases served; "
          f"python {lock.python_version}, {lock.platform}\n")
    print("| run | seconds | packages in lock | hashes | lock bytes | index requests |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, took, count, hashes, size, asked in rows:
        print(f"| {name} | {took:.2f} | {count} | {hashes} | {size:,} | {asked} |")
    for label, prefix in (("warm (pages fresh)", "warm #"), ("warm (every page revalidated)", "warm, pages")):
        times = [r[1] for r in rows if r[0].startswith(prefix)]
        print(f"\n{label}: median {statistics.median(times):.2f} s, max {max(times):.2f} s (goal ≤ 2 s)")


if __name__ == "__main__":
    main()
