"""The real-model corpus: small models made by the real libraries, and the globals their files reference.

The model-file allowlist (releases/artifact_scan/allowlist.py) is derived from what this prints; its
test (tests/test_model_corpus.py) makes the light models again and checks that each allowlist entry
is referenced by the model its source names, and that every model passes with unknown=block.

    python -m devtools.model_corpus                       # light models: print each one's globals
    python -m devtools.model_corpus --write tests/fixtures/models xgboost lightgbm torch keras

The heavy libraries (xgboost, lightgbm, torch, keras + jax) are not in the project's venv: their models are
committed under tests/fixtures/models/, written by the second command in a scratch venv that has them.
"""
import argparse
import io
import pickle
import sys
import tempfile
import warnings
from pathlib import Path

PIP = ["mlflow-skinny"]  # explicit requirements: MLflow would otherwise infer them (slow)


def _data(rows: int = 60, seed: int = 5):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.random((rows, 4))
    return X, (X[:, 0] + X[:, 1] > 1).astype(int)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- light models: numpy, scipy, pandas, scikit-learn, pyfunc (the project's venv has them) -------------
def python_values() -> dict[str, bytes]:
    """Plain Python values as models hold them (parameters, metadata), in every pickle protocol."""
    import collections
    import datetime
    import decimal
    import fractions
    import uuid

    values = [collections.OrderedDict(a=1), collections.defaultdict(list), collections.deque([1]),
              collections.Counter("ab"), {1}, frozenset({2}), bytearray(b"x"), b"bytes", 1j, slice(1, 2), range(3),
              datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC), datetime.date(2024, 1, 1),
              datetime.time(1), datetime.timedelta(1), decimal.Decimal("1.5"), fractions.Fraction(1, 3),
              uuid.UUID(int=1), [int, float, str, bool, list, dict, tuple, bytes, complex, object, set, frozenset]]
    return {f"values-p{protocol}.pkl": pickle.dumps(values, protocol=protocol) for protocol in range(6)}


def numpy_values() -> dict[str, bytes]:
    import numpy as np

    values = {"f": np.arange(6, dtype="float32").reshape(2, 3), "i": np.arange(4), "s": np.array(["a", "bc"]),
              "o": np.array([1, "x", None], dtype=object), "rec": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
              "dt": np.array(["2024-01-01"], dtype="datetime64[D]"), "scalar": np.float64(1.5),
              "masked": np.ma.masked_array([1, 2], mask=[0, 1]), "rs": np.random.RandomState(0),
              "gen": np.random.default_rng(0), "dtype": np.dtype("int16")}
    return {"values.pkl": pickle.dumps(values, protocol=pickle.DEFAULT_PROTOCOL),
            "values-p2.pkl": pickle.dumps(values, protocol=2)}


def scipy_sparse() -> dict[str, bytes]:
    import numpy as np
    from scipy import sparse

    m = sparse.random(5, 5, density=0.3, random_state=0)
    values = [m.tocsr(), m.tocsc(), m.tocoo(), m.tolil(), m.todok(), sparse.csr_array(m), sparse.eye(3, format="dia"),
              sparse.bsr_matrix(np.eye(4))]
    return {"sparse.pkl": pickle.dumps(values)}


def pandas_values() -> dict[str, bytes]:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": pd.Categorical(["p", "q", "p"]),
                          "t": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
                          "d": pd.to_timedelta([1, 2, 3], unit="s"), "n": pd.array([1, None, 3], dtype="Int64")},
                         index=pd.Index([10, 20, 30], name="k"))
    multi = pd.Series(np.arange(4.0), index=pd.MultiIndex.from_product([["a", "b"], [1, 2]]))
    ranged = pd.DataFrame({"x": np.arange(3)})
    periods = pd.Series(pd.period_range("2024-01", periods=2, freq="M"))
    intervals = pd.Series(pd.interval_range(0, 2))
    stamp = pd.Timestamp("2024-01-01", tz="UTC")
    return {"frames.pkl": pickle.dumps([frame, multi, ranged, periods, intervals, stamp])}


def sklearn_estimators():
    """Fitted estimators of many kinds, and a pipeline with a column transformer."""
    import numpy as np
    import pandas as pd
    from sklearn import (
        cluster,
        decomposition,
        ensemble,
        linear_model,
        naive_bayes,
        neighbors,
        neural_network,
        svm,
        tree,
    )
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    X, y = _data()
    frame = pd.DataFrame({"num": X[:, 0], "cat": np.where(X[:, 1] > 0.5, "a", "b")})
    columns = ColumnTransformer([("num", make_pipeline(SimpleImputer(), StandardScaler()), ["num"]),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["cat"])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            "pipeline": Pipeline([("cols", columns), ("clf", linear_model.LogisticRegression())]).fit(frame, y),
            "forest": ensemble.RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
            "extra": ensemble.ExtraTreesRegressor(n_estimators=2, random_state=0).fit(X, y),
            "gbm": ensemble.GradientBoostingClassifier(n_estimators=3).fit(X, y),
            "hgb": ensemble.HistGradientBoostingRegressor(max_iter=3).fit(X, y),
            "iso": ensemble.IsolationForest(n_estimators=3, random_state=0).fit(X),
            "svc": svm.SVC(probability=True, random_state=0).fit(X, y),
            "knn": neighbors.KNeighborsClassifier(3).fit(X, y),
            "tree": tree.DecisionTreeRegressor(max_depth=3).fit(X, y),
            "ridge": linear_model.Ridge().fit(X, y),
            "sgd": linear_model.SGDClassifier(random_state=0).fit(X, y),
            "kmeans": cluster.KMeans(2, n_init=1, random_state=0).fit(X),
            "pca": decomposition.PCA(2).fit(X),
            "mlp": neural_network.MLPClassifier((4,), max_iter=20, random_state=0).fit(X, y),
            "nb": naive_bayes.GaussianNB().fit(X, y),
            "tfidf": make_pipeline(TfidfVectorizer(), linear_model.LogisticRegression()).fit(
                ["good day", "bad day", "good night", "bad night"], [1, 0, 1, 0]),
            "scaler-fn": make_pipeline(FunctionTransformer(np.log1p), StandardScaler()).fit(X),
        }
    return models


def sklearn_pickle() -> dict[str, bytes]:
    return {f"{name}.pkl": pickle.dumps(model) for name, model in sklearn_estimators().items()}


def sklearn_joblib() -> dict[str, bytes]:
    import joblib

    out = {}
    for name, model in sklearn_estimators().items():
        for compress in (0, 3):
            buffer = io.BytesIO()
            joblib.dump(model, buffer, compress=compress)
            out[f"{name}-{compress}.joblib"] = buffer.getvalue()
    return out


def sklearn_mlflow() -> dict[str, bytes]:
    """mlflow.sklearn.save_model, each serialization format MLflow offers (skops: MLflow 3's default)."""
    import mlflow.sklearn

    model = sklearn_estimators()["pipeline"]
    out = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fmt in ("pickle", "cloudpickle", "skops"):
            path = Path(tmp) / fmt
            kwargs = {"skops_trusted_types": _skops_trusted(model)} if fmt == "skops" else {}
            mlflow.sklearn.save_model(model, path, serialization_format=fmt, pip_requirements=PIP, **kwargs)
            out.update({f"{fmt}/{k}": v for k, v in _tree(path).items()})
    return out


def _skops_trusted(model) -> list[str]:
    import skops.io

    buffer = skops.io.dumps(model)
    return skops.io.get_untrusted_types(data=buffer)


def pyfunc_model() -> dict[str, bytes]:
    """A pyfunc model with ordinary code (pandas and numpy calls), cloudpickled by value, and its artifacts."""
    import cloudpickle
    import mlflow.pyfunc

    from devtools import corpus_pyfunc

    cloudpickle.register_pickle_by_value(corpus_pyfunc)  # as a notebook's class is: its code in the file
    out = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "pyfunc"
        mlflow.pyfunc.save_model(path, python_model=corpus_pyfunc.Scorer(), pip_requirements=PIP)
        out.update(_tree(path))
    return out


LIGHT = {"python": python_values, "numpy": numpy_values, "scipy": scipy_sparse, "pandas": pandas_values,
         "sklearn-pickle": sklearn_pickle, "sklearn-joblib": sklearn_joblib, "sklearn-mlflow": sklearn_mlflow,
         "pyfunc": pyfunc_model}


# --- heavy models: written once to tests/fixtures/models/ ------------------------------------------------
def xgboost_models(root: Path) -> None:
    import mlflow.xgboost
    import xgboost

    X, y = _data()
    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(X, label=y), num_boost_round=2)
    mlflow.xgboost.save_model(booster, root / "booster", pip_requirements=PIP)
    classifier = xgboost.XGBClassifier(n_estimators=2, max_depth=2).fit(X, y)
    mlflow.xgboost.save_model(classifier, root / "sklearn-api", pip_requirements=PIP)
    (root / "pickled").mkdir()
    (root / "pickled" / "model.pkl").write_bytes(pickle.dumps(classifier))


def lightgbm_models(root: Path) -> None:
    import lightgbm
    import mlflow.lightgbm

    X, y = _data()
    booster = lightgbm.train({"num_leaves": 4, "verbose": -1}, lightgbm.Dataset(X, label=y), num_boost_round=2)
    mlflow.lightgbm.save_model(booster, root / "booster", pip_requirements=PIP)
    classifier = lightgbm.LGBMClassifier(n_estimators=2, num_leaves=4, verbose=-1).fit(X, y)
    mlflow.lightgbm.save_model(classifier, root / "sklearn-api", pip_requirements=PIP)
    (root / "pickled").mkdir()
    (root / "pickled" / "model.pkl").write_bytes(pickle.dumps(classifier))


def torch_models(root: Path) -> None:
    import mlflow.pytorch
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 1))
    (root / "state_dict").mkdir(parents=True)
    torch.save(net.state_dict(), root / "state_dict" / "weights.pt")
    dtypes = (torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.int16, torch.int8,
              torch.uint8, torch.bool, torch.complex64)
    torch.save({str(d): torch.zeros(2, dtype=d) for d in dtypes}, root / "state_dict" / "dtypes.pt")
    net.eval()
    mlflow.pytorch.save_model(net, root / "module", serialization_format="pickle", pip_requirements=PIP)
    example = torch.rand(2, 4).numpy()
    mlflow.pytorch.save_model(net, root / "module-pt2", serialization_format="pt2", input_example=example,
                              pip_requirements=PIP)


def keras_models(root: Path) -> None:
    import os

    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                              keras.layers.Dropout(0.1), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    root.mkdir(parents=True, exist_ok=True)
    model.save(root / "model.keras")
    model.save(root / "model.h5")


HEAVY = {"xgboost": xgboost_models, "lightgbm": lightgbm_models, "torch": torch_models, "keras": keras_models}


def globals_of(files: dict[str, bytes], flavors=None) -> dict[str, set[str]]:
    """path -> every name the file's loaders would import or call (from the scanner's walk of its bytes)."""
    from releases.artifact_scan import scan_files

    report = scan_files([(path, io.BytesIO(data)) for path, data in files.items()], flavors=flavors)
    out: dict[str, set[str]] = {}
    for file in report.files:
        names = {f.name for f in file.findings if f.kind in ("import", "call", "keras_layer", "code_call")}
        if names:
            out[file.path] = names
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="DIR", help="write the heavy models under DIR/<library>/")
    parser.add_argument("libraries", nargs="*", help="heavy libraries to write (default: all)")
    args = parser.parse_args(argv)
    if args.write:
        for name in args.libraries or HEAVY:
            HEAVY[name](Path(args.write) / name)
            print(f"wrote {Path(args.write) / name}")
        return 0
    for name, make in LIGHT.items():
        every = set().union(*globals_of(make()).values())
        print(f"# {name}")
        for dotted in sorted(every):
            print(f"  {dotted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
