import django_filters as filters

from releases.models import Release
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
