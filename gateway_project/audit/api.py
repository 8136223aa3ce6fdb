"""GET /api/deployments/: what was deployed where at an instant (gateway_project.audit.deployments).

Read permission as the rest of the API (the REST_FRAMEWORK default: a role). Parameters are
checked strictly: an instant that is not ISO 8601 with a time zone, or an environment or model
name that could not exist, is a 400, never "nothing deployed". Pages of StandardPagination.
"""
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError

from gateway_project.audit import deployments
from releases import validators

ENVIRONMENT_PATTERN = r"^[-a-zA-Z0-9_]{1,64}$"  # Environment.name is a SlugField(max_length=64)


class DeploymentApprovalSerializer(serializers.Serializer):
    user = serializers.CharField()
    stage = serializers.CharField()
    at = serializers.DateTimeField()
    self_approval = serializers.BooleanField()
    scan_report_id = serializers.IntegerField()


class DeploymentSerializer(serializers.Serializer):
    environment = serializers.CharField()
    model_name = serializers.CharField()
    model_version = serializers.CharField()
    release_id = serializers.IntegerField()
    image_reference = serializers.CharField()
    image_digest = serializers.CharField()
    since = serializers.DateTimeField(help_text="The release's SUCCEEDED event: when this version arrived.")
    requested_by = serializers.CharField()
    approvals = DeploymentApprovalSerializer(many=True, help_text="The approving decisions bound to the "
                                             "release's latest scan report (the ones that let it through).")


def _checked(request, name: str, pattern_check) -> str | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        pattern_check(raw)
    except DjangoValidationError as exc:
        raise ValidationError({name: exc.messages}) from None
    return raw


def _environment_name(value: str) -> None:
    if not re.fullmatch(ENVIRONMENT_PATTERN, value):
        raise DjangoValidationError("An environment name: letters, digits, '-' and '_', at most 64.")


class DeploymentsView(generics.ListAPIView):
    serializer_class = DeploymentSerializer
    filter_backends: list = []

    def get_queryset(self):
        raw_at = self.request.query_params.get("at")
        try:
            at = timezone.now() if raw_at is None else deployments.parse_instant(raw_at)
        except ValueError as exc:
            raise ValidationError({"at": [str(exc)]}) from None
        return deployments.current_releases(at, _checked(self.request, "environment", _environment_name),
                                            _checked(self.request, "model", validators.validate_model_name))

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            DeploymentSerializer([d.as_dict() for d in deployments.describe(page)], many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("at", OpenApiTypes.DATETIME, description="The instant (ISO 8601 with a time zone); "
                             "default now. A release arriving exactly then counts as deployed."),
            OpenApiParameter("environment", {"type": "string", "pattern": ENVIRONMENT_PATTERN},
                             description="Only this environment (default: all)."),
            OpenApiParameter("model", {"type": "string", "pattern": validators.MODEL_NAME_PATTERN,
                                       "maxLength": validators.MODEL_NAME_MAX},
                             description="Only this registered model (default: all)."),
        ],
    )
    def get(self, request, *args, **kwargs):
        """For each environment and model, the version in place at `at`: the release whose SUCCEEDED
        event is the newest at or before `at`. A later release that failed or was cancelled changes
        nothing. Environments in promotion order, then model names."""
        return super().get(request, *args, **kwargs)
