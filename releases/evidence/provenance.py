"""SLSA Provenance v1 (https://slsa.dev/provenance/v1) of a release's image, signed like the attestation.

The gateway's own attestation (statement.py) says why the image may ship; this standard statement says how it
was built, in the shape supply-chain tools read: the build type and its parameters, and the resolved
dependencies, each by digest: the base image, the dependency lock (re-derived from its content) and the model's
scanned files. It is stored beside the attestation, served at GET /api/releases/{id}/provenance/, and checked
by `manage.py verify_release`.
"""
from datetime import datetime

import releases.builds.serving as serving
from releases.evidence.dsse import STATEMENT_TYPE
from releases.locking import shipping
from releases.model_manifest import manifest, manifest_digest
from releases.models import Build, Release

PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://model-release-gateway.dev/build/serving-image/v1"
BUILDER = "https://model-release-gateway.dev/builder/"


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def resolved_dependencies(release: Release, build: Build) -> list[dict]:
    """What the image was built from, each by digest."""
    found = []
    name, _, digest = build.base_image.partition("@")
    if digest:
        found.append({"name": "base-image", "uri": f"oci://{name}",
                      "digest": {"sha256": digest.removeprefix("sha256:")}})
    lock = shipping.shipped_lock(release)  # LockMismatch if the record was changed: nothing is signed over it
    if lock is not None:
        found.append({"name": shipping.LOCK_FILE, "uri": f"file://{shipping.LOCK_PATH_IN_IMAGE}",
                      "digest": {"sha256": shipping.derived_digest(lock)}})
    files = manifest(release)
    if files:
        found.append({"name": "model-files", "uri": release.mlflow_source or f"models:/{release.model_name}/"
                      f"{release.model_version}", "digest": {"sha256": manifest_digest(files)}})
    return found


def build_provenance(release: Release, build: Build, subject: str) -> dict:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject, "digest": {"sha256": build.image_digest.removeprefix("sha256:")}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"model": {"name": release.model_name, "version": release.model_version,
                                                 "mlflow_run_id": release.mlflow_run_id},
                                       "environment": release.environment.name, "release": release.pk},
                "internalParameters": {"recipe": serving.RECIPE_VERSION, "kind": build.kind,
                                       "source_build": build.source_build_id},
                "resolvedDependencies": resolved_dependencies(release, build),
            },
            "runDetails": {
                "builder": {"id": BUILDER + build.backend},
                "metadata": {"invocationId": f"build-{build.pk}", "startedOn": _stamp(build.started_at),
                             "finishedOn": _stamp(build.finished_at)},
            },
        },
    }
