"""Read OSV records (https://ossf.github.io/osv-schema/) into plain, validated data.

Only what the matcher and reports need is kept. A record that does not have the
shape the schema requires raises OsvError and is skipped by the sync as a whole.
"""
import re
from dataclasses import dataclass, field
from datetime import datetime

from releases.scanning.envparse import normalise_name
from releases.scanning.severity import Level, cvss_base_score, highest, level_from_label, level_from_score

ECOSYSTEM = "PyPI"
# Debian's records name a release ("Debian:12"): they describe that release's source packages only.
DEBIAN = re.compile(r"Debian:\d+")
EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
MAX_SUMMARY = 500


class OsvError(ValueError):
    pass


@dataclass
class AffectedRange:
    events: list[dict[str, str]]  # [{"introduced": "0"}, {"fixed": "5.4"}], in file order


@dataclass
class AffectedEntry:
    name: str  # PEP 503 for PyPI; a Debian source package as it is
    ranges: list[AffectedRange]
    versions: list[str]
    fixed_versions: list[str]
    ecosystem: str = ECOSYSTEM


@dataclass
class OsvAdvisory:
    id: str
    aliases: list[str]
    summary: str
    published: datetime | None
    modified: datetime
    withdrawn: datetime | None
    severity_vectors: list[dict[str, str]]
    cvss_score: float | None
    level: Level
    references: list[str]
    affected: list[AffectedEntry] = field(default_factory=list)


def _required_timestamp(value, field_name: str) -> datetime:
    stamp = _timestamp(value, field_name, required=True)
    assert stamp is not None  # _timestamp raised OsvError otherwise
    return stamp


def _timestamp(value, field_name: str, required: bool) -> datetime | None:
    if value in (None, ""):
        if required:
            raise OsvError(f"missing {field_name}")
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise OsvError(f"{field_name} is not an RFC 3339 time: {value!r}") from None


def _strings(value, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise OsvError(f"{what} must be a list of strings")
    return [str(v) for v in value]


def _affected(entry) -> AffectedEntry | None:
    if not isinstance(entry, dict):
        raise OsvError("affected[] entries must be objects")
    package = entry.get("package") or {}
    if not isinstance(package, dict):
        raise OsvError("affected[].package must be an object")
    ecosystem = package.get("ecosystem")
    if not isinstance(ecosystem, str) or not (ecosystem == ECOSYSTEM or DEBIAN.fullmatch(ecosystem)) \
            or not package.get("name"):
        return None
    ranges, fixed = [], []
    for rng in entry.get("ranges") or []:
        if not isinstance(rng, dict) or not isinstance(rng.get("events"), list):
            raise OsvError("affected[].ranges[] must have an events list")
        if rng.get("type") != "ECOSYSTEM":
            continue  # GIT/SEMVER ranges do not describe PyPI or Debian versions
        events = []
        for event in rng["events"]:
            if not isinstance(event, dict) or len(event) != 1:
                raise OsvError("each range event must have exactly one key")
            (kind, value), = event.items()
            if kind not in EVENT_KINDS:
                raise OsvError(f"unknown range event {kind!r}")
            events.append({kind: str(value)})
            if kind == "fixed":
                fixed.append(str(value))
        ranges.append(AffectedRange(events=events))
    name = normalise_name(str(package["name"])) if ecosystem == ECOSYSTEM else str(package["name"]).strip()
    return AffectedEntry(name=name, ranges=ranges, versions=_strings(entry.get("versions"), "affected[].versions"),
                         fixed_versions=fixed, ecosystem=ecosystem)


def _severity(record) -> tuple[list[dict[str, str]], float | None, Level]:
    vectors, scores, levels = [], [], []
    for item in record.get("severity") or []:
        if not isinstance(item, dict) or not isinstance(item.get("score"), str):
            raise OsvError("severity[] entries must have a string score")
        vectors.append({"type": str(item.get("type", "")), "score": item["score"]})
        score = cvss_base_score(item["score"]) if str(item.get("type", "")).startswith("CVSS") else None
        if score is not None:
            scores.append(score)
    best = max(scores) if scores else None
    levels.append(level_from_score(best))
    database_specific = record.get("database_specific")
    if isinstance(database_specific, dict):
        levels.append(level_from_label(database_specific.get("severity")))
    return vectors, best, highest(levels)


def parse_record(record) -> OsvAdvisory:
    if not isinstance(record, dict):
        raise OsvError("an OSV record must be an object")
    advisory_id = record.get("id")
    if not isinstance(advisory_id, str) or not advisory_id.strip() or len(advisory_id) > 128:
        raise OsvError("missing or invalid id")
    affected_raw = record.get("affected") or []
    if not isinstance(affected_raw, list):
        raise OsvError("affected must be a list")
    vectors, score, level = _severity(record)
    summary = record.get("summary") or (record.get("details") or "").strip().split("\n")[0]
    references = [r["url"] for r in record.get("references") or []
                  if isinstance(r, dict) and isinstance(r.get("url"), str)]
    advisory = OsvAdvisory(
        id=advisory_id.strip(),
        aliases=sorted(set(_strings(record.get("aliases"), "aliases")) - {advisory_id}),
        summary=str(summary)[:MAX_SUMMARY],
        published=_timestamp(record.get("published"), "published", required=False),
        modified=_required_timestamp(record.get("modified"), "modified"),
        withdrawn=_timestamp(record.get("withdrawn"), "withdrawn", required=False),
        severity_vectors=vectors, cvss_score=score, level=level, references=references[:10],
    )
    advisory.affected = [a for a in (_affected(e) for e in affected_raw) if a is not None]
    return advisory
