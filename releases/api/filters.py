from datetime import UTC

import django_filters as filters

from releases.models import Finding, Release
from releases.scanning import severity
from releases.statuses import Status


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    """An ISO 8601 instant, compared in UTC. Python accepts offsets up to ±23:59, PostgreSQL only up to
    ±15:59: converting first means any offset the parser accepts is a valid query on both."""

    def filter(self, qs, value):
        return super().filter(qs, value.astimezone(UTC) if value is not None else value)


class ReleaseFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=Status.choices, help_text="Repeat to match several.")
    environment = filters.CharFilter(field_name="environment__name")
    model_name = filters.CharFilter(field_name="model_name")
    model_name_contains = filters.CharFilter(field_name="model_name", lookup_expr="icontains")
    requested_by = filters.CharFilter(field_name="requested_by__username")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Release
        fields = ["status", "environment", "model_name", "requested_by"]


class FindingFilter(filters.FilterSet):
    severity = filters.MultipleChoiceFilter(choices=severity.CHOICES, help_text="Repeat to match several.")
    definite = filters.BooleanFilter(help_text="true: pinned versions; false: possible (unpinned) matches.")
    package = filters.CharFilter(field_name="package")
    advisory_id = filters.CharFilter(field_name="advisory_id")
    role = filters.ChoiceFilter(choices=[(r, r) for r in ("runtime", "build", "constraint")])

    class Meta:
        model = Finding
        fields = ["severity", "definite", "package", "advisory_id", "role"]
