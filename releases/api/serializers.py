from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from releases import validators
from releases.api.read_plans import PlannedListSerializer, PlannedSerializer
from releases.models import (
    DependencyLock,
    Environment,
    Finding,
    ModelFile,
    Release,
    ReleaseEvent,
    ReleaseFile,
    ScanReport,
)
from releases.models.model_files import ANSWER_FINDINGS, shown
from releases.statuses import Step


def _django_validator(func):
    def run(value):
        try:
            func(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    return run


@extend_schema_field({"type": "string", "pattern": validators.MODEL_NAME_PATTERN,
                      "maxLength": validators.MODEL_NAME_MAX})
class ModelNameField(serializers.CharField):
    """A registered model's name, checked by validators.validate_model_name."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", validators.MODEL_NAME_MAX)
        super().__init__(trim_whitespace=False, validators=[_django_validator(validators.validate_model_name)],
                         **kwargs)


class EnvironmentSerializer(serializers.ModelSerializer):
    requires_success_in = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)

    class Meta:
        model = Environment
        fields = ["name", "order", "requires_success_in", "description"]


class ReleaseFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReleaseFile
        fields = ["name", "size", "sha256", "fetched_at"]
        list_serializer_class = PlannedListSerializer


class ReleaseEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", read_only=True)
    data = serializers.SerializerMethodField()

    class Meta:
        model = ReleaseEvent
        fields = ["id", "from_status", "to_status", "actor", "message", "data", "created_at"]
        list_serializer_class = PlannedListSerializer

    def get_data(self, obj) -> dict:
        """Without the staff-only detail of a failure (ReleaseEvent.STAFF_DETAIL: admin shows it)."""
        return {key: value for key, value in (obj.data or {}).items() if key != ReleaseEvent.STAFF_DETAIL}


class ReleaseSerializer(serializers.ModelSerializer):
    environment = serializers.CharField(source="environment.name", read_only=True)
    failed_step = serializers.ChoiceField(choices=Step.choices, allow_blank=True, read_only=True,
                                          help_text="Set while FAILED: the step to retry; empty otherwise.")
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)

    class Meta:
        model = Release
        fields = [
            "id", "model_name", "requested_ref", "model_version", "environment", "status", "status_message",
            "failed_step", "requested_by", "mlflow_run_id", "mlflow_source", "image_reference", "image_digest",
            "created_at", "updated_at",
        ]
        read_only_fields = fields
        list_serializer_class = PlannedListSerializer


class ScanSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    scanner = serializers.CharField()
    passed = serializers.BooleanField()
    summary = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())
    possible_counts = serializers.DictField(child=serializers.IntegerField())
    created_at = serializers.DateTimeField()


# Lists inside one answer are cut at this many items; the whole list is paginated at its own URL.
# Each is bounded when stored too (envparse.MAX_DEPENDENCIES, scanner.MAX_NOTES), but a release's
# events grow with every retry and re-evaluation, and an answer must not grow with the data.
LIST_LIMIT = 200
MODEL_FILES_SHOWN = 20  # in the report (x ANSWER_FINDINGS findings each); all of them at .../scan/model-files/


class ReleaseDetailSerializer(PlannedSerializer, ReleaseSerializer):
    """Files, events and the latest scan are read by their own queries, not prefetched: Django's prefetch
    machinery cost 1.5-3 ms more per relation than the query itself (measured, a release's detail)."""

    files = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField(help_text=f"The newest {LIST_LIMIT} events, oldest first; "
                                               "all of them: GET /api/releases/{id}/events/")
    events_count = serializers.SerializerMethodField()
    latest_scan = serializers.SerializerMethodField(help_text="Full report: GET /api/releases/{id}/scan/")

    class Meta(ReleaseSerializer.Meta):
        fields = ReleaseSerializer.Meta.fields + ["latest_scan", "files", "events", "events_count"]
        read_only_fields = fields
        list_serializer_class = serializers.ListSerializer  # nested lists: no read plan (releases/api/read_plans.py)

    @extend_schema_field(ReleaseEventSerializer(many=True))
    def get_events(self, obj):
        return ReleaseEventSerializer(reversed(self._newest_events(obj)), many=True).data

    def get_events_count(self, obj) -> int:
        newest = self._newest_events(obj)
        return len(newest) if len(newest) < LIST_LIMIT else obj.events.count()  # counted only when over

    def _just_created(self, obj) -> bool:
        """Is `obj` the release this request created (context "first_event", its creation event)? Then
        its answer is as committed: that one event, no files, no scan, and none of them is read."""
        first = self.context.get("first_event")
        return first is not None and first.release_id == obj.pk

    def _newest_events(self, obj) -> list:
        """The newest LIST_LIMIT events, read once per answer (this serializer's, not the instance's)."""
        read = self.__dict__.setdefault("_newest_events_of", {})
        if obj.pk not in read:
            read[obj.pk] = [self.context["first_event"]] if self._just_created(obj) else list(
                obj.events.select_related("actor").order_by("-created_at", "-id")[:LIST_LIMIT])
        return read[obj.pk]

    @extend_schema_field(ReleaseFileSerializer(many=True))
    def get_files(self, obj):
        if self._just_created(obj):
            return []
        return ReleaseFileSerializer(ReleaseFile.objects.filter(release_id=obj.pk).defer("content"), many=True).data

    @extend_schema_field(ScanSummarySerializer(allow_null=True))
    def get_latest_scan(self, obj):
        if self._just_created(obj):
            return None
        report = ScanReport.objects.filter(release_id=obj.pk).newest_first().only(
            "id", "release_id", "scanner", "passed", "summary", "counts", "possible_counts", "created_at").first()
        return None if report is None else ScanSummarySerializer(report).data


class ModelReferenceSerializer(serializers.Serializer):
    """A model in the MLflow registry: NAME plus exactly one of a version or an alias.

    Validated here, before anything is sent to MLflow. `requested_ref` is "3" or "@champion".
    """

    model_name = ModelNameField()
    model_version = serializers.RegexField(validators.MODEL_VERSION_PATTERN, required=False, max_length=10,
                                           validators=[_django_validator(validators.validate_model_version)])
    model_alias = serializers.RegexField(validators.MODEL_ALIAS_PATTERN, required=False,
                                         max_length=validators.ALIAS_MAX + 1)

    def validate_model_alias(self, value: str) -> str:
        alias = validators.normalise_alias(value)
        _django_validator(validators.validate_model_alias)(alias)
        return alias

    def validate(self, attrs):
        has_version, has_alias = "model_version" in attrs, "model_alias" in attrs
        if has_version == has_alias:
            raise serializers.ValidationError(
                {"non_field_errors": ["Give exactly one of model_version or model_alias."]}
            )
        attrs["requested_ref"] = attrs["model_version"] if has_version else "@" + attrs["model_alias"]
        return attrs


class ReleaseCreateSerializer(ModelReferenceSerializer):
    """A release request. Status and everything else are set by the gateway.

    Unknown fields are refused, not ignored (a client that sends `status` must learn it has no
    effect): releases/api/schema.py STRICT_COMPONENTS marks it `additionalProperties: false`."""

    target_environment = serializers.SlugRelatedField(slug_field="name", queryset=Environment.objects.all())

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: ["Unknown or read-only field; status changes only through actions."] for key in unknown}
                )
        return super().to_internal_value(data)


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class RebuildSerializer(serializers.Serializer):
    # Not trimmed here: services.rebuild_release owns the rule (a reason with something in it); the
    # pattern tells clients what that is.
    reason = serializers.CharField(min_length=1, max_length=1000, trim_whitespace=False,
                                   validators=[RegexValidator(r"\S", "The reason must say something.")],
                                   help_text="Why the image is built again (audited).")


class FindingSerializer(serializers.ModelSerializer):
    version = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = ["package", "version", "specifier", "ecosystem", "advisory_id", "aliases", "summary", "severity",
                  "score", "fixed_versions", "definite", "source_file", "line", "role", "pulled_in_by"]
        list_serializer_class = PlannedListSerializer

    def get_version(self, obj) -> str | None:
        return obj.version or None


class ModelFileSerializer(serializers.ModelSerializer):
    """One model file as scanned: each import and call found, classified (dangerous, expected for the flavor,
    unknown, unreadable); `args` of an expected cloudpickle rebuild show the code the model brings."""

    findings = serializers.SerializerMethodField(help_text=f"The first {ANSWER_FINDINGS}, worst first.")
    findings_count = serializers.SerializerMethodField()

    class Meta:
        model = ModelFile
        fields = ["path", "size", "sha256", "format", "verdict", "findings", "findings_count"]

    def get_findings(self, obj) -> list[dict]:
        return shown({"findings": obj.findings})["findings"]

    def get_findings_count(self, obj) -> int:
        return shown({"findings": obj.findings, "findings_omitted": obj.findings_omitted})["findings_count"]


class ScanReportSerializer(serializers.ModelSerializer):
    """The report without its findings, which are paginated at .../scan/findings/, and with the first
    LIST_LIMIT dependencies and notes (all of them, paginated: .../scan/dependencies/, .../scan/notes/)."""

    findings_count = serializers.IntegerField(read_only=True)
    findings_url = serializers.SerializerMethodField()
    dependencies = serializers.SerializerMethodField(help_text=f"The first {LIST_LIMIT}.")
    dependencies_count = serializers.SerializerMethodField()
    issues = serializers.SerializerMethodField(help_text=f"The first {LIST_LIMIT} scan notes.")
    issues_count = serializers.SerializerMethodField()
    dependency_lock = serializers.SerializerMethodField(
        help_text="The release's dependency lock (outcome, sha256, packages, resolver message and its one-line "
                  "reason); null: none was made.")
    model_files = serializers.SerializerMethodField(help_text=f"The first {MODEL_FILES_SHOWN}, worst first.")
    model_files_count = serializers.SerializerMethodField()
    model_files_url = serializers.SerializerMethodField()

    class Meta:
        model = ScanReport
        fields = ["id", "scanner", "scanner_version", "advisory_sync", "advisory_snapshot_at", "started_at",
                  "duration_ms", "passed", "summary", "decision", "counts", "possible_counts", "issues",
                  "issues_count", "dependencies", "dependencies_count", "findings_count", "findings_url",
                  "dependency_lock", "model_files", "model_files_count", "model_files_url", "created_at"]

    def get_findings_url(self, obj) -> str:
        return f"/api/releases/{obj.release_id}/scan/findings/"

    # From ScanReport.objects.with_list_heads(LIST_LIMIT) (the database slices the lists), or the whole lists.
    @staticmethod
    def _head(obj, name: str) -> list:
        head = getattr(obj, f"{name}_head", None)
        value = getattr(obj, name) if head is None else head
        return value[:LIST_LIMIT] if isinstance(value, list) else []  # not a list: empty, as its count says

    @staticmethod
    def _count(obj, name: str) -> int:
        count = getattr(obj, f"{name}_count", None)
        return len(getattr(obj, name) or []) if count is None else count

    def get_dependencies(self, obj) -> list[dict]:
        return self._head(obj, "dependencies")

    def get_dependencies_count(self, obj) -> int:
        return self._count(obj, "dependencies")

    def get_issues(self, obj) -> list[dict]:
        return self._head(obj, "issues")

    def get_issues_count(self, obj) -> int:
        return self._count(obj, "issues")

    def get_dependency_lock(self, obj) -> dict | None:
        lock = DependencyLock.objects.filter(release_id=obj.release_id).defer("content").first()
        return lock.summary() if lock else None

    @extend_schema_field(ModelFileSerializer(many=True))
    def get_model_files(self, obj) -> list[dict]:
        files = ModelFile.objects.filter(release_id=obj.release_id).worst_first()[:MODEL_FILES_SHOWN]
        return ModelFileSerializer(files, many=True).data

    def get_model_files_count(self, obj) -> int:
        return ModelFile.objects.filter(release_id=obj.release_id).count()

    def get_model_files_url(self, obj) -> str:
        return f"/api/releases/{obj.release_id}/scan/model-files/"
