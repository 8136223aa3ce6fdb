"""What the resolver is given, built from the parsed environment (releases.scanning.envparse).

The requirement lines are written from parsed Dependency objects, not copied from the model's
files: a `-r`, `-c`, `--index-url`, `--find-links` or path in a file never reaches uv, so uv reads
nothing on the gateway's disk and asks no host but PACKAGE_INDEX_URL. Direct references (URL, VCS,
path requirements) are refused before resolving: a lock of them would fetch from wherever they point.

Every pip requirement of every environment file goes in (python_env.yaml's build_dependencies and
dependencies, conda.yaml's pip section, requirements.txt), as one set: the image installs the lock,
so what any of them declares is in it, and files that contradict each other do not resolve.
Conda-level packages are not resolved (conda's solver and channels decide them).
"""
import re
from dataclasses import dataclass, field

from releases.scanning.envparse import Dependency, ParsedEnvironment

INPUT_NAME = "requirements.in"  # what uv's "# via -r ..." names: a declared requirement
CONSTRAINTS_NAME = "constraints.txt"
_PY_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?")
_PY_SERIES = re.compile(r"==(\d+\.\d+)\.\*")


class Refused(Exception):
    """The requirements cannot be locked as declared (the reason names file and line)."""


@dataclass
class LockInput:
    requirements: list[str]
    constraints: list[str]
    python_version: str
    declared: dict[str, list[Dependency]]  # normalised name -> its declarations (file, line)
    notes: list[str] = field(default_factory=list)

    def requirements_text(self) -> str:
        return "\n".join(self.requirements) + "\n"

    def constraints_text(self) -> str:
        return "\n".join(self.constraints) + "\n" if self.constraints else ""


def _line(dep: Dependency) -> str:
    extras = f"[{','.join(dep.extras)}]" if dep.extras else ""
    marker = f" ; {dep.marker}" if dep.marker else ""
    return f"{dep.name}{extras}{dep.specifier}{marker}"


def python_version(parsed: ParsedEnvironment) -> str:
    """The Python the model runs on, from python_env.yaml or conda.yaml; Refused if none says or they disagree."""
    found: dict[str, str] = {}
    for dep in parsed.dependencies:
        if dep.ecosystem != "conda" or dep.name != "python":
            continue
        version = dep.version if dep.version and _PY_VERSION.fullmatch(dep.version) else None
        series = _PY_SERIES.fullmatch(dep.specifier or "")
        version = version or (series.group(1) if series else None)
        if version:
            found[dep.location] = version
            for other in dep.also_in:
                found[other] = version
    if not found:
        raise Refused("no Python version to resolve for: neither python_env.yaml (python:) nor conda.yaml "
                      "(python=X.Y) names one")
    versions = sorted(set(found.values()), key=len, reverse=True)
    most = versions[0]
    if any(not most.startswith(v + ".") and v != most for v in versions[1:]):
        where = ", ".join(f"{loc} says {v}" for loc, v in sorted(found.items()))
        raise Refused(f"the environment files name different Python versions ({where})")
    return most


def build(parsed: ParsedEnvironment) -> LockInput:
    """The resolver's input; Refused when the model's requirements cannot be locked as they are."""
    if parsed.errors:  # the scan blocks on these anyway; a lock of part of the files would say nothing
        first = parsed.errors[0]
        raise Refused(f"{first.file}:{first.line}: {first.message}" if first.file else first.message)
    direct = [d for d in parsed.dependencies if d.ecosystem == "pypi" and d.kind not in ("registry", "index")]
    if direct:
        first = direct[0]
        more = f" (and {len(direct) - 1} more)" if len(direct) > 1 else ""
        raise Refused(f"{first.location}: {first.kind} requirement {first.url[:200]} is not from the package "
                      f"index; the gateway locks only what PACKAGE_INDEX_URL serves{more}")
    version = python_version(parsed)
    requirements, constraints, declared, notes = [], [], {}, []
    for dep in parsed.dependencies:
        if dep.ecosystem != "pypi" or dep.kind != "registry" or not dep.name:
            continue
        declared.setdefault(dep.name, []).append(dep)
        target = constraints if dep.role == "constraint" else requirements
        if _line(dep) not in target:
            target.append(_line(dep))
    if any(d.kind == "index" for d in parsed.dependencies):
        notes.append("the environment files name other package sources (--index-url, --find-links, ...): the "
                     "lock is resolved from PACKAGE_INDEX_URL only")
    conda = sorted({d.raw_name or d.name for d in parsed.dependencies
                    if d.ecosystem == "conda" and d.name != "python" and d.matchable})
    if conda:
        notes.append(f"{len(conda)} conda package(s) are not in the lock (conda's solver and channels choose them); "
                     "they are scanned as declared: " + ", ".join(conda[:20]) + ("…" if len(conda) > 20 else ""))
    if not requirements:
        raise Refused("the environment files declare no pip requirements to resolve")
    return LockInput(requirements, constraints, version, declared, notes)
