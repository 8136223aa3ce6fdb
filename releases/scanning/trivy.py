"""Adapter for Trivy, the original design's scanner (selected with DEPENDENCY_SCANNER=trivy).

Trivy reads only files named requirements.txt, skips lines that are not `==`
pinned, and does not scan conda environment files. The adapter therefore writes
one requirements.txt with every pinned PyPI dependency — conda packages that are
PyPI projects included — and reports what Trivy could not see as scan notes.
Its JSON report (Results[].Vulnerabilities[]) is turned into the same findings
as the built-in scanner's and kept verbatim.
"""
import json
import logging
import subprocess
import tempfile
import time
from pathlib import Path

from releases.scanning.envparse import Dependency, ParsedEnvironment, normalise_name
from releases.scanning.scanner import FindingData, ScanResult, bounded
from releases.scanning.severity import Level

log = logging.getLogger(__name__)

MAX_REPORT_BYTES = 20 * 1024 * 1024


class TrivyError(Exception):
    """Trivy could not produce a report (an operational failure, retryable). `detail`: Trivy's own
    words, for staff (ReleaseEvent.STAFF_DETAIL), not for the release's users."""

    detail = ""


def _requirements(parsed: ParsedEnvironment) -> tuple[str, dict, list[dict]]:
    lines: list[str] = []
    where: dict[tuple[str, str], Dependency] = {}
    notes: list[dict] = []
    unpinned = []
    for dep in parsed.dependencies:
        if not dep.matchable or not dep.name:
            continue
        if dep.version is None:
            unpinned.append(dep.name)
            continue
        line = f"{dep.name}=={dep.version}"
        if line not in lines:
            lines.append(line)
            where.setdefault((dep.name, dep.version), dep)
    if unpinned:
        notes.append({"file": "", "line": 0, "message": "Trivy skips unpinned requirements; not scanned: "
                      + ", ".join(sorted(set(unpinned)))})
    return "\n".join(lines) + "\n", where, notes


def _score(vulnerability: dict) -> float | None:
    scores = []
    for source in (vulnerability.get("CVSS") or {}).values():
        if isinstance(source, dict):
            for key in ("V3Score", "V40Score", "V2Score"):
                if isinstance(source.get(key), (int, float)):
                    scores.append(float(source[key]))
    return max(scores) if scores else None


def parse_report(report: dict, where: dict) -> list[FindingData]:
    findings = []
    for result in report.get("Results") or []:
        for vuln in result.get("Vulnerabilities") or []:
            name = normalise_name(str(vuln.get("PkgName", "")))
            dep = where.get((name, str(vuln.get("InstalledVersion") or "")))
            try:
                level = Level(str(vuln.get("Severity", "UNKNOWN")).upper())
            except ValueError:
                level = Level.UNKNOWN
            fixed = [v.strip() for v in str(vuln.get("FixedVersion") or "").split(",") if v.strip()]
            findings.append(FindingData(
                package=name, version=str(vuln.get("InstalledVersion") or "") or None,
                specifier=dep.specifier if dep else "", ecosystem=dep.ecosystem if dep else "pypi",
                advisory_id=str(vuln.get("VulnerabilityID", "")), aliases=[],
                summary=str(vuln.get("Title") or "")[:500], severity=level, score=_score(vuln),
                fixed_versions=fixed, definite=True,
                source_file=dep.source_file if dep else "requirements.txt", line=dep.line if dep else 0,
                role=dep.role if dep else "runtime", pulled_in_by=tuple(dep.via) if dep else (),
            ))
    return findings


def scan_with_trivy(parsed: ParsedEnvironment, binary: str, timeout: float, extra_args=()) -> ScanResult:
    started = time.perf_counter()
    content, where, notes = _requirements(parsed)
    with tempfile.TemporaryDirectory(prefix="gateway-trivy-") as tmp:
        Path(tmp, "requirements.txt").write_text(content)
        cmd = [binary, "fs", "--format", "json", "--scanners", "vuln", "--quiet", *extra_args, tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except FileNotFoundError:
            log.error("Trivy executable not found: %s", binary)
            raise TrivyError("The Trivy executable (TRIVY_PATH) was not found on the worker.") from None
        except PermissionError:
            log.error("Trivy executable is not runnable: %s", binary)
            raise TrivyError("The Trivy executable (TRIVY_PATH) is not runnable on the worker.") from None
        except subprocess.TimeoutExpired:
            raise TrivyError(f"Trivy did not finish within {timeout:g} s.") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        # Its error text can name paths and servers: for the log, not for the release's users.
        log.error("Trivy exited with code %s: %s", proc.returncode, tail[0][:500])
        failure = TrivyError(f"Trivy exited with code {proc.returncode}; its message is in the worker log.")
        failure.detail = tail[0][:500]
        raise failure
    if len(proc.stdout) > MAX_REPORT_BYTES:
        raise TrivyError("Trivy's report is larger than 20 MiB.")
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise TrivyError("Trivy did not print a JSON report.") from None
    if not isinstance(report, dict):
        raise TrivyError("Trivy's report is not a JSON object.")
    conda_skipped = [d.name for d in parsed.dependencies if d.ecosystem == "conda" and d.matchable and d.version]
    if conda_skipped:
        notes.append({"file": "", "line": 0, "message": "Conda packages passed to Trivy as PyPI pins: "
                      + ", ".join(sorted(set(conda_skipped)))})
    version = report.get("Trivy", {}).get("Version", "") if isinstance(report.get("Trivy"), dict) else ""
    findings, issues, errors = bounded(parse_report(report, where), [i.as_dict() for i in parsed.issues] + notes,
                                       [e.as_dict() for e in parsed.errors])
    return ScanResult(
        scanner="trivy", scanner_version=str(version), snapshot_id=None, snapshot_at=None,
        findings=findings, dependencies=parsed.dependencies, issues=issues,
        duration_ms=(time.perf_counter() - started) * 1000, raw_output=report, errors=errors,
    )
