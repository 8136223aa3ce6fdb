#!/usr/bin/env python
"""The gateway's serving image against MLflow's own `generate-dockerfile` recipe, on the same local base.

    .venv/bin/python bench/serving_image.py [--rounds 2] [--requests 200] [--warmup 20] [--keep]

Runs as root (buildah, `unshare --net`), with buildah, docker-registry and mmdebstrap installed and network
access to PyPI and Debian's mirror. Everything it makes lives in one temporary directory (a registry on a
free loopback port, buildah's storage with the overlay driver, the lock and wheel caches) that is deleted at the
end unless --keep; the base's root file system tarball is the shared one of `manage.py build_base_image`
(~/.cache/model-release-gateway/base; the base image is set up before anything is timed).

The model is the demo's `fraud-detector` (devtools.demo_models: a scikit-learn LogisticRegression trained on
`training_data`, requirements `serving_requirements()`, input example of three rows), saved with
`mlflow.sklearn.save_model`. A second version (retrained on another sample, same requirements and hence the same
lock) is the "new model version".

Both recipes start FROM the same base: the one `releases.builds.base_image.ensure_published` makes (Debian 12
minbase + python3 + python3-venv, by digest, pushed to the local registry).

Ours (`build_ours`) follows releases.builds.local.build_image without a Release or Build row: the lock is
`releases.locking.service.make_lock(files, "require")` from the model's MLmodel, requirements.txt,
python_env.yaml and conda.yaml (made before timing: the fetch step makes it, not the build); then
`local._deps_image` itself (wheels downloaded on the host into BUILD_WHEEL_CACHE_DIR, installed by pip in
`unshare --net`, committed as localhost/gateway-deps:<key> and reused), then the same buildah calls as
build_image: from --pull-never, copy the model to /model and the lock, `config` with
`releases.builds.serving.config_args` (labels of the same names, bench values), commit --timestamp 0, push.
Not included: the download from MLflow (the model directory is local) and the smoke test (measured apart).

MLflow's (`build_mlflow`): `mlflow models generate-dockerfile -m MODEL_DIR -d OUT --env-manager local` (timed: it
is part of the recipe), then the generated Dockerfile is patched (`patch_dockerfile`), exactly:
  1. `FROM python:3.11.7-slim` becomes `FROM <our base by digest>` (pulled from the local registry,
     `--tls-verify=false`);
  2. right after FROM: `USER root` (our base's config says `User 10001`; the python image MLflow expects runs
     as root, and its RUN steps use apt-get), `RUN python3 -m venv /opt/venv` and
     `ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/sbin:/sbin:$PATH` (Debian's Python is externally managed and
     has no pip; the sbin directories are on the python image's PATH but not on our base's, and MLflow's
     entrypoint starts `nginx`, which is in /usr/sbin);
  3. right after those: `ARG PIP_CERT` and `ENV PIP_CERT=$PIP_CERT`, with the host's CA file (the environment's
     PIP_CERT, else /etc/ssl/certs/ca-certificates.crt) mounted by
     `buildah bud -v CA:/host-ca.pem:ro --build-arg PIP_CERT=/host-ca.pem` (the file is not in the image).
Nothing else changes: it still apt-get installs nginx, `pip install mlflow==…`, installs the model's
requirements with `_install_pyfunc_deps(env_manager='local')`, and its ENTRYPOINT is MLflow's
`container._serve('local')` (nginx on :8080 in front of the scoring server, MLFLOW_MODELS_WORKERS defaults to
the CPU count). Built with `buildah bud --isolation chroot --layers=false` (no layer cache; every build starts
with no pip cache), then pushed to the same registry.

Cold build: ours with no dependency image and an EMPTY wheel cache (a new directory per round; the wheel
download is also shown apart, so the cold figure with a warm wheel cache is cold minus download); MLflow's with
no layer or pip cache. Both include the push to the local registry. The base is in buildah's storage for both.
Rebuild (ours only): the second model version, same lock, so the dependency image and wheels are reused.

Size: the sum of the image's layers' uncompressed sizes (`diff-size` in buildah's overlay-layers/layers.json,
following the top layer's parents); the pushed size is the sum of the manifest's (gzip-compressed) layer sizes.

Serving: each image is started the same way, as its config says (Entrypoint + Cmd, its User, Env and
WorkingDir) with `buildah run --isolation chroot`, inside `unshare --net` (a network namespace with loopback
only, like releases/builds/smoke_probe.py) beside a client in the same namespace, so both use :8080. Start to
ready: from starting `buildah run` to the first `/ping` 200 (polled every 50 ms). Then --warmup POSTs and
--requests POSTs of ONE row (`dataframe_split`) to `/invocations`, one at a time, a new connection each;
p50/p90 of those. Rounds are interleaved: per round ours cold, MLflow cold, ours served, MLflow served, ours
rebuilt. Medians over rounds, ranges in brackets.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAME = "fraud-detector"
PREFIX = "bench-serving-"
PORT = 8080  # both: our SERVING_PORT (Cmd) and the nginx of MLflow's image (fixed in its nginx.conf)
ENV_FILES = ("MLmodel", "requirements.txt", "python_env.yaml", "conda.yaml")
GOALS = {"rebuild": 0.2, "ready": 0.5, "p50": 1.1}


# --- The probe: runs inside `unshare --net`, standard library only -------------------------------------------

def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def probe_main(argv: list[str]) -> int:
    import importlib.util  # smoke_probe is standard library only; its package imports Django

    spec = importlib.util.spec_from_file_location("smoke_probe", ROOT / "releases" / "builds" / "smoke_probe.py")
    smoke_probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(smoke_probe)

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--log", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    body = Path(args.input).read_bytes()
    smoke_probe._bring_up_loopback()
    base = f"http://127.0.0.1:{args.port}"
    result: dict = {}
    with open(args.log, "ab") as log:
        started = time.monotonic()
        server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        try:
            while _get(f"{base}/ping") != 200:
                if server.poll() is not None or time.monotonic() - started > args.timeout:
                    result["error"] = f"not ready (server exit code {server.poll()})"
                    break
                time.sleep(0.05)
            else:
                result["ready_seconds"] = time.monotonic() - started
                for _ in range(args.warmup):
                    _post(f"{base}/invocations", body)
                latencies, statuses = [], set()
                for _ in range(args.requests):
                    sent = time.perf_counter()
                    statuses.add(_post(f"{base}/invocations", body))
                    latencies.append((time.perf_counter() - sent) * 1000)
                result.update(latencies_ms=latencies, statuses=sorted(statuses))
        finally:
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            smoke_probe._stop_everything_else_in_this_network()
            server.wait()
    print(json.dumps(result))
    return 0


# --- The bench ---------------------------------------------------------------------------------------------

def setup_django(work: Path, registry_address: str) -> None:
    os.environ.update(DEBUG="true", DJANGO_SETTINGS_MODULE="gateway_project.settings",
                      GATEWAY_VAR_DIR=str(work / "var"), DATABASE_URL=f"sqlite:///{work / 'var' / 'bench.sqlite3'}",
                      BUILD_REGISTRY=f"{registry_address}/models", BUILD_REGISTRY_TLS_VERIFY="false",
                      BUILDAH_ROOT=str(work / "buildah"), BUILDAH_STORAGE_DRIVER="overlay",
                      BUILD_BASE_RECORD=str(work / "base-image.json"), PACKAGE_INDEX_URL="https://pypi.org/simple",
                      DEPENDENCY_LOCK_CACHE_DIR=str(work / "uv-cache"), MLFLOW_DISABLE_TELEMETRY="true",
                      BUILD_STEP_TIMEOUT_SECONDS="1800")
    os.environ.pop("BUILD_BASE_IMAGE", None)  # set below, once the base is pushed
    import django

    django.setup()


def save_model(into: Path, seed: int) -> None:
    """The demo's fraud-detector (a new version: another training sample, the same requirements)."""
    import logging
    import warnings

    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    from devtools.demo_models import serving_requirements, training_data

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    features, labels = training_data(seed=seed)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(into), input_example=features.head(3),
                                  pip_requirements=serving_requirements())


def one_row() -> bytes:
    from devtools.demo_models import training_data

    features, _labels = training_data()
    row = features.head(1)
    return json.dumps({"dataframe_split": {"columns": list(row.columns),
                                           "data": row.astype(float).values.tolist()}}).encode()


def make_lock(model_dir: Path):
    from releases.locking import service

    files = {name: (model_dir / name).read_text() for name in ENV_FILES if (model_dir / name).is_file()}
    lock = service.make_lock(files, "require")
    if not lock.resolved:
        raise SystemExit(f"the lock could not be made: {lock.message}")
    return lock


def bh(args: list[str], timeout: float = 3600) -> str:
    """One buildah call on the bench's storage (releases.builds.buildah.run: the project's flags)."""
    from releases.builds import buildah

    return buildah.run(args, time.monotonic() + timeout)


def bh_quiet(args: list[str]) -> None:
    from releases.builds import buildah

    buildah.call(args, 600)


def build_ours(model_dir: Path, lock, base: str, tag: str, wheel_dir: Path) -> dict:
    """releases.builds.local.build_image's steps, without a Release/Build row, MLflow download or smoke test."""
    from django.conf import settings

    from releases.builds import local, serving, wheels
    from releases.locking import shipping

    settings.BUILD_WHEEL_CACHE_DIR = wheel_dir
    timings = {"download": 0.0}
    real_download = wheels.download

    def timed_download(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real_download(*args, **kwargs)
        finally:
            timings["download"] += time.perf_counter() - started

    name = f"{PREFIX}ours-{tag}"
    reference = f"{settings.BUILD_REGISTRY}/{NAME}:ours-{tag}"
    bh_quiet(["rm", name])
    wheels.download = timed_download
    started = time.perf_counter()
    try:
        deadline = time.monotonic() + 3600
        deps = local._deps_image(base, lock, deadline)
        with tempfile.TemporaryDirectory(prefix=PREFIX) as tmp:
            bh(["from", "--name", name, "--pull-never", deps])
            bh(["copy", "--chown", "0:0", name, str(model_dir), serving.MODEL_DIR])
            path = Path(tmp) / shipping.LOCK_FILE
            path.write_bytes(lock.content.encode())
            bh(["copy", "--chown", "0:0", name, str(path), shipping.LOCK_PATH_IN_IMAGE])
            labels = {"org.opencontainers.image.title": NAME, "org.opencontainers.image.version": tag,
                      "org.opencontainers.image.description": f"MLflow model {NAME} version {tag}, served by "
                                                              "MLflow's scoring server",
                      "gateway.model.name": NAME, "gateway.model.version": tag, "gateway.release.id": "0",
                      "gateway.scan.report": "", "gateway.policy.version": "", "gateway.environment": "bench",
                      "gateway.recipe": serving.RECIPE_VERSION, shipping.LOCK_LABEL: shipping.derived_digest(lock)}
            base_name, _, base_digest = base.partition("@")
            labels.update({"org.opencontainers.image.base.name": base_name,
                           "org.opencontainers.image.base.digest": base_digest})
            bh(["config", *serving.config_args(labels), name])
            image = bh(["commit", "--quiet", "--timestamp", "0", name, f"localhost/{name}"])
            digest_file = Path(tmp) / "digest"
            bh(["push", "--tls-verify=false", "--digestfile", str(digest_file), f"localhost/{name}",
                f"docker://{reference}"])
            digest = digest_file.read_text().strip()
    finally:
        wheels.download = real_download
        bh_quiet(["rm", name])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "download": timings["download"], "image": f"localhost/{name}", "image_id": image,
            "pushed": f"{reference.rsplit(':', 1)[0]}@{digest}", "deps": deps}


def patch_dockerfile(text: str, base: str) -> str:
    """The three changes the docstring lists, and nothing else."""
    lines = text.splitlines()
    froms = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    if len(froms) != 1:
        raise SystemExit(f"expected one FROM in MLflow's Dockerfile, found {len(froms)}")
    at = froms[0]
    lines[at] = f"FROM {base}"
    lines[at + 1:at + 1] = ["USER root", "RUN python3 -m venv /opt/venv",
                            "ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/sbin:/sbin:$PATH",
                            "ARG PIP_CERT", "ENV PIP_CERT=$PIP_CERT"]
    return "\n".join(lines) + "\n"


def build_mlflow(model_dir: Path, base: str, tag: str, work: Path, ca_file: str) -> dict:
    from django.conf import settings

    from releases.builds import buildah

    out = work / f"mlflow-dockerfile-{tag}"
    shutil.rmtree(out, ignore_errors=True)
    name = f"localhost/{PREFIX}mlflow-{tag}"
    reference = f"{settings.BUILD_REGISTRY}/{NAME}:mlflow-{tag}"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlflow", "models", "generate-dockerfile", "-m", str(model_dir),
                    "-d", str(out), "--env-manager", "local"], check=True, capture_output=True,
                   env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    original = (out / "Dockerfile").read_text()
    (out / "Dockerfile").write_text(patch_dockerfile(original, base))
    generated = time.perf_counter() - started
    log = work / f"mlflow-build-{tag}.log"
    with open(log, "w") as fh:
        proc = subprocess.run(buildah.command(
            ["bud", "--isolation", "chroot", "--layers=false", "--tls-verify=false", "-v", f"{ca_file}:/host-ca.pem:ro",
             "--build-arg", "PIP_CERT=/host-ca.pem", "-f", str(out / "Dockerfile"), "-t", name, str(out)]),
            stdout=fh, stderr=subprocess.STDOUT, check=False, env={**os.environ, "BUILDAH_ISOLATION": "chroot"})
    if proc.returncode != 0:
        raise SystemExit(f"buildah bud of MLflow's Dockerfile failed (exit {proc.returncode}); see {log}")
    with tempfile.TemporaryDirectory(prefix=PREFIX) as tmp:
        digest_file = Path(tmp) / "digest"
        bh(["push", "--tls-verify=false", "--digestfile", str(digest_file), name, f"docker://{reference}"])
        digest = digest_file.read_text().strip()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "generate": generated, "image": name,
            "pushed": f"{reference.rsplit(':', 1)[0]}@{digest}"}


def sizes(image: str, pushed: str) -> tuple[int, int, int]:
    """(uncompressed bytes, pushed bytes, layers): layers.json's diff-size along the top layer's parents, and the
    pushed manifest's layer sizes."""
    from django.conf import settings

    from releases import registry

    storage = settings.BUILDAH_ROOT / f"storage-{settings.BUILDAH_STORAGE_DRIVER}"
    inspected = json.loads(bh(["inspect", "--type", "image", image]))
    top = inspected["FromImageID"]
    images = json.loads((storage / "overlay-images" / "images.json").read_text())
    layers = {layer["id"]: layer for layer in json.loads((storage / "overlay-layers" / "layers.json").read_text())}
    layer = next(entry["layer"] for entry in images if entry["id"] == top)
    total = count = 0
    while layer:
        total += layers[layer].get("diff-size", 0)
        count += 1
        layer = layers[layer].get("parent", "")
    repository, _, digest = pushed.partition("@")
    document = json.loads(registry.get_manifest(repository, digest)[0])
    compressed = sum(entry["size"] for entry in document.get("layers", []))
    return total, compressed, count


def serve(image: str, tag: str, work: Path, args) -> dict:
    """Start `image` as its config says (buildah run, chroot) in its own network namespace; ready time, latency."""
    from releases.builds import buildah

    name = f"{PREFIX}run-{tag}"
    bh_quiet(["rm", name])
    try:
        bh(["from", "--name", name, "--pull-never", image])
        config = buildah.image_config(name, time.monotonic() + 60)
        command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
        body = work / "one-row.json"
        body.write_bytes(one_row())
        log = work / f"serve-{tag}.log"
        probe = ["unshare", "--net", "--", sys.executable, str(Path(__file__).resolve()), "_probe", "--port",
                 str(PORT), "--input", str(body), "--warmup", str(args.warmup), "--requests", str(args.requests),
                 "--log", str(log), "--", *buildah.command(["run", "--isolation", "chroot", name, "--", *command])]
        proc = subprocess.run(probe, capture_output=True, text=True, timeout=900, check=False, cwd=work,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(ROOT)})
    finally:
        bh_quiet(["rm", name])
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {"error": proc.stderr[-2000:]}
    if "error" in result or result.get("statuses") != [200]:
        raise SystemExit(f"serving {image} failed: {result.get('error') or result.get('statuses')}; see {log}\n"
                         f"{proc.stderr[-2000:]}")
    latencies = sorted(result["latencies_ms"])
    return {"ready": result["ready_seconds"], "p50": statistics.median(latencies),
            "p90": latencies[int(round(0.9 * (len(latencies) - 1)))]}


def summary(values: list[float], fmt: str) -> str:
    if not values:
        return "—"
    middle = fmt.format(statistics.median(values))
    return middle if len(values) == 1 else f"{middle} [{fmt.format(min(values))}–{fmt.format(max(values))}]"


def main() -> None:
    if sys.argv[1:2] == ["_probe"]:
        sys.exit(probe_main(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--requests", type=int, default=200, help="measured /invocations requests per image")
    parser.add_argument("--warmup", type=int, default=20, help="/invocations requests before measuring")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (buildah root, registry)")
    args = parser.parse_args()
    ca_file = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    from devtools.registry import Registry

    reg = Registry(work / "registry").start()
    rows: dict[str, list] = {}
    failed = True
    try:
        setup_django(work, reg.address)
        from django.conf import settings

        from releases.builds import base_image

        print(f"work directory {work}; registry {reg.address}; buildah storage driver "
              f"{settings.BUILDAH_STORAGE_DRIVER}", flush=True)
        base = base_image.ensure_published().reference
        settings.BUILD_BASE_IMAGE = base
        print(f"base {base}", flush=True)
        models = {version: work / f"model-v{version}" for version in (1, 2)}
        for version, path in models.items():
            save_model(path, seed=7 if version == 1 else 8)
        lock = make_lock(models[1])
        if make_lock(models[2]).content != lock.content:
            raise SystemExit("the two model versions do not give the same lock")
        print(f"lock: {lock.package_count} packages, python {lock.python_version}", flush=True)
        for round_number in range(1, args.rounds + 1):
            tag = f"r{round_number}"
            note = rows.setdefault("notes", [])
            ours = build_ours(models[1], lock, base, f"{tag}-v1", work / f"wheels-{tag}")
            print(f"[{tag}] ours cold build {ours['seconds']:.1f} s (wheel download {ours['download']:.1f} s)",
                  flush=True)
            theirs = build_mlflow(models[1], base, tag, work, ca_file)
            print(f"[{tag}] mlflow cold build {theirs['seconds']:.1f} s (generate-dockerfile "
                  f"{theirs['generate']:.1f} s)", flush=True)
            ours_size, theirs_size = sizes(ours["image"], ours["pushed"]), sizes(theirs["image"], theirs["pushed"])
            ours_serve = serve(ours["image"], f"ours-{tag}", work, args)
            print(f"[{tag}] ours served: {ours_serve}", flush=True)
            theirs_serve = serve(theirs["image"], f"mlflow-{tag}", work, args)
            print(f"[{tag}] mlflow served: {theirs_serve}", flush=True)
            rebuild = build_ours(models[2], lock, base, f"{tag}-v2", work / f"wheels-{tag}")
            print(f"[{tag}] ours rebuild (new version) {rebuild['seconds']:.1f} s", flush=True)
            for key, value in {"ours_build": ours["seconds"], "ours_download": ours["download"],
                               "ours_cold_warm_wheels": ours["seconds"] - ours["download"],
                               "mlflow_build": theirs["seconds"], "ours_rebuild": rebuild["seconds"],
                               "ours_size": ours_size[0], "mlflow_size": theirs_size[0],
                               "ours_pushed": ours_size[1], "mlflow_pushed": theirs_size[1],
                               "ours_layers": ours_size[2], "mlflow_layers": theirs_size[2],
                               "ours_ready": ours_serve["ready"], "mlflow_ready": theirs_serve["ready"],
                               "ours_p50": ours_serve["p50"], "mlflow_p50": theirs_serve["p50"],
                               "ours_p90": ours_serve["p90"], "mlflow_p90": theirs_serve["p90"],
                               "rebuild_ratio": rebuild["seconds"] / ours["seconds"],
                               "ready_ratio": ours_serve["ready"] / theirs_serve["ready"],
                               "p50_ratio": ours_serve["p50"] / theirs_serve["p50"]}.items():
                rows.setdefault(key, []).append(value)
            note.append(tag)
            # a flat storage for the next round: no dependency image, no images of this round
            for image in (ours["image"], theirs["image"], rebuild["image"], ours["deps"]):
                bh_quiet(["rmi", "--force", image])
        report(rows, args)
        failed = False
    finally:
        if failed:  # the build and server logs outlive the work directory
            logs = Path(tempfile.mkdtemp(prefix="serving-bench-logs-"))
            for path in work.glob("*.log"):
                shutil.copy(path, logs)
            print(f"logs kept in {logs}", file=sys.stderr)
        cleanup(work, reg, args.keep)


def report(rows: dict, args) -> None:
    mb = "{:.0f}"
    rounds = len(rows["ours_build"])
    print(f"\n{rounds} interleaved round(s); {args.requests} one-row /invocations requests after {args.warmup} "
          "warm-up ones; median [range]\n")
    print("| | gateway image | MLflow generate-dockerfile | ratio of medians, ours/MLflow |")
    print("|---|---:|---:|---:|")

    def line(label, ours, theirs, fmt, scale=1.0):
        o = [v / scale for v in rows[ours]]
        t = [v / scale for v in rows[theirs]] if theirs else []
        ratio = f"{statistics.median(o) / statistics.median(t):.2f}×" if t else ""
        print(f"| {label} | {summary(o, fmt)} | {summary(t, fmt)} | {ratio} |")

    line("image size, uncompressed layers (MB)", "ours_size", "mlflow_size", mb, 1e6)
    line("pushed size, gzip layers (MB)", "ours_pushed", "mlflow_pushed", mb, 1e6)
    line("layers (base included)", "ours_layers", "mlflow_layers", "{:.0f}")
    line("cold build incl. push (s)", "ours_build", "mlflow_build", "{:.1f}")
    print(f"| — of which wheel download, ours (s) | {summary(rows['ours_download'], '{:.1f}')} | | |")
    print(f"| cold build with warm wheel cache, ours (s) | {summary(rows['ours_cold_warm_wheels'], '{:.1f}')} | | |")
    print(f"| rebuild, new model version (s) | {summary(rows['ours_rebuild'], '{:.1f}')} | — | |")
    line("start to /ping 200 (s)", "ours_ready", "mlflow_ready", "{:.1f}")
    line("/invocations p50, 1 row (ms)", "ours_p50", "mlflow_p50", "{:.2f}")
    line("/invocations p90, 1 row (ms)", "ours_p90", "mlflow_p90", "{:.2f}")
    print("\nGoals, on the median of the per-round ratios (each round's images measured side by side):")
    for key, label, goal in (("rebuild_ratio", "rebuild / our cold build", GOALS["rebuild"]),
                             ("ready_ratio", "start-to-ready, ours / MLflow's", GOALS["ready"]),
                             ("p50_ratio", "p50 latency, ours / MLflow's", GOALS["p50"])):
        values = rows[key]
        verdict = "met" if statistics.median(values) <= goal else "missed"
        print(f"{label}: {summary(values, '{:.2f}')} (goal ≤ {goal}): {verdict}")


def cleanup(work: Path, reg, keep: bool) -> None:
    try:
        from releases.builds import buildah

        listed = buildah.call(["containers", "--format", "{{.ContainerName}}"], 120).stdout.split()
        for name in listed:
            if name.startswith(PREFIX) or name.startswith("gateway-"):
                buildah.call(["rm", name], 120)
    except Exception as exc:  # Django never set up, or buildah gone: nothing of ours in storage then
        print(f"cleanup: containers: {exc}", file=sys.stderr)
    reg.stop()
    if keep:
        print(f"kept {work}")
        return
    try:
        from releases.builds import buildah

        buildah.call(["rmi", "--all", "--force"], 600)
    except Exception as exc:
        print(f"cleanup: images: {exc}", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    if work.exists():
        print(f"cleanup: could not delete all of {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
