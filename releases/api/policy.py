"""Waivers API and the policy dry run."""
from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from releases import waivers
from releases.api.serializers import ModelNameField, ModelReferenceSerializer
from releases.locking.service import ResolverUnavailable, lock_for
from releases.mlflow_source import InvalidModelFiles, MlflowSource, MlflowUnavailable, ModelNotFound
from releases.models import Environment, Waiver
from releases.models.model_files import VERDICT_ORDER, shown
from releases.models.policy import model_file_waiver_problem
from releases.permissions import CanRequestRelease
from releases.policies import decide_for
from releases.scanning.os_inventory import BaseImageUnavailable, configured_base_image
from releases.scanning.rego import RegoFailure
from releases.scanning.runner import run_scan
from releases.scanning.scanner import EmptyAdvisoryDatabase
from releases.scanning.trivy import TrivyError


class WaiverSerializer(serializers.ModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", queryset=Environment.objects.all(),
                                               required=False, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    approved_by = serializers.CharField(source="approved_by.username", read_only=True, default=None,
                                        allow_null=True)
    state = serializers.CharField(read_only=True)
    model_name = ModelNameField(required=False, allow_blank=True)
    reason = serializers.CharField(min_length=1, max_length=4000, help_text="Why the risk is accepted.")
    # Advisory ids and aliases are visible ASCII (GHSA-…, CVE-…, PYSEC-…): the schema says so.
    advisory_id = serializers.RegexField(r"^[!-~]{1,256}$", max_length=256,
                                         error_messages={"invalid": "An advisory id or alias such as GHSA-… or CVE-…."})

    class Meta:
        model = Waiver
        fields = ["id", "advisory_id", "package", "model_name", "environment", "reason", "expires_at", "state",
                  "created_by", "created_at", "approved_by", "approved_at", "revoked_at"]
        read_only_fields = ["id", "state", "created_by", "created_at", "approved_by", "approved_at", "revoked_at"]

    def validate_advisory_id(self, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 256 or not value.isprintable() or " " in value:
            raise serializers.ValidationError("An advisory id or alias such as GHSA-… or CVE-….")
        problem = model_file_waiver_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate(self, attrs):
        problem = model_file_waiver_problem(attrs.get("advisory_id", ""), attrs.get("package", ""))
        if problem:
            raise serializers.ValidationError({"package": problem})
        return attrs

    def validate_reason(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("A reason is required.")
        return value.strip()

    def validate_expires_at(self, value):
        now = timezone.now()
        if value <= now:
            raise serializers.ValidationError("The expiry must be in the future.")
        if value > waivers.max_expiry(now):
            raise serializers.ValidationError(
                f"A waiver may last at most {waivers.settings.WAIVER_MAX_DAYS} days (WAIVER_MAX_DAYS).")
        return value


class WaiverViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                    viewsets.GenericViewSet):
    """Everyone signed in reads waivers; only security officers create, approve and revoke them."""

    serializer_class = WaiverSerializer
    queryset = Waiver.objects.select_related("environment", "created_by", "approved_by")
    filterset_fields = ["advisory_id", "package", "model_name"]
    ordering_fields = ["created_at", "expires_at", "id"]

    def perform_create(self, serializer):
        if not waivers.is_security_officer(self.request.user):
            raise PermissionDenied("Only security officers create waivers.")
        serializer.save(created_by=self.request.user)

    def _act(self, func):
        try:
            waiver = func(self.get_object(), self.request.user)
        except waivers.WaiverRefused as exc:
            raise PermissionDenied(str(exc)) from None
        except waivers.WaiverConflict as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(WaiverSerializer(waiver).data)

    @extend_schema(request=None, responses={200: WaiverSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._act(waivers.approve)

    @extend_schema(request=None, responses={200: WaiverSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        return self._act(waivers.revoke)


class DryRunSerializer(ModelReferenceSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", queryset=Environment.objects.all())


DRY_RUN_FINDINGS = 200  # the response lists the most severe; the decision counts them all
DRY_RUN_MODEL_FILES = 50  # the worst first, each with its (capped) findings; the decision judged them all


@extend_schema(request=DryRunSerializer, responses={200: None, 403: None, 404: None, 422: None, 503: None})
class PolicyEvaluateView(viewsets.ViewSet):
    """POST /api/policy/evaluate/: the decision a release would get today. Stores nothing.

    Only for requesters: it makes the gateway fetch from MLflow and scan, the environment files and
    every model file, under the same bounds as the worker's steps (file caps, dependency, finding and
    note caps; the model-file limits), within DRY_RUN_MODEL_FILES_DEADLINE_SECONDS."""

    permission_classes = [IsAuthenticated, CanRequestRelease]

    def create(self, request):
        body = DryRunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            source = MlflowSource()
            model = source.resolve(data["model_name"], version=data.get("model_version", ""),
                                   alias=data.get("model_alias", ""))
            files = source.fetch_files(model)
            run = source.run_data(model)
            contents = {f.name: f.content for f in files}
            lock = lock_for(data["environment"], model.name, model.version, contents)  # as the fetch step; not kept
            # imported here: the scanner (h5py, numpy) adds 0.35 s to every web process's start (measured)
            from releases import model_files

            scanned = [f.as_dict() for f in model_files.fetch_and_scan(
                source, model, files, deadline_seconds=settings.DRY_RUN_MODEL_FILES_DEADLINE_SECONDS)]
            result = run_scan(contents, lock, base_image=configured_base_image())
        except ModelNotFound as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
        except InvalidModelFiles as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        except (MlflowUnavailable, EmptyAdvisoryDatabase, TrivyError, ResolverUnavailable,
                BaseImageUnavailable) as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        try:
            decision, _policy = decide_for(result, data["environment"], data["model_name"], run.metrics, run.tags,
                                           model_files=scanned)
        except RegoFailure as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({
            "model_name": model.name, "model_version": model.version, "environment": data["environment"].name,
            "decision": decision.as_dict(),
            "scan": {"scanner": result.scanner, "scanner_version": result.scanner_version,
                     "advisory_sync": result.snapshot_id, "counts": result.counts(True),
                     "possible_counts": result.counts(False), "issues": result.issues,
                     "dependencies": [d.as_dict() for d in result.dependencies],
                     "dependency_lock": lock.summary(),
                     "findings_count": len(result.findings),
                     "findings": [f.as_dict() for f in result.findings[:DRY_RUN_FINDINGS]]},
            "model_files_count": len(scanned),
            "model_files": [shown(f) for f in sorted(scanned, key=_worst_first)[:DRY_RUN_MODEL_FILES]],
        })


def _worst_first(model_file: dict) -> int:
    return VERDICT_ORDER.index(model_file["verdict"])
