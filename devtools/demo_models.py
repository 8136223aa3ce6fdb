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
