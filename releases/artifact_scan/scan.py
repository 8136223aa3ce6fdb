"""Entry points: scan a model's files, given as (relative path, binary stream) pairs or a directory.

Files are read once, streamed, each capped (`Limits.max_file_bytes`) and all
together capped (`Limits.max_total_bytes`); size and SHA-256 of every stored
file are recorded, including files the scanner could not read. The fetch
step (releases/model_files.py) hands each downloaded file to scan_files.
"""
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import yaml

from .formats import Context, Limits, far_superblocks, scan_content
from .report import FileReport, ScanReport
from .streams import Budget, LimitExceeded, Source
from .vocabulary import KNOWN_FLAVORS

MAX_MLMODEL_BYTES = 1024 * 1024
# MLmodel flavor keys -> the vocabulary's flavors (pyfunc models of other flavors load through the flavor)
FLAVOR_KEYS = {"sklearn": "sklearn", "python_function": "python_function", "pytorch": "pytorch",
               "keras": "keras", "tensorflow": "keras", "xgboost": "xgboost", "lightgbm": "lightgbm"}


def scan_files(files: Iterable[tuple[str, BinaryIO]], flavors=None, limits: Limits | None = None) -> ScanReport:
    """Scan each (relative path, stream). `flavors`: MLmodel flavor names; None = every known flavor."""
    limits = limits or Limits()
    chosen = tuple(sorted(flavors)) if flavors is not None else KNOWN_FLAVORS
    report = ScanReport(flavors=chosen)
    for path, stream in files:
        reports = []
        top = FileReport(path=path)
        reports.append(top)
        left = limits.max_total_bytes - report.total_bytes
        if left <= 0:
            top.unreadable(f"not read: the model's files are over the {limits.max_total_bytes}-byte total limit")
            report.files.extend(reports)
            continue
        cap = min(limits.max_file_bytes, left)
        source = Source(stream, cap, what=path)
        ctx = Context(flavors=chosen, limits=limits, budget=Budget(limits.max_expanded_bytes), reports=reports)
        try:
            scan_content(top, source, ctx)
            source.drain()
            far_superblocks(top, source)
        except LimitExceeded as exc:
            which = "per-file" if cap == limits.max_file_bytes else "total"
            top.unreadable(f"over the {which} limit of {cap} bytes (not read further)", exc.offset)
        top.size, top.sha256 = source.count, source.sha256
        report.total_bytes += source.count
        report.files.extend(reports)
    return report


def scan_directory(root, flavors=None, limits: Limits | None = None) -> ScanReport:
    """Scan every file under `root` (a downloaded model). Flavors come from its MLmodel unless given.
    Symbolic links are not followed: each is reported unreadable (a link could point anywhere)."""
    root = Path(root)
    if flavors is None:
        flavors = flavors_of(root / "MLmodel")
    report = scan_files(_open_all(root), flavors, limits)
    for link in _links(root):
        bad = FileReport(path=link, format="symlink")
        bad.unreadable("a symbolic link: not followed")
        report.files.append(bad)
    return report


def flavors_of(mlmodel: Path):
    """The vocabulary flavors named by an MLmodel file; None (= all) when there is none or it is unreadable."""
    try:
        with mlmodel.open("rb") as fh:
            data = yaml.safe_load(fh.read(MAX_MLMODEL_BYTES))
    except (OSError, yaml.YAMLError):
        return None
    keys = (data or {}).get("flavors") if isinstance(data, dict) else None
    if not isinstance(keys, dict):
        return None
    return tuple(sorted({FLAVOR_KEYS[k] for k in keys if k in FLAVOR_KEYS}))


def _open_all(root: Path):
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            with path.open("rb") as fh:
                yield path.relative_to(root).as_posix(), fh


def _links(root: Path):
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            if path.is_symlink():
                yield path.relative_to(root).as_posix()
