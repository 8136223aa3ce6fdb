"""The serving image tests' real parts: the base image (made once per machine, pushed once per session) and
real scikit-learn models in the session's MLflow server."""
import mlflow
from django.test import override_settings
from mlflow.tracking import MlflowClient

from devtools.demo_models import log_sklearn_model
from releases.builds import base_image

SERVING = "serving-model"  # a scikit-learn model with an input example: its image must answer a prediction
FAILING = "failing-model"  # the same model, whose input example makes its predict raise (NaN)


def publish_base(registry_address: str, buildah_root, record) -> base_image.BaseImage:
    """The base in this session's registry: the root file system comes from ~/.cache (mmdebstrap runs only on a
    machine that has never made it), and is imported and pushed here."""
    with override_settings(BUILD_REGISTRY=f"{registry_address}/models", BUILD_REGISTRY_TLS_VERIFY=False,
                           BUILDAH_ROOT=buildah_root, BUILD_BASE_RECORD=record):
        return base_image.ensure_published()


def register_serving_models(tracking_uri: str) -> dict:
    """name -> (version, the trained model, its input example as a DataFrame)."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    models = {SERVING: log_sklearn_model(client, SERVING, alias=None)}
    _version, _model, example = models[SERVING]
    broken = example.copy()
    broken.loc[0, "amount"] = float("nan")  # logistic regression refuses NaN: predict raises in the server
    models[FAILING] = log_sklearn_model(client, FAILING, example=broken, alias=None)
    return models
