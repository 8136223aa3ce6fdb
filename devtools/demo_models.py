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
        """A trivial model: the gateway cares about its environment, not its predictions."""

        def predict(self, context, model_input, params=None):
            return model_input


# name -> (pip requirements, conda env or None, metrics, tags)
DEMO_MODELS = {
    "fraud-detector": (["scikit-learn==1.5.2", "pyyaml==6.0.2", "requests==2.32.3"], None,
                       {"accuracy": 0.95, "latency_ms": 12.0}, {"git_sha": "4f2c9e1"}),
    "churn-legacy": (["pyyaml==5.3.1", "pillow==8.0.0", "requests==2.19.0"], None,
                     {"accuracy": 0.91, "latency_ms": 40.0}, {"git_sha": "a17b3d0"}),
    "forecast-conda": (None, {
        "name": "forecast",
        "channels": ["conda-forge"],
        "dependencies": ["python=3.11", "numpy=1.19.0", "pip", {"pip": ["mlflow", "pandas==2.2.2"]}],
    }, {"accuracy": 0.88, "latency_ms": 25.0}, {}),
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


def log_sklearn_model(client: MlflowClient, name: str, example=None, metrics=None, tags=None,
                      alias: str | None = "champion"):
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
        for key, value in (tags or {}).items():
            mlflow.set_tag(key, value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = mlflow.sklearn.log_model(model, name="model", input_example=example,
                                            pip_requirements=serving_requirements())
    mv = mlflow.register_model(info.model_uri, name)
    if alias:
        client.set_registered_model_alias(name, alias, mv.version)
    return str(mv.version), model, example


def seed(tracking_uri: str) -> dict[str, str]:
    """Register each demo model once (idempotent); return name -> latest version."""
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # per-run banners and dependency mismatch notes
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    versions = {}
    for name, (pip_reqs, conda_env, metrics, tags) in DEMO_MODELS.items():
        existing = client.search_model_versions(f"name='{name}'")
        if existing:
            versions[name] = str(max(int(mv.version) for mv in existing))
            continue
        versions[name] = log_model(client, name, pip_reqs, conda_env, metrics, tags)
    return versions
