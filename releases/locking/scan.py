"""The lock merged into the parsed environment, so the scanner (built-in or Trivy) sees every pin.

- A declared pip requirement that the lock contains keeps its file, line and specifier, and gets the
  lock's version: its findings are definite, and the report still points at the line that declared it.
- Every other locked package is added with the lock as its file (its line there) and `via`, the
  chain from a declared requirement down to the package that pulled it in.
- What the lock does not contain is scanned as today: conda packages (conda decides them), and
  declared requirements that are not installed on the target (a marker excludes them) or that are
  only constraints of packages nobody requires.
"""
from dataclasses import replace

from django.conf import settings

from releases.locking import lockfile
from releases.locking.resolver import LOCK_NAME
from releases.locking.verdict import headline
from releases.scanning.envparse import Dependency, ParsedEnvironment, ParseIssue


def _lockable(dep: Dependency) -> bool:
    return dep.ecosystem == "pypi" and dep.kind == "registry" and bool(dep.name)


def merged(parsed: ParsedEnvironment, lock) -> ParsedEnvironment:
    """`lock`: a DependencyLock (saved or not)."""
    notes = list(parsed.issues) + [ParseIssue(LOCK_NAME, 0, note) for note in lock.notes]
    if not lock.resolved:
        if lock.outcome != "unresolvable":  # off: the report's lock section says why; nothing was tried
            return ParsedEnvironment(parsed.dependencies, notes, parsed.errors)
        notes.append(ParseIssue(LOCK_NAME, 0, f"no dependency lock ({lock.outcome}): "
                                              f"{headline(lock.message) or 'not resolved'}; declared requirements "
                                              "are scanned as declared"))
        return ParsedEnvironment(parsed.dependencies, notes, parsed.errors)
    # The cap was applied when the lock was made; a lower setting since must not make a stored lock unreadable.
    cap = max(settings.DEPENDENCY_LOCK_MAX_PACKAGES, lock.package_count)
    packages = {p.name: p for p in lockfile.parse(lock.content, cap)}
    requirements = [d for d in parsed.dependencies if _lockable(d) and d.role != "constraint"]
    declared = {d.name for d in requirements}
    build_only = declared - {d.name for d in requirements if d.role != "build"}
    dependencies = []
    for dep in parsed.dependencies:
        locked = packages.get(dep.name) if _lockable(dep) else None
        if locked is None:
            dependencies.append(dep)
        elif dep.role != "constraint":
            dependencies.append(replace(dep, version=locked.version))
    for package in packages.values():
        if package.name in declared:
            continue
        role = "build" if package.chain and package.chain[0] in build_only else "runtime"
        dependencies.append(Dependency(name=package.name, raw_name=package.name, specifier=f"=={package.version}",
                                       version=package.version, source_file=LOCK_NAME, line=package.line,
                                       role=role, via=list(package.chain)))
    return ParsedEnvironment(dependencies, notes, parsed.errors)
