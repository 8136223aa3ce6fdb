"""Hand-written OSV records for tests, and a helper that syncs them through the real sync."""
import json
from pathlib import Path

from releases.scanning.sync import sync_advisories

CRITICAL_V3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
HIGH_V3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"  # 7.5
MEDIUM_V3 = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N"  # 5.3
LOW_V3 = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.8


def record(advisory_id, package, events=None, versions=None, vector=None, aliases=(), modified="2024-01-01T00:00:00Z",
           withdrawn=None, ghsa_severity=None, summary="", vector_type="CVSS_V3", ecosystem="PyPI"):
    affected = {"package": {"ecosystem": ecosystem, "name": package}}
    if events is not None:
        affected["ranges"] = [{"type": "ECOSYSTEM", "events": events}]
    if versions is not None:
        affected["versions"] = versions
    data = {"id": advisory_id, "modified": modified, "published": "2020-01-01T00:00:00Z",
            "aliases": list(aliases), "summary": summary or f"{advisory_id} in {package}", "affected": [affected]}
    if vector:
        data["severity"] = [{"type": vector_type, "score": vector}]
    if withdrawn:
        data["withdrawn"] = withdrawn
    if ghsa_severity:
        data["database_specific"] = {"severity": ghsa_severity}
    return data


def write(directory: Path, records) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for item in records:
        (directory / f"{item['id']}.json").write_text(json.dumps(item))
    return directory


def sync_records(directory: Path, records):
    return sync_advisories(write(directory, records))


# The demo-like set most scan tests use.
PYYAML_PYSEC = record("PYSEC-2021-142", "PyYAML", [{"introduced": "0"}, {"fixed": "5.4"}],
                      aliases=["CVE-2020-14343", "GHSA-8q59-q68h-6hv4"])
PYYAML_GHSA = record("GHSA-8q59-q68h-6hv4", "pyyaml", [{"introduced": "0"}, {"fixed": "5.4"}], vector=CRITICAL_V3,
                     aliases=["CVE-2020-14343", "PYSEC-2021-142"], ghsa_severity="CRITICAL")
REQUESTS_MEDIUM = record("PYSEC-2026-1872", "requests", [{"introduced": "0"}, {"fixed": "2.32.4"}], vector=MEDIUM_V3)
REQUESTS_HIGH = record("PYSEC-2018-28", "requests", [{"introduced": "0"}, {"fixed": "2.20.0"}], vector=HIGH_V3)
PILLOW_UNKNOWN = record("PYSEC-2021-35", "pillow", [{"introduced": "0"}, {"fixed": "8.1.1"}])
NUMPY_UNKNOWN = record("PYSEC-2021-856", "numpy", [{"introduced": "0"}, {"fixed": "1.19.1"}])
DEFAULT_SET = [PYYAML_PYSEC, PYYAML_GHSA, REQUESTS_MEDIUM, REQUESTS_HIGH, PILLOW_UNKNOWN, NUMPY_UNKNOWN]
