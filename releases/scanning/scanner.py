"""The built-in scanner: match parsed dependencies against the advisory store.

Findings are per dependency and per vulnerability: records that describe the
same vulnerability (linked through their aliases, e.g. PYSEC-2021-142 and
GHSA-8q59-q68h-6hv4 are both CVE-2020-14343) become one finding, which takes the
highest severity any linked record gives.
"""
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from releases.scanning import dpkg
from releases.scanning.envparse import Dependency, ParsedEnvironment
from releases.scanning.matcher import (
    CompiledAffected,
    parse_version,
    raw_version_affected,
    specifier_all_affected,
    specifier_may_be_affected,
    version_affected,
)
from releases.scanning.severity import ORDER, RANK, Level, highest

SCANNER_NAME = "gateway-osv"
SCANNER_VERSION = "1.2"  # 1.2: an unpinned requirement whose every admitted version is affected is definite
MAX_FINDINGS = 5000  # per report: a 150-dependency worst case gives ~1,600 (bench/)
MAX_NOTES = 200


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
    def os_affected(self, ecosystem: str, names: set[str]) -> dict[str, list[dpkg.DebianAffected]]: ...
    def advisories_sharing(self, ids_and_aliases: set[str]) -> list[AdvisoryInfo]: ...


@dataclass
class FindingData:
    package: str
    version: str | None
    specifier: str
    ecosystem: str
    advisory_id: str
    aliases: Sequence[str]  # tuples are shared with the scanner's cache: never mutate
    summary: str
    severity: Level
    score: float | None
    fixed_versions: Sequence[str]
    definite: bool
    source_file: str
    line: int
    role: str = "runtime"  # the dependency's: runtime, build or constraint
    pulled_in_by: Sequence[str] = ()  # a locked transitive package: declared requirement → … → parent

    def as_dict(self) -> dict:
        return {
            "package": self.package, "version": self.version, "specifier": self.specifier,
            "ecosystem": self.ecosystem, "advisory_id": self.advisory_id, "aliases": list(self.aliases),
            "summary": self.summary, "severity": self.severity.value, "score": self.score,
            "fixed_versions": list(self.fixed_versions), "definite": self.definite,
            "source_file": self.source_file, "line": self.line, "role": self.role,
            **({"pulled_in_by": list(self.pulled_in_by)} if self.pulled_in_by else {}),
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
    errors: list[dict] = field(default_factory=list)  # unreadable input or a cap reached: each blocks

    def counts(self, definite: bool = True) -> dict[str, int]:
        counts = {level.value: 0 for level in ORDER}
        for finding in self.findings:
            if finding.definite == definite:
                counts[finding.severity.value] += 1
        return counts


def bounded(findings: list[FindingData], issues: list[dict], errors: list[dict]) -> tuple[list, list, list]:
    """Findings and notes capped per report; past a cap the release is blocked, never silently cut."""
    errors = list(errors)
    if len(findings) > MAX_FINDINGS:
        errors.append({"file": "", "line": 0, "message": (
            f"{len(findings)} findings, more than the {MAX_FINDINGS} a report keeps: the report lists the "
            f"{MAX_FINDINGS} most severe, and a release this exposed is not passed")})
        findings = sorted(findings, key=lambda f: (not f.definite, -RANK[f.severity]))[:MAX_FINDINGS]
    if len(issues) > MAX_NOTES:
        errors.append({"file": "", "line": 0, "message": f"{len(issues)} scan notes, more than {MAX_NOTES}: "
                                                         "a report this unusual is not passed unread"})
        issues = issues[:MAX_NOTES]
    return findings, issues, errors


class EmptyAdvisoryDatabase(Exception):
    """Scanning against no data would pass everything: refuse instead."""


def _match(dep: Dependency, entries: list[CompiledAffected], issues: list[dict]) -> list[tuple[CompiledAffected, bool]]:
    """The affected entries that cover `dep`, each with whether the match is definite: a pinned version is
    affected, or every version an unpinned specifier admits is (matcher.specifier_all_affected)."""
    if dep.version is not None:
        version = parse_version(dep.version)
        if version is not None:
            return [(e, True) for e in entries if version_affected(version, e)]
        issues.append({"file": dep.source_file, "line": dep.line,
                       "message": f"{dep.name}: version {dep.version!r} is not PEP 440; scanned as unpinned"})
        exact = [(e, True) for e in entries if raw_version_affected(dep.version, e)]
        return exact or [(e, False) for e in entries if e.ranges or e.listed]
    conda = dep.ecosystem == "conda"
    return [(e, specifier_all_affected(dep.specifier, e, conda)) for e in entries
            if specifier_may_be_affected(dep.specifier, e)]


def is_os_package(dep: Dependency) -> bool:
    """A base image's package (releases.scanning.os_inventory): matched by dpkg's rules, not PEP 440's."""
    return dep.ecosystem.startswith("Debian:")


def _match_os(dep: Dependency, entries: list[dpkg.DebianAffected], issues: list[dict]) -> list[tuple]:
    """(entry, definite) for each entry that covers an installed Debian package."""
    if dep.version is None or dpkg.parse_version(dep.version) is None:
        issues.append({"file": dep.source_file, "line": dep.line,
                       "message": f"{dep.name}: version {dep.version!r} is not a Debian version; every advisory "
                                  "for it is counted as possible"})
        return [(e, False) for e in entries]
    return [(e, True) for e in entries if dpkg.affected(dep.version, e)]


def _affected_entries(todo: list[Dependency], store) -> dict[tuple[str, str], list]:
    """(ecosystem key, name) -> entries: PyPI (and conda, mapped to PyPI names) under "", each Debian
    release under its own ecosystem: a name in one never matches another's advisories."""
    found = {("", name): entries for name, entries in
             store.affected({d.name for d in todo if not is_os_package(d)}).items()}
    for ecosystem in sorted({d.ecosystem for d in todo if is_os_package(d)}):
        names = {d.name for d in todo if d.ecosystem == ecosystem}
        found.update({(ecosystem, name): entries for name, entries in store.os_affected(ecosystem, names).items()})
    return found


@dataclass(frozen=True)
class Vulnerability:
    """What one advisory record tells, with every record linked to it by an id or alias."""

    info: AdvisoryInfo
    names: frozenset  # its id, its aliases, and the ids of linked records
    severity: Level  # the highest any linked record gives
    score: float | None


def _vulnerabilities(ids: set[str], store) -> dict[str, Vulnerability]:
    """Per advisory id; kept in the store's per-snapshot cache when it has one."""
    cache = getattr(store, "vulnerability_cache", {})
    missing = ids - cache.keys()
    if missing:
        infos = store.advisories_sharing(missing)
        by_name: dict[str, list[AdvisoryInfo]] = {}
        for info in infos:
            for name in (info.id, *info.aliases):
                by_name.setdefault(name, []).append(info)
        known = {info.id: info for info in infos}
        for advisory_id in missing:
            info = known.get(advisory_id) or AdvisoryInfo(advisory_id, (), "", None, Level.UNKNOWN)
            linked = {i.id: i for name in (advisory_id, *info.aliases) for i in by_name.get(name, ())}.values()
            scores = [i.score for i in linked if i.score is not None]
            cache[advisory_id] = Vulnerability(
                info=info, names=frozenset({advisory_id, *info.aliases, *(i.id for i in linked)}),
                severity=highest(i.level for i in linked) if linked else Level.UNKNOWN,
                score=max(scores) if scores else None,
            )
    return {advisory_id: cache[advisory_id] for advisory_id in ids}


class _Components:
    """Union-find over advisory ids and aliases: one component per vulnerability."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, name: str) -> str:
        self.parent.setdefault(name, name)
        while self.parent[name] != name:
            self.parent[name] = self.parent[self.parent[name]]
            name = self.parent[name]
        return name

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)



def _primary(members: list[AdvisoryInfo]) -> AdvisoryInfo:
    def key(info):
        prefix_rank = 0 if info.id.startswith("GHSA-") else 1 if info.id.startswith("PYSEC-") else 2
        return (-RANK[info.level], prefix_rank, info.id)

    return sorted(members, key=key)[0]


def _fixed_sort_key(text: str):
    version = parse_version(text)
    return (0, version, "") if version is not None else (1, None, text)


def _group(hits: list[tuple[CompiledAffected, bool]], vulnerabilities: dict[str, Vulnerability]) -> list[list]:
    """Records of one vulnerability (sharing an id or alias) become one finding."""
    components = _Components()
    for entry, _definite in hits:
        for name in vulnerabilities[entry.advisory_id].names:
            components.union(entry.advisory_id, name)
    groups: dict[str, list[tuple[CompiledAffected, bool]]] = {}
    for hit in hits:
        groups.setdefault(components.find(hit[0].advisory_id), []).append(hit)
    return list(groups.values())


def _templates(hits, vulnerabilities) -> list[tuple]:
    """The findings for one requirement, without its location (cacheable per snapshot). A finding is definite
    when one of its records is definitely matched (each record describes the same vulnerability)."""
    templates = []
    for group in _group(hits, vulnerabilities):
        entries = [entry for entry, _definite in group]
        definite = any(definite for _entry, definite in group)
        found = [vulnerabilities[e.advisory_id] for e in entries]
        primary = _primary([v.info for v in found])
        names = set().union(*(v.names for v in found))
        scores = [v.score for v in found if v.score is not None]
        templates.append((
            primary.id, tuple(sorted(names - {primary.id})),
            primary.summary or next((v.info.summary for v in found if v.info.summary), ""),
            highest(v.severity for v in found), max(scores) if scores else None,
            tuple(sorted({v for e in entries for v in e.fixed_versions}, key=_fixed_sort_key)), definite,
        ))
    return templates


def scan(parsed: ParsedEnvironment, store: AdvisoryStore) -> ScanResult:
    started = time.perf_counter()
    snapshot = store.snapshot()
    if snapshot is None:
        raise EmptyAdvisoryDatabase("No advisory sync has succeeded yet: run `manage.py sync_advisories SOURCE`.")
    issues = [issue.as_dict() for issue in parsed.issues]
    matchable = [d for d in parsed.dependencies if d.matchable and d.name]
    # A requirement's findings depend only on (name, version, specifier, ecosystem) and the snapshot:
    # stores with a per-snapshot cache keep them, so a warm scan is mostly lookups.
    cache = getattr(store, "finding_cache", {})
    key = {id(d): (d.name, d.version, d.specifier, d.ecosystem) for d in matchable}
    todo = [d for d in matchable if key[id(d)] not in cache]
    if todo:
        entries = _affected_entries(todo, store)
        matched = []
        for dep in todo:
            match_issues: list[dict] = []
            found = entries.get((dep.ecosystem if is_os_package(dep) else "", dep.name), [])
            hits = (_match_os if is_os_package(dep) else _match)(dep, found, match_issues)
            matched.append((dep, hits, [i["message"] for i in match_issues]))
        vulnerabilities = _vulnerabilities({e.advisory_id for _, hits, _ in matched for e, _definite in hits}, store)
        for dep, hits, notes in matched:
            cache[key[id(dep)]] = (_templates(hits, vulnerabilities) if hits else [], notes)

    findings = []
    for dep in matchable:
        templates, notes = cache[key[id(dep)]]
        issues.extend({"file": dep.source_file, "line": dep.line, "message": note} for note in notes)
        for advisory_id, aliases, summary, severity, score, fixed, definite in templates:
            findings.append(FindingData(dep.name, dep.version if definite else None, dep.specifier, dep.ecosystem,
                                        advisory_id, aliases, summary, severity, score, fixed, definite,
                                        dep.source_file, dep.line, dep.role, tuple(dep.via)))
    findings.sort(key=lambda f: (not f.definite, -RANK[f.severity], f.package, f.advisory_id))
    findings, issues, errors = bounded(findings, issues, [e.as_dict() for e in parsed.errors])
    return ScanResult(
        scanner=SCANNER_NAME, scanner_version=SCANNER_VERSION, snapshot_id=snapshot[0], snapshot_at=snapshot[1],
        findings=findings, dependencies=parsed.dependencies, issues=issues,
        duration_ms=(time.perf_counter() - started) * 1000, errors=errors,
    )
