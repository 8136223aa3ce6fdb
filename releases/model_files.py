"""Download every file of a model version from MLflow, bounded, and scan each for code that runs on load.

What it guarantees:
- The whole version is listed first (recursively, at most MODEL_MAX_FILES entries), and nothing is
  downloaded when one file is over MODEL_MAX_FILE_BYTES or all of them over MODEL_MAX_TOTAL_BYTES:
  the refusal names the file and the limit.
- Files are downloaded one by one, streamed to a temporary directory that is removed whatever
  happens, each capped again while it streams (the store may hold more than it listed) and
  hashed as it arrives; no new read starts after MODEL_FILES_DEADLINE_SECONDS.
- Each file is scanned with releases.artifact_scan under the flavors its MLmodel names (none
  named, or an MLmodel that cannot be read: no flavor's names are expected). A file the scan
  cannot finish (malformed, a limit, the deadline) gets an "unreadable" finding, never none.
- MLflow failing or too slow is MlflowUnavailable (the step's operational FAILED, retryable).

The result is plain data (ScannedFile); the fetch step stores it as ModelFile rows and the dry
run decides on it without storing anything.
"""
import hashlib
import logging
import posixpath
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from releases.artifact_scan import Limits, flavors_of, scan_files, summarize
from releases.artifact_scan.report import SEVERITY_ORDER
from releases.mlflow_source import InvalidModelFiles, MlflowSource, MlflowUnavailable, ResolvedModel, _unavailable
from releases.models.model_files import MAX_FINDINGS, MAX_TEXT, ModelFile

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024
MAX_RELEASE_FINDINGS = 20_000  # stored over all of a release's files (each also capped: MAX_FINDINGS)


class ModelFilesRefused(InvalidModelFiles):
    """The model's files are over a limit, or named in a way no file system should see: nothing is scanned."""


class _ScanDeadline(Exception):
    pass


@dataclass
class ScannedFile:
    path: str
    size: int
    sha256: str
    format: str
    verdict: str
    findings: list = field(default_factory=list)
    findings_omitted: int = 0

    def as_dict(self) -> dict:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "format": self.format,
                "verdict": self.verdict, "findings": self.findings, "findings_omitted": self.findings_omitted}


@dataclass
class _Listed:
    path: str
    size: int | None


class _Clock:
    def __init__(self, seconds: float, setting: str = "MODEL_FILES_DEADLINE_SECONDS"):
        self.seconds, self.setting = seconds, setting
        self.ends = time.monotonic() + seconds

    def over(self) -> bool:
        return time.monotonic() > self.ends

    def check(self, doing: str) -> None:
        if self.over():
            raise MlflowUnavailable(f"MLflow did not deliver the model's files within {self.seconds:g} s "
                                    f"({self.setting}, while {doing}); the step can be retried.")


def fetch_and_scan(source: MlflowSource, model: ResolvedModel, environment_files=(),
                   deadline_seconds: int | None = None) -> list[ScannedFile]:
    """Every file of `model`, downloaded and scanned (see the module's guarantees). `environment_files`: the
    FetchedFiles the dependency scan reads; each must be the very bytes downloaded here, which the build ships.
    `deadline_seconds`: instead of MODEL_FILES_DEADLINE_SECONDS (the dry run answers within a web request)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    clock = (_Clock(deadline_seconds, "DRY_RUN_MODEL_FILES_DEADLINE_SECONDS") if deadline_seconds
             else _Clock(settings.MODEL_FILES_DEADLINE_SECONDS))
    try:
        repo = get_artifact_repository(model.download_uri, tracking_uri=source.tracking_uri)
    except Exception as exc:  # an artifact location MLflow cannot open here
        raise _unavailable(exc, "opening the model's artifact store") from None
    listed = _list_all(repo, clock)
    _check_limits(listed)
    with tempfile.TemporaryDirectory(prefix="gateway-model-") as tmp:
        root, digests, used = Path(tmp), {}, 0
        for entry in listed:
            cap = min(settings.MODEL_MAX_FILE_BYTES, settings.MODEL_MAX_TOTAL_BYTES - used)
            digests[entry.path] = _download(repo, entry, root, cap, clock)
            used += digests[entry.path][0]
        _same_environment_files(environment_files, digests)
        return _bounded(_scan(root, digests, clock))


def _same_environment_files(environment_files, digests: dict[str, tuple[int, str]]) -> None:
    """The dependency scan and the build must see one requirements.txt: a file replaced in MLflow between the
    two downloads is refused (the release can be retried once the model stops changing)."""
    for fetched in environment_files:
        if digests.get(fetched.name, (0, ""))[1] != fetched.sha256:
            raise InvalidModelFiles(f"{fetched.name} changed in MLflow while the release was being fetched (the "
                                    "copy scanned for dependencies is not the one that would ship); retry it.")


# --- listing -------------------------------------------------------------------------------------

def _list_all(repo, clock: _Clock) -> list[_Listed]:
    found, pending = [], [None]
    while pending:
        directory = pending.pop()
        clock.check("listing the model's files")
        try:
            infos = repo.list_artifacts(directory)
        except Exception as exc:  # MlflowException, requests' errors, OSError: the store did not answer
            raise _unavailable(exc, "listing the model's files") from None
        for info in infos or []:
            path = _safe_path(info.path)
            if info.is_dir:
                pending.append(path)
            else:
                found.append(_Listed(path, info.file_size))
            if len(found) + len(pending) > settings.MODEL_MAX_FILES:
                raise ModelFilesRefused(f"The model has more than {settings.MODEL_MAX_FILES} files "
                                        "(MODEL_MAX_FILES); nothing was downloaded.")
    return sorted(found, key=lambda entry: entry.path)


def _safe_path(path: str) -> str:
    """A relative path inside the model, or a refusal: a listing naming `..` or `/x` would write elsewhere."""
    normal = posixpath.normpath(path or "")
    if (not path or path.startswith("/") or normal == ".." or normal.startswith("../") or "\\" in path
            or "\x00" in path):
        raise ModelFilesRefused(f"The model's artifact store lists a file named {path[:200]!r}, which is not a "
                                "relative path inside the model.")
    return normal


def _check_limits(listed: list[_Listed]) -> None:
    per_file, total = settings.MODEL_MAX_FILE_BYTES, settings.MODEL_MAX_TOTAL_BYTES
    for entry in listed:
        if entry.size is not None and entry.size > per_file:
            raise ModelFilesRefused(f"{entry.path} is {entry.size} bytes, over the {per_file}-byte limit per model "
                                    "file (MODEL_MAX_FILE_BYTES); nothing was downloaded.")
    listed_total = sum(entry.size or 0 for entry in listed)
    if listed_total > total:
        raise ModelFilesRefused(f"The model's {len(listed)} files are {listed_total} bytes together, over the "
                                f"{total}-byte limit (MODEL_MAX_TOTAL_BYTES); nothing was downloaded.")


# --- download --------------------------------------------------------------------------------------

def _download(repo, entry: _Listed, root: Path, cap: int, clock: _Clock) -> tuple[int, str]:
    """Stream one file to root/path, at most `cap` bytes (what is left of either limit); (size, sha256)."""
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    clock.check(f"downloading {entry.path}")
    target = root / entry.path
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if isinstance(repo, HttpArtifactRepository):  # the tracking server's artifact proxy: streamed here
            return _stream(repo, entry, target, cap, clock)
        # Another store (S3, a file system...): MLflow's own download, bounded between files and checked after.
        local = Path(repo.download_artifacts(entry.path, str(root)))
    except (ModelFilesRefused, MlflowUnavailable):
        raise
    except Exception as exc:
        raise _unavailable(exc, f"downloading {entry.path}") from None
    return _hash_file(local, entry.path, cap)


def _stream(repo, entry: _Listed, target: Path, cap: int, clock: _Clock) -> tuple[int, str]:
    from mlflow.utils.rest_utils import augmented_raise_for_status, http_request

    # _host_creds: the tracking server's address and credentials, as MLflow's own download uses them.
    response = http_request(repo._host_creds, posixpath.join("/", entry.path), "GET", stream=True,
                            timeout=settings.MLFLOW_REQUEST_TIMEOUT_SECONDS)
    try:
        augmented_raise_for_status(response)
        sha, size = hashlib.sha256(), 0
        with target.open("wb") as out:
            # read1: what one socket read brings (at most CHUNK), so a server that drips bytes still meets the
            # deadline check; iter_content would wait for a full chunk.
            for chunk in iter(lambda: response.raw.read1(CHUNK), b""):
                size += len(chunk)
                if size > cap:
                    raise _over(entry.path, cap, "while it was downloaded (its listed size was smaller)")
                clock.check(f"downloading {entry.path}")
                sha.update(chunk)
                out.write(chunk)
    finally:
        response.close()
    return size, sha.hexdigest()


def _over(name: str, cap: int, when: str) -> ModelFilesRefused:
    which = ("per model file (MODEL_MAX_FILE_BYTES)" if cap == settings.MODEL_MAX_FILE_BYTES
             else "left of the model's total (MODEL_MAX_TOTAL_BYTES)")
    return ModelFilesRefused(f"{name} went past the {cap} bytes {which} {when}; nothing was scanned.")


def _hash_file(path: Path, name: str, cap: int) -> tuple[int, str]:
    if path.stat().st_size > cap:
        raise _over(name, cap, "when it was downloaded")
    size = path.stat().st_size
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            sha.update(block)
    return size, sha.hexdigest()


# --- scan ------------------------------------------------------------------------------------------

class _Timed:
    """A file object whose reads stop once the scan's time is up (the scanner reads with read() only)."""

    def __init__(self, raw, clock: _Clock):
        self.raw, self.clock = raw, clock

    def read(self, n: int = -1) -> bytes:
        if self.clock.over():
            raise _ScanDeadline()
        return self.raw.read(n)


def _scan(root: Path, digests: dict[str, tuple[int, str]], clock: _Clock) -> list[ScannedFile]:
    flavors = flavors_of(root / "MLmodel") if "MLmodel" in digests else None
    flavors = flavors or ()  # no MLmodel flavor we know: expect nothing but the base names
    limits = Limits(max_file_bytes=settings.MODEL_MAX_FILE_BYTES, max_total_bytes=settings.MODEL_MAX_TOTAL_BYTES)
    return [_scan_one(root, path, size, sha256, flavors, limits, clock)
            for path, (size, sha256) in sorted(digests.items())]


def _scan_one(root, path, size, sha256, flavors, limits, clock) -> ScannedFile:
    try:
        with (root / path).open("rb") as fh:
            report = scan_files([(path, _Timed(fh, clock))], flavors=flavors, limits=limits)
    except _ScanDeadline:
        return _unreadable(path, size, sha256, f"{path}: the scan did not finish within {clock.seconds:g} s "
                                                f"({clock.setting})")
    top = report.files[0]
    if top.sha256 != sha256:  # the file changed on this disk between download and scan
        return _unreadable(path, size, sha256, f"{path}: changed between download and scan")
    findings = [_finding(report_file, finding) for report_file in report.files for finding in report_file.findings]
    findings.sort(key=lambda f: SEVERITY_ORDER.index(f["classification"]))
    return ScannedFile(path=path, size=size, sha256=sha256, format=top.format[:128],
                       verdict=summarize(report)["verdict"], findings=findings[:MAX_FINDINGS],
                       findings_omitted=max(len(findings) - MAX_FINDINGS, 0))


def _bounded(scanned: list[ScannedFile]) -> list[ScannedFile]:
    """At most MAX_RELEASE_FINDINGS findings kept over all files (worst files first); a file whose findings
    were dropped keeps its verdict, which the decision still judges (releases.scanning.model_policy)."""
    left = MAX_RELEASE_FINDINGS
    for f in sorted(scanned, key=lambda f: SEVERITY_ORDER.index(f.verdict)):
        kept = f.findings[:max(left, 0)]
        f.findings_omitted += len(f.findings) - len(kept)
        f.findings, left = kept, left - len(kept)
    return scanned


def _finding(report_file, finding) -> dict:
    member = report_file.path.partition("!")[2]
    return {"member": member[:MAX_TEXT], "kind": finding.kind, "name": finding.name[:MAX_TEXT],
            "classification": finding.classification, "reason": finding.reason[:MAX_TEXT],
            "offset": finding.offset, "count": finding.count, "args": finding.args[:MAX_TEXT]}


def _unreadable(path: str, size: int, sha256: str, reason: str) -> ScannedFile:
    return ScannedFile(path=path, size=size, sha256=sha256, format="", verdict="unreadable", findings=[
        {"member": "", "kind": "unreadable", "name": path[:MAX_TEXT], "classification": "unreadable",
         "reason": reason[:MAX_TEXT], "offset": -1, "count": 1, "args": ""}])


# --- storing -------------------------------------------------------------------------------------

def store(release_id: int, scanned: list[ScannedFile]) -> None:
    """The scanned files as the release's ModelFile rows (inside the fetch step's transaction)."""
    ModelFile.objects.bulk_create(ModelFile(release_id=release_id, **f.as_dict()) for f in scanned)


def overview(scanned: list[ScannedFile]) -> dict:
    """Files per verdict, for the fetch step's event and message (the rows have the rest)."""
    counts = Counter(f.verdict for f in scanned)
    return {"files": len(scanned), "bytes": sum(f.size for f in scanned),
            "verdicts": {v: counts[v] for v in SEVERITY_ORDER if v in counts}}
