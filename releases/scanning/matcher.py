"""Does an advisory's affected entry cover a version, or any version a specifier admits?

OSV semantics (https://ossf.github.io/osv-schema/#evaluation): a version is
affected if it is listed in `versions`, or falls inside a range. A range's events
are sorted by version before they are walked (real data is not always sorted):
`introduced` (v >= x) starts an affected stretch, `fixed` (v >= x) and
`last_affected` (v > x) end it, and `limit` bounds the whole range (v < limit).
Versions compare by PEP 440 (`packaging.version.Version`), so epochs, pre-, post-,
dev- and local versions order correctly.

A specifier that is not a pin matches *possibly* when some version it admits is affected
(specifier_may_be_affected), and *definitely* when every version it admits is
(specifier_all_affected, decided with releases.scanning.version_sets).
"""
import re
from dataclasses import dataclass, field
from functools import lru_cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

from releases.scanning import version_sets

_ZERO = Version("0")
_EVENT_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}
_INTERVALS = ("intervals",)  # CompiledAffected.memo: the ranges as version_sets intervals (no specifier is a tuple)


@lru_cache(maxsize=65536)
def parse_version(text: str) -> Version | None:
    """PEP 440 parse, tolerating a leading 'v'; None when the string is not a version."""
    try:
        return Version(text)
    except InvalidVersion:
        cleaned = re.sub(r"^[vV](?=\d)", "", text.strip())
        try:
            return Version(cleaned)
        except InvalidVersion:
            return None


@dataclass(frozen=True)
class CompiledRange:
    events: tuple[tuple[str, Version], ...]  # sorted
    limit: Version | None


@dataclass(frozen=True)
class CompiledAffected:
    advisory_id: str
    name: str
    ranges: tuple[CompiledRange, ...]
    # Listed affected versions in canonical form (1.0.0 -> "1"), prepared at sync time so a
    # scan never parses them, as one "|v1|v2|" string (no JSON to decode for long lists);
    # strings that are not PEP 440 are kept as they are.
    listed: str
    # Listed versions that no range covers (usually none): the only ones a specifier check visits.
    outside: tuple[Version, ...]
    fixed_versions: tuple[str, ...]
    # specifier (or ("all", specifier, conda)) -> answer; entries live in a per-snapshot cache, so this is bounded.
    memo: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def range_starts(self) -> list[Version]:
        return [v for rng in self.ranges for kind, v in rng.events if kind == "introduced"]


def canonical(version) -> str:
    return canonicalize_version(version)


def compile_ranges(ranges) -> tuple[CompiledRange, ...]:
    """`ranges`: lists of OSV events ([{"introduced": "0"}, {"fixed": "1.2"}])."""
    compiled = []
    for events in ranges:
        parsed, limit = [], None
        for event in events:
            (kind, text), = event.items()
            version = _ZERO if (kind == "introduced" and text == "0") else parse_version(text)
            if version is None:
                continue  # an unparseable bound is dropped
            if kind == "limit":
                limit = version if limit is None else min(limit, version)
            else:
                parsed.append((kind, version))
        parsed.sort(key=lambda kv: (kv[1], _EVENT_ORDER[kv[0]]))
        compiled.append(CompiledRange(events=tuple(parsed), limit=limit))
    return tuple(compiled)


def prepare_listed(ranges, versions) -> tuple[str, list[str]]:
    """At sync time: ("|canonical|forms|" of the listed versions, those outside every range)."""
    compiled = compile_ranges(ranges)
    listed, outside = set(), []
    for text in versions:
        version = parse_version(text)
        if version is None:
            listed.add(text)
            continue
        listed.add(canonical(version))
        if not any(_in_range(version, rng) for rng in compiled):
            outside.append(text)
    listed.discard("")
    return ("|" + "|".join(sorted(v for v in listed if "|" not in v)) + "|") if listed else "", outside


def compile_affected(advisory_id: str, name: str, ranges, listed, outside, fixed_versions=()) -> CompiledAffected:
    return CompiledAffected(
        advisory_id=advisory_id, name=name, ranges=compile_ranges(ranges), listed=listed or "",
        outside=tuple(v for v in map(parse_version, outside) if v is not None), fixed_versions=tuple(fixed_versions),
    )


def compile_osv(advisory_id: str, name: str, ranges, versions, fixed_versions=()) -> CompiledAffected:
    """Compile straight from OSV fields (what sync + store do in two steps)."""
    listed, outside = prepare_listed(ranges, versions)
    return compile_affected(advisory_id, name, ranges, listed, outside, fixed_versions)


def _in_range(version: Version, rng: CompiledRange) -> bool:
    if rng.limit is not None and version >= rng.limit:
        return False
    affected = False
    for kind, bound in rng.events:
        if kind == "introduced":
            if version >= bound or bound == _ZERO:  # OSV: 0 is the first version there is (0.dev0 included)
                affected = True
        elif kind == "fixed":
            if version >= bound:
                affected = False
        elif kind == "last_affected":
            if version > bound:
                affected = False
    return affected


def version_affected(version: Version, entry: CompiledAffected) -> bool:
    # A local build (2.1.0+cu118) is the release it was built from, for listed versions.
    if entry.listed and f"|{canonical(version.public if version.local else version)}|" in entry.listed:
        return True
    return any(_in_range(version, rng) for rng in entry.ranges)


def raw_version_affected(text: str, entry: CompiledAffected) -> bool:
    """For a pinned version that is not PEP 440: only an exact listed string can match."""
    return bool(text) and f"|{text}|" in entry.listed


def _just_above(version: Version) -> Version:
    """A version greater than `version` and below any realistic next release."""
    head = (f"{version.epoch}!" if version.epoch else "") + ".".join(map(str, version.release))
    pre = f"{version.pre[0]}{version.pre[1]}" if version.pre else ""
    post = f".post{version.post}" if version.post is not None else ""
    if version.dev is not None:
        text = f"{head}{pre}{post}.dev{version.dev + 1}"
    elif version.post is not None:
        text = f"{head}{pre}.post{version.post + 1}"
    elif version.pre is not None:
        text = f"{head}{pre}.post0"
    else:
        text = f"{head}.0.0.0.1"
    try:
        return Version(text)
    except InvalidVersion:
        return version


@lru_cache(maxsize=4096)
def _specifier_set(specifier: str) -> SpecifierSet | None:
    try:
        return SpecifierSet(specifier)
    except InvalidSpecifier:
        return None


def specifier_all_affected(specifier: str, entry: CompiledAffected, conda: bool = False) -> bool:
    """True if every version `specifier` admits is affected by `entry`: the finding is then definite, pinned or
    not (`pyyaml<5.4`, conda's `pyyaml=5.3`). False whenever that is not known (releases.scanning.version_sets).
    `conda`: the specifier is conda's (envparse read it from conda.yaml), whose version order differs at
    pre-, dev- and post-release bounds."""
    key = ("all", specifier, conda)
    if key not in entry.memo:
        entry.memo[key] = _all_affected(specifier, entry, conda)
    return entry.memo[key]


def _all_affected(specifier: str, entry: CompiledAffected, conda: bool) -> bool:
    admitted = version_sets.admitted(specifier, conda)
    if not admitted:  # not known, or nothing can be installed (no finding then)
        return False
    if _INTERVALS not in entry.memo:
        entry.memo[_INTERVALS] = version_sets.merged(
            i for rng in entry.ranges for i in version_sets.range_intervals(rng.events, rng.limit))
    covered = entry.memo[_INTERVALS]
    return all(version_affected(i.point, entry) if i.point is not None else version_sets.subset([i], covered)
               for i in admitted)


def specifier_may_be_affected(specifier: str, entry: CompiledAffected) -> bool:
    """True if some version admitted by `specifier` is affected by `entry`.

    Two sets of intervals overlap iff one interval's lower bound lies in the
    other; so it is enough to try every lower bound of both sides (and a point
    just above each, for exclusive bounds and `!=` holes), plus the listed
    versions that lie outside every range.
    """
    if specifier not in entry.memo:
        entry.memo[specifier] = _overlaps(specifier, entry)
    return entry.memo[specifier]


def _overlaps(specifier: str, entry: CompiledAffected) -> bool:
    spec = _specifier_set(specifier)
    if spec is None or not str(spec):
        return bool(entry.ranges or entry.listed)  # anything may be installed
    candidates = set(entry.range_starts)
    for item in spec:
        bound = parse_version(item.version.replace(".*", ""))
        if bound is not None:
            candidates.add(bound)
    if not any(item.operator in (">", ">=", "==", "~=", "===") for item in spec):
        candidates.add(_ZERO)
    candidates |= {_just_above(v) for v in list(candidates)}
    for candidate in candidates:
        if spec.contains(candidate, prereleases=True) and any(_in_range(candidate, r) for r in entry.ranges):
            return True
    return any(spec.contains(v, prereleases=True) for v in entry.outside)
