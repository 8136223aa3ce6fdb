"""Read a lock written by `uv pip compile --generate-hashes` (split annotations), strictly.

    midlib==1.2 \\
        --hash=sha256:6a23… \\
        --hash=sha256:9f1c…
        # via
        #   -r requirements.in
        #   toplib

Every package is a `name==version` pin with at least one sha256 hash (what `pip install
--require-hashes` demands); anything else is a LockUnreadable naming the line. `# via` says who
requires a package: `-r requirements.in` means the model declares it, a name means that package
pulls it in. `chain` is the shortest path from a declared requirement down to the package's parent.
"""
import re
from collections import deque
from dataclasses import dataclass, field

from releases.locking.inputs import CONSTRAINTS_NAME, INPUT_NAME
from releases.scanning.envparse import normalise_name

_PIN = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)==([A-Za-z0-9.+!_-]+)(?: ;.*)?")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
_VIA_NAME = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?:\[[^\]]*\])?")


class LockUnreadable(Exception):
    pass


@dataclass
class LockedPackage:
    name: str  # PEP 503
    version: str
    line: int
    hashes: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    declared: bool = False
    constrained: bool = False
    chain: list[str] = field(default_factory=list)  # declared requirement → … → parent; [] when declared

    @property
    def pulled_in_by(self) -> str:
        return " → ".join(self.chain)


def _via(package: LockedPackage, text: str, lineno: int) -> None:
    if text in (f"-r {INPUT_NAME}",):
        package.declared = True
    elif text == f"-c {CONSTRAINTS_NAME}":
        package.constrained = True
    else:
        match = _VIA_NAME.fullmatch(text)
        if not match:
            raise LockUnreadable(f"line {lineno}: unexpected annotation {text[:100]!r}")
        package.parents.append(normalise_name(match.group(1)))


def parse(content: str, max_packages: int) -> list[LockedPackage]:
    packages: list[LockedPackage] = []
    current: LockedPackage | None = None
    in_via = False
    for lineno, raw in enumerate(content.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if not raw.startswith((" ", "#")):
            match = _PIN.fullmatch(line.removesuffix("\\").strip())
            if not match:
                raise LockUnreadable(f"line {lineno}: not a name==version pin: {line[:100]!r}")
            current, in_via = LockedPackage(normalise_name(match.group(1)), match.group(2), lineno), False
            packages.append(current)
            if len(packages) > max_packages:
                raise LockUnreadable(f"more than {max_packages} packages (DEPENDENCY_LOCK_MAX_PACKAGES)")
        elif current is None:
            raise LockUnreadable(f"line {lineno}: {line[:100]!r} before the first package")
        elif line.startswith("--hash="):
            match = _HASH.fullmatch(line.removesuffix("\\").strip())
            if not match:
                raise LockUnreadable(f"line {lineno}: not a sha256 hash: {line[:100]!r}")
            current.hashes.append(match.group(1))
        elif line in ("# via", "#via"):
            in_via = True
        elif line.startswith("# via "):
            _via(current, line.removeprefix("# via ").strip(), lineno)
        elif in_via and line.startswith("#   "):
            _via(current, line.removeprefix("#").strip(), lineno)
        elif line.startswith("#"):
            continue  # uv's other comments (e.g. packages it leaves out) install nothing
        else:
            raise LockUnreadable(f"line {lineno}: unexpected {line[:100]!r}")
    for package in packages:
        if not package.hashes:
            raise LockUnreadable(f"line {package.line}: {package.name}=={package.version} has no hash")
    _chains(packages)
    return packages


def _chains(packages: list[LockedPackage]) -> None:
    """Breadth first from the declared requirements: each package gets its shortest chain."""
    by_name = {p.name: p for p in packages}
    children: dict[str, list[str]] = {}
    for package in packages:
        for parent in package.parents:
            children.setdefault(parent, []).append(package.name)
    paths: dict[str, list[str]] = {}
    queue = deque()
    for package in sorted(packages, key=lambda p: p.name):
        if package.declared:
            paths[package.name] = []
            queue.append(package.name)
    while queue:
        name = queue.popleft()
        for child in sorted(children.get(name, ())):
            if child not in paths:
                paths[child] = paths[name] + [name]
                queue.append(child)
    for name, package in by_name.items():
        package.chain = paths.get(name, package.parents[:1])
