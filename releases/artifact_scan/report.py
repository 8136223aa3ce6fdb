"""The scan's result: one FileReport per file (inner files of archives included), and a summary.

A file's verdict is the worst of its findings. "Could not read" is a finding of
its own (UNREADABLE), never an empty list: a later policy blocks it by default.
"""
from dataclasses import asdict, dataclass, field

from .vocabulary import CLEAN, DANGEROUS, EXPECTED, UNKNOWN, UNREADABLE

# worst first: the order verdicts are compared in
SEVERITY_ORDER = (DANGEROUS, UNREADABLE, UNKNOWN, EXPECTED, CLEAN)


@dataclass
class Finding:
    kind: str             # import | call | build | extension | persistent_id | unresolved | keras_layer | unreadable
    #                       | code | code_call | code_import (pyfunc_code: a rebuilt function, what its code reaches)
    name: str             # what is imported or called, or what could not be read
    classification: str   # dangerous | expected | unknown | unreadable
    reason: str
    offset: int = -1      # byte offset in the (decompressed) file, -1 when it does not apply
    count: int = 1
    args: str = ""


@dataclass
class FileReport:
    path: str             # relative; an archive member is "outer.zip!inner/file.pkl"
    size: int = 0         # bytes read (the whole file for top-level files)
    sha256: str = ""      # of the whole file as stored; "" for members of archives
    format: str = ""      # pickle, joblib, zip, pytorch-zip, keras, hdf5, gzip, ..., data, text
    findings: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def verdict(self) -> str:
        seen = {f.classification for f in self.findings}
        for level in SEVERITY_ORDER[:-1]:
            if level in seen:
                return level
        return CLEAN

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def unreadable(self, reason: str, offset: int = -1) -> None:
        where = f" at byte {offset}" if offset >= 0 else ""
        self.add(Finding("unreadable", self.path, UNREADABLE, f"{self.path}: {reason}{where}", offset))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = self.verdict
        return data


@dataclass
class ScanReport:
    files: list = field(default_factory=list)
    flavors: tuple = ()
    total_bytes: int = 0

    def to_dict(self) -> dict:
        return {"flavors": list(self.flavors), "total_bytes": self.total_bytes,
                "files": [f.to_dict() for f in self.files], "summary": summarize(self)}


def summarize(report: ScanReport) -> dict:
    """One summary for the release: the overall verdict, files per verdict, and the worst findings."""
    by_verdict = {level: [] for level in SEVERITY_ORDER}
    for file in report.files:
        by_verdict[file.verdict].append(file.path)
    overall = next((level for level in SEVERITY_ORDER if by_verdict[level]), CLEAN)
    worst = [f"{file.path}: {finding.classification} {finding.kind} {finding.name} ({finding.reason})"
             for file in report.files for finding in file.findings
             if finding.classification in (DANGEROUS, UNREADABLE)]
    unknown = sorted({finding.name for file in report.files for finding in file.findings
                      if finding.classification == UNKNOWN})
    return {
        "verdict": overall,
        "files": len(report.files),
        "files_by_verdict": {level: paths for level, paths in by_verdict.items() if paths},
        "blocking": worst[:100],
        "unknown_names": unknown[:200],
        "total_bytes": report.total_bytes,
    }
