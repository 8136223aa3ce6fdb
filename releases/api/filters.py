import django_filters as filters

from releases.models import Finding, Release
from releases.scanning import severity
from releases.statuses import Status


class ReleaseFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=Status.choices, help_text="Repeat to match several.")
    environment = filters.CharFilter(field_name="environment__name")
    model_name = filters.CharFilter(field_name="model_name")
    model_name_contains = filters.CharFilter(field_name="model_name", lookup_expr="icontains")
    requested_by = filters.CharFilter(field_name="requested_by__username")
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

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
