"""The scanned file list of a release (path, size, SHA-256 of every model file), and the check that a
directory about to be built holds exactly those bytes.

The build backends use it so that what ships is what was scanned: the local builder checks its
download against it (any changed, added or missing file fails the build, naming the file), and the
webhook and GitLab requests carry it, with its digest, for the CI system to do the same.
"""
import hashlib
import json
import os
from pathlib import Path

from releases.models import ModelFile

CHUNK = 1024 * 1024
NAMED_IN_REFUSAL = 3


class ManifestMismatch(Exception):
    """The files differ from the scanned ones; the message names them."""


NOTHING_SCANNED = ("the release has no scanned model files (fetched before model files were scanned, or never "
                   "fetched); request it again")


def manifest(release) -> list[dict]:
    return [{"path": path, "size": size, "sha256": sha256} for path, size, sha256 in
            ModelFile.objects.filter(release=release).order_by("path").values_list("path", "size", "sha256")]


def required(release) -> list[dict]:
    """The scanned list, or ManifestMismatch: no backend is asked to build what was never scanned."""
    files = manifest(release)
    if not files:
        raise ManifestMismatch(NOTHING_SCANNED)
    return files


def manifest_digest(files: list[dict]) -> str:
    """SHA-256 of the list as canonical JSON (sorted keys, no spaces): what a CI system recomputes."""
    return hashlib.sha256(json.dumps(files, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def verify(release, root: Path) -> None:
    """Raise ManifestMismatch unless `root` holds exactly the scanned files, byte for byte."""
    scanned = {f["path"]: f["sha256"] for f in required(release)}
    present = _digests(Path(root))
    problems = [f"{path} changed since it was scanned (SHA-256 {scanned[path][:12]}… scanned, "
                f"{present[path][:12]}… now)" for path in sorted(scanned.keys() & present.keys())
                if scanned[path] != present[path]]
    problems += [f"{path} is missing" for path in sorted(scanned.keys() - present.keys())]
    problems += [f"{path} was added after the scan" for path in sorted(present.keys() - scanned.keys())]
    if problems:
        more = f" (and {len(problems) - NAMED_IN_REFUSAL} more)" if len(problems) > NAMED_IN_REFUSAL else ""
        raise ManifestMismatch("the model's files in MLflow are not the ones scanned: "
                               + "; ".join(problems[:NAMED_IN_REFUSAL]) + more + "; not built")


def _digests(root: Path) -> dict[str, str]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():  # never followed: a link would ship whatever it points at
                found[relative] = "symbolic link"
            elif path.is_file():
                found[relative] = _sha256(path)
    return found


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            sha.update(block)
    return sha.hexdigest()
