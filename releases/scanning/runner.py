"""Scan a set of environment files with the configured scanner (one entry point)."""
from dataclasses import replace

from django.conf import settings

from releases.locking.scan import merged
from releases.scanning import os_inventory
from releases.scanning.envparse import ParsedEnvironment, ParseIssue, parse_environment
from releases.scanning.scanner import ScanResult, bounded, is_os_package, scan
from releases.scanning.store import DatabaseAdvisoryStore
from releases.scanning.trivy import scan_with_trivy


def run_scan(files: dict[str, str], lock=None, base_image: str = "") -> ScanResult:
    """`lock`: the release's DependencyLock (releases.locking); its packages are scanned with the files'.
    `base_image`: the image (by digest) the release's image is built on; its OS packages are scanned too
    (releases.scanning.os_inventory). Raises os_inventory.BaseImageUnavailable when its registry is down."""
    parsed = parse_environment(files)
    if lock is not None:
        parsed = merged(parsed, lock)
    inventory = os_inventory.for_image(base_image) if base_image else None
    if inventory is not None:
        parsed = _with_os_packages(parsed, inventory)
    if settings.DEPENDENCY_SCANNER == "trivy":
        result = _trivy_and_os(parsed)
    else:
        result = scan(parsed, DatabaseAdvisoryStore())
    if lock is not None:
        result.extra["dependency_lock"] = lock.summary()
    if inventory is not None:
        result.extra["base_image"] = base_image
    return result


def _with_os_packages(parsed: ParsedEnvironment, inventory: os_inventory.Inventory) -> ParsedEnvironment:
    """The base's packages beside the model's; a base that cannot be read is an error, which blocks."""
    errors = list(parsed.errors)
    if inventory.problem:
        errors.append(ParseIssue(os_inventory.SOURCE_FILE, 0,
                                 f"OS packages of the base image not scanned: {inventory.problem}"))
    return replace(parsed, dependencies=[*parsed.dependencies, *os_inventory.dependencies(inventory)], errors=errors)


def _trivy_and_os(parsed: ParsedEnvironment) -> ScanResult:
    """Trivy is given Python requirements; the base's OS packages are matched against the synced Debian
    advisories by the built-in matcher, and their findings join Trivy's."""
    python = replace(parsed, dependencies=[d for d in parsed.dependencies if not is_os_package(d)])
    result = scan_with_trivy(python, settings.TRIVY_PATH, settings.TRIVY_TIMEOUT_SECONDS, settings.TRIVY_EXTRA_ARGS)
    os_packages = [d for d in parsed.dependencies if is_os_package(d)]
    if os_packages:
        own = scan(replace(parsed, dependencies=os_packages, issues=[], errors=[]), DatabaseAdvisoryStore())
        result.findings, result.issues, result.errors = bounded(result.findings + own.findings,
                                                                result.issues + own.issues, result.errors)
        result.dependencies = parsed.dependencies
    return result
