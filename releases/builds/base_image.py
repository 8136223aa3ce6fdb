"""The default base of serving images: Debian 12 minbase with Python, made here, pushed by digest.

`manage.py build_base_image` makes it without any registry outside this machine:
1. mmdebstrap (a Debian package) writes a root file system tarball: minbase, python3, python3-venv and
   ca-certificates, a non-root user `model` (uid 10001), no apt lists, no documentation but the copyright
   files. /usr is merged by mmdebstrap's `merged-usr` hook (Debian's `usr-is-merged` package), not by the
   `usrmerge` package that apt would otherwise pick for init-system-helpers: that one needs the full perl
   (about 50 MB of the 180) and is only a conversion tool for systems that are not merged yet.
   The tarball is cached outside the checkout (BUILD_BASE_CACHE_DIR, ~/.cache by default), keyed on the
   recipe below, so fresh clones on the same machine reuse it: it is made again only when the recipe changes
   (about two minutes and 135 MB, once).
2. buildah imports it, labels it with the Python it carries, commits it with a fixed timestamp (the same
   tarball gives the same image id), and pushes it to BUILD_REGISTRY.
3. The pushed digest is recorded (BUILD_BASE_RECORD) and printed: BUILD_BASE_IMAGE names it.

A build reads the base's Python from its label (PYTHON_LABEL), never from its name.
"""
import fcntl
import hashlib
import json
import logging
import os
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings

import releases.builds.buildah as buildah
from releases import registry

log = logging.getLogger(__name__)
PYTHON_LABEL = "gateway.base.python"
RECIPE_LABEL = "gateway.base.recipe"
USER = "model"
UID = 10001
REPOSITORY = "gateway-base"
# The recipe: change anything here and the key changes, so the cached tarball and the record are made again.
RECIPE = {
    "suite": "bookworm",
    "variant": "minbase",
    "include": ["python3", "python3-venv", "ca-certificates"],
    "hook_dirs": ["/usr/share/mmdebstrap/hooks/merged-usr"],  # shipped by the mmdebstrap package
    "dpkgopt": ["path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
                "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*",
                "path-exclude=/usr/share/locale/*"],
    "customize": [f'chroot "$1" useradd --uid {UID} --user-group --no-create-home --home-dir /nonexistent '
                  f'--shell /usr/sbin/nologin {USER}',
                  'rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*'],
    "source_date_epoch": 1700000000,
}
ROOTFS_TIMEOUT_SECONDS = 900


class BaseImageError(Exception):
    """The base image could not be made or pushed (the message says which step)."""


@dataclass(frozen=True)
class BaseImage:
    reference: str  # name@sha256:...
    python_version: str  # "3.11.2"
    key: str
    registry: str


def recipe_key() -> str:
    return hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()


def rootfs_path(key: str) -> Path:
    return Path(settings.BUILD_BASE_CACHE_DIR) / f"rootfs-{key[:32]}.tar"


def ensure_rootfs(key: str) -> Path:
    """The cached tarball, made by mmdebstrap if missing (one maker at a time: a file lock)."""
    path = rootfs_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return path
        log.info("making the base root file system with mmdebstrap (once per recipe): %s", path)
        partial = path.with_suffix(".partial.tar")
        args = ["mmdebstrap", f"--variant={RECIPE['variant']}", "--include=" + ",".join(RECIPE["include"])]
        args += [f"--hook-dir={hook_dir}" for hook_dir in RECIPE["hook_dirs"]]
        args += [f"--dpkgopt={opt}" for opt in RECIPE["dpkgopt"]]
        args += [f"--customize-hook={hook}" for hook in RECIPE["customize"]]
        args += [RECIPE["suite"], str(partial)]
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(RECIPE["source_date_epoch"])}
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=ROOTFS_TIMEOUT_SECONDS, env=env,
                                  check=False)
        except FileNotFoundError:
            raise BaseImageError("mmdebstrap is not installed (Debian package `mmdebstrap`).") from None
        except subprocess.TimeoutExpired:
            raise BaseImageError(f"mmdebstrap did not finish within {ROOTFS_TIMEOUT_SECONDS} s") from None
        if proc.returncode != 0:
            partial.unlink(missing_ok=True)
            raise BaseImageError(f"mmdebstrap failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
        partial.rename(path)  # whole or not at all: a killed run leaves no tarball that looks made
        return path


def read_record() -> BaseImage | None:
    try:
        data = json.loads(Path(settings.BUILD_BASE_RECORD).read_text())
        return BaseImage(**{k: str(data[k]) for k in ("reference", "python_version", "key", "registry")})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _still_pushed(record: BaseImage) -> bool:
    name, _, digest = record.reference.partition("@")
    try:
        registry.get_manifest(name, digest)
    except registry.RegistryError:
        return False
    return True


def ensure_published() -> BaseImage:
    """The base for this recipe in BUILD_REGISTRY: the recorded one if it is still there, else made and pushed."""
    if not settings.BUILD_REGISTRY:
        raise BaseImageError("BUILD_REGISTRY must be set: the base image is pushed there.")
    key = recipe_key()
    record = read_record()
    if record and record.key == key and record.registry == settings.BUILD_REGISTRY and _still_pushed(record):
        return record
    made = publish(ensure_rootfs(key), key)
    path = Path(settings.BUILD_BASE_RECORD)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(made), indent=2) + "\n")
    return made


def publish(rootfs: Path, key: str) -> BaseImage:
    """Import the tarball, label it with its Python, commit it reproducibly and push it; the pushed base."""
    deadline = time.monotonic() + ROOTFS_TIMEOUT_SECONDS
    name = f"gateway-base-work-{os.getpid()}"
    local = f"localhost/{REPOSITORY}:{key[:32]}"
    target = f"{settings.BUILD_REGISTRY.rstrip('/')}/{REPOSITORY}"
    buildah.call(["rm", name], 60)
    try:
        buildah.run(["from", "--name", name, "scratch"], deadline)
        buildah.run(["add", name, str(rootfs), "/"], deadline)
        python = buildah.run(["run", "--isolation", "chroot", name, "--", "python3", "-c",
                              "import platform; print(platform.python_version())"], deadline,
                             doing="reading the base's Python version")
        labels = {PYTHON_LABEL: python, RECIPE_LABEL: key, "org.opencontainers.image.title": REPOSITORY,
                  "org.opencontainers.image.description": "Debian 12 minbase with Python, made by build_base_image",
                  "org.opencontainers.image.base.name": f"debian:{RECIPE['suite']} (mmdebstrap {RECIPE['variant']})"}
        config = ["config", "--user", f"{UID}:{UID}", "--env", "PATH=/usr/local/bin:/usr/bin:/bin",
                  "--env", "LANG=C.UTF-8", "--workingdir", "/"]
        for label, value in labels.items():
            config += ["--label", f"{label}={value}"]
        buildah.run(config + [name], deadline)
        buildah.run(["commit", "--quiet", "--timestamp", "0", name, local], deadline)
        with tempfile.TemporaryDirectory() as tmp:
            digest_file = Path(tmp) / "digest"
            buildah.run(["push", buildah.tls_flag(), "--digestfile", str(digest_file), local,
                         f"docker://{target}:{key[:32]}"], deadline, doing="pushing the base image")
            digest = digest_file.read_text().strip()
    except buildah.BuildFailure as exc:
        raise BaseImageError(str(exc)) from None
    finally:
        buildah.call(["rm", name], 60)
    return BaseImage(reference=f"{target}@{digest}", python_version=python, key=key,
                     registry=settings.BUILD_REGISTRY)


def python_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])
