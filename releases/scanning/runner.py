"""Scan a set of environment files with the configured scanner (one entry point)."""
from django.conf import settings

from releases.scanning.envparse import parse_environment
from releases.scanning.scanner import ScanResult, scan
from releases.scanning.store import DatabaseAdvisoryStore
from releases.scanning.trivy import scan_with_trivy


def run_scan(files: dict[str, str]) -> ScanResult:
    parsed = parse_environment(files)
    if settings.DEPENDENCY_SCANNER == "trivy":
        return scan_with_trivy(parsed, settings.TRIVY_PATH, settings.TRIVY_TIMEOUT_SECONDS,
                               settings.TRIVY_EXTRA_ARGS)
    return scan(parsed, DatabaseAdvisoryStore())
