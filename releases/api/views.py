import hashlib

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from releases import promotion, services
from releases.api import answer_cache, conditional
from releases.api.evidence import ReleaseEvidenceActions
from releases.api.filters import FindingFilter, ReleaseFilter, asks_to_filter
from releases.api.pagination import ValuesCountedApart
from releases.api.read_plans import plan_for
from releases.api.serializers import (
    LIST_LIMIT,
    CancelSerializer,
    EnvironmentSerializer,
    FindingSerializer,
    ModelFileSerializer,
    RebuildSerializer,
    ReleaseCreateSerializer,
    ReleaseDetailSerializer,
    ReleaseEventSerializer,
    ReleaseSerializer,
    ScanReportSerializer,
)
from releases.lifecycle import TransitionError
from releases.models import Environment, Finding, ModelFile, Release, ReleaseEvent, ScanReport
from releases.permissions import CanManageRelease, CanReadGateway, CanRequestRelease

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255


def paginated_schema(name: str, results):
    """The schema of one page of StandardPagination, for actions that paginate by hand."""
    return inline_serializer(name, {
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True), "results": results})


# Actions that read what belongs to a release (its report, findings, events), not the release itself.
REPORT_ACTIONS = {"scan", "scan_findings", "scan_dependencies", "scan_notes", "scan_model_files", "events",
                  "attestation", "provenance", "sbom"}
STORED_OBJECTS = serializers.ListField(child=serializers.DictField())  # a report's dependencies or notes, as stored


def _conflict(detail: str, release: Release | None = None) -> Response:
    body = {"detail": detail}
    if release is not None:
        body["status"] = Release.objects.values_list("status", flat=True).get(pk=release.pk)
    return Response(body, status=status.HTTP_409_CONFLICT)


class EnvironmentViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Environment.objects.select_related("requires_success_in")
    serializer_class = EnvironmentSerializer
    lookup_field = "name"
    pagination_class = None
    filter_backends = []


class ReleaseViewSet(ReleaseEvidenceActions,
                     mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     viewsets.GenericViewSet):
    filterset_class = ReleaseFilter
    ordering_fields = ["created_at", "updated_at", "model_name", "status", "id"]
    ordering = ["-created_at", "-id"]

    def visible_releases(self):
        """The releases the caller may read: all of them, for anyone with a role (CanReadGateway guards
        every action); the one place to narrow it per release."""
        return Release.objects.all()

    def get_queryset(self):
        if self.action == "list":  # rows of only what ReleaseSerializer shows (not the run's metrics and tags)
            return self.visible_releases()
        queryset = self.visible_releases().select_related("environment", "requested_by")
        if self.action in REPORT_ACTIONS:  # they need the release only to find what belongs to it
            return self.visible_releases().only("id")
        if self.action in ("retrieve", "create"):  # ReleaseDetailSerializer reads files, events, scan itself
            return queryset.defer("mlflow_run_metrics", "mlflow_run_tags")  # not shown, and can be large
        return queryset

    def get_serializer_class(self):
        if self.action == "create":
            return ReleaseCreateSerializer
        if self.action == "retrieve":
            return ReleaseDetailSerializer
        if self.action == "cancel":
            return CancelSerializer
        if self.action == "rebuild":
            return RebuildSerializer
        return ReleaseSerializer

    def list(self, request, *args, **kwargs):
        """Releases, newest first; filters status (repeat for several), environment, model_name,
        model_name_contains, requested_by, created_after, created_before."""
        plan = plan_for(ReleaseSerializer)  # answered from values() rows: no model instances
        page = self.paginate_queryset(ValuesCountedApart(self.filter_queryset(self.get_queryset()), plan.columns))
        return self.get_paginated_response(plan.represent_values(page))

    def _etag(self, pk) -> str | None:
        """The caller's release `pk`'s ETag, or None when it is not one of the caller's visible releases."""
        pk = str(pk or "")
        return conditional.release_etag(self.visible_releases(), int(pk)) if pk.isdigit() else None

    def get_permissions(self):
        if self.action in ("cancel", "retry", "rebuild"):
            return [IsAuthenticated(), CanReadGateway(), CanManageRelease()]
        if self.action == "create":
            return [IsAuthenticated(), CanRequestRelease()]
        return super().get_permissions()

    @extend_schema(
        request=ReleaseCreateSerializer,
        responses={201: ReleaseDetailSerializer, 409: None},
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, {"type": "string", "pattern": "^[!-~]{1,255}$"},
                                     OpenApiParameter.HEADER, required=False,
                                     description="Same key + same body returns the same release; "
                                     "same key + different body is 409.")],
    )
    def create(self, request, *args, **kwargs):
        serializer = ReleaseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        fields = {"model_name": data["model_name"], "requested_ref": data["requested_ref"],
                  "environment": data["target_environment"]}
        try:
            requested = self._create(request, request.headers.get(IDEMPOTENCY_HEADER), fields)
        except promotion.PromotionRefused as exc:
            return _conflict(str(exc))
        except services.IdempotencyMismatch as exc:
            return _conflict(str(exc))
        headers = {"Location": f"/api/releases/{requested.release.pk}/"}
        if requested.replayed:  # the key's release as it is now
            headers["Idempotent-Replayed"] = "true"
        # A new release is answered as committed, from the objects it was made with: nothing is read back.
        detail = ReleaseDetailSerializer(requested.release, context={"first_event": requested.first_event})
        return Response(detail.data, status=status.HTTP_201_CREATED, headers=headers)

    def _create(self, request, key, fields) -> services.Requested:
        if key is None:
            return services.request_release(request.user, **fields)
        if not key.strip() or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
            raise ValidationError({IDEMPOTENCY_HEADER: [f"Must be 1-{IDEMPOTENCY_KEY_MAX} printable characters."]})
        return services.request_release_idempotent(request.user, key, **fields)

    @extend_schema(responses={200: ReleaseDetailSerializer, 304: None, 404: None},
                   parameters=[OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, required=False,
                                                description="The ETag of a previous answer: 304 if unchanged.")])
    def retrieve(self, request, *args, **kwargs):
        """The release with its files, events and latest scan summary. Answers carry an ETag; send it back
        in If-None-Match to get 304 Not Modified while nothing changed (how the portal follows a release)."""
        etag = self._etag(kwargs.get("pk"))
        if etag and conditional.matches(request, etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        response = Response(answer_cache.answer("detail", etag, lambda: self.get_serializer(self.get_object()).data))
        if etag:
            response["ETag"] = etag
        response["Cache-Control"] = "private, no-cache"
        return response

    @extend_schema(request=CancelSerializer, responses={200: ReleaseSerializer, 409: None})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        release = self.get_object()
        body = CancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            release = services.cancel_release(release, request.user, body.validated_data["reason"])
        except TransitionError as exc:
            return _conflict(str(exc), release)
        return Response(ReleaseSerializer(release).data)

    def _latest_report(self):
        # raw_output (an external scanner's report, up to 20 MiB) is never part of an answer: not loaded.
        # The findings are counted on their index, not by a GROUP BY over the report's columns (5x dearer).
        report = ScanReport.objects.defer("raw_output").with_list_heads(LIST_LIMIT).latest_for(self.get_object())
        if report is not None:
            report.findings_count = Finding.objects.filter(report=report).count()
        return report

    def _report_list(self, field: str):
        report = ScanReport.objects.filter(release=self.get_object()).newest_first().only("id", field).first()
        if report is None:
            return Response({"detail": "This release has not been scanned yet."}, status=status.HTTP_404_NOT_FOUND)
        return self.get_paginated_response(self.paginate_queryset(list(getattr(report, field) or [])))

    @extend_schema(responses={200: paginated_schema("PaginatedScanDependencyList", STORED_OBJECTS), 404: None})
    @action(detail=True, methods=["get"], url_path="scan/dependencies")
    def scan_dependencies(self, request, pk=None):
        """Every dependency the latest scan read (file, line, name, specifier, role), paginated."""
        return self._report_list("dependencies")

    @extend_schema(responses={200: paginated_schema("PaginatedScanNoteList", STORED_OBJECTS), 404: None})
    @action(detail=True, methods=["get"], url_path="scan/notes")
    def scan_notes(self, request, pk=None):
        """Every note of the latest scan (lines it could not use, scanner remarks), paginated."""
        return self._report_list("issues")

    @extend_schema(responses={200: paginated_schema("PaginatedModelFileList", ModelFileSerializer(many=True)),
                              404: None})
    @action(detail=True, methods=["get"], url_path="scan/model-files")
    def scan_model_files(self, request, pk=None):
        """Every model file as scanned (path, size, SHA-256, format, verdict, classified findings), worst first,
        paginated."""
        files = ModelFile.objects.filter(release=self.get_object()).worst_first()
        return self.get_paginated_response(ModelFileSerializer(self.paginate_queryset(files), many=True).data)

    @extend_schema(responses={200: paginated_schema("PaginatedReleaseEventList", ReleaseEventSerializer(many=True)),
                              404: None})
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """Every event of the release, oldest first, paginated (the release itself shows the newest 200)."""
        events = ReleaseEvent.objects.filter(release=self.get_object()).select_related("actor").order_by(
            "created_at", "id")
        return self.get_paginated_response(ReleaseEventSerializer(self.paginate_queryset(events), many=True).data)

    @extend_schema(responses={200: ScanReportSerializer, 404: None})
    @action(detail=True, methods=["get"])
    def scan(self, request, pk=None):
        """The latest scan report: decision with every reason, counts, dependencies, notes (404 before the
        first scan). Its findings are paginated at scan/findings/."""
        data = answer_cache.answer("scan", self._etag(pk), self._scan_answer)
        if data is None:
            return Response({"detail": "This release has not been scanned yet."}, status=status.HTTP_404_NOT_FOUND)
        return Response(data)

    def _scan_answer(self) -> dict | None:
        report = self._latest_report()
        return None if report is None else ScanReportSerializer(report).data

    @extend_schema(responses={200: paginated_schema("PaginatedScanFindingList", FindingSerializer(many=True)),
                              400: None, 404: None},
                   parameters=[OpenApiParameter(name, str, description=f"filter: {name}")
                               for name in ("severity", "definite", "package", "advisory_id", "role", "ordering")])
    @action(detail=True, methods=["get"], url_path="scan/findings")
    def scan_findings(self, request, pk=None):
        """The latest report's findings, paginated, most severe first; filters severity, definite, package,
        advisory_id, role."""
        # Per page, filter and order as asked (the whole address: the links in the page name the host).
        asked = hashlib.sha256(request.build_absolute_uri().encode()).hexdigest()
        data = answer_cache.answer(f"findings:{asked}", self._etag(pk), self._findings_page)
        if data is None:
            return Response({"detail": "This release has not been scanned yet."}, status=status.HTTP_404_NOT_FOUND)
        return Response(data)

    def _findings_page(self) -> dict | None:
        request = self.request
        latest = ScanReport.objects.filter(release=self.get_object()).newest_first()
        report = latest.values_list("id", flat=True).first()
        if report is None:
            return None
        findings = Finding.objects.filter(report_id=report)
        if asks_to_filter(FindingFilter, request.query_params):
            filtered = FindingFilter(request.query_params, queryset=findings)
            if not filtered.is_valid():
                raise ValidationError(filtered.errors)
            findings = filtered.qs
        # severity_rank is stored (Finding): the default order is read from the finding_most_severe_first index
        findings = findings.order_by(*self._finding_order(request))
        page = self.paginate_queryset(findings)
        return self.get_paginated_response(FindingSerializer(page, many=True).data).data

    @staticmethod
    def _finding_order(request) -> "list[str]":  # quoted: `list` in this class body is the action
        """`ordering`: severity (most severe first), package, advisory_id, score; prefix `-` to reverse."""
        wanted = request.query_params.get("ordering", "")
        field = wanted.lstrip("-")
        if field in ("severity", "package", "advisory_id", "score"):
            field = "severity_rank" if field == "severity" else field
            return [("-" if wanted.startswith("-") else "") + field, "id"]
        return ["-definite", "severity_rank", "package", "advisory_id", "id"]

    @extend_schema(request=None, responses={200: ReleaseSerializer, 409: None})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        release = self.get_object()
        try:
            release = services.retry_release(release, request.user)
        except (services.NotRetryable, TransitionError) as exc:
            return _conflict(str(exc), release)
        return Response(ReleaseSerializer(release).data)

    @extend_schema(request=RebuildSerializer, responses={200: ReleaseSerializer, 409: None})
    @action(detail=True, methods=["post"])
    def rebuild(self, request, pk=None):
        """Build the image afresh instead of promoting the predecessor's (after a failed build or promotion):
        audited with the caller and the reason; the release is scanned and approved again first."""
        release = self.get_object()
        body = RebuildSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            release = services.rebuild_release(release, request.user, body.validated_data["reason"])
        except (services.NotRebuildable, TransitionError) as exc:
            return _conflict(str(exc), release)
        return Response(ReleaseSerializer(release).data)
