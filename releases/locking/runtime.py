"""The serving runtime is part of what is resolved, locked and scanned, not something the image adds later.

The image serves the model with MLflow's pyfunc scoring server (uvicorn and FastAPI, which mlflow-skinny
requires), which reads requests with pandas. The model's own `mlflow` or `mlflow-skinny` requirement, at the
version it declares, is the server; a model that declares neither gets mlflow-skinny at SERVING_MLFLOW_VERSION.
Resolving them together with the model's requirements makes a conflict between the two a resolver error at
fetch time, and puts every package of the server in the lock, the scan and the SBOM.
"""
from django.conf import settings

from releases.locking.inputs import LockInput

SERVER_PACKAGES = ("mlflow", "mlflow-skinny")  # either one carries the scoring server
SERVER_NEEDS = ("pandas",)  # what the scoring server imports that mlflow-skinny does not require


def runtime_requirements(lock_input: LockInput) -> list[str]:
    """The requirement lines the server adds to this model's (none when the model declares them all)."""
    added = [] if any(name in lock_input.declared for name in SERVER_PACKAGES) else [
        f"mlflow-skinny=={settings.SERVING_MLFLOW_VERSION}"]
    return added + [name for name in SERVER_NEEDS if name not in lock_input.declared]


def with_runtime(lock_input: LockInput) -> LockInput:
    added = runtime_requirements(lock_input)
    if added:
        lock_input.requirements.extend(added)
        lock_input.notes.append("the serving runtime (MLflow's scoring server) is resolved and locked with the "
                                "model's requirements: " + ", ".join(added))
    return lock_input
