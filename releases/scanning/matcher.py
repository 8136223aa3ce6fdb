"""Does an advisory's affected entry cover a version, or any version a specifier admits?

OSV semantics (https://ossf.github.io/osv-schema/#evaluation): a version is
affected if it is listed in `versions`, or falls inside a range. A range's events
are sorted by version before they are walked (real data is not always sorted):
`introduced` (v >= x) starts an affected stretch, `fixed` (v >= x) and
`last_affected` (v > x) end it, and `limit` bounds the whole range (v < limit).
Versions compare by PEP 440 (`packaging.version.Version`), so epochs, pre-, post-,
dev- and local versions order correctly.
"""
import re
from dataclasses import dataclass
from functools import lru_cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

_ZERO = Version("0")
_EVENT_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}


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
    versions: frozenset  # Version objects (PEP 440 equality: 1.0 == 1.0.0)
    raw_versions: frozenset  # strings, for listed versions that are not PEP 440
    fixed_versions: tuple[str, ...]

    @property
    def lower_bounds(self) -> list[Version]:
        """Where affected stretches start: the candidates for specifier overlap."""
        starts = [v for rng in self.ranges for kind, v in rng.events if kind == "introduced"]
        return starts + list(self.versions)


def compile_affected(advisory_id: str, name: str, ranges, versions, fixed_versions=()) -> CompiledAffected:
    """`ranges`: list of event lists ([{"introduced": "0"}, {"fixed": "1.2"}])."""
    compiled = []
    for events in ranges:
        parsed, limit = [], None
        for event in events:
            (kind, text), = event.items()
            version = _ZERO if (kind == "introduced" and text == "0") else parse_version(text)
            if version is None:
                continue  # an unparseable bound is dropped; the sync reports it
            if kind == "limit":
                limit = version if limit is None else min(limit, version)
            else:
                parsed.append((kind, version))
        parsed.sort(key=lambda kv: (kv[1], _EVENT_ORDER[kv[0]]))
        compiled.append(CompiledRange(events=tuple(parsed), limit=limit))
    listed = {v: parse_version(v) for v in versions}
    return CompiledAffected(
        advisory_id=advisory_id, name=name, ranges=tuple(compiled),
        versions=frozenset(v for v in listed.values() if v is not None),
        raw_versions=frozenset(t for t, v in listed.items() if v is None),
        fixed_versions=tuple(fixed_versions),
    )


def _in_range(version: Version, rng: CompiledRange) -> bool:
    if rng.limit is not None and version >= rng.limit:
        return False
    affected = False
    for kind, bound in rng.events:
        if kind == "introduced":
            if version >= bound:
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
    if version in entry.versions or (version.local and Version(version.public) in entry.versions):
        return True
    return any(_in_range(version, rng) for rng in entry.ranges)


def raw_version_affected(text: str, entry: CompiledAffected) -> bool:
    """For a pinned version that is not PEP 440: only an exact listed string can match."""
    return text in entry.raw_versions


def _just_above(version: Version) -> Version:
    """A version greater than `version` and below any realistic next release."""
    return Version(f"{version.public}.0.0.0.1" if not (version.pre or version.dev or version.post)
                   else f"{version.public}.post999999999")


def specifier_may_be_affected(specifier: str, entry: CompiledAffected) -> bool:
    """True if some version admitted by `specifier` is affected by `entry`.

    Two sets of intervals overlap iff one interval's lower bound lies in the
    other; so it is enough to try every lower bound of both sides (and a point
    just above each, for exclusive bounds and `!=` holes).
    """
    try:
        spec = SpecifierSet(specifier)
    except InvalidSpecifier:
        return bool(entry.ranges or entry.versions)
    candidates = set(entry.lower_bounds)
    for item in spec:
        bound = parse_version(item.version.replace(".*", ""))
        if bound is not None:
            candidates.add(bound)
    if not any(item.operator in (">", ">=", "==", "~=", "===") for item in spec):
        candidates.add(_ZERO)
    candidates |= {_just_above(v) for v in list(candidates)}
    for candidate in candidates:
        if spec.contains(candidate, prereleases=True) and version_affected(candidate, entry):
            return True
    return False
