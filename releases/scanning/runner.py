"""Scan a set of environment files with the configured scanner (one entry point)."""
from django.conf import settings

from releases.locking.scan import merged
from releases.scanning.envparse import parse_environment
from releases.scanning.scanner import ScanResult, scan
from releases.scanning.store import DatabaseAdvisoryStore
from releases.scanning.trivy import scan_with_trivy


def run_scan(files: dict[str, str], lock=None) -> ScanResult:
    """`lock`: the release's DependencyLock (releases.locking); its packages are scanned with the files'."""
    parsed = parse_environment(files)
    if lock is not None:
        parsed = merged(parsed, lock)
    if settings.DEPENDENCY_SCANNER == "trivy":
        result = scan_with_trivy(parsed, settings.TRIVY_PATH, settings.TRIVY_TIMEOUT_SECONDS,
                                 settings.TRIVY_EXTRA_ARGS)
    else:
        result = scan(parsed, DatabaseAdvisoryStore())
    if lock is not None:
        result.extra["dependency_lock"] = lock.summary()
    return result
