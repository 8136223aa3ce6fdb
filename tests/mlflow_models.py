"""Models registered in the test session's MLflow server."""
import mlflow
from mlflow.tracking import MlflowClient

from devtools.demo_models import log_model

CLEAN = "clean-model"
VULNERABLE = "vulnerable-model"
CONDA = "conda-model"
NOT_A_MODEL = "not-a-model"
BARE = "bare-model"  # an MLmodel and nothing else: no environment files to scan
DUPLICATE_KEY = "duplicate-key-model"  # python_env.yaml hides pyyaml behind a duplicate key


def register_test_models(tracking_uri: str) -> dict:
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    log_model(client, CLEAN, ["requests==2.32.3"], alias=None)
    log_model(client, CLEAN, ["requests==2.32.3", "pyyaml==6.0.2"], alias="champion")  # version 2
    log_model(client, VULNERABLE, ["pyyaml==5.3.1", "pillow==8.0.0", "requests==2.19.0"],
              metrics={"accuracy": 0.91, "latency_ms": 40.0}, tags={"git_sha": "a17b3d0"})
    log_model(client, CONDA, conda_env={"name": "c", "channels": ["conda-forge"],
                                        "dependencies": ["python=3.11", "numpy=1.19.0", "pip",
                                                         {"pip": ["mlflow"]}]})
    # A registered version whose source holds no MLmodel: not an MLflow model.
    mlflow.set_experiment("not-a-model")
    with mlflow.start_run() as run:
        mlflow.log_text("just text", "stuff/readme.txt")
    client.create_registered_model(NOT_A_MODEL)
    client.create_model_version(NOT_A_MODEL, f"{run.info.artifact_uri}/stuff", run.info.run_id)
    _raw_model(client, run, BARE, {"MLmodel": "flavors:\n  python_function: {}\n"})
    _raw_model(client, run, DUPLICATE_KEY, {
        "MLmodel": "flavors:\n  python_function: {}\n", "requirements.txt": "flask==2.0\n",
        "python_env.yaml": "python: 3.11.7\ndependencies: [-r requirements.txt]\ndependencies: [pyyaml==5.3.1]\n"})
    return {CLEAN: "2", VULNERABLE: "1", CONDA: "1", NOT_A_MODEL: "1", BARE: "1", DUPLICATE_KEY: "1"}


def _raw_model(client, run, name: str, files: dict) -> None:
    """A model version whose files are written as given, not as MLflow would write them."""
    with mlflow.start_run(run_id=run.info.run_id):
        for filename, text in files.items():
            mlflow.log_text(text, f"{name}/{filename}")
    client.create_registered_model(name)
    client.create_model_version(name, f"{run.info.artifact_uri}/{name}", run.info.run_id)
