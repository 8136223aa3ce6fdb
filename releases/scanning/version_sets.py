"""Version sets as unions of intervals in PEP 440's order: what a specifier admits, what an advisory's ranges cover.

A requirement that is not pinned gets a *definite* finding when every version its specifier admits is affected
(matcher.specifier_all_affected): `pyyaml<5.4`, or conda's `pyyaml=5.3` (5.3.*), against "fixed in 5.4". That is
decided here, and soundly, because a wrong "definite" would be as false as a missed one:
- the admitted set is over-approximated, never under: pre-releases are admitted (`--pre`, or nothing else
  fits), `>V` keeps V's post-releases and `<V` V's pre-releases (PEP 440 leaves them out), `!=V+local` removes
  nothing; `==V.*` is exactly [V.dev0, V'.dev0) with V' the next series (5.3.* is [5.3.dev0, 5.4.dev0));
- the affected set is read from the OSV events as matcher._in_range reads them, except that `introduced: 0`
  means every version, as OSV defines it (0.dev0 too);
- what is not modelled answers None, "not known", which keeps the finding possible: an unreadable specifier,
  `===` on a string that is not PEP 440, and the conda cases below.
Local version labels are left out on both sides: a local build is the release it was built from (as for listed
versions in matcher.version_affected).

conda orders versions by its own rules (conda.models.version.VersionOrder). On versions published in PEP 440's
normal form (as conda-forge and defaults publish Python projects) it agrees with PEP 440 about which side of a
plain release bound (N.N…, an epoch allowed) a version lies; around a pre-, dev- or post-release bound it does
not (conda orders 1.1a1 < 1.1.0dev1, PEP 440 the reverse). So a conda spec with such a bound, or with `~=`
or `===`, is not known. (envparse's conda reader turns `=5.3` and `5.3*` into `==5.3.*` and refuses `|`.)
"""
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

_ZERO = Version("0")


@dataclass(frozen=True)
class Interval:
    """Versions between two bounds; a bound of None is unbounded."""

    low: Version | None
    low_closed: bool
    high: Version | None
    high_closed: bool

    @property
    def point(self) -> Version | None:
        """The one version this interval holds, if it is a single point."""
        same = self.low is not None and self.low == self.high and self.low_closed and self.high_closed
        return self.low if same else None

    def empty(self) -> bool:
        if self.low is None or self.high is None:
            return False
        return self.low > self.high or (self.low == self.high and not (self.low_closed and self.high_closed))


EVERYTHING = Interval(None, False, None, False)


def _lower_within(outer: Interval, inner: Interval) -> bool:
    """Does `outer` start at or before `inner`?"""
    if outer.low is None:
        return True
    if inner.low is None:
        return False
    return outer.low < inner.low or (outer.low == inner.low and (outer.low_closed or not inner.low_closed))


def _upper_within(outer: Interval, inner: Interval) -> bool:
    if outer.high is None:
        return True
    if inner.high is None:
        return False
    return outer.high > inner.high or (outer.high == inner.high and (outer.high_closed or not inner.high_closed))


def covers(outer: Interval, inner: Interval) -> bool:
    return _lower_within(outer, inner) and _upper_within(outer, inner)


def intersect(a: Interval, b: Interval) -> Interval:
    low = b if _lower_within(a, b) else a  # the later start
    high = b if _upper_within(a, b) else a  # the earlier end
    return Interval(low.low, low.low_closed, high.high, high.high_closed)


def _touch(a: Interval, b: Interval) -> bool:
    """`b` starts no later than where `a` ends (no version between them), given a.low <= b.low."""
    if a.high is None or b.low is None:
        return True
    return b.low < a.high or (b.low == a.high and (a.high_closed or b.low_closed))


def merged(intervals: Iterable[Interval]) -> list[Interval]:
    """The same set as disjoint intervals that do not touch, in order."""
    ordered = sorted((i for i in intervals if not i.empty()),
                     key=lambda i: (i.low is not None, i.low or _ZERO, not i.low_closed))
    result: list[Interval] = []
    for item in ordered:
        if result and _touch(result[-1], item):
            last = result[-1]
            end = last if _upper_within(last, item) else item
            result[-1] = Interval(last.low, last.low_closed, end.high, end.high_closed)
        else:
            result.append(item)
    return result


# --- What an advisory's ranges cover ----------------------------------------------------------------------

def _state(events: Sequence[tuple[str, Version]], applies: Callable[[str, Version], bool]) -> bool:
    """Affected or not after the events that apply, in order: the last one decides."""
    affected = False
    for kind, bound in events:
        if applies(kind, bound):
            affected = kind == "introduced"
    return affected


def range_intervals(events: Sequence[tuple[str, Version]], limit: Version | None) -> list[Interval]:
    """One OSV range, its events sorted as matcher.compile_ranges sorts them, as intervals.

    Each event that applies to a version sets its state (introduced: affected; fixed, last_affected: not); at
    a bound itself `introduced` and `fixed` apply and `last_affected` does not yet."""
    if not events:
        return []
    bounds = sorted({bound for _, bound in events})

    def at(point: Version) -> bool:
        return _state(events, lambda kind, bound: bound < point or (bound == point and kind != "last_affected"))

    def above(point: Version) -> bool:
        return _state(events, lambda kind, bound: bound <= point)

    # OSV: `introduced: 0` is the first version there is, so what sorts below 0 (0.dev0) is affected too.
    pieces = [(Interval(None, False, bounds[0], False), events[0] == ("introduced", _ZERO) and at(bounds[0]))]
    for i, point in enumerate(bounds):
        after = bounds[i + 1] if i + 1 < len(bounds) else None
        pieces.append((Interval(point, True, point, True), at(point)))
        pieces.append((Interval(point, False, after, False), above(point)))
    result = merged(piece for piece, affected in pieces if affected)
    if limit is not None:
        result = [part for part in (intersect(i, Interval(None, False, limit, False)) for i in result)
                  if not part.empty()]
    return result


# --- What a specifier admits ---------------------------------------------------------------------------------

def _series(epoch: int, release: tuple[int, ...]) -> Version:
    """The first version of a release series: 5.3 -> 5.3.dev0 (nothing in the series sorts before it)."""
    return Version((f"{epoch}!" if epoch else "") + ".".join(map(str, release)) + ".dev0")


def _prefix(epoch: int, release: tuple[int, ...]) -> Interval:
    """`==release.*`: [release.dev0, next.dev0), where next raises the last number (5.3 -> 5.4)."""
    following = (*release[:-1], release[-1] + 1)
    return Interval(_series(epoch, release), True, _series(epoch, following), False)


def _complement(interval: Interval) -> list[Interval]:
    return [Interval(None, False, interval.low, not interval.low_closed),
            Interval(interval.high, not interval.high_closed, None, False)]


def _plain(version: Version) -> bool:
    return version.pre is None and version.post is None and version.dev is None and version.local is None


def _clause(item: Specifier, conda: bool) -> list[Interval] | None:
    """The versions one clause admits (over-approximated), or None when that is not known."""
    operator, text = item.operator, item.version
    if operator == "===":
        if conda:
            return None
        try:
            version = Version(text)
        except InvalidVersion:
            return None
        return [Interval(Version(version.public), True, Version(version.public), True)]
    prefix = text.endswith(".*")
    version = Version(text[:-2] if prefix else text)
    if conda and (operator == "~=" or not _plain(version)):
        return None
    public = Version(version.public)
    if prefix:
        series = _prefix(version.epoch, version.release)
        return [series] if operator == "==" else _complement(series)
    if operator == "~=":  # >=V, ==V's release without its last number.*
        return [intersect(Interval(public, True, None, False), _prefix(version.epoch, version.release[:-1]))]
    if operator == "!=" and version.local is not None:
        return [EVERYTHING]  # removes only that local build: nothing is taken out of the public versions
    return {
        "==": [Interval(public, True, public, True)],
        "!=": _complement(Interval(public, True, public, True)),
        "<": [Interval(None, False, public, False)],
        "<=": [Interval(None, False, public, True)],
        ">": [Interval(public, False, None, False)],
        ">=": [Interval(public, True, None, False)],
    }.get(operator)


def admitted(specifier: str, conda: bool = False) -> list[Interval] | None:
    """Every version `specifier` can admit, as disjoint intervals (at least those; [] when none), or None when
    that is not known. `conda`: a spec from conda.yaml (see the module docstring)."""
    try:
        spec = SpecifierSet(specifier)
    except InvalidSpecifier:
        return None
    current = [EVERYTHING]
    for item in spec:
        clause = _clause(item, conda)
        if clause is None:
            return None
        current = [part for a in current for b in clause if not (part := intersect(a, b)).empty()]
    return merged(current)


def subset(inner: Sequence[Interval], outer: Sequence[Interval]) -> bool:
    """Is every interval of `inner` within one interval of `outer` (disjoint and not touching, as `merged` gives)?"""
    return all(any(covers(o, i) for o in outer) for i in inner)
