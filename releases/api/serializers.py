from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from releases import validators
from releases.models import DependencyLock, Environment, Finding, Release, ReleaseEvent, ReleaseFile, ScanReport
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


class ReleaseEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", read_only=True)
    data = serializers.SerializerMethodField()

    class Meta:
        model = ReleaseEvent
        fields = ["id", "from_status", "to_status", "actor", "message", "data", "created_at"]

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


class ReleaseDetailSerializer(ReleaseSerializer):
    files = ReleaseFileSerializer(many=True, read_only=True)
    events = serializers.SerializerMethodField(help_text=f"The newest {LIST_LIMIT} events, oldest first; "
                                               "all of them: GET /api/releases/{id}/events/")
    events_count = serializers.SerializerMethodField()
    latest_scan = serializers.SerializerMethodField(help_text="Full report: GET /api/releases/{id}/scan/")

    class Meta(ReleaseSerializer.Meta):
        fields = ReleaseSerializer.Meta.fields + ["latest_scan", "files", "events", "events_count"]
        read_only_fields = fields

    @extend_schema_field(ReleaseEventSerializer(many=True))
    def get_events(self, obj):
        newest = obj.newest_events if hasattr(obj, "newest_events") else (  # prefetched by the viewset
            obj.events.order_by("-created_at", "-id")[:LIST_LIMIT])
        return ReleaseEventSerializer(reversed(newest), many=True).data

    def get_events_count(self, obj) -> int:
        annotated = getattr(obj, "events_count", None)  # the viewset annotates it; other callers count
        return annotated if annotated is not None else obj.events.count()

    @extend_schema_field(ScanSummarySerializer(allow_null=True))
    def get_latest_scan(self, obj):
        reports = list(obj.scan_reports.all())  # prefetched with ScanReport.objects.newest_first()
        return ScanSummarySerializer(reports[0]).data if reports else None


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

    def get_version(self, obj) -> str | None:
        return obj.version or None


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

    class Meta:
        model = ScanReport
        fields = ["id", "scanner", "scanner_version", "advisory_sync", "advisory_snapshot_at", "started_at",
                  "duration_ms", "passed", "summary", "decision", "counts", "possible_counts", "issues",
                  "issues_count", "dependencies", "dependencies_count", "findings_count", "findings_url",
                  "dependency_lock", "created_at"]

    def get_findings_url(self, obj) -> str:
        return f"/api/releases/{obj.release_id}/scan/findings/"

    def get_dependencies(self, obj) -> list[dict]:
        return list(obj.dependencies or [])[:LIST_LIMIT]

    def get_dependencies_count(self, obj) -> int:
        return len(obj.dependencies or [])

    def get_issues(self, obj) -> list[dict]:
        return list(obj.issues or [])[:LIST_LIMIT]

    def get_issues_count(self, obj) -> int:
        return len(obj.issues or [])

    def get_dependency_lock(self, obj) -> dict | None:
        lock = DependencyLock.objects.filter(release_id=obj.release_id).defer("content").first()
        return lock.summary() if lock else None
