"""GET /api/models/ and /api/models/{name}/: what the request form offers, from MLflow via the gateway.

Names autocomplete; one model's versions and aliases come with what the promotion chain allows in each
environment today, so the form can say so before anyone submits.
"""
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from releases import mlflow_catalog, promotion, validators
from releases.mlflow_source import MlflowUnavailable, ModelNotFound
from releases.models import Environment
from releases.permissions import CanRequestRelease

_QUERY_RE = re.compile(rf"[A-Za-z0-9 ._-]{{0,{validators.MODEL_NAME_MAX}}}")
RETRY_AFTER_SECONDS = 10


def _unavailable() -> Response:
    # The MLflow address and the exception stay in the logs: a user needs to know only that it is down.
    return Response({"detail": "MLflow is not answering; try again shortly."},
                    status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class ModelSearchView(APIView):
    permission_classes = [IsAuthenticated, CanRequestRelease]

    @extend_schema(operation_id="models_search",
                   parameters=[OpenApiParameter("q", str, description="part of a model name",
                                                pattern=f"^[A-Za-z0-9 ._-]{{0,{validators.MODEL_NAME_MAX}}}$")],
                   responses={200: None, 400: None, 503: None})
    def get(self, request):
        """Registered model names that contain `q` (case-insensitive), at most 20."""
        query = request.query_params.get("q", "")
        if not _QUERY_RE.fullmatch(query):
            raise ValidationError({"q": ["Letters, digits, spaces, '.', '-' and '_' only, at most "
                                         f"{validators.MODEL_NAME_MAX} characters."]})
        try:
            names = mlflow_catalog.search_models(query.strip())
        except MlflowUnavailable:
            return _unavailable()
        return Response({"results": names, "limit": mlflow_catalog.MAX_MODELS})


class ModelDetailView(APIView):
    permission_classes = [IsAuthenticated, CanRequestRelease]

    @extend_schema(responses={200: None, 400: None, 404: None, 503: None},
                   parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH,
                                                pattern=validators.MODEL_NAME_PATTERN)])
    def get(self, request, name: str):
        """One model's versions (newest first, at most 100) and aliases, and per environment what the
        promotion chain allows: any version, or the versions that succeeded in its predecessor."""
        try:
            validators.validate_model_name(name)
        except DjangoValidationError as exc:
            raise ValidationError({"name": exc.messages}) from None
        try:
            aliases = mlflow_catalog.aliases(name)
            versions = mlflow_catalog.versions(name)
        except ModelNotFound:
            return Response({"detail": f"Model '{name}' does not exist in the MLflow Model Registry."},
                            status=status.HTTP_404_NOT_FOUND)
        except MlflowUnavailable:
            return _unavailable()
        by_version: dict[str, list[str]] = {}
        for alias, version in sorted(aliases.items()):
            by_version.setdefault(version, []).append(alias)
        environments = []
        for env in Environment.objects.select_related("requires_success_in").order_by("order"):
            chain = promotion.allowed_versions(name, env)
            environments.append({
                "name": env.name, "requires_success_in": env.requires_success_in.name if env.requires_success_in
                else None, "min_soak_minutes": env.min_soak_minutes, "any_version": chain["any"],
                "allowed_versions": chain["allowed"], "soaking": chain["soaking"]})
        return Response({
            "name": name,
            "aliases": aliases,
            "versions": [{"version": v.version, "run_id": v.run_id, "created_at": v.created_at,
                          "description": v.description, "aliases": by_version.get(v.version, [])} for v in versions],
            "versions_limit": mlflow_catalog.MAX_VERSIONS,
            "environments": environments,
        })
