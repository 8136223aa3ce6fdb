"""Validation of model names, versions and aliases before they reach MLflow.

These strings end up in MLflow REST calls and artifact URIs (models:/NAME/V/...),
so anything path-like or invisible is refused here, with a message per field.
"""
import re

from django.core.exceptions import ValidationError

MODEL_NAME_MAX = 256
# Letters, digits, space, dot, dash, underscore; must start with a letter or digit.
# Dots allow catalog-style names (catalog.schema.model); ".." is refused separately.
_MODEL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]*")
_VERSION_RE = re.compile(r"[1-9][0-9]{0,9}")
ALIAS_MAX = 255
_ALIAS_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


# What the OpenAPI schema promises (releases/api/serializers.py ModelNameField): a subset of
# what validate_model_name accepts, written without look-arounds so generators can use it.
# Every name it matches is accepted; the server also accepts rarer ones (two spaces in a row,
# a trailing dot), which a client that checks against the schema would refuse itself.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9_-]|[ .][A-Za-z0-9_-])*$"
MODEL_VERSION_PATTERN = r"^[1-9][0-9]{0,9}$"
MODEL_ALIAS_PATTERN = r"^@?[A-Za-z_][A-Za-z0-9_-]*$"


def validate_model_name(value: str) -> None:
    if not value:
        raise ValidationError("Model name is required.")
    if len(value) > MODEL_NAME_MAX:
        raise ValidationError(f"Model name must be at most {MODEL_NAME_MAX} characters.")
    if _CONTROL_RE.search(value):
        raise ValidationError("Model name must not contain control characters.")
    if "/" in value or "\\" in value or ".." in value:
        raise ValidationError("Model name must not contain '/', '\\' or '..'.")
    if value != value.strip():
        raise ValidationError("Model name must not start or end with whitespace.")
    if not _MODEL_NAME_RE.fullmatch(value):
        raise ValidationError(
            "Model name may contain only letters, digits, spaces, '.', '-' and '_', "
            "and must start with a letter or digit."
        )


def validate_model_version(value: str) -> None:
    if not _VERSION_RE.fullmatch(value or ""):
        raise ValidationError("Model version must be a positive integer (MLflow registry version).")


def normalise_alias(value: str) -> str:
    """Accept 'champion' and '@champion'; return the bare alias."""
    return value[1:] if value.startswith("@") else value


def validate_model_alias(value: str) -> None:
    if not value:
        raise ValidationError("Model alias is required.")
    if len(value) > ALIAS_MAX:
        raise ValidationError(f"Model alias must be at most {ALIAS_MAX} characters.")
    if not _ALIAS_RE.fullmatch(value):
        raise ValidationError(
            "Model alias may contain only letters, digits, '-' and '_', and must start with a letter or '_'."
        )
