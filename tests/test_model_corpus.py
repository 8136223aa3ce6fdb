"""The real-model corpus (devtools/model_corpus.py): real models pass with unknown imports blocked, and each
allowlist entry is referenced by the model its source names (so the list says where every name comes from).

Light models are made here with the real libraries (numpy, scipy, pandas, scikit-learn, MLflow's sklearn and
pyfunc flavors); the heavy ones (xgboost, lightgbm, torch, keras) are the committed files under
tests/fixtures/models/, written by the same script."""
import io
import warnings
from functools import cache
from pathlib import Path

import pytest

from devtools import model_corpus
from releases.artifact_scan import scan_directory, scan_files
from releases.artifact_scan.allowlist import ALLOWED, NUMPY_UFUNCS
from releases.artifact_scan.vocabulary import CLEAN, EXPECTED
from releases.scanning import model_policy
from releases.scanning.policy import PolicyRules

FIXTURES = Path(__file__).parent / "fixtures" / "models"
HEAVY = ("xgboost", "lightgbm", "torch", "keras")
SLOW_SOURCES = {"sklearn-pickle", "sklearn-joblib", "sklearn-mlflow"}  # fitting and MLflow's import: seconds
LIGHT_FLAVORS = {"sklearn-pickle": ("python_function", "sklearn"), "sklearn-joblib": ("python_function", "sklearn")}
FIXTURE_FLAVORS = {"keras": ("keras",), "torch": ("pytorch", "python_function")}  # files without an MLmodel


@cache
def light(source: str) -> dict[str, bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model_corpus.LIGHT[source]()


def heavy(library: str) -> dict[str, bytes]:
    root = FIXTURES / library
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _param(source):
    return pytest.param(source, marks=pytest.mark.slow) if source in SLOW_SOURCES else source


def _blocking(report) -> list[dict]:
    rows = [{"path": f.path, "verdict": f.verdict, "findings": [
        {"member": "", "kind": x.kind, "name": x.name, "classification": x.classification, "reason": x.reason}
        for x in f.findings]} for f in report.files]
    return model_policy.judge(rows, PolicyRules())[0]


@pytest.mark.parametrize("source", [_param(s) for s in model_corpus.LIGHT])
def test_light_models_pass_with_unknown_blocked(source):
    files = light(source)
    report = scan_files([(p, io.BytesIO(d)) for p, d in files.items()], flavors=LIGHT_FLAVORS.get(source))
    assert _blocking(report) == []
    assert {f.verdict for f in report.files} <= {CLEAN, EXPECTED}
    if source == "sklearn-mlflow":  # pickle, cloudpickle and skops (a zip of JSON and .npy): and their text files
        formats = {f.path.split("/", 1)[1]: f.format for f in report.files if "!" not in f.path}
        assert formats["model.pkl"] == "pickle" and formats["model.skops"] == "zip"
        assert formats["requirements.txt"] == formats["conda.yaml"] == formats["MLmodel"] == "text"


def _fixture_models():
    for library in HEAVY:
        models = sorted(p for p in (FIXTURES / library).iterdir() if p.is_dir())
        yield from (pytest.param(m, id=f"{library}/{m.name}") for m in models or [FIXTURES / library])


@pytest.mark.parametrize("root", list(_fixture_models()))
def test_committed_heavy_models_pass_with_unknown_blocked(root):
    library = root.relative_to(FIXTURES).parts[0]
    flavors = None if (root / "MLmodel").exists() else FIXTURE_FLAVORS.get(library)
    report = scan_directory(root, flavors=flavors)
    assert _blocking(report) == [], [f.to_dict() for f in report.files if f.verdict not in (CLEAN, EXPECTED)]


def test_the_heavy_corpus_is_what_the_issue_asks_for():
    files = {f"{lib}/{path}" for lib in HEAVY for path in heavy(lib)}
    for expected in ("xgboost/booster/model.ubj", "xgboost/pickled/model.pkl", "lightgbm/booster/model.lgb",
                     "lightgbm/sklearn-api/model.skops", "lightgbm/pickled/model.pkl",
                     "torch/state_dict/weights.pt", "torch/module/data/model.pth", "torch/module-pt2/data/model.pt2",
                     "keras/model.keras", "keras/model.h5"):
        assert expected in files


SOURCES = sorted({source for _flavor, _name, source in ALLOWED})


@pytest.mark.parametrize("source", [_param(s) for s in SOURCES])
def test_each_allowlist_entry_comes_from_the_model_its_source_names(source):
    names = {name for _flavor, name, entry_source in ALLOWED if entry_source == source}
    if source == "cloudpickle":
        import cloudpickle.cloudpickle as cp

        text = Path(cp.__file__).read_text()
        for name in names:
            module, _, attr = name.rpartition(".")
            assert (hasattr(cp, attr) if module == "cloudpickle.cloudpickle" else attr in text), name
        return
    files = heavy(source) if source in HEAVY else light(source)
    seen = set().union(*model_corpus.globals_of(files).values())
    assert names <= seen, sorted(names - seen)


def test_numpy_ufuncs_are_ufuncs():
    import numpy

    assert NUMPY_UFUNCS and all(isinstance(getattr(numpy, n.split(".", 1)[1]), numpy.ufunc) for n in NUMPY_UFUNCS)
