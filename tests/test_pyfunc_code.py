"""Code that cloudpickle carries by value (issue 26, item 3): the scanner reads what each function and method
calls, classifies it like an import, and blocks a model whose code reaches a dangerous or unknown callable.
The models are real PythonModel classes, cloudpickled for real (tests/pyfunc_models.py); none is loaded."""
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from releases.artifact_scan import pyfunc_code, scan_files
from releases.artifact_scan.pickle_walk import Machine
from releases.artifact_scan.vocabulary import CLEAN, DANGEROUS, EXPECTED, UNKNOWN, UNREADABLE
from releases.scanning import model_policy
from releases.scanning.policy import PolicyRules
from tests import pyfunc_models as pm
from tests.model_artifacts import MLMODEL_PYFUNC

FLAVORS = ("python_function",)
ORDINARY = pm.pickled(pm.ordinary())


def scanned(obj, flavors=FLAVORS):
    return scan_files([("python_model.pkl", io.BytesIO(pm.pickled(obj)))], flavors=flavors).files[0]


def blocking(file) -> list[dict]:
    row = {"path": file.path, "verdict": file.verdict, "findings": [
        {"member": "", "kind": f.kind, "name": f.name, "classification": f.classification, "reason": f.reason}
        for f in file.findings]}
    return model_policy.judge([row], PolicyRules())[0]


def code_calls(file) -> dict[str, str]:
    return {f.name: f.classification for f in file.findings if f.kind == "code_call"}


def test_ordinary_pandas_and_numpy_code_passes_with_unknown_blocked():
    file = scanned(pm.ordinary())
    assert file.verdict == EXPECTED and blocking(file) == []
    assert {"pandas.DataFrame", "numpy.where", "numpy.exp"} <= set(code_calls(file))
    method = next(f for f in file.findings if f.kind == "code" and f.name.endswith("Ordinary.predict"))
    assert "pandas.DataFrame" in method.args and "to_numpy" in method.args  # its reach, shown
    assert any("code by design" in note for note in file.notes)


def test_the_report_lists_each_method_and_what_it_calls():
    file = scanned(pm.subprocess_run())
    method = next(f for f in file.findings if f.kind == "code" and f.name.endswith("Runs.predict"))
    assert method.classification == EXPECTED and "subprocess.run" in method.args
    call = next(f for f in file.findings if f.kind == "code_call" and f.name == "subprocess.run")
    assert call.classification == DANGEROUS and "Runs.predict" in call.reason


@pytest.mark.parametrize("name,expected", [
    ("os-system", {"os.system": DANGEROUS}),
    ("subprocess-run", {"subprocess.run": DANGEROUS}),
    ("eval", {"builtins.eval": DANGEROUS}),
    ("dunder-import", {"builtins.__import__": DANGEROUS}),
    ("dynamic-builtin", {"builtins.getattr": DANGEROUS, "builtins.__builtins__": DANGEROUS}),
    ("import-module", {"importlib.import_module": DANGEROUS}),
    ("closure-gadget", {"uuid._get_command_stdout": UNKNOWN}),
    ("nested-class", {"uuid._get_command_stdout": UNKNOWN}),
    ("module-alias", {"numpy.load": DANGEROUS}),
    ("module-as-value", {"numpy": UNKNOWN}),
    ("plain-function", {"os.popen": DANGEROUS}),
])
def test_code_that_reaches_a_dangerous_or_unknown_callable_blocks(name, expected):
    file = scanned(pm.BLOCKED[name]())
    calls = code_calls(file)
    for dotted, level in expected.items():
        assert calls.get(dotted) == level, (dotted, calls)
    assert file.verdict in (DANGEROUS, UNKNOWN)
    blocked = {entry["name"] for entry in blocking(file)}
    assert set(expected) <= blocked, blocked


@pytest.mark.parametrize("module,name", pm.CODE_GADGETS)
def test_every_importable_gadget_called_from_a_method_blocks(module, name):
    file = scanned(pm.calling(module, name))
    assert code_calls(file).get(f"{module}.{name}") in (DANGEROUS, UNKNOWN), code_calls(file)
    assert f"{module}.{name}" in {entry["name"] for entry in blocking(file)}


def test_at_least_ten_gadgets_are_called_from_code():
    assert len(pm.CODE_GADGETS) >= 10


def test_a_class_carried_by_reference_has_no_code_to_read():
    file = scanned(pm.PythonModel())
    assert not [f for f in file.findings if f.kind.startswith("code")]
    assert file.verdict in (CLEAN, EXPECTED)


def test_every_function_and_nested_code_object_is_read_not_only_the_first_look_alike():
    # two methods whose code objects look alike to the walk's event summary: both are read
    walk = Machine(io.BytesIO(pm.pickled(pm.gadget_in_closure()))).walk()
    reach = pyfunc_code.code_reach(walk)
    names = {f.qualname.rsplit(".", 1)[-1] for f in reach.functions}
    assert "predict" in names and not reach.unreadable
    predict = next(f for f in reach.functions if f.qualname.endswith("predict"))
    assert "uuid._get_command_stdout" in predict.references


@pytest.mark.parametrize("knob,value", [("MAX_DEPTH", 1), ("MAX_CODE_BYTES", 4), ("MAX_FUNCTIONS", 1),
                                        ("MAX_REFERENCES", 1), ("CODE_ARGS", 17),
                                        ("MAX_TOTAL_CODE_BYTES", 8)])
def test_over_a_bound_the_file_is_unreadable_never_cut_silently(monkeypatch, knob, value):
    monkeypatch.setattr(pyfunc_code, knob, value)
    file = scanned(pm.gadget_in_closure() if knob == "MAX_DEPTH" else pm.ordinary())
    assert file.verdict == UNREADABLE or any(f.classification == UNREADABLE for f in file.findings), file.findings
    assert blocking(file)


def test_bytecode_that_cannot_be_read_is_unreadable():
    data = pm.pickled(pm.ordinary())
    walk = Machine(io.BytesIO(data)).walk()
    code = next(c for c in walk.code_calls if pyfunc_code._is_code(c) and pyfunc_code._name_of(c).endswith(".predict"))
    args = list(code.args)
    args[6] = b"\x74\xff" * 4  # LOAD_GLOBAL of a name index past co_names
    code.args = tuple(args)
    reach = pyfunc_code.code_reach(walk)
    assert reach.unreadable and "predict" in reach.unreadable[0]


def test_the_corpus_pyfunc_model_still_passes():
    from devtools import model_corpus

    files = model_corpus.pyfunc_model()
    report = scan_files([(p, io.BytesIO(d)) for p, d in files.items()])
    pkl = next(f for f in report.files if f.path.endswith("python_model.pkl"))
    assert pkl.verdict == EXPECTED and blocking(pkl) == []
    assert {"numpy.clip", "builtins.len", "pandas.concat"} <= set(code_calls(pkl))
    assert MLMODEL_PYFUNC  # the pipeline tests log these models under this MLmodel


def test_a_function_set_up_twice_or_whose_state_was_not_kept_is_unreadable():
    from releases.artifact_scan.pickle_values import Opaque

    walk = Machine(io.BytesIO(pm.pickled(pm.ordinary()))).walk()
    setstate = next(c for c in walk.code_calls if pyfunc_code._helper(c).endswith("._function_setstate"))
    walk.code_calls.append(setstate)
    assert any("more than once" in reason for reason in pyfunc_code.code_reach(walk).unreadable)
    walk.code_calls.pop()
    setstate.args = (setstate.args[0], Opaque("value not kept"))
    assert any("state" in reason for reason in pyfunc_code.code_reach(walk).unreadable)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200).map(lambda b: b[: len(b) // 2 * 2]))
def test_any_bytecode_is_read_or_unreadable_never_a_crash(co_code):
    walk = Machine(io.BytesIO(ORDINARY)).walk()
    code = next(c for c in walk.code_calls if pyfunc_code._is_code(c) and pyfunc_code._name_of(c).endswith(".predict"))
    code.args = (*code.args[:6], co_code, *code.args[7:])
    reach = pyfunc_code.code_reach(walk)
    assert reach.unreadable or any(f.qualname.endswith(".predict") for f in reach.functions)
