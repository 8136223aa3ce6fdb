"""The dependency images (base + one lock's venv) kept in buildah's storage, bounded in number.

Each distinct (base, lock, recipe) makes one image of a few hundred MB; a gateway that runs for months
would keep every one. The builder records when each was last used (BUILDAH_ROOT/dependency-images.json)
and, after committing a new one, removes all but the BUILD_DEPENDENCY_IMAGES_KEPT most recently used.
An image a running build still uses cannot be removed (buildah refuses); it goes at the next prune.
"""
import fcntl
import json
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

import releases.builds.buildah as buildah

PREFIX = "gateway-deps:"  # localhost/gateway-deps:<key>
REPOSITORY = "localhost/" + PREFIX.rstrip(":")


def _index() -> Path:
    return Path(settings.BUILDAH_ROOT) / "dependency-images.json"


@contextmanager
def _locked_index():
    path = _index()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            used = json.loads(path.read_text())
        except (OSError, ValueError):
            used = {}
        yield used if isinstance(used, dict) else {}
        path.write_text(json.dumps(used, sort_keys=True))


def touch(image: str) -> None:
    with _locked_index() as used:
        used[image] = time.time()


def stored() -> list[str]:
    """The dependency images in local storage."""
    proc = buildah.call(["images", "--format", "{{.Name}}:{{.Tag}}"], 60)
    return sorted({line.strip() for line in proc.stdout.split() if line.startswith(REPOSITORY + ":")})


def prune(keep: int | None = None) -> list[str]:
    """Remove all but the `keep` most recently used dependency images; the ones removed."""
    keep = settings.BUILD_DEPENDENCY_IMAGES_KEPT if keep is None else keep
    with _locked_index() as used:
        images = sorted(stored(), key=lambda image: used.get(image, 0.0), reverse=True)
        removed = [image for image in images[keep:] if buildah.call(["rmi", image], 120).returncode == 0]
        for image in removed:
            used.pop(image, None)
    return removed
