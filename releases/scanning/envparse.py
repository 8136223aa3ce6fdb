"""Parse a model's environment files into one de-duplicated dependency list.

Inputs: conda.yaml (conda packages and its `pip:` section), requirements.txt
(pip's requirement-file syntax) and python_env.yaml (MLflow's virtualenv spec).
`-r`/`-c` includes are resolved among the given files only: nothing is read
from disk or the network.
"""
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from releases.scanning import conda

MAX_INCLUDE_DEPTH = 5
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
_URL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_EGG_RE = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
# pip options that take a value on the same line; none of them names a dependency.
_IGNORED_OPTIONS = ("-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host",
                    "--no-binary", "--only-binary", "--prefer-binary", "--pre", "--require-hashes",
                    "--use-feature", "--no-index", "--progress-bar")
_PER_REQ_OPTIONS = re.compile(r"\s--(hash|global-option|install-option|config-settings)(=|\s+)\S+")
_SIMPLE_PIN_RE = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*==\s*([0-9][A-Za-z0-9.+!_-]*)")


def normalise_name(name: str) -> str:
    """PEP 503."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Dependency:
    name: str  # PEP 503 name of the PyPI project (for conda, after mapping)
    specifier: str  # "" means any version
    version: str | None  # the pinned version, if exactly one version is allowed
    source_file: str
    line: int
    ecosystem: str = "pypi"  # "pypi" or "conda"
    kind: str = "registry"  # registry | url | vcs | path
    url: str = ""
    raw_name: str = ""
    extras: list[str] = field(default_factory=list)
    marker: str = ""
    matchable: bool = True  # False: conda-only, or not from the package index
    also_in: list[str] = field(default_factory=list)

    @property
    def pinned(self) -> bool:
        return self.version is not None

    @property
    def location(self) -> str:
        return f"{self.source_file}:{self.line}"

    def as_dict(self) -> dict:
        return {
            "name": self.name, "specifier": self.specifier, "version": self.version,
            "source_file": self.source_file, "line": self.line, "ecosystem": self.ecosystem, "kind": self.kind,
            "url": self.url, "raw_name": self.raw_name, "extras": self.extras, "marker": self.marker,
            "matchable": self.matchable, "also_in": self.also_in,
        }


@dataclass
class ParseIssue:
    file: str
    line: int
    message: str

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "message": self.message}


@dataclass
class ParsedEnvironment:
    dependencies: list[Dependency]
    issues: list[ParseIssue]


def pinned_version(spec: SpecifierSet) -> str | None:
    for item in spec:
        if item.operator in ("==", "===") and not item.version.endswith(".*"):
            return item.version
    return None


# --- requirement lines (requirements.txt, conda pip:, python_env.yaml) ---------------
class _RequirementParser:
    def __init__(self, files: dict[str, str], issues: list[ParseIssue]):
        self.files = files
        self.issues = issues
        self.constraints: dict[str, dict[str, str]] = {}  # name -> {specifier: where}
        self.already_included: set[str] = set()

    def find_file(self, reference: str, relative_to: str) -> str | None:
        """Resolve an include among the given files: exact path, relative path, or base name."""
        base = PurePosixPath(relative_to).parent
        for candidate in (reference, str(base / reference)):
            if candidate in self.files:
                return candidate
        wanted = PurePosixPath(reference).name
        matches = [name for name in self.files if PurePosixPath(name).name == wanted]
        return matches[0] if len(matches) == 1 else None

    def parse_file(self, name: str, depth: int = 0, seen: frozenset = frozenset()) -> list[Dependency]:
        return self.parse_lines(name, _logical_lines(self.files[name]), depth, seen | {name})

    def parse_lines(self, source: str, lines, depth: int = 0, seen: frozenset = frozenset()) -> list[Dependency]:
        deps = []
        for lineno, text in lines:
            deps.extend(self.parse_line(source, lineno, text, depth, seen))
        return deps

    def include(self, source, lineno, target, depth, seen, constraint: bool) -> list[Dependency]:
        found = self.find_file(target, source)
        if found is None:
            self.issues.append(ParseIssue(source, lineno, f"included file {target!r} is not among the fetched files"))
            return []
        if found in seen or depth >= MAX_INCLUDE_DEPTH:
            self.issues.append(ParseIssue(source, lineno, f"include of {target!r} skipped (cycle or too deep)"))
            return []
        if found in self.already_included:
            return []  # e.g. both conda.yaml and python_env.yaml include requirements.txt
        self.already_included.add(found)
        deps = self.parse_file(found, depth + 1, seen)
        if not constraint:
            return deps
        for dep in deps:  # constraints narrow versions; they add no dependency
            if dep.kind == "registry":
                self.constraints.setdefault(dep.name, {}).setdefault(dep.specifier, dep.location)
        return []

    def parse_line(self, source: str, lineno: int, text: str, depth: int, seen: frozenset) -> list[Dependency]:
        line = _PER_REQ_OPTIONS.sub("", " " + text).strip()
        if not line:
            return []
        for flags, constraint in ((("-r", "--requirement"), False), (("-c", "--constraint"), True)):
            target = _option_value(line, flags)
            if target is not None:
                return self.include(source, lineno, target, depth, seen, constraint)
        editable = _option_value(line, ("-e", "--editable"))
        if editable is not None:
            return [self.direct_reference(source, lineno, editable)]
        if line.startswith("-"):
            if not line.split("=")[0].split()[0] in _IGNORED_OPTIONS:
                self.issues.append(ParseIssue(source, lineno, f"unknown pip option ignored: {line[:80]}"))
            return []
        if _URL_RE.match(line) or line.startswith((".", "/", "file:")) or line.startswith(_VCS_PREFIXES):
            return [self.direct_reference(source, lineno, line)]
        simple = _SIMPLE_PIN_RE.fullmatch(line)
        if simple:  # the common "name==1.2.3" line, without the full PEP 508 parser
            name, version = simple.groups()
            return [Dependency(name=normalise_name(name), raw_name=name, specifier=f"=={version}", version=version,
                               source_file=source, line=lineno)]
        # Imported here: scan_env must start fast, and most lines take the fast path above.
        from packaging.requirements import InvalidRequirement, Requirement

        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            self.issues.append(ParseIssue(source, lineno, f"not a valid requirement ({exc}): {line[:80]}"))
            return []
        dep = Dependency(
            name=normalise_name(req.name), raw_name=req.name, specifier=str(req.specifier),
            version=pinned_version(req.specifier), source_file=source, line=lineno,
            extras=sorted(req.extras), marker=str(req.marker) if req.marker else "",
        )
        if req.url:
            dep.kind = "vcs" if req.url.startswith(_VCS_PREFIXES) else ("path" if req.url.startswith("file:") else "url")
            dep.url, dep.matchable = req.url, False
        return [dep]

    def direct_reference(self, source: str, lineno: int, target: str) -> Dependency:
        """A URL, VCS or local-path requirement: not from the index, so not matchable by version."""
        target = target.strip()
        egg = _EGG_RE.search(target)
        raw = egg.group(1) if egg else _name_from_location(target)
        if target.startswith(_VCS_PREFIXES):
            kind = "vcs"
        elif _URL_RE.match(target) and not target.startswith("file:"):
            kind = "url"
        else:
            kind = "path"
        return Dependency(name=normalise_name(raw) if raw else "", raw_name=raw or "", specifier="", version=None,
                          source_file=source, line=lineno, kind=kind, url=target, matchable=False)

    def apply_constraints(self, deps: list[Dependency]) -> None:
        for dep in deps:
            for spec, where in self.constraints.get(dep.name, {}).items():
                combined = SpecifierSet(dep.specifier) & SpecifierSet(spec)
                dep.specifier = str(combined)
                dep.version = pinned_version(combined)
                dep.also_in.append(f"constraint {where}")


def _option_value(line: str, flags) -> str | None:
    for flag in flags:
        if line == flag:
            return ""
        for sep in (" ", "="):
            if line.startswith(flag + sep):
                return line[len(flag) + 1:].strip()
        if len(flag) == 2 and line.startswith(flag) and not line.startswith(flag + "-"):
            return line[2:].strip()  # -rfile.txt
    return None


def _name_from_location(target: str) -> str:
    tail = target.split("#")[0].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".tar.gz", ".zip", ".tar.bz2", ".whl", ".git"):
        if tail.endswith(suffix):
            tail = tail[: -len(suffix)]
    match = re.match(r"([A-Za-z0-9][A-Za-z0-9._]*?)(-\d.*)?$", tail)
    return match.group(1) if match and tail not in (".", "..") else ""


def _logical_lines(text: str):
    """(first line number, text) per logical line: comments removed, continuations joined."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        yield start, (pending + stripped).strip()
        pending = ""
    if pending.strip():
        yield start, pending.strip()


# --- conda packages ----------------------------------------------------------------
_CONDA_RE = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(.*)$")


def parse_conda_spec(text: str) -> tuple[str, str, str | None, str | None]:
    """'conda-forge::numpy=1.19.0=py38h0' → (name, pep440 specifier, pinned version, problem)."""
    spec = text.strip()
    if "::" in spec:
        spec = spec.split("::", 1)[1]
    match = _CONDA_RE.match(spec)
    if not match:
        return "", "", None, f"not a conda package spec: {text[:80]}"
    name, rest = match.group(1), match.group(2).strip()
    rest = rest.split("[", 1)[0].strip()  # bracketed keys: numpy[version='>=1.19']
    if not rest:
        return name, "", None, None
    if " " in rest:  # "numpy 1.19.0 py38_0": version then build string
        rest = rest.split()[0]
        if rest[0].isdigit():
            rest = "=" + rest
    if rest.startswith("=") and not rest.startswith("=="):
        version = rest[1:].split("=", 1)[0]  # drop the build string
        if "|" in version:
            return name, "", None, f"alternatives ('|') are scanned as unpinned: {text[:80]}"
        if version.endswith("*"):
            return name, f"=={version.rstrip('.*')}.*", None, None
        if version.count(".") >= 2:
            return name, f"=={version}", version, None
        return name, f"=={version}.*", None, None  # conda's "=1.19" means 1.19.*
    if "|" in rest:
        return name, "", None, f"alternatives ('|') are scanned as unpinned: {text[:80]}"
    spec_text = rest.split("=", 2)[0] if rest.count("=") > 2 else rest
    try:
        parsed = SpecifierSet(spec_text)
    except InvalidSpecifier:
        return name, "", None, f"version spec not understood, scanned as unpinned: {text[:80]}"
    return name, str(parsed), pinned_version(parsed), None


# --- YAML files ------------------------------------------------------------------------
def _compose(name: str, text: str, issues: list[ParseIssue]):
    """A YAML node tree (no object construction, so no code runs) with line numbers."""
    import yaml  # only when there is YAML to read (scan_env start-up)

    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        issues.append(ParseIssue(name, (mark.line + 1) if mark else 0, f"invalid YAML: {getattr(exc, 'problem', exc)}"))
        return None


def _mapping_get(node, key: str):
    if type(node).__name__ == "MappingNode":
        for k, v in node.value:
            if type(k).__name__ == "ScalarNode" and k.value == key:
                return v
    return None


def _scalar_items(node):
    if type(node).__name__ == "SequenceNode":
        yield from node.value


def _is_scalar(node) -> bool:
    return type(node).__name__ == "ScalarNode"


def _is_mapping(node) -> bool:
    return type(node).__name__ == "MappingNode"


def _parse_conda_yaml(name: str, text: str, parser: _RequirementParser, issues) -> list[Dependency]:
    root = _compose(name, text, issues)
    deps: list[Dependency] = []
    for item in _scalar_items(_mapping_get(root, "dependencies")):
        line = item.start_mark.line + 1
        if _is_mapping(item):
            pip_section = _mapping_get(item, "pip")
            lines = [(sub.start_mark.line + 1, str(sub.value)) for sub in _scalar_items(pip_section)
                     if _is_scalar(sub)]
            deps.extend(parser.parse_lines(name, lines, seen=frozenset({name})))
            continue
        if not _is_scalar(item):
            continue
        raw_name, specifier, version, problem = parse_conda_spec(str(item.value))
        if problem:
            issues.append(ParseIssue(name, line, problem))
        if not raw_name:
            continue
        pypi = conda.pypi_name(raw_name)
        deps.append(Dependency(
            name=pypi or normalise_name(raw_name), raw_name=raw_name, specifier=specifier, version=version,
            source_file=name, line=line, ecosystem="conda", matchable=pypi is not None,
        ))
    return deps


def _parse_python_env(name: str, text: str, parser: _RequirementParser, issues) -> list[Dependency]:
    root = _compose(name, text, issues)
    deps: list[Dependency] = []
    python = _mapping_get(root, "python")
    if _is_scalar(python):
        deps.append(Dependency(name="python", raw_name="python", specifier=f"=={python.value}",
                               version=str(python.value), source_file=name, line=python.start_mark.line + 1,
                               ecosystem="conda", matchable=False))
    for key in ("build_dependencies", "dependencies"):
        lines = [(item.start_mark.line + 1, str(item.value)) for item in _scalar_items(_mapping_get(root, key))
                 if _is_scalar(item)]
        deps.extend(parser.parse_lines(name, lines, seen=frozenset({name})))
    return deps


def file_kind(name: str, text: str = "") -> str | None:
    base = PurePosixPath(name).name.lower()
    if base == "mlmodel":
        return None
    if base.endswith((".yaml", ".yml")):
        if "python_env" in base:
            return "python_env"
        if "conda" in base or "channels:" in text:
            return "conda"
        if "build_dependencies:" in text or re.search(r"^python:", text, re.M):
            return "python_env"
        return "conda"
    if base.endswith((".txt", ".in")) or "requirements" in base:
        return "requirements"
    return None


def parse_environment(files: dict[str, str]) -> ParsedEnvironment:
    """Parse every recognised file. YAML files go first (they include requirement
    files); a requirement file already reached through an include is not parsed again."""
    issues: list[ParseIssue] = []
    parser = _RequirementParser(files, issues)
    kinds = {name: file_kind(name, text) for name, text in files.items()}
    constraint_files = {parser.find_file(m.group(1), name) for name, text in files.items()
                        for m in re.finditer(r"(?m)(?:^|[\s'\"])(?:-c|--constraint)[\s=]+([^\s'\"#]+)", text)}
    deps: list[Dependency] = []
    for name in sorted(files, key=lambda n: (kinds[n] == "requirements", PurePosixPath(n).name != "requirements.txt", n)):
        kind = kinds[name]
        if kind == "conda":
            deps.extend(_parse_conda_yaml(name, files[name], parser, issues))
        elif kind == "python_env":
            deps.extend(_parse_python_env(name, files[name], parser, issues))
        elif kind == "requirements" and name not in parser.already_included and name not in constraint_files:
            parser.already_included.add(name)
            deps.extend(parser.parse_file(name))
    parser.apply_constraints(deps)
    return ParsedEnvironment(dependencies=_deduplicate(deps), issues=issues)


def _deduplicate(deps: list[Dependency]) -> list[Dependency]:
    """One entry per (ecosystem, name, specifier, kind); later sightings go to also_in."""
    kept: dict[tuple, Dependency] = {}
    for dep in deps:
        key = (dep.name, dep.specifier, dep.kind, dep.url, dep.matchable)
        if key in kept:
            kept[key].also_in.append(dep.location)
        else:
            kept[key] = dep
    return list(kept.values())
