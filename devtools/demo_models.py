"""Register the demo models in an MLflow server: clean, vulnerable pip pins, and a conda env.

Explicit pip_requirements keep logging fast (MLflow would otherwise infer them).
"""
import warnings

import mlflow
import mlflow.pyfunc
from mlflow.tracking import MlflowClient

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # MLflow suggests type hints; this model is never served

    class EchoModel(mlflow.pyfunc.PythonModel):
        """A trivial model for the tests' environment files: the gateway cares about its environment here."""

        def predict(self, context, model_input, params=None):
            return model_input


DEMO_RECIPE = "sklearn-1"  # a demo model version logged before this recipe is replaced by a new version
VULNERABLE_PINS = ["pyyaml==5.3.1", "pillow==8.0.0", "requests==2.19.0"]
# name -> (extra pip requirements, conda env or None, metrics, tags). Every demo model is a real scikit-learn
# model with an input example, so each image could serve it; the bundled advisories decide which may ship.
DEMO_MODELS = {
    "fraud-detector": ([], None, {"accuracy": 0.95, "latency_ms": 12.0}, {"git_sha": "4f2c9e1"}),
    "churn-legacy": (VULNERABLE_PINS, None, {"accuracy": 0.91, "latency_ms": 40.0}, {"git_sha": "a17b3d0"}),
    "forecast-conda": ([], "conda", {"accuracy": 0.88, "latency_ms": 25.0}, {}),
}


def log_model(client: MlflowClient, name: str, pip_requirements=None, conda_env=None,
              metrics=None, tags=None, alias: str | None = "champion") -> str:
    """Log one version of `name`; return its version number."""
    mlflow.set_experiment(f"demo-{name}")
    with mlflow.start_run() as run:
        for key, value in (metrics or {}).items():
            mlflow.log_metric(key, value)
        for key, value in (tags or {}).items():
            mlflow.set_tag(key, value)
        kwargs = {"conda_env": conda_env} if conda_env else {"pip_requirements": pip_requirements or []}
        info = mlflow.pyfunc.log_model(name="model", python_model=EchoModel(), **kwargs)
    mv = mlflow.register_model(info.model_uri, name)
    if alias:
        client.set_registered_model_alias(name, alias, mv.version)
    assert run.info.run_id
    return str(mv.version)


SERVING_PACKAGES = ("scikit-learn", "numpy", "scipy", "pandas", "skops")


def serving_requirements() -> list[str]:
    """Pins of this interpreter's own versions, so the image serves the model with what trained it."""
    from importlib.metadata import version

    return [f"mlflow-skinny=={version('mlflow-skinny')}", *(f"{name}=={version(name)}" for name in SERVING_PACKAGES)]


def training_data(rows: int = 200, seed: int = 7):
    """A small synthetic fraud data set: amount, hour, distance from home, and card age (days)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"amount": rng.gamma(2.0, 60.0, rows), "hour": rng.integers(0, 24, rows).astype(float),
                          "distance_km": rng.exponential(12.0, rows), "card_age_days": rng.integers(1, 3000, rows)
                          .astype(float)})
    risk = frame.amount / 200 + (frame.hour < 5) * 1.5 + frame.distance_km / 30 - frame.card_age_days / 1500
    return frame, (risk + rng.normal(0, 0.3, rows) > 1.2).astype(int)


def conda_env(extra: list[str]) -> dict:
    """A conda environment whose conda-level numpy is old (the scanner reads conda.yaml too)."""
    return {"name": "forecast", "channels": ["conda-forge"],
            "dependencies": ["python=3.11", "numpy=1.19.0", "pip", {"pip": serving_requirements() + extra}]}


def log_sklearn_model(client: MlflowClient, name: str, example=None, metrics=None, tags=None,
                      alias: str | None = "champion", extra_requirements=(), conda: bool = False):
    """Log a real scikit-learn model trained on `training_data`, with its signature and an input example
    (MLflow writes serving_input_example.json from it); return (version, model, example)."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    features, labels = training_data()
    model = LogisticRegression(max_iter=500).fit(features, labels)
    example = features.head(3) if example is None else example
    mlflow.set_experiment(f"demo-{name}")
    with mlflow.start_run():
        for key, value in (metrics or {}).items():
            mlflow.log_metric(key, value)
        for key, value in {**(tags or {}), "demo_recipe": DEMO_RECIPE}.items():
            mlflow.set_tag(key, value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            environment = ({"conda_env": conda_env(list(extra_requirements))} if conda else
                           {"pip_requirements": serving_requirements() + list(extra_requirements)})
            info = mlflow.sklearn.log_model(model, name="model", input_example=example, **environment)
    mv = mlflow.register_model(info.model_uri, name)
    if alias:
        client.set_registered_model_alias(name, alias, mv.version)
    return str(mv.version), model, example


def seed(tracking_uri: str) -> dict[str, str]:
    """Register each demo model once (idempotent: a version of this recipe is reused); name -> champion version."""
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # per-run banners and dependency mismatch notes
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    versions = {}
    for name, (extra, conda, metrics, tags) in DEMO_MODELS.items():
        current = _current_version(client, name)
        if current:
            versions[name] = current
            continue
        versions[name], _model, _example = log_sklearn_model(client, name, metrics=metrics, tags=tags,
                                                             extra_requirements=extra, conda=bool(conda))
    return versions


def _current_version(client: MlflowClient, name: str) -> str:
    """The newest version of `name` made by this recipe ("" if none: an older demo's echo models are replaced)."""
    existing = client.search_model_versions(f"name='{name}'")
    for mv in sorted(existing, key=lambda mv: int(mv.version), reverse=True):
        if client.get_run(mv.run_id).data.tags.get("demo_recipe") == DEMO_RECIPE:
            return str(mv.version)
    return ""
