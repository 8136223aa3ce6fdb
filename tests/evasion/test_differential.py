"""Differential property tests: the gateway's reading against the installers' own readers.

- requirement files: pip's own requirement-file parser (pip as a test oracle);
- YAML: `yaml.safe_load`, as MLflow reads python_env.yaml and conda.yaml.

Any disagreement must be a blocked release (the gateway refused the file); where the
gateway reads a file without refusing it, its dependency set must equal the oracle's.
"""
import os
import tempfile

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from releases.scanning.envparse import parse_environment

pip_req_file = pytest.importorskip("pip._internal.req.req_file")
from pip._internal.exceptions import PipError  # noqa: E402
from pip._internal.network.session import PipSession  # noqa: E402
from pip._internal.req.constructors import install_req_from_parsed_requirement  # noqa: E402

# CI runs a fixed, bounded sample; DIFFERENTIAL_EXAMPLES=20000 explores further with fresh random inputs.
_EXPLORE = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "0"))
SETTINGS = settings(max_examples=_EXPLORE or 1000, deadline=None, suppress_health_check=list(HealthCheck),
                    derandomize=not _EXPLORE, database=None)
_SESSION = None


def _session():
    global _SESSION
    if _SESSION is None:
        _SESSION = PipSession()
    return _SESSION


# --- requirement files ---------------------------------------------------------------------
# Mostly what real files hold, with the odd thing an attacker would try (repeats weight the choice).
NAMES = st.sampled_from(["pyyaml", "PyYAML", "py_yaml", "Flask", "numpy", "scikit-learn", "a.b", "x"] * 3
                        + ["-bad", "é", "a b", "py\u200byaml"])
VERSIONS = st.sampled_from(["5.3.1", "1.0", "2", "1.0.post1", "1.0a1", "1!2.0", "1.0+local"] * 3
                           + ["1.*", "1.0.x", "", "1.0 2"])
OPERATORS = st.sampled_from(["==", ">=", "<", "~=", "!=", " == ", "\t==", ">= "] * 3 + ["===", "=", "", "=>"])
EXTRAS = st.sampled_from([""] * 8 + ["[security]", "[a,b]", "[", "[]"])
MARKERS = st.sampled_from([""] * 8 + [' ; python_version < "3.12"', ";python_version>'3'", "; ((((",
                                      " ; os_name == 'nt'"])
OPTIONS = st.sampled_from([""] * 12 + [" --hash=sha256:abcd", " --hash sha256:abcd", " -C key=value", " --pre",
                                       " -i x", " --no-such", " --hash", " '--hash=sha256:a b'", " #comment",
                                       "#notacomment", " \\"])
OPTION_LINES = st.sampled_from(["--pre", "-i https://example.com/simple", "--extra-index-url=https://e.x/s",
                                "--require-hashes", "--no-index", "--prefer-binary", "--only-binary :all:",
                                "--use-feature=fast-deps", "--weird", "-i", "--index-url", "--find-links ./w",
                                "# comment -c requirements.txt", "   # indented comment", "", "\\", "--trusted-host h"])
LINE_ENDS = st.sampled_from(["\n"] * 6 + ["\r\n", "\r", "\n\n", " \\\n", "\\\n", "\u2028", "\x0c"])


@st.composite
def requirement_line(draw):
    return (draw(NAMES) + draw(EXTRAS) + draw(OPERATORS) + draw(VERSIONS) + draw(MARKERS) + draw(OPTIONS))


@st.composite
def requirement_file(draw):
    lines = draw(st.lists(st.one_of(requirement_line(), OPTION_LINES), min_size=1, max_size=6))
    text = ""
    for line in lines:
        text += line + draw(LINE_ENDS)
    return text


def pip_reading(text: str):
    """(name, specifier) pairs pip would install, or None when pip refuses the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "requirements.txt")
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        try:
            found = set()
            for parsed in pip_req_file.parse_requirements(path, session=_session()):
                ireq = install_req_from_parsed_requirement(parsed)
                if ireq.req is None or ireq.link is not None:
                    found.add(("<direct>", str(ireq.link)))
                    continue
                found.add((canonicalize_name(ireq.req.name), str(SpecifierSet(str(ireq.req.specifier)))))
            return found
        except (PipError, ValueError, LookupError, UnicodeError):
            return None  # pip refuses the file


def gateway_reading(files: dict):
    parsed = parse_environment(files)
    if parsed.errors:
        return None
    found = set()
    for dep in parsed.dependencies:
        if dep.kind == "index" or dep.name == "python" and dep.ecosystem == "conda":
            continue
        found.add(("<direct>", dep.url) if dep.kind != "registry" else (dep.name, dep.specifier))
    return found


@SETTINGS
@given(requirement_file())
def test_requirement_files_read_as_pip_reads_them(text):
    ours = gateway_reading({"requirements.txt": text})
    if ours is None:
        event("refused by the gateway")
        return  # refused: the release is blocked
    event("compared with pip")
    theirs = pip_reading(text)
    assert theirs is not None, f"pip refuses a file the gateway passed: {text!r}"
    assert {d for d in ours if d[0] != "<direct>"} == {d for d in theirs if d[0] != "<direct>"}, text
    assert len([d for d in ours if d[0] == "<direct>"]) == len([d for d in theirs if d[0] == "<direct>"]), text


@pytest.mark.parametrize("text", [
    "pyyaml==5.3.1\n", "PyYAML == 5.3.1 \\\n  --hash=sha256:aa\n", "pyy\\\naml==5.3.1", "# x \\\nflask\n",
    "a==1\rb==2\u2028c==3\x0cd==4\n", "\ufeffpyyaml>=5,<6 ; python_version<'3.12'\n", "flask[async]~=2.0 -C a=b\n",
])
def test_known_files_agree_with_pip(text):
    assert gateway_reading({"requirements.txt": text}) == pip_reading(text) is not None


# --- YAML ------------------------------------------------------------------------------------
PIN_ITEMS = st.sampled_from(["pyyaml==5.3.1", "flask==2.0", "'numpy==1.19.0'", '"requests==2.19.0"', "x==1",
                             "-r requirements.txt"])
ODD_ITEMS = st.sampled_from(["yes", "010", "1e3", "~", "null", "!!str a==1", "[a==1]", "{a: b}", "*a", "&a b==2",
                             "'open", "2001-01-01", "0o17", "on", "3.10", '"a==1\\nb==2"', "|\n    c==3"])
KEYS = st.sampled_from(["dependencies", "build_dependencies", "python"] * 4 + ["<<", "'dependencies'", "dependency",
                                                                              "x", "on"])


@st.composite
def python_env_yaml(draw):
    entries = []
    for key in draw(st.lists(KEYS, min_size=1, max_size=4)):
        if key == "python":
            entries.append("python: " + draw(st.sampled_from(["3.11.7", "'3.10'", "3.10", "[3]", "!!str 3.9"])))
            continue
        items = draw(st.lists(st.one_of(PIN_ITEMS, PIN_ITEMS, PIN_ITEMS, ODD_ITEMS), max_size=4))
        anchor = draw(st.sampled_from(["", " &a", " &b"]))
        if draw(st.booleans()):
            entries.append(f"{key}:{anchor} [" + ", ".join(items) + "]")
        else:
            entries.append(f"{key}:{anchor}" + "".join(f"\n  - {item}" for item in items))
    prefix = draw(st.sampled_from([""] * 4 + ["---\n", "# c\n", "%YAML 1.1\n---\n", "\ufeff"]))
    suffix = draw(st.sampled_from(["\n"] * 4 + ["\n---\n", "\n...\n", "\n---\nx: 1\n"]))
    return prefix + "\n".join(entries) + suffix


def mlflow_reading(text: str):
    """What MLflow's _PythonEnv.from_yaml would install: {(name, specifier)}, or None if it fails."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict) or set(data) - {"python", "build_dependencies", "dependencies"}:
        return None
    if data.get("python") is not None and not isinstance(data["python"], str):
        return None
    found = set()
    for key in ("build_dependencies", "dependencies"):
        items = data.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            return None
        for line in "\n".join(items).splitlines():
            if line.strip():
                name, _, version = line.strip().partition("==")
                found.add((canonicalize_name(name), f"=={version}"))
    return found


@SETTINGS
@given(python_env_yaml())
def test_python_env_read_as_pyyaml_reads_it(text):
    ours = gateway_reading({"python_env.yaml": text})
    if ours is None:
        event("refused by the gateway")
        return  # refused: blocked
    event("compared with yaml.safe_load")
    theirs = mlflow_reading(text)
    assert theirs is not None, f"MLflow refuses a file the gateway passed: {text!r}"
    assert ours == theirs, text


@SETTINGS
@given(python_env_yaml())
def test_conda_pip_section_read_as_pyyaml_reads_it(text):
    conda_text = text.replace("build_dependencies", "dependencies_b").replace("dependencies", "pip")
    document = "dependencies:\n  - " + "\n    ".join(["pip:"] + ["  " + line for line in conda_text.splitlines()
                                                                if line.startswith("  - ")]) + "\n"
    ours = gateway_reading({"conda.yaml": document})
    if ours is None:
        event("refused by the gateway")
        return
    event("compared with yaml.safe_load")
    data = yaml.safe_load(document)
    pip_items = data["dependencies"][0]["pip"] or []
    theirs = {(canonicalize_name(n), f"=={v}") for n, _, v in
              (line.strip().partition("==") for line in "\n".join(pip_items).splitlines() if line.strip())}
    assert ours == theirs, document
