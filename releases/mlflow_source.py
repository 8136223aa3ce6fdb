"""Resolve a model version in the MLflow Model Registry and fetch its environment files.

Only the files that describe the model's environment are fetched, each capped
in size, and every call is bounded in time: MLflow's client retries for about
four minutes by default, which would hold a worker and hide an outage.
"""
import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from releases.scanning.envparse import ENVIRONMENT_FILES

log = logging.getLogger(__name__)

ENV_FILES = ("MLmodel", *ENVIRONMENT_FILES)


class MlflowSourceError(Exception):
    """A failure to report on the release as-is: the message is shown to users, so it names no
    server address and quotes no library error (those go to the log, and to `detail`, for staff)."""

    detail = ""


class ModelNotFound(MlflowSourceError):
    pass


class MlflowUnavailable(MlflowSourceError):
    pass


class InvalidModelFiles(MlflowSourceError):
    pass


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    version: str
    run_id: str
    source: str
    download_uri: str


@dataclass(frozen=True)
class RunData:
    metrics: dict
    tags: dict
    author: str = ""


MAX_RUN_ENTRIES = 1000  # metrics and tags kept per run (quality gates only need a few)


@dataclass(frozen=True)
class FetchedFile:
    name: str
    content: str
    size: int
    sha256: str


def apply_request_bounds() -> None:
    # MLflow reads these from the process environment on every request.
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(settings.MLFLOW_REQUEST_TIMEOUT_SECONDS)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(settings.MLFLOW_MAX_RETRIES)
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = str(settings.MLFLOW_BACKOFF_FACTOR)
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] = "0"
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


class _Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def check(self, doing: str) -> None:
        if time.monotonic() > self.ends:
            log.warning("MLflow at %s: step deadline of %g s passed while %s",
                        settings.MLFLOW_TRACKING_URI, self.seconds, doing)
            raise MlflowUnavailable(f"MLflow did not finish answering within {self.seconds:g} s (while {doing}).")


def _error_code(exc: Exception) -> str:
    return getattr(exc, "error_code", "") or ""


def _unavailable(exc: Exception, doing: str) -> MlflowUnavailable:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    log.warning("MLflow at %s could not be reached while %s: %s", settings.MLFLOW_TRACKING_URI, doing,
                first_line[:500])
    failure = MlflowUnavailable(f"MLflow could not be reached while {doing} ({type(exc).__name__}); "
                                "the step can be retried.")
    failure.detail = f"MLflow at {settings.MLFLOW_TRACKING_URI}: {first_line[:500]}"
    return failure


class MlflowSource:
    def __init__(self, tracking_uri: str | None = None):
        from mlflow.tracking import MlflowClient  # heavy import: only on the worker's path

        apply_request_bounds()
        self.tracking_uri = tracking_uri or settings.MLFLOW_TRACKING_URI
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        self.deadline = _Deadline(settings.MLFLOW_STEP_DEADLINE_SECONDS)

    # --- resolution -------------------------------------------------------------
    def resolve(self, name: str, version: str = "", alias: str = "") -> ResolvedModel:
        from mlflow.exceptions import MlflowException, RestException

        self.deadline.check("resolving the model")
        try:
            if alias:
                mv = self.client.get_model_version_by_alias(name, alias)
            else:
                mv = self.client.get_model_version(name, version)
        except RestException as exc:
            if _error_code(exc) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                raise self._not_found(name, version, alias) from None
            raise _unavailable(exc, "resolving the model") from None
        except MlflowException as exc:
            raise _unavailable(exc, "resolving the model") from None
        self.deadline.check("resolving the download location")
        try:
            download_uri = self.client.get_model_version_download_uri(name, mv.version)
        except MlflowException as exc:
            raise _unavailable(exc, "resolving the download location") from None
        return ResolvedModel(
            name=name, version=str(mv.version), run_id=mv.run_id or "", source=mv.source or "",
            download_uri=download_uri,
        )

    def _not_found(self, name: str, version: str, alias: str) -> ModelNotFound:
        """Say precisely what is missing: the model, or its version/alias."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException as exc:
            if _error_code(exc) in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                return ModelNotFound(f"Model '{name}' does not exist in the MLflow Model Registry.")
            log.warning("MLflow: looking up model %r failed: %s", name, (str(exc).splitlines() or [""])[0][:500])
            return ModelNotFound(f"Model '{name}' could not be looked up in the MLflow Model Registry.")
        if alias:
            return ModelNotFound(f"Model '{name}' has no alias '@{alias}' in the MLflow Model Registry.")
        return ModelNotFound(f"Model '{name}' has no version {version} in the MLflow Model Registry.")

    def run_data(self, model: ResolvedModel) -> RunData:
        """The run's metrics and (non-system) tags, for quality gates. No run: empty."""
        from mlflow.exceptions import MlflowException

        if not model.run_id:
            return RunData({}, {})
        self.deadline.check("reading the run's metrics")
        try:
            run = self.client.get_run(model.run_id)
        except MlflowException as exc:
            if _error_code(exc) in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                return RunData({}, {})
            raise _unavailable(exc, "reading the run's metrics") from None
        metrics = dict(list(run.data.metrics.items())[:MAX_RUN_ENTRIES])
        tags = {k: str(v)[:500] for k, v in list(run.data.tags.items())[:MAX_RUN_ENTRIES]
                if not k.startswith("mlflow.")}
        return RunData(metrics, tags, str(run.info.user_id or "")[:256])

    # --- files ------------------------------------------------------------------
    def fetch_files(self, model: ResolvedModel) -> list[FetchedFile]:
        import mlflow.artifacts
        from mlflow.exceptions import MlflowException

        limit = settings.MLFLOW_MAX_FILE_BYTES
        self.deadline.check("listing the model files")
        try:
            listing = mlflow.artifacts.list_artifacts(artifact_uri=model.download_uri, tracking_uri=self.tracking_uri)
        except MlflowException as exc:
            raise _unavailable(exc, "listing the model files") from None
        except OSError as exc:
            raise _unavailable(exc, "listing the model files") from None
        present = {Path(info.path).name: info for info in listing or [] if not info.is_dir}
        wanted = [name for name in ENV_FILES if name in present]
        if "MLmodel" not in wanted:
            raise InvalidModelFiles(
                f"Model '{model.name}' version {model.version} has no MLmodel file at {model.download_uri}; "
                "it is not an MLflow model."
            )
        for name in wanted:
            size = present[name].file_size
            if size is not None and size > limit:
                raise InvalidModelFiles(f"{name} is {size} bytes, over the {limit}-byte limit.")

        fetched = []
        with tempfile.TemporaryDirectory(prefix="gateway-fetch-") as tmp:
            for name in wanted:
                self.deadline.check(f"downloading {name}")
                try:
                    local = mlflow.artifacts.download_artifacts(
                        artifact_uri=f"{model.download_uri.rstrip('/')}/{name}",
                        dst_path=tmp,
                        tracking_uri=self.tracking_uri,
                    )
                except (MlflowException, OSError) as exc:
                    raise _unavailable(exc, f"downloading {name}") from None
                fetched.append(_read_capped(Path(local), name, limit))
        return fetched


def _read_capped(path: Path, name: str, limit: int) -> FetchedFile:
    with path.open("rb") as fh:
        raw = fh.read(limit + 1)
    if len(raw) > limit:
        raise InvalidModelFiles(f"{name} is over the {limit}-byte limit.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidModelFiles(f"{name} is not UTF-8 text.") from None
    if "\x00" in text:
        raise InvalidModelFiles(f"{name} contains NUL bytes.")
    return FetchedFile(name=name, content=text, size=len(raw), sha256=hashlib.sha256(raw).hexdigest())
