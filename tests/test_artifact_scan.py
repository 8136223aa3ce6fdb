"""The model-file scanner: attacks are found, broken files are "unreadable" (never clean), real
MLflow models pass as expected for their flavor. Every artifact is made here; none is loaded."""
import bz2
import gzip
import io
import lzma
import os
import pickle
import time
import warnings
import zlib

import pytest

from releases.artifact_scan import Limits, scan_directory, scan_files, summarize
from releases.artifact_scan.vocabulary import DANGEROUS, EXPECTED, UNKNOWN, UNREADABLE, classify
from releases.mlflow_source import MlflowSource
from tests import malicious_artifacts as bad
from tests.mlflow_models import CLEAN, CONDA, VULNERABLE

ALL = None  # every known flavor: the strictest reading of "dangerous" does not depend on flavor


def scan(name, data, flavors=ALL, limits=None):
    return scan_files([(name, io.BytesIO(data))], flavors=flavors, limits=limits)


def findings(report, level):
    return [f for file in report.files for f in file.findings if f.classification == level]


def names(report, level):
    return {f.name for f in findings(report, level)}


def assert_blocked(report, *expected_names):
    verdict = summarize(report)["verdict"]
    assert verdict in (DANGEROUS, UNREADABLE), (verdict, [f.to_dict() for f in report.files])
    for name in expected_names:
        assert name in names(report, DANGEROUS), (name, names(report, DANGEROUS))


# --- plain pickles ---------------------------------------------------------------------
@pytest.mark.parametrize("protocol", range(0, 6))
def test_reduce_os_system_found_in_every_protocol(protocol):
    report = scan("model.pkl", bad.os_system_pickle(protocol))
    assert_blocked(report, "posix.system")
    call = next(f for f in findings(report, DANGEROUS) if f.kind == "call")
    assert bad.COMMAND[:20] in call.args and call.offset > 0
    assert report.files[0].format == "pickle"


@pytest.mark.parametrize("protocol", range(0, 6))
def test_harmless_pickle_is_clean_or_expected(protocol):
    report = scan("model.pkl", bad.harmless_pickle(protocol))
    assert summarize(report)["verdict"] in ("clean", EXPECTED)
    assert report.files[0].format == "pickle"


@pytest.mark.parametrize("maker, dangerous_name", [
    (bad.getattr_builtins_eval, "builtins.getattr"),
    (bad.stack_global_from_memo, "os.system"),
    (bad.attrgetter_trick, "operator.attrgetter"),
    (bad.partial_trick, "functools.partial"),
    (bad.reconstructor_trick, "subprocess.Popen"),
    (bad.reduce_ex_trick, "builtins.object.__reduce_ex__"),
    (bad.inst_protocol0, "os.system"),
    (bad.obj_protocol1, "os.system"),
    (bad.newobj_protocol2, "subprocess.Popen"),
    (bad.build_on_global, "os.environ"),
])
def test_hidden_imports_and_calls(maker, dangerous_name):
    assert_blocked(scan("model.pkl", maker()), dangerous_name)


def test_getattr_trick_names_what_it_reaches():
    report = scan("model.pkl", bad.getattr_builtins_eval())
    assert "builtins.__import__" in names(report, DANGEROUS)
    assert any(f.kind == "call" and "eval" in f.name for f in findings(report, DANGEROUS))
    assert "'print(1)'" in " ".join(f.args for f in findings(report, DANGEROUS))


def test_memoized_names_resolved_as_loaded():
    report = scan("model.pkl", bad.stack_global_from_memo("sklearn.linear_model", "LogisticRegression"),
                  flavors=("sklearn",))
    assert "sklearn.linear_model.LogisticRegression" in names(report, EXPECTED)


def test_extension_codes_and_unresolvable_names_are_dangerous():
    ext = scan("model.pkl", bad.ext_code())
    assert [f.kind for f in findings(ext, DANGEROUS)][:1] == ["extension"]
    unresolved = scan("model.pkl", bad.unresolved_stack_global())
    assert "unresolved" in {f.kind for f in findings(unresolved, DANGEROUS)}


def test_concatenated_second_pickle_is_read():
    report = scan("model.pkl", bad.harmless_pickle() + bad.os_system_pickle())
    assert_blocked(report, "posix.system")
    assert any("2 pickles" in note for note in report.files[0].notes)


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_pickle_is_unreadable_with_offset(cut):
    data = bad.harmless_pickle()
    report = scan("model.pkl", data[:int(len(data) * cut)])
    assert summarize(report)["verdict"] == UNREADABLE
    [problem] = findings(report, UNREADABLE)
    assert "model.pkl" in problem.reason and problem.offset > 0 and "at byte" in problem.reason


def test_protocol0_call_before_the_cut_is_dangerous_and_unreadable():
    report = scan("notes.txt", bad.protocol0_call_then_cut())
    assert "os.system" in names(report, DANGEROUS)
    assert findings(report, UNREADABLE)


def test_junk_after_a_pickle_is_unreadable():
    report = scan("model.pkl", bad.harmless_pickle() + b"\xff\xfe garbage")
    assert summarize(report)["verdict"] == UNREADABLE


def test_cloudpickle_function_called_on_load_is_dangerous_even_for_pyfunc():
    report = scan("python_model.pkl", bad.cloudpickle_calls_rebuilt_function(), flavors=("python_function",))
    assert any(f.reason == "calls a value built at load time" for f in findings(report, DANGEROUS))


def test_cloudpickle_class_with_setstate_is_dangerous():
    report = scan("python_model.pkl", bad.cloudpickle_class_with_setstate(), flavors=("python_function",))
    assert any("__setstate__" in f.reason for f in findings(report, DANGEROUS))


# --- joblib ----------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [0, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3)])
def test_joblib_with_os_system_plain_and_compressed(compress):
    report = scan("model.joblib", bad.joblib_file({"m": bad.RunsCommand()}, compress))
    assert_blocked(report, "posix.system")


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("xz", 3)])
def test_joblib_arrays_are_read_past_and_a_payload_after_them_is_found(compress):
    import numpy as np

    obj = {"a": np.arange(10_000, dtype="float64"), "s": np.array(["x", "yz"]),
           "o": np.array([bad.RunsCommand()], dtype=object)}
    report = scan("model.joblib", bad.joblib_file(obj, compress), flavors=("sklearn",))
    assert_blocked(report, "posix.system")
    assert any("3 joblib array" in note for note in report.files[0].notes)


def test_real_sklearn_joblib_is_expected():
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    X = np.random.default_rng(0).random((40, 3))
    model = RandomForestClassifier(n_estimators=2, random_state=0).fit(X, X[:, 0] > 0.5)
    for compress in (0, 3, ("lzma", 3)):
        report = scan("model.joblib", bad.joblib_file(model, compress), flavors=("sklearn",))
        assert summarize(report)["verdict"] == EXPECTED, [f.to_dict() for f in report.files]
        assert "sklearn.tree._classes.DecisionTreeClassifier" in names(report, EXPECTED)


# --- PyTorch, Keras, HDF5 ------------------------------------------------------------------
@pytest.mark.parametrize("top", ["archive", "my_model", "deep/er"])
def test_torch_zip_with_malicious_data_pkl(top):
    report = scan("model.pt", bad.torch_zip(bad.os_system_pickle(2), top=top))
    assert_blocked(report, "posix.system")
    assert report.files[0].format == "pytorch-zip"
    assert any(f.path == f"model.pt!{top}/data.pkl" for f in report.files)


def test_torch_zip_state_dict_is_expected():
    report = scan("model.pth", bad.torch_zip(bad.torch_state_dict_pkl()), flavors=("pytorch",))
    assert summarize(report)["verdict"] == EXPECTED, [f.to_dict() for f in report.files]
    assert {"torch._utils._rebuild_tensor_v2", "persistent_load"} <= names(report, EXPECTED)


def test_any_pkl_inside_a_torch_zip_is_scanned():
    data = bad.zip_of({"archive/data.pkl": bad.torch_state_dict_pkl(), "archive/version": b"3\n",
                       "archive/extra/constants.pkl": bad.os_system_pickle()})
    assert_blocked(scan("model.pt", data, flavors=("pytorch",)), "posix.system")


def test_keras_lambda_layer_is_dangerous_and_dense_expected():
    lam = scan("model.keras", bad.keras_zip([bad.keras_dense(), bad.keras_lambda()]), flavors=("keras",))
    assert {"Lambda", "__lambda__"} <= names(lam, DANGEROUS)
    dense = scan("model.keras", bad.keras_zip([bad.keras_dense()]), flavors=("keras",))
    assert "keras.layers.Dense" in names(dense, EXPECTED)
    assert summarize(dense)["verdict"] == EXPECTED, [f.to_dict() for f in dense.files]
    assert {f.format for f in dense.files} >= {"keras", "hdf5", "json"}


def test_keras_custom_module_is_unknown():
    layer = {"module": "my_company.layers", "class_name": "Fancy", "config": {}, "registered_name": "Fancy"}
    report = scan("model.keras", bad.keras_zip([layer]), flavors=("keras",))
    assert "my_company.layers.Fancy" in names(report, UNKNOWN)


def test_h5_with_lambda_in_model_config(tmp_path):
    bad.keras_h5(tmp_path / "model.h5", [bad.keras_dense(), {"class_name": "Lambda", "config": {
        "function": ["4wEAAAAA", None, None], "function_type": "lambda"}}])
    report = scan_directory(tmp_path, flavors=("keras",))
    assert "Lambda" in names(report, DANGEROUS)
    assert report.files[0].format == "keras-h5"


def test_h5_that_cannot_be_opened_is_unreadable():
    report = scan("model.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    assert summarize(report)["verdict"] == UNREADABLE


# --- evasion -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, maker", [
    ("model.txt", lambda: bad.os_system_pickle()),
    ("weights.bin", lambda: bad.os_system_pickle(1)),
    ("README.md", bad.inst_protocol0),
    ("weights.safetensors", lambda: bad.joblib_file({"m": bad.RunsCommand()}, 3)),
    ("notes.txt", lambda: bad.torch_zip(bad.os_system_pickle())),
    ("data.csv", lambda: gzip.compress(bad.os_system_pickle())),
    ("x.json", lambda: bz2.compress(bad.os_system_pickle())),
    ("y.dat", lambda: lzma.compress(bad.os_system_pickle())),
    ("z.dat", lambda: zlib.compress(bad.os_system_pickle())),
    ("arr.npy", lambda: bad.npy_object_array(bad.os_system_pickle())),
])
def test_renamed_files_detected_by_content(name, maker):
    assert_blocked(scan(name, maker()), "posix.system" if name != "README.md" else "os.system")


def test_nested_archives_are_recursed():
    inner = bad.zip_of({"deep/model.pkl": bad.os_system_pickle()})
    middle = bad.zip_of({"inner.zip": inner, "ok.txt": b"fine"})
    outer = bad.tar_of({"bundle/middle.zip": middle})
    report = scan("artifacts.tar", gzip.compress(outer))
    assert_blocked(report, "posix.system")
    assert any(f.path == "artifacts.tar!bundle/middle.zip!inner.zip!deep/model.pkl" for f in report.files)


def test_nesting_deeper_than_the_limit_is_unreadable():
    data = bad.os_system_pickle()
    for depth in range(6):
        data = bad.zip_of({f"level{depth}.zip": data})
    report = scan("model.zip", data, limits=Limits(max_depth=3))
    assert summarize(report)["verdict"] == UNREADABLE
    assert any("nested deeper than 3" in f.reason for f in findings(report, UNREADABLE))


def test_zip_bomb_is_bounded_reported_and_fast():
    bomb = bad.zip_bomb(200 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    started = time.monotonic()
    report = scan("model.zip", bomb, limits=Limits(max_expanded_bytes=16 * 1024 * 1024))
    assert time.monotonic() - started < 5
    assert summarize(report)["verdict"] == UNREADABLE
    assert any("expan" in f.reason for f in findings(report, UNREADABLE))


def test_gzip_bomb_is_bounded():
    bomb = gzip.compress(b"\x00" * (64 * 1024 * 1024), compresslevel=9)
    report = scan("weights.bin", bomb, limits=Limits(max_expanded_bytes=4 * 1024 * 1024))
    assert any("expanded" in f.reason and "limit" in f.reason for f in findings(report, UNREADABLE))


def test_unknown_compression_and_broken_archives_are_unreadable():
    assert summarize(scan("m.lz4", b"\x04\x22\x4d\x18" + b"\x00" * 50))["verdict"] == UNREADABLE
    broken_zip = bad.zip_of({"model.pkl": bad.os_system_pickle()})[:-30]
    assert summarize(scan("m.zip", broken_zip))["verdict"] in (UNREADABLE, DANGEROUS)
    assert findings(scan("m.zip", broken_zip), UNREADABLE)
    assert summarize(scan("m.gz", gzip.compress(bad.harmless_pickle())[:-12]))["verdict"] == UNREADABLE


# --- limits, sizes, hashes --------------------------------------------------------------------
def test_sizes_and_sha256_recorded_for_every_file():
    import hashlib

    data = bad.harmless_pickle()
    report = scan_files([("a.pkl", io.BytesIO(data)), ("b.txt", io.BytesIO(b"hello"))])
    assert [(f.path, f.size, f.sha256) for f in report.files] == [
        ("a.pkl", len(data), hashlib.sha256(data).hexdigest()),
        ("b.txt", 5, hashlib.sha256(b"hello").hexdigest())]
    assert report.total_bytes == len(data) + 5


def test_per_file_and_total_limits():
    data = b"x" * 5000  # text (a file of zeros is unidentified: it blocks on its own)
    report = scan_files([("a.bin", io.BytesIO(data)), ("b.bin", io.BytesIO(data)), ("c.bin", io.BytesIO(data))],
                        limits=Limits(max_file_bytes=6000, max_total_bytes=8000))
    a, b, c = report.files
    assert a.verdict != UNREADABLE and a.size == 5000
    assert b.verdict == UNREADABLE and "total limit" in b.findings[0].reason and b.size <= 3001
    assert c.verdict == UNREADABLE and c.size == 0
    big = scan("big.pkl", bad.harmless_pickle() + b"\x00" * 100, limits=Limits(max_file_bytes=50))
    assert "per-file limit of 50 bytes" in findings(big, UNREADABLE)[0].reason


def test_directory_scan_skips_symlinks_and_reports_them(tmp_path):
    (tmp_path / "model.pkl").write_bytes(bad.harmless_pickle())
    os.symlink("/etc/passwd", tmp_path / "link.pkl")
    report = scan_directory(tmp_path)
    link = next(f for f in report.files if f.path == "link.pkl")
    assert link.verdict == UNREADABLE and link.size == 0


def test_classification_list():
    assert classify("nt.system", ())[0] == DANGEROUS
    assert classify("__builtin__.eval", ())[0] == DANGEROUS
    assert classify("numpy.testing._private.utils.runstring", ("sklearn",))[0] == DANGEROUS
    assert classify("sklearn.utils._testing.assert_run_python_script", ("sklearn",))[0] == DANGEROUS
    assert classify("sklearn.utils.some_function", ("sklearn",))[0] == UNKNOWN
    assert classify("sklearn.linear_model._base.LinearRegression", ("sklearn",))[0] == EXPECTED
    assert classify("sklearn.linear_model._base.LinearRegression", ("pytorch",))[0] == UNKNOWN
    assert classify("torch._utils._rebuild_tensor_v2", ("pytorch",))[0] == EXPECTED
    assert classify("collections.OrderedDict", ())[0] == EXPECTED
    assert classify("mypkg.thing", ())[0] == UNKNOWN


# --- real models made with MLflow -------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    import mlflow.pyfunc
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from devtools.demo_models import EchoModel

    root = tmp_path_factory.mktemp("mlflow-models")
    X = np.random.default_rng(1).random((30, 2))
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, X[:, 0] > 0.5)
    paths = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fmt in ("pickle", "cloudpickle"):
            paths[f"sklearn-{fmt}"] = root / f"sklearn-{fmt}"
            mlflow.sklearn.save_model(model, paths[f"sklearn-{fmt}"], serialization_format=fmt,
                                      pip_requirements=["scikit-learn"])

        class LocalModel(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input

        paths["pyfunc-by-value"] = root / "pyfunc-by-value"
        mlflow.pyfunc.save_model(paths["pyfunc-by-value"], python_model=LocalModel(), pip_requirements=["x"])
        paths["pyfunc-demo"] = root / "pyfunc-demo"
        mlflow.pyfunc.save_model(paths["pyfunc-demo"], python_model=EchoModel(), pip_requirements=["x"])
    return paths


@pytest.mark.parametrize("which", ["sklearn-pickle", "sklearn-cloudpickle", "pyfunc-by-value", "pyfunc-demo"])
def test_real_mlflow_models_are_expected_for_their_flavor(saved_models, which):
    report = scan_directory(saved_models[which])
    summary = summarize(report)
    assert summary["verdict"] == EXPECTED, summary
    model_file = next(f for f in report.files if f.path.endswith(".pkl"))
    assert model_file.verdict == EXPECTED and model_file.sha256 and model_file.size > 0
    assert {f.path for f in report.files} >= {"MLmodel", "requirements.txt", "conda.yaml"}


def test_pyfunc_report_shows_the_code_it_brings(saved_models):
    report = scan_directory(saved_models["pyfunc-by-value"])
    calls = [f for f in findings(report, EXPECTED) if f.name == "types.CodeType"]
    assert calls and any("predict" in f.args for f in calls)


def test_tampered_mlflow_model_is_blocked(saved_models, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(saved_models["sklearn-cloudpickle"], copy)
    (copy / "model.pkl").write_bytes(bad.os_system_pickle())
    assert_blocked(scan_directory(copy), "posix.system")


def test_flavor_comes_from_mlmodel(saved_models):
    assert scan_directory(saved_models["sklearn-pickle"]).flavors == ("python_function", "sklearn")
    assert scan_directory(saved_models["pyfunc-demo"]).flavors == ("python_function",)


@pytest.mark.mlflow
@pytest.mark.parametrize("name", [CLEAN, VULNERABLE, CONDA])
def test_demo_models_downloaded_from_mlflow_are_expected(use_mlflow, name, tmp_path):
    """The demo models (devtools/demo_models.py, registered in the session's MLflow server), fetched the
    way the release's fetch step will: resolve the version, download its artifacts, scan the folder."""
    import mlflow.artifacts

    source = MlflowSource()
    model = source.resolve(name, version="1")
    local = mlflow.artifacts.download_artifacts(artifact_uri=model.download_uri, dst_path=str(tmp_path),
                                                tracking_uri=source.tracking_uri)
    report = scan_directory(local)
    assert report.flavors == ("python_function",)
    assert summarize(report)["verdict"] == EXPECTED, summarize(report)
    pkl = next(f for f in report.files if f.path == "python_model.pkl")
    assert "devtools.demo_models.EchoModel" in {f.name for f in pkl.findings if f.classification == EXPECTED}


def test_zip_behind_a_prefix_is_refused():
    data = b"just some bytes\n" * 10 + bad.keras_zip([bad.keras_lambda()])
    report = scan("model.bin", data)
    assert summarize(report)["verdict"] == UNREADABLE
    assert any("zip end-of-directory" in f.reason for f in findings(report, UNREADABLE))


def test_pre_posix_tar_is_recognised_by_checksum():
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("pickle")
        payload = bad.os_system_pickle(2)
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    data = bytearray(buffer.getvalue())
    data[257:265] = b"\x00" * 8                     # no "ustar" magic: a v7 header, as old torch.save wrote
    data[148:156] = b" " * 8
    data[148:155] = f"{sum(data[:512]):06o}\x00".encode()
    report = scan("model.pt", bytes(data))
    assert report.files[0].format == "tar"
    assert_blocked(report, "posix.system")


def test_hdf5_behind_a_user_block_is_read(tmp_path):
    import h5py

    path = tmp_path / "model.h5"
    with h5py.File(path, "w", userblock_size=512) as h5:
        h5.attrs["model_config"] = '{"class_name": "Lambda", "config": {}}'
    assert path.read_bytes()[:8] != b"\x89HDF\r\n\x1a\n"
    assert "Lambda" in names(scan_directory(tmp_path), DANGEROUS)


def test_load_hook_hidden_after_many_class_attributes_is_found():
    import cloudpickle

    namespace = {f"attr{i}": i for i in range(400)}
    namespace["__setstate__"] = lambda self, state: None
    hidden = type("Hidden", (), namespace)
    report = scan("python_model.pkl", cloudpickle.dumps(hidden()), flavors=("python_function",))
    assert any("__setstate__" in f.reason for f in findings(report, DANGEROUS))


def test_modules_used_by_a_pyfunc_models_own_code():
    import cloudpickle
    import numpy

    class UsesNumpy:
        def predict(self, x):
            return numpy.asarray(x)

    class UsesOs:
        def predict(self, x):
            return os.getcwd()

    ok = scan("python_model.pkl", cloudpickle.dumps(UsesNumpy()), flavors=("python_function",))
    assert summarize(ok)["verdict"] == EXPECTED, summarize(ok)
    assert "numpy" in names(ok, EXPECTED)
    assert "os" in names(scan("python_model.pkl", cloudpickle.dumps(UsesOs()), flavors=("python_function",)),
                         DANGEROUS)


def test_payload_where_joblib_sees_array_bytes_is_found():
    data = bad.payload_hidden_in_joblib_array()
    report = scan("model.pkl", data, flavors=("sklearn",))   # MLflow's sklearn flavor loads it with pickle.load
    assert_blocked(report, "posix.system")
    assert any("hidden where joblib reads array data" in f.reason for f in findings(report, DANGEROUS))
    assert any("1 joblib array" in note for note in report.files[0].notes)   # and the joblib reading holds too


def test_memo_past_its_cap_keeps_memory_bounded_and_names_resolvable(monkeypatch):
    from releases.artifact_scan import pickle_walk

    monkeypatch.setattr(pickle_walk, "MAX_MEMO", 50)
    filler = pickle.dumps([f"s{i}" for i in range(500)], protocol=4)[2:-1]     # 500 memoized strings, no STOP
    pushed = b"\x80\x04" + filler + b"0" + bad.s("os") + bad.s("system") + b"\x93" + b"\x94" + b"0."
    assert "os.system" in names(scan("model.pkl", pushed), DANGEROUS)          # names pushed: still resolved
    kept = b"\x80\x04" + filler + b"0" + b"h\x05" + b"h\x06" + b"\x93" + b"0."   # keys 5, 6: kept ('s4', 's5')
    assert "s4.s5" in names(scan("model.pkl", kept), UNKNOWN)
    dropped = b"\x80\x04" + filler + b"0" + b"j" + (400).to_bytes(4, "little") + b"h\x06" + b"\x93" + b"0."
    assert "unresolved" in {f.kind for f in findings(scan("model.pkl", dropped), DANGEROUS)}


def test_keras_function_reference_and_oversized_config(monkeypatch):
    activation = {"module": "keras.layers", "class_name": "Dense", "registered_name": None, "config": {
        "units": 1, "activation": {"module": "os", "class_name": "function", "config": "system",
                                   "registered_name": "function"}}}
    assert "os.system" in names(scan("model.keras", bad.keras_zip([activation]), flavors=("keras",)), DANGEROUS)
    from releases.artifact_scan import keras_config

    big = bad.zip_of({"config.json": b'{"class_name": "Sequential", "config": {"pad": "' + b"x" * 2000 + b'"}}',
                      "metadata.json": b"{}"})
    monkeypatch.setattr(keras_config, "MAX_CONFIG_BYTES", 1000)
    assert summarize(scan("model.keras", big))["verdict"] == UNREADABLE
    broken = bad.zip_of({"config.json": b'{"class_name": "Seq', "metadata.json": b"{}"})
    assert summarize(scan("model.keras", broken))["verdict"] == UNREADABLE


def test_own_class_rule_only_for_the_pyfunc_model_file():
    called = bad.stack_global_from_memo("some_package.models", "Thing")[:-1]  # a REDUCE, not a NEWOBJ: no model class
    newobj = b"\x80\x04" + bad.s("some_package.models") + bad.s("Thing") + b"\x93)\x81."
    assert "some_package.models.Thing" in names(scan("python_model.pkl", newobj, flavors=("python_function",)),
                                                EXPECTED)
    assert "some_package.models.Thing" in names(scan("model.pkl", newobj, flavors=("python_function", "sklearn")),
                                                UNKNOWN)
    assert "some_package.models.Thing" in names(scan("python_model.pkl", called + b".", flavors=("python_function",)),
                                                UNKNOWN)


def test_pickle_in_an_hdf5_user_block_is_found(tmp_path):
    import h5py

    path = tmp_path / "model.h5"
    with h5py.File(path, "w", userblock_size=512) as h5:
        h5.attrs["model_config"] = '{"class_name": "Sequential", "config": {"layers": []}}'
    payload = bad.os_system_pickle(2)
    with path.open("r+b") as fh:  # pickle.load reads from byte 0 and stops at STOP: the rest is never read
        fh.write(payload)
    assert_blocked(scan_directory(tmp_path), "posix.system")
