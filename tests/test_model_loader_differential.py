"""The attacks are real, and the scanner and the loader agree on what the file is (issue 26).

For each gadget whose effect can be seen, the same bytes are (1) scanned, and must block, and (2) loaded by the
loader MLflow's pickle-based flavors use (`pickle.load`: sklearn's and pyfunc's `.pkl`; cloudpickle loads
with it), in a throw-away child: its own network namespace (no network at all), a temporary HOME and working
directory, nothing of the gateway's environment. The payload must then have run: a file it writes exists, a
directory it deletes is gone. A gadget that ran nothing would prove nothing about the scanner.

Not every (gadget, opcode) pair is an attack: Python's unpickler resolves a dotted name (`numpy.ctypeslib` +
`os.system`) only for protocol 4 and later, which STACK_GLOBAL is; GLOBAL, INST and OBJ files with such a name
fail to load (they still block: a name nobody can resolve is not known to be safe). `numpy.load(path)`
refuses a pickle unless `allow_pickle=True`, which a one-argument call cannot pass. And numpy 2's
`numpy.ctypeslib` no longer holds `os`, so that alias runs nothing with the numpy installed here. Those
cases are checked to fail to load, so the list below stays honest. The other gadgets (a command given as an
argument list, an interactive debugger, a library not installed here) are scanned only.
"""
import io
import subprocess
import sys
from pathlib import Path

import pytest

from releases.artifact_scan import scan_files
from releases.artifact_scan.vocabulary import CLEAN
from releases.scanning import model_policy
from releases.scanning.policy import PolicyRules
from tests import gadgets

LOADER = "import pickle, sys\ntry:\n    pickle.load(open(sys.argv[1], 'rb'))\nexcept Exception as exc:\n" \
         "    print('load failed:', type(exc).__name__, exc)\n"
RUN = "touch marker"  # a shell command's payload
PYTHON = "open('marker', 'w').close()"  # Python's
MARKER = "marker"


def _inner(tmp: Path) -> str:
    """Another pickle, which touches the marker: what a pickle-loading gadget is pointed at."""
    path = tmp / "inner.pkl"
    path.write_bytes(gadgets.gadget_pickle("subprocess", "getoutput", "STACK_GLOBAL", RUN))
    return str(path)


def _script(tmp: Path) -> str:
    path = tmp / "payload.py"
    path.write_text(PYTHON + "\n")
    return str(path)


# (module, name, the argument, given the sandbox's directory; what shows it ran; the opcodes that load it)
ALL = gadgets.OPCODES
CASES = [
    ("subprocess", "getoutput", lambda tmp: RUN, "created", ALL),
    ("cProfile", "run", lambda tmp: PYTHON, "created", ALL),
    ("profile", "run", lambda tmp: PYTHON, "created", ALL),
    ("logging", "FileHandler", lambda tmp: MARKER, "created", ALL),
    ("logging.handlers", "RotatingFileHandler", lambda tmp: MARKER, "created", ALL),
    ("runpy", "run_path", _script, "created", ALL),
    ("pandas", "read_pickle", _inner, "created", ALL),
    ("pandas.io.pickle", "read_pickle", _inner, "created", ALL),
    ("joblib", "load", _inner, "created", ALL),
    ("shutil", "rmtree", lambda tmp: str(tmp / "victim"), "removed", ALL),
    ("pandas.io.common", "os.popen", lambda tmp: RUN, "created", ("STACK_GLOBAL",)),
]
NOT_ATTACKS = [  # (module, name, opcodes) that Python's loader cannot run as written: they must not load
    ("numpy.ctypeslib", "os.system", ALL),  # numpy 2's ctypeslib package no longer has `os` in its namespace
    ("pandas.io.common", "os.popen", ("GLOBAL", "INST", "OBJ")),
    ("numpy", "load", ALL),
]


def _blocks(data: bytes, module: str, name: str) -> bool:
    report = scan_files([("model.pkl", io.BytesIO(data))], flavors=("python_function", "sklearn"))
    rows = [{"path": "model.pkl", "verdict": CLEAN, "findings": [
        {"kind": f.kind, "name": f.name, "classification": f.classification, "reason": f.reason}
        for file in report.files for f in file.findings]}]
    blocking, _warnings, _omitted = model_policy.judge(rows, PolicyRules())
    return any(f"{module}.{name}" in b["reason"] for b in blocking)


def _load_in_sandbox(data: bytes, tmp: Path) -> str:
    (tmp / "victim").mkdir(exist_ok=True)
    (tmp / "model.pkl").write_bytes(data)
    proc = subprocess.run(["unshare", "--net", "--", sys.executable, "-c", LOADER, "model.pkl"], cwd=tmp,
                          env={"HOME": str(tmp), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=120, check=False)
    return proc.stdout + proc.stderr


def _ran(tmp: Path, effect: str) -> bool:
    return (tmp / MARKER).exists() if effect == "created" else not (tmp / "victim").exists()


ATTACKS = [(m, n, arg, effect, opcode) for m, n, arg, effect, opcodes in CASES for opcode in opcodes]


@pytest.mark.parametrize("module,name,argument,effect,opcode", ATTACKS,
                         ids=[f"{m}.{n}-{o}" for m, n, _a, _e, o in ATTACKS])
def test_the_loader_runs_the_payload_and_the_scanner_blocks_the_same_bytes(tmp_path, module, name, argument,
                                                                           effect, opcode):
    data = gadgets.gadget_pickle(module, name, opcode, argument(tmp_path))
    assert _blocks(data, module, name)
    output = _load_in_sandbox(data, tmp_path)
    assert _ran(tmp_path, effect), f"{module}.{name} via {opcode} did not run its payload: {output}"


@pytest.mark.parametrize("module,name,opcodes", NOT_ATTACKS, ids=[f"{m}.{n}" for m, n, _o in NOT_ATTACKS])
def test_the_pairs_that_are_not_attacks_do_not_load_and_still_block(tmp_path, module, name, opcodes):
    for opcode in opcodes:
        data = gadgets.gadget_pickle(module, name, opcode, _inner(tmp_path))
        assert _blocks(data, module, name)
        output = _load_in_sandbox(data, tmp_path)
        assert "load failed" in output and not (tmp_path / MARKER).exists(), (opcode, output)


def test_most_gadgets_are_shown_to_run():
    shown = {(m, n) for m, n, _a, _e, opcodes in CASES if opcodes}
    assert len(shown) >= 11 and len(ATTACKS) >= 40
    assert shown <= {(m, n) for m, n, _w in gadgets.GADGETS}  # the scanner's own gadget list, not another
