"""Read a model's environment files into one de-duplicated dependency list, as installers do.

What is scanned is what conda, pip and MLflow's virtualenv would install from the
same files (README, "What the parser guarantees"):
- every environment file is read in full as its own root, so no text in one file
  can stop another from being scanned; a file reached through `-c` is read too,
  and its pins are scanned as constraints (role "constraint");
- conda.yaml's `pip:` list and python_env.yaml's `build_dependencies` and
  `dependencies` are requirement files, as conda and MLflow write them to disk
  and hand them to `pip install -r` (items joined by newlines, in the model
  directory, so includes resolve against the fetched files);
- anything that cannot be read completely and unambiguously is an *error*, and
  every error blocks the release (policy.evaluate), naming file, line and reason.

Includes are resolved among the given files only: nothing is read from disk or the network.
"""
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from packaging.specifiers import SpecifierSet

from releases.scanning import conda, reqfile, yamlread

# The environment files of an MLflow model, and how each is read.
ENVIRONMENT_FILES = {"python_env.yaml": "python_env", "conda.yaml": "conda", "requirements.txt": "requirements"}
MAX_DEPENDENCIES = 1000  # per release; a large real model declares a few hundred
MAX_ERRORS = 100  # listed per scan; one is enough to block
MAX_NOTES = 200
MAX_YAML_ITEMS = 20_000  # list items expanded (aliases can repeat a list)
_SIMPLE_PIN_RE = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)[ \t]*==[ \t]*([0-9]+(?:\.[0-9]+)*)")
_PYTHON_ENV_KEYS = ("python", "build_dependencies", "dependencies")
_CONDA_KEYS = ("name", "channels", "dependencies", "prefix", "variables", "channel_priority")


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
    role: str = "runtime"  # runtime | build (python_env build_dependencies) | constraint (pins from -c files)
    via: list[str] = field(default_factory=list)  # locked packages only: declared requirement → … → parent

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
            "matchable": self.matchable, "also_in": self.also_in, "role": self.role,
            **({"via": self.via} if self.via else {}),
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
    issues: list[ParseIssue]  # notes: nothing was hidden, but the user should know
    errors: list[ParseIssue] = field(default_factory=list)  # unreadable: each one blocks the release


def pinned_version(spec: SpecifierSet) -> str | None:
    for item in spec:
        if item.operator in ("==", "===") and not item.version.endswith(".*"):
            return item.version
    return None


class _TooMuch(Exception):
    """A cap was reached: reading stops, and the cap's error blocks the release."""


class _Reader:
    def __init__(self, files: dict[str, str]):
        self.files = files
        self.errors: list[ParseIssue] = []
        self.notes: list[ParseIssue] = []
        self.dependencies: list[Dependency] = []
        self.error_count = 0
        self.note_count = 0

    # --- outcomes --------------------------------------------------------------------
    def error(self, file: str, line: int, message: str) -> None:
        if any((e.file, e.line, e.message) == (file, line, message) for e in self.errors[-5:]):
            return  # the same line reached again through another root
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(ParseIssue(file, line, message))
        elif self.error_count > 10 * MAX_ERRORS:
            raise _TooMuch()  # enough to block; stop spending work on this input

    def note(self, file: str, line: int, message: str) -> None:
        self.note_count += 1
        if len(self.notes) < MAX_NOTES:
            self.notes.append(ParseIssue(file, line, message))

    def add(self, deps: list[Dependency]) -> None:
        self.dependencies.extend(deps)
        if len(self.dependencies) > MAX_DEPENDENCIES:
            self.error("", 0, f"more than {MAX_DEPENDENCIES} dependencies: the gateway scans at most "
                              f"{MAX_DEPENDENCIES} per release and will not pass a release it did not scan in full")
            raise _TooMuch()

    # --- pip requirement files ----------------------------------------------------------
    def pip_invocation(self, source: str, numbered_lines, role: str) -> None:
        """One `pip install -r` of these lines: its requirements, then its constraints."""
        constraints: list[Dependency] = []
        deps = self.requirement_lines(source, numbered_lines, role, False, (source,), constraints)
        _apply_constraints(deps, constraints)
        self.add(deps + constraints)

    def requirement_lines(self, source, numbered_lines, role, constraint, chain, constraints) -> list[Dependency]:
        deps: list[Dependency] = []
        for lineno, text in numbered_lines:
            try:
                parsed = reqfile.parse_line(text)
                if parsed.include is not None:
                    deps.extend(self.include(source, lineno, parsed.include, role, chain, constraints))
                elif parsed.requirement:
                    dep = self.requirement(source, lineno, parsed, "constraint" if constraint else role)
                    (constraints if constraint else deps).append(dep)
                else:
                    deps.extend(self.options(source, lineno, parsed.options, role))
            except reqfile.LineRefused as exc:
                self.error(source, lineno, exc.message)
            if len(deps) + len(constraints) > MAX_DEPENDENCIES:
                self.add(deps + constraints)  # raises _TooMuch with the cap's error
        return deps

    def include(self, source, lineno, include, role, chain, constraints) -> list[Dependency]:
        target, is_constraint = include
        flag = "-c" if is_constraint else "-r"
        path = reqfile.resolve_include(source, target)
        if path is None:
            raise reqfile.LineRefused(f"{flag} {target!r} is a URL or a path outside the model directory: "
                                      "the gateway cannot see what it installs")
        if path not in self.files:
            raise reqfile.LineRefused(f"{flag} {target!r} names a file that was not fetched with the model "
                                      f"(fetched: {', '.join(sorted(self.files)) or 'none'})")
        if path in chain:
            raise reqfile.LineRefused(f"{flag} {target!r} includes a file that includes it; pip refuses the file")
        lines = self.requirement_file_lines(path)
        # pip: a -r inside a constraint file installs; a -c anywhere constrains.
        return self.requirement_lines(path, lines, role, is_constraint, chain + (path,), constraints)

    def requirement_file_lines(self, name: str):
        try:
            reqfile.decode_check(name, self.files[name])
        except reqfile.LineRefused as exc:
            self.error(name, 1, exc.message)
            return []
        return reqfile.logical_lines(self.files[name])

    def options(self, source: str, lineno: int, options: dict, role: str) -> list[Dependency]:
        """Options that change where packages come from, as 'index' entries: pip may fetch a
        scanned name and version from there, so the policy treats them like direct references."""
        found = []
        for dest in reqfile.SOURCE_OPTIONS:
            values = options.get(dest)
            for value in [values] if isinstance(values, str) else values or ():
                found.append(Dependency(name="", specifier="", version=None, source_file=source, line=lineno,
                                        kind="index", url=f"{reqfile.flag(dest)} {value}", matchable=False,
                                        role=role))
        return found

    def requirement(self, source: str, lineno: int, parsed: reqfile.ParsedLine, role: str) -> Dependency:
        """One requirement, read as pip's parse_req_from_line reads it (without a file system)."""
        text = parsed.requirement
        if parsed.editable:
            if role == "constraint":
                raise reqfile.LineRefused("pip refuses editable requirements as constraints")
            return _direct_reference(source, lineno, text, role, editable=True)
        simple = _SIMPLE_PIN_RE.fullmatch(text)
        if simple:  # the common "name==1.2.3" line, without the full PEP 508 parser
            name, version = simple.groups()
            return Dependency(name=normalise_name(name), raw_name=name, specifier=f"=={version}", version=version,
                              source_file=source, line=lineno, role=role)
        marker_sep = "; " if reqfile.is_url(text) else ";"
        words, _, marker = text.partition(marker_sep)
        words = words.strip()
        if reqfile.is_url(words):
            return _direct_reference(source, lineno, words, role, marker=marker.strip())
        if reqfile.looks_like_path(words) or reqfile.is_archive(words.split("[", 1)[0]):
            before_at = words.split("@", 1)
            if not (len(before_at) >= 2 and not reqfile.looks_like_path(before_at[0])):
                if re.search(r"[\s=<>!~]", words):
                    raise reqfile.LineRefused("looks like both a path and a requirement: what pip does depends "
                                              "on the build's file system")
                if role == "constraint":
                    raise reqfile.LineRefused("pip refuses unnamed (path) requirements as constraints")
                return _direct_reference(source, lineno, words, role, marker=marker.strip())
        return _pep508(source, lineno, text, role)

    # --- YAML files ----------------------------------------------------------------------
    def yaml_root(self, name: str):
        try:
            root = yamlread.read(self.files[name])
        except yamlread.YamlRefused as exc:
            self.error(name, exc.line, exc.message)
            return None
        if not isinstance(root, yamlread.Mapping):
            what = "empty" if root is None else "a list" if isinstance(root, yamlread.Sequence) else "a single value"
            self.error(name, getattr(root, "line", 1), f"the file is {what}, not a mapping of keys")
            return None
        return root

    def string_list(self, name: str, node, what: str) -> list:
        if not isinstance(node, yamlread.Sequence):
            raise yamlread.YamlRefused(node.line, f"{what} must be a list")
        if len(node.items) > MAX_YAML_ITEMS:
            raise yamlread.YamlRefused(node.line, f"{what} has more than {MAX_YAML_ITEMS} items")
        return node.items

    def yaml_requirements(self, name: str, items: list, what: str, role: str) -> None:
        """A YAML list handed to `pip install -r`: its items are the lines of a requirements file."""
        texts, lines = [], []
        for item in items:
            if not isinstance(item, yamlread.Scalar):
                raise yamlread.YamlRefused(getattr(item, "line", 0), f"an item of {what} is not a string")
            text = item.text(f"an item of {what}")
            texts.append(text)
            lines.extend([item.line] * len((text + "\n").splitlines()))
        joined = "\n".join(texts)
        try:
            reqfile.decode_check(name, joined)
        except reqfile.LineRefused as exc:
            raise yamlread.YamlRefused(items[0].line if items else 0, exc.message) from None
        physical = ((lines[min(n, len(lines)) - 1] if lines else 0, text)
                    for n, text in reqfile.logical_lines(joined))
        self.pip_invocation(name, physical, role)

    def python_env(self, name: str) -> None:
        """MLflow's virtualenv: `python` (a string), then `pip install -r` of each list."""
        root = self.yaml_root(name)
        if root is None:
            return
        try:
            unknown = [k for k in root.items if k not in _PYTHON_ENV_KEYS]
            if unknown:
                raise yamlread.YamlRefused(root.key_lines[unknown[0]], f"unknown key {unknown[0]!r}: MLflow "
                                                                       "refuses python_env.yaml with it")
            python = root.items.get("python")
            if python is not None and not (isinstance(python, yamlread.Scalar) and python.tag.endswith(":null")):
                if not isinstance(python, yamlread.Scalar):
                    raise yamlread.YamlRefused(python.line, "python must be a version string")
                version = python.text("python")
                self.add([Dependency(name="python", raw_name="python", specifier=f"=={version}", version=version,
                                     source_file=name, line=python.line, ecosystem="conda", matchable=False)])
            for key, role in (("build_dependencies", "build"), ("dependencies", "runtime")):
                node = root.items.get(key)
                if node is None or isinstance(node, yamlread.Scalar) and node.tag.endswith(":null"):
                    continue  # MLflow reads a missing or empty list as no dependencies
                self.yaml_requirements(name, self.string_list(name, node, key), key, role)
        except yamlread.YamlRefused as exc:
            self.error(name, exc.line, exc.message)

    def conda_env(self, name: str) -> None:
        """conda env create: conda packages, then `pip install -r` of the `pip:` list."""
        root = self.yaml_root(name)
        if root is None:
            return
        try:
            for key in root.items:
                if key not in _CONDA_KEYS:
                    self.note(name, root.key_lines[key], f"key {key!r} is not read by conda and not scanned")
            node = root.items.get("dependencies")
            if node is None:
                return
            pip_sections, packages = [], []
            for item in self.string_list(name, node, "dependencies"):
                try:
                    if isinstance(item, yamlread.Mapping):
                        if list(item.items) != ["pip"]:
                            raise yamlread.YamlRefused(item.line, "a mapping in dependencies may only be {pip: [...]}")
                        pip_sections.append(item)
                    elif isinstance(item, yamlread.Scalar):
                        packages.append((item.line, item.text("a conda dependency")))
                    else:
                        raise yamlread.YamlRefused(item.line, "a conda dependency must be a string or {pip: [...]}")
                except yamlread.YamlRefused as exc:  # one bad item blocks; the others are still listed
                    self.error(name, exc.line, exc.message)
            if len(pip_sections) > 1:
                raise yamlread.YamlRefused(pip_sections[1].line, "more than one pip: section: conda installs only "
                                                                 f"the last (line {pip_sections[-1].line})")
            self.add([d for line, text in packages for d in self.conda_package(name, line, text)])
            if pip_sections:
                section = pip_sections[0].items["pip"]
                self.yaml_requirements(name, self.string_list(name, section, "pip"), "pip", "runtime")
        except yamlread.YamlRefused as exc:
            self.error(name, exc.line, exc.message)

    def conda_package(self, name: str, line: int, text: str) -> list[Dependency]:
        try:
            raw_name, specifier, version = conda.parse_spec(text)
        except conda.SpecRefused as exc:
            self.error(name, line, str(exc))
            return []
        pypi = conda.pypi_name(raw_name)
        return [Dependency(name=pypi or normalise_name(raw_name), raw_name=raw_name, specifier=specifier,
                           version=version, source_file=name, line=line, ecosystem="conda",
                           matchable=pypi is not None)]


def _pep508(source: str, lineno: int, text: str, role: str) -> Dependency:
    # Imported here: scan_env must start fast, and most lines take the fast path.
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise reqfile.LineRefused(f"not a valid requirement: {str(exc).splitlines()[0][:160]}") from None
    if any(str(spec).endswith("]") for spec in req.specifier):
        raise reqfile.LineRefused("extras after the version: pip refuses this requirement")
    dep = Dependency(name=normalise_name(req.name), raw_name=req.name, specifier=str(req.specifier),
                     version=pinned_version(req.specifier), source_file=source, line=lineno,
                     extras=sorted(req.extras), marker=str(req.marker) if req.marker else "", role=role)
    if req.url:
        if role == "constraint":
            raise reqfile.LineRefused("a URL constraint: the gateway cannot tell what it pins")
        dep.kind = _kind(req.url)
        dep.url, dep.matchable = req.url, False
    return dep


def _kind(url: str) -> str:
    scheme = reqfile.url_scheme(url) or ""
    if "+" in scheme or scheme in ("git", "svn"):
        return "vcs"
    return "path" if scheme in ("file", "") else "url"


def _direct_reference(source, lineno, target, role, editable=False, marker="") -> Dependency:
    """A URL, VCS or local-path requirement: not from the index, so not matchable by version."""
    raw = reqfile.egg_fragment(target) or _name_from_location(target)
    return Dependency(name=normalise_name(raw) if raw else "", raw_name=raw, specifier="", version=None,
                      source_file=source, line=lineno, kind=_kind(target) if reqfile.is_url(target) else "path",
                      url=target, matchable=False, marker=marker, role=role)


def _name_from_location(target: str) -> str:
    tail = target.split("#")[0].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    wheel = reqfile.wheel_name_version(tail)
    if wheel:
        return wheel[0]
    for suffix in (".tar.gz", ".zip", ".tar.bz2", ".git"):
        if tail.endswith(suffix):
            tail = tail[: -len(suffix)]
    match = re.match(r"([A-Za-z0-9][A-Za-z0-9._]*?)(-\d.*)?$", tail)
    return match.group(1) if match and tail not in (".", "..") else ""


def _apply_constraints(deps: list[Dependency], constraints: list[Dependency]) -> None:
    """Within one pip invocation, a constraint narrows the versions a requirement may take."""
    by_name: dict[str, list[Dependency]] = {}
    for constraint in constraints:
        if constraint.kind == "registry":
            by_name.setdefault(constraint.name, []).append(constraint)
    for dep in deps:
        for constraint in by_name.get(dep.name, ()):
            if dep.kind != "registry":
                continue
            combined = SpecifierSet(dep.specifier) & SpecifierSet(constraint.specifier)
            dep.specifier = str(combined)
            dep.version = pinned_version(combined)
            dep.also_in.append(f"constraint {constraint.location}")


def file_kind(name: str) -> str | None:
    """How a file is read, by its name: MLflow's names first, then common patterns (scan_env)."""
    base = PurePosixPath(name).name
    if base in ENVIRONMENT_FILES:
        return ENVIRONMENT_FILES[base]
    lowered = base.lower()
    if lowered == "mlmodel":
        return None
    if lowered.endswith((".yaml", ".yml")):
        return "python_env" if "python_env" in lowered else "conda"
    if lowered.endswith((".txt", ".in")) or "requirements" in lowered:
        return "requirements"
    return None


def parse_environment(files: dict[str, str]) -> ParsedEnvironment:
    """Read every environment file in full, each as its own root (see the module docstring)."""
    reader = _Reader(files)
    kinds = {name: file_kind(name) or "" for name in files}
    order = {"python_env": 0, "conda": 1, "requirements": 2}
    roots = sorted((n for n in files if kinds[n]), key=lambda n: (order[kinds[n]], n))
    try:
        for name in files:
            if kinds[name] is None and PurePosixPath(name).name != "MLmodel":
                reader.error(name, 0, "not an environment file the gateway can read (conda YAML, python_env YAML "
                                      "or a pip requirements file)")
        if not roots:
            reader.error("", 0, "the model has no environment files (" + ", ".join(ENVIRONMENT_FILES)
                         + "): there is nothing to scan, and an unscanned model does not pass")
        for name in roots:
            if kinds[name] == "python_env":
                reader.python_env(name)
            elif kinds[name] == "conda":
                reader.conda_env(name)
            else:
                reader.pip_invocation(name, reader.requirement_file_lines(name), "runtime")
    except _TooMuch:
        pass
    if reader.error_count > len(reader.errors):
        reader.errors.append(ParseIssue("", 0, f"and {reader.error_count - len(reader.errors)} more error(s)"))
    if reader.note_count > MAX_NOTES:
        reader.errors.append(ParseIssue("", 0, f"more than {MAX_NOTES} parser notes ({reader.note_count}): "
                                               "a file this unusual is not passed without a person reading it"))
    return ParsedEnvironment(dependencies=_deduplicate(reader.dependencies), issues=reader.notes,
                             errors=reader.errors)


def _deduplicate(deps: list[Dependency]) -> list[Dependency]:
    """One entry per (ecosystem, name, specifier, kind); later sightings go to also_in."""
    kept: dict[tuple, Dependency] = {}
    for dep in deps:
        key = (dep.ecosystem, dep.name, dep.specifier, dep.kind, dep.url, dep.matchable)
        if key in kept:
            if dep.location != kept[key].location and dep.location not in kept[key].also_in:
                kept[key].also_in.append(dep.location)
            if dep.role == "runtime" and kept[key].role != "runtime":
                kept[key].role = "runtime"  # installed for its own sake somewhere: not only a constraint
        else:
            kept[key] = dep
    return list(kept.values())
