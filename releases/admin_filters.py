"""Admin list filters whose size does not grow with the data.

Django's field filters list every distinct value as a link: every model name, every user. With
thousands of those a list page would be mostly sidebar, and building it would read them all.
A text filter is one input box (exact match, on an indexed column where one exists); a severity
filter lists the five levels and asks the database one EXISTS per row, not a join with DISTINCT.
"""
from django.contrib import admin
from django.db.models import Exists, OuterRef

from releases.models import Finding
from releases.scanning import severity

MAX_CHARS = 256  # the longest name stored (model names, usernames are shorter)


class TextFilter(admin.SimpleListFilter):
    """An exact-match input box; `lookup` is the ORM path it filters on."""

    template = "admin/releases/text_filter.html"
    lookup = ""
    numeric = False  # an id: anything but digits matches nothing (the database would refuse to compare it)

    def lookups(self, request, model_admin):
        return ()

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if not value:
            return queryset
        if len(value) > MAX_CHARS or (self.numeric and not (value.isascii() and value.isdigit()
                                                            and len(value) <= 18)):
            return queryset.none()
        return queryset.filter(**{self.lookup: value})

    def choices(self, changelist):
        # The template needs the other active parameters, to keep them when this box is submitted.
        kept = [(name, value) for name, values in changelist.filter_params.items() if name != self.parameter_name
                for value in values]
        yield {"selected": bool(self.value()), "value": self.value() or "", "kept": kept,
               "clear": changelist.get_query_string(remove=[self.parameter_name])}


def text_filter(title: str, parameter: str, lookup: str) -> type[TextFilter]:
    return type(f"{parameter.title()}TextFilter", (TextFilter,), {"title": title, "parameter_name": parameter,
                                                                  "lookup": lookup, "numeric": lookup.endswith("_id")})


class SeverityFilter(admin.SimpleListFilter):
    """Rows with at least one finding of this severity; `findings_of` is the path from a Finding to the row."""

    title = "finding severity"
    parameter_name = "severity"
    findings_of = "report"

    def lookups(self, request, model_admin):
        return severity.CHOICES

    def queryset(self, request, queryset):
        if self.value() not in {level.value for level in severity.ORDER}:
            return queryset
        return queryset.filter(Exists(Finding.objects.filter(**{self.findings_of: OuterRef("pk")},
                                                             severity=self.value())))


def model_filter(lookup: str = "model_name") -> type[TextFilter]:
    return text_filter("model name", "model", lookup)


def requester_filter(lookup: str = "requested_by__username") -> type[TextFilter]:
    return text_filter("requester (username)", "requester", lookup)
