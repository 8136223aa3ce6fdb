"""The wheels of a lock, downloaded on the gateway's side into a cache the install step mounts read-only.

The image's install step then runs with no network at all (`unshare --net`), from these files only, and
pip checks every file against the lock's hashes (`--require-hashes`): a cached file that was changed is
refused at install, so the cache needs no trust. Downloading here rather than inside the container also
means the build container never sees the index's credentials or the host's CA bundle.

pip runs isolated from the machine's configuration (no pip.conf, no PIP_* variables): only the lock's
exact files, from PACKAGE_INDEX_URL, for the lock's target (Python and platform), wheels only.
"""
import fcntl
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings

from releases.builds.buildah import BuildFailure

log = logging.getLogger(__name__)
_PASSED = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy")


class IndexUnavailable(Exception):
    """The package index could not be reached: an operational failure (retryable)."""


def platform_tags(target: str) -> list[str]:
    """pip's --platform values for uv's target name ("x86_64-manylinux_2_28"): every manylinux it admits."""
    match = re.fullmatch(r"(\w+)-manylinux_2_(\d+)", target)
    if match is None:
        raise BuildFailure(f"DEPENDENCY_LOCK_PLATFORM {target!r} is not an <arch>-manylinux_2_<n> target")
    arch, glibc = match.group(1), int(match.group(2))
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(glibc, 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    return tags + [f"{name}_{arch}" for minor, name in legacy.items() if glibc >= minor]


def download(lock_content: str, python_version: str, timeout: float) -> Path:
    """The cache directory, holding (at least) every wheel the lock names."""
    cache = Path(settings.BUILD_WHEEL_CACHE_DIR)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gateway-wheels-") as tmp:
        lock_file = Path(tmp) / "requirements.lock.txt"
        lock_file.write_text(lock_content)
        args = [sys.executable, "-m", "pip", "download", "--quiet", "--no-input", "--disable-pip-version-check",
                "--isolated", "--index-url", settings.PACKAGE_INDEX_URL, "--no-deps", "--only-binary", ":all:",
                "--require-hashes", "--implementation", "cp", "--python-version",
                ".".join(python_version.split(".")[:2]), "-d", str(cache), "-r", str(lock_file)]
        for tag in platform_tags(settings.DEPENDENCY_LOCK_PLATFORM):
            args += ["--platform", tag]
        cert = os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE")
        if cert:
            args += ["--cert", cert]
        env = {name: os.environ[name] for name in _PASSED if name in os.environ}
        env.update(HOME=tmp, PATH="/usr/bin:/bin", PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1")
        with open(cache / ".lock", "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)  # two builds never write the same file at once
            try:
                proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, check=False)
            except subprocess.TimeoutExpired:
                raise BuildFailure(f"downloading the locked wheels did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        detail = proc.stderr.strip()[-2000:]
        log.error("pip download of the lock failed (exit %s): %s", proc.returncode, detail)
        if "Could not find a version" in detail or "THESE PACKAGES DO NOT MATCH THE HASHES" in detail:
            raise BuildFailure("the package index does not serve the locked wheels with the locked hashes; "
                               "see the build log")
        raise IndexUnavailable("The locked wheels could not be downloaded from PACKAGE_INDEX_URL; the build can be "
                               "retried.")
    return cache
