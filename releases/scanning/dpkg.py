"""Debian packages as dpkg sees them: the status database, the release, and version order.

Debian's advisories (OSV ecosystem "Debian:12") name **source** packages and their versions: a CVE in
glibc is filed against `glibc`, not against the binary packages `libc6` and `libc-bin` that an image
holds. So every installed binary package is matched under its `Source:` field (the package's own name
when there is none), at the source version (`Source: glibc (2.36-9)` gives it when it differs).
Matching binaries by their own names would miss nearly every advisory.

Versions compare as dpkg compares them (epoch, upstream, revision; `~` sorts before everything), with
python-debian's pure-Python implementation: the same order the advisories' `fixed` versions are in.
"""
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TypedDict

from debian.debian_support import NativeVersion

STATUS_PATH = "var/lib/dpkg/status"
STATUS_DIR = "var/lib/dpkg/status.d"  # distroless images: one paragraph file per package
MAX_STATUS_BYTES = 16 * 1024 * 1024
MAX_PACKAGES = 5000
_SOURCE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9+.-]*)(?:\s*\((?P<version>[^)\s]+)\))?$")
# OSV ecosystems the matcher knows, from os-release's ID: "Debian:12". Anything else has no advisories here.
KNOWN_DISTROS = {"debian": "Debian"}


class OsPackage(TypedDict):
    name: str  # the binary package
    version: str
    arch: str
    source: str  # the source package its advisories name
    source_version: str
    line: int  # where its paragraph starts in the status file


class DpkgError(ValueError):
    """The status database cannot be read as dpkg would: refuse rather than scan part of it."""


def parse_status(text: str, first_line: int = 1) -> list[OsPackage]:
    """The installed packages of a dpkg status file, sorted by name. Paragraphs dpkg would not list as
    installed (removed, config-files, half-installed) are skipped: their files are not on disk."""
    found: list[OsPackage] = []
    line_no = first_line
    for paragraph in re.split(r"\n[ \t]*\n", text):
        start = line_no
        line_no += paragraph.count("\n") + 2
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue  # a continuation line (descriptions, conffiles)
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if not fields.get("package"):
            continue
        start += next((i for i, line in enumerate(paragraph.splitlines()) if line.lower().startswith("package:")), 0)
        if fields.get("status", "install ok installed").split()[-1:] != ["installed"] or not fields.get("version"):
            continue
        source, source_version = _source(fields)
        found.append({"name": fields["package"], "version": fields["version"], "arch": fields.get("architecture", ""),
                      "source": source, "source_version": source_version, "line": start})
        if len(found) > MAX_PACKAGES:
            raise DpkgError(f"the dpkg database lists more than {MAX_PACKAGES} packages")
    return sorted(found, key=lambda p: (p["name"], p["arch"]))


def _source(fields: dict[str, str]) -> tuple[str, str]:
    source = fields.get("source", "")
    if not source:
        return fields["package"], fields["version"]
    match = _SOURCE.match(source)
    if match is None:
        raise DpkgError(f"package {fields['package']}: its Source field {source[:80]!r} is not `name [(version)]`")
    return match["name"], match["version"] or fields["version"]


def os_release(text: str) -> dict[str, str]:
    return {key: value.strip().strip('"').strip("'") for key, _, value in
            (line.partition("=") for line in text.splitlines()) if key and value}


def distro(os_release_text: str) -> str:
    """"debian-12" from /etc/os-release (the purl's distro qualifier); "" if it does not say."""
    fields = os_release(os_release_text)
    name, version = fields.get("ID", ""), fields.get("VERSION_ID", "")
    return f"{name}-{version}" if name and version else name


def ecosystem(os_release_text: str) -> str:
    """The OSV ecosystem whose advisories describe this system ("Debian:12"); "" for one the gateway does not
    know, or a release without a number (testing, sid: no advisories are issued for them by release)."""
    fields = os_release(os_release_text)
    name, version = KNOWN_DISTROS.get(fields.get("ID", "")), fields.get("VERSION_ID", "")
    return f"{name}:{version}" if name and re.fullmatch(r"\d+", version) else ""


# --- Versions and advisory ranges --------------------------------------------------------------

@lru_cache(maxsize=65536)
def parse_version(text: str) -> NativeVersion | None:
    try:
        return NativeVersion(text)
    except ValueError:
        return None


_EVENT_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}


@dataclass(frozen=True)
class DebianAffected:
    """One advisory's affected entry for one source package, compiled for dpkg order."""

    advisory_id: str
    name: str
    ranges: tuple[tuple[tuple[str, NativeVersion], ...], ...]  # sorted events; `limit` kept as an event
    listed: frozenset[str]
    fixed_versions: tuple[str, ...]
    unparsed: bool = False  # a bound dpkg cannot read: every version counts as possibly affected


def listed(versions) -> str:
    """The listed versions as the store keeps them: "|v1|v2|" ("" for none)."""
    kept = sorted({v for v in versions if v and "|" not in v})
    return "|" + "|".join(kept) + "|" if kept else ""


def compile_entry(advisory_id: str, name: str, ranges, listed_versions: str, fixed_versions=()) -> DebianAffected:
    """`listed_versions`: as `listed` wrote them."""
    versions = [v for v in listed_versions.split("|") if v]
    compiled, unparsed = [], False
    for events in ranges:
        parsed = []
        for event in events:
            (kind, text), = event.items()
            version = parse_version("0" if text == "0" else text)
            if version is None:
                unparsed = True
                continue
            parsed.append((kind, version))
        parsed.sort(key=lambda kv: (kv[1], _EVENT_ORDER[kv[0]]))
        compiled.append(tuple(parsed))
    return DebianAffected(advisory_id, name, tuple(compiled), frozenset(versions), tuple(fixed_versions), unparsed)


def _in_range(version: NativeVersion, events) -> bool:
    affected = False
    for kind, bound in events:
        if kind == "limit" and version >= bound:
            return False
        if kind == "introduced" and version >= bound:
            affected = True
        elif kind == "fixed" and version >= bound:
            affected = False
        elif kind == "last_affected" and version > bound:
            affected = False
    return affected


def affected(version_text: str, entry: DebianAffected) -> bool:
    """Is this installed source version affected? OSV: listed, or inside a range (events in dpkg order)."""
    if version_text in entry.listed or entry.unparsed:
        return True
    version = parse_version(version_text)
    if version is None:
        return bool(entry.ranges or entry.listed)  # cannot order it: fail closed
    return any(_in_range(version, events) for events in entry.ranges)
