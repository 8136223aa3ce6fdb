"""Import OSV records from a directory (any depth, YAML or JSON) or an OSV export zip.

Upserts by id and `modified`: a record older than or as old as the stored one
is left alone. Records are written in batches, each in one transaction, so an
advisory is never half-imported; a file that cannot be read or is not a valid
OSV record is reported on the sync row and skipped, and the sync goes on.

The source is the whole advisory database: stored advisories it no longer holds
(a demo set replaced by a real export, a record deleted upstream) are removed and
listed — unless a file could not be read, the source held no record, or more stored
records are absent than the source holds (a partial export, a subdirectory) without
`replace=True`: then absence proves nothing, and keeping a record fails closed.
"""
import json
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml
from django.db import transaction
from django.utils import timezone

from releases.models import Advisory, AdvisoryAlias, AdvisorySync, AffectedPackage
from releases.scanning import dpkg
from releases.scanning.matcher import prepare_listed
from releases.scanning.osv import ECOSYSTEM, OsvAdvisory, OsvError, parse_record

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILES = 500_000
MAX_ERRORS_KEPT = 200
MAX_REMOVED_LISTED = 20  # ids listed on the sync and by the command; the count is complete
BATCH = 500
_SUFFIXES = (".json", ".yaml", ".yml")
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SourceError(Exception):
    """The source as a whole cannot be read (missing, not a directory or zip)."""


def _directory_files(root: Path) -> list[tuple[str, Callable[[], bytes]]]:
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in _SUFFIXES and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))

    def reader(path: Path):
        def read() -> bytes:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise OsvError(f"file is larger than {MAX_FILE_BYTES} bytes")
            return path.read_bytes()
        return read

    return [(str(p.relative_to(root)), reader(p)) for p in paths]


def _zip_files(archive: zipfile.ZipFile) -> list[tuple[str, Callable[[], bytes]]]:
    members = [m for m in archive.infolist() if not m.is_dir() and m.filename.lower().endswith(_SUFFIXES)]
    if len(members) > MAX_FILES:
        raise SourceError(f"zip holds more than {MAX_FILES} records")

    def reader(member: zipfile.ZipInfo):
        def read() -> bytes:
            if member.file_size > MAX_FILE_BYTES:
                raise OsvError(f"member is larger than {MAX_FILE_BYTES} bytes")
            with archive.open(member) as fh:
                data = fh.read(MAX_FILE_BYTES + 1)  # the header's size can lie
            if len(data) > MAX_FILE_BYTES:
                raise OsvError(f"member is larger than {MAX_FILE_BYTES} bytes")
            return data
        return read

    return [(m.filename, reader(m)) for m in members]


def _decode(name: str, data: bytes):
    try:
        if name.lower().endswith(".json"):
            return json.loads(data)
        return yaml.load(data, Loader=_SAFE_LOADER)
    except (ValueError, yaml.YAMLError) as exc:
        raise OsvError(f"not valid {'JSON' if name.lower().endswith('.json') else 'YAML'}: "
                       f"{str(exc).splitlines()[0][:200]}") from None


class _Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total: int, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty() and total > 0
        self.last = 0.0

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < 0.1):
            return
        self.last = now
        width = 40
        filled = int(width * done / self.total)
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}")
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()


def _write_batch(batch: dict[str, OsvAdvisory], existing: dict, sync: AdvisorySync) -> None:
    ids = list(batch)
    with transaction.atomic():
        AffectedPackage.objects.filter(advisory_id__in=ids).delete()
        AdvisoryAlias.objects.filter(advisory_id__in=ids).delete()
        Advisory.objects.bulk_create(
            [Advisory(id=a.id, aliases=a.aliases, summary=a.summary, published=a.published, modified=a.modified,
                      withdrawn=a.withdrawn, severity_vectors=a.severity_vectors, cvss_score=a.cvss_score,
                      severity=a.level.value, references=a.references, synced_by=sync) for a in batch.values()],
            update_conflicts=True, unique_fields=["id"],
            update_fields=["aliases", "summary", "published", "modified", "withdrawn", "severity_vectors",
                           "cvss_score", "severity", "references", "synced_by"],
        )
        rows = []
        for advisory in batch.values():
            for entry in advisory.affected:
                ranges = [r.events for r in entry.ranges]
                if entry.ecosystem == ECOSYSTEM:
                    listed, outside = prepare_listed(ranges, entry.versions)
                else:  # Debian: dpkg versions are matched as published (releases.scanning.dpkg)
                    listed, outside = dpkg.listed(entry.versions), []
                rows.append(AffectedPackage(advisory_id=advisory.id, ecosystem=entry.ecosystem, name=entry.name,
                                            ranges=ranges, versions=entry.versions, listed_canonical=listed,
                                            versions_outside_ranges=outside, fixed_versions=entry.fixed_versions))
        AffectedPackage.objects.bulk_create(rows)
        AdvisoryAlias.objects.bulk_create(
            AdvisoryAlias(advisory_id=a.id, alias=alias) for a in batch.values() for alias in {a.id, *a.aliases}
        )
    for advisory in batch.values():
        if advisory.id in existing:
            sync.updated += 1
        else:
            sync.created += 1
        if advisory.withdrawn:
            sync.withdrawn += 1
        existing[advisory.id] = advisory.modified


def _files(source: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    if source.is_dir():
        return iter(_directory_files(source))
    if zipfile.is_zipfile(source):
        return iter(_zip_files(zipfile.ZipFile(source)))
    if not source.exists():
        raise SourceError(f"{source} does not exist")
    raise SourceError(f"{source} is neither a directory nor a zip file")


def sync_advisories(source: str | Path, progress_stream=None, replace: bool = False) -> AdvisorySync:
    """`replace`: the source is meant to be smaller than what is stored; remove whatever it lacks."""
    started = time.monotonic()
    source = Path(source)
    sync = AdvisorySync.objects.create(source=str(source))
    try:
        files = list(_files(source))
    except (SourceError, OSError, zipfile.BadZipFile) as exc:
        sync.errors = [{"file": str(source), "error": str(exc)}]
        return _finish(sync, started, AdvisorySync.Outcome.FAILED)

    existing = dict(Advisory.objects.values_list("id", "modified"))
    previous, seen = set(existing), set()
    progress = _Progress(len(files), progress_stream)
    batch: dict[str, OsvAdvisory] = {}
    for done, (name, read) in enumerate(files, start=1):
        sync.files_seen += 1
        try:
            advisory = parse_record(_decode(name, read()))
        except (OsvError, OSError, zipfile.BadZipFile, RuntimeError) as exc:
            sync.failed += 1
            if len(sync.errors) < MAX_ERRORS_KEPT:
                sync.errors.append({"file": name, "error": str(exc)[:300]})
            continue
        seen.add(advisory.id)
        stored = existing.get(advisory.id)
        queued = batch.get(advisory.id)
        if (stored is not None and stored >= advisory.modified) or (queued and queued.modified >= advisory.modified):
            sync.unchanged += 1
            continue
        batch[advisory.id] = advisory
        if len(batch) >= BATCH:
            _write_batch(batch, existing, sync)
            batch = {}
        progress.update(done)
    if batch:
        _write_batch(batch, existing, sync)
    progress.update(len(files), force=True)
    _remove_absent(sorted(previous - seen), len(seen), sync, replace)
    return _finish(sync, started, AdvisorySync.Outcome.SUCCEEDED)


def _remove_absent(absent: list[str], held: int, sync: AdvisorySync, replace: bool) -> None:
    """Delete stored advisories the source no longer holds (their ranges and aliases cascade)."""
    if not absent:
        return
    reason = _why_keep(len(absent), held, sync.failed, replace)
    if reason:  # keep them (still matched) rather than guess
        sync.absent_kept, sync.absent_kept_reason = len(absent), reason
        return
    with transaction.atomic():  # all or nothing, like a batch
        for start in range(0, len(absent), BATCH):  # under SQLite's bound-parameter limit
            Advisory.objects.filter(id__in=absent[start:start + BATCH]).delete()
    sync.removed, sync.removed_ids = len(absent), absent[:MAX_REMOVED_LISTED]


def _why_keep(absent: int, held: int, failed: int, replace: bool) -> str:
    if failed:
        return f"{failed} file(s) could not be read, and an absent advisory may be one of them"
    if not held:
        return "the source holds no advisory (a wrong path?)"
    if absent > held and not replace:
        return (f"the source holds {held} advisories but {absent} stored ones are absent from it (a partial "
                "source?); sync with --replace to remove them")
    return ""


def _finish(sync: AdvisorySync, started: float, outcome: str) -> AdvisorySync:
    sync.outcome = outcome
    sync.finished_at = timezone.now()
    sync.duration_seconds = round(time.monotonic() - started, 3)
    sync.save()
    return sync
