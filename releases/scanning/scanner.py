"""The built-in scanner: match parsed dependencies against the advisory store.

Findings are per dependency and per vulnerability: records that describe the
same vulnerability (linked through their aliases, e.g. PYSEC-2021-142 and
GHSA-8q59-q68h-6hv4 are both CVE-2020-14343) become one finding, which takes the
highest severity any linked record gives.
"""
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from releases.scanning.envparse import Dependency, ParsedEnvironment
from releases.scanning.matcher import (
    CompiledAffected,
    parse_version,
    raw_version_affected,
    specifier_may_be_affected,
    version_affected,
)
from releases.scanning.severity import ORDER, RANK, Level, highest

SCANNER_NAME = "gateway-osv"
SCANNER_VERSION = "1.0"


@dataclass(frozen=True)
class AdvisoryInfo:
    id: str
    aliases: tuple[str, ...]
    summary: str
    score: float | None
    level: Level


class AdvisoryStore(Protocol):
    def snapshot(self) -> tuple[int, datetime] | None: ...
    def affected(self, names: set[str]) -> dict[str, list[CompiledAffected]]: ...
    def advisories_sharing(self, ids_and_aliases: set[str]) -> list[AdvisoryInfo]: ...


@dataclass
class FindingData:
    package: str
    version: str | None
    specifier: str
    ecosystem: str
    advisory_id: str
    aliases: list[str]
    summary: str
    severity: Level
    score: float | None
    fixed_versions: list[str]
    definite: bool
    source_file: str
    line: int

    def as_dict(self) -> dict:
        return {
            "package": self.package, "version": self.version, "specifier": self.specifier,
            "ecosystem": self.ecosystem, "advisory_id": self.advisory_id, "aliases": self.aliases,
            "summary": self.summary, "severity": self.severity.value, "score": self.score,
            "fixed_versions": self.fixed_versions, "definite": self.definite,
            "source_file": self.source_file, "line": self.line,
        }


@dataclass
class ScanResult:
    scanner: str
    scanner_version: str
    snapshot_id: int | None
    snapshot_at: datetime | None
    findings: list[FindingData]
    dependencies: list[Dependency]
    issues: list[dict]
    duration_ms: float
    raw_output: dict | None = None
    extra: dict = field(default_factory=dict)

    def counts(self, definite: bool = True) -> dict[str, int]:
        counts = {level.value: 0 for level in ORDER}
        for finding in self.findings:
            if finding.definite == definite:
                counts[finding.severity.value] += 1
        return counts


class EmptyAdvisoryDatabase(Exception):
    """Scanning against no data would pass everything: refuse instead."""


def _match(dep: Dependency, entries: list[CompiledAffected], issues: list[dict]) -> tuple[set[str], bool]:
    """Advisory ids that affect `dep`, and whether the match is definite."""
    if dep.version is not None:
        version = parse_version(dep.version)
        if version is not None:
            return {e.advisory_id for e in entries if version_affected(version, e)}, True
        issues.append({"file": dep.source_file, "line": dep.line,
                       "message": f"{dep.name}: version {dep.version!r} is not PEP 440; scanned as unpinned"})
        exact = {e.advisory_id for e in entries if raw_version_affected(dep.version, e)}
        possible = {e.advisory_id for e in entries if e.ranges or e.versions}
        return (exact, True) if exact else (possible, False)
    return {e.advisory_id for e in entries if specifier_may_be_affected(dep.specifier, e)}, False


def _groups(ids: set[str], infos: dict[str, AdvisoryInfo]) -> list[set[str]]:
    """Connected components of advisories that share an id or alias."""
    groups: list[tuple[set[str], set[str]]] = []  # (advisory ids, all names)
    for advisory_id in sorted(ids):
        info = infos.get(advisory_id)
        names = {advisory_id, *(info.aliases if info else ())}
        merged_ids, merged_names = {advisory_id}, set(names)
        for group in [g for g in groups if g[1] & names]:
            groups.remove(group)
            merged_ids |= group[0]
            merged_names |= group[1]
        groups.append((merged_ids, merged_names))
    return [g[0] for g in groups]


def _primary(members: list[AdvisoryInfo]) -> AdvisoryInfo:
    def key(info):
        prefix_rank = 0 if info.id.startswith("GHSA-") else 1 if info.id.startswith("PYSEC-") else 2
        return (-RANK[info.level], prefix_rank, info.id)

    return sorted(members, key=key)[0]


def _fixed_sort_key(text: str):
    version = parse_version(text)
    return (0, version, "") if version is not None else (1, None, text)


def scan(parsed: ParsedEnvironment, store: AdvisoryStore) -> ScanResult:
    started = time.perf_counter()
    snapshot = store.snapshot()
    if snapshot is None:
        raise EmptyAdvisoryDatabase("No advisory sync has succeeded yet: run `manage.py sync_advisories SOURCE`.")
    issues = [issue.as_dict() for issue in parsed.issues]
    matchable = [d for d in parsed.dependencies if d.matchable and d.name]
    entries_by_name = store.affected({d.name for d in matchable})

    matched: list[tuple[Dependency, set[str], bool]] = []
    for dep in matchable:
        entries = entries_by_name.get(dep.name, [])
        if entries:
            ids, definite = _match(dep, entries, issues)
            if ids:
                matched.append((dep, ids, definite))

    fixed_by_id = {e.advisory_id: e.fixed_versions for entries in entries_by_name.values() for e in entries}
    all_ids = set().union(*(ids for _, ids, _ in matched)) if matched else set()
    infos = {info.id: info for info in store.advisories_sharing(all_ids)}
    findings = []
    for dep, ids, definite in matched:
        for group in _groups(ids, infos):
            names = set(group).union(*(infos[i].aliases for i in group if i in infos))
            linked = [info for info in infos.values() if info.id in names or names & set(info.aliases)]
            members = [infos[i] for i in group if i in infos] or [AdvisoryInfo(i, (), "", None, Level.UNKNOWN) for i in group]
            primary = _primary(members)
            scores = [info.score for info in linked if info.score is not None]
            fixed = sorted({v for i in group for v in fixed_by_id.get(i, ())}, key=_fixed_sort_key)
            findings.append(FindingData(
                package=dep.name, version=dep.version if definite else None, specifier=dep.specifier,
                ecosystem=dep.ecosystem, advisory_id=primary.id,
                aliases=sorted((names | {i.id for i in linked}) - {primary.id}),
                summary=primary.summary or next((i.summary for i in members if i.summary), ""),
                severity=highest(info.level for info in linked) if linked else Level.UNKNOWN,
                score=max(scores) if scores else None, fixed_versions=fixed, definite=definite,
                source_file=dep.source_file, line=dep.line,
            ))
    findings.sort(key=lambda f: (not f.definite, -RANK[f.severity], f.package, f.advisory_id))
    return ScanResult(
        scanner=SCANNER_NAME, scanner_version=SCANNER_VERSION, snapshot_id=snapshot[0], snapshot_at=snapshot[1],
        findings=findings, dependencies=parsed.dependencies, issues=issues,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
