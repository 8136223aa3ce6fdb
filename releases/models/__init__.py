"""All models of the releases app (one module per concern)."""
from releases.models.advisories import Advisory, AdvisoryAlias, AdvisorySync, AffectedPackage  # noqa: F401
from releases.models.builds import Build, CallbackDelivery  # noqa: F401
from releases.models.core import (  # noqa: F401
    SYSTEM_ACTOR,
    AppendOnlyError,
    Environment,
    IdempotencyKey,
    Release,
    ReleaseEvent,
    ReleaseFile,
)
from releases.models.evidence import ReleaseEvidence  # noqa: F401
from releases.models.locks import DependencyLock  # noqa: F401
from releases.models.model_files import ModelFile  # noqa: F401
from releases.models.policy import MANAGE_WAIVERS, Action, EnvironmentPolicy, LockRequirement, Waiver  # noqa: F401
from releases.models.scans import Finding, ScanReport  # noqa: F401
