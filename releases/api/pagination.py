"""Pages of every list: ?page=N (from 1) and ?page_size=N (1 or more; more than 200 gives 200).

Strict where DRF is lenient: a page or page size that is not a positive whole number is a 400,
not silently page 1 or the default size, so a client's mistake shows (and the schema is true).
"""
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

MAX_DIGITS = 9
NUMBER_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 10**MAX_DIGITS - 1}


def _positive(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_DIGITS or int(raw) < 1:
        raise ValidationError({name: ["A whole number from 1."]})
    return int(raw)


class StandardPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        wanted = _positive(request, self.page_size_query_param)
        return self.page_size if wanted is None else min(wanted, self.max_page_size)

    def get_page_number(self, request, paginator):
        return _positive(request, self.page_query_param) or 1

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"] = dict(NUMBER_SCHEMA)
        return parameters


class ValuesCountedApart:
    """What a list view paginates: the page's rows as `queryset.values(*columns)`, counted on `queryset`
    itself. The count then needs none of the joins those columns bring (a release's environment and
    requester): PostgreSQL counts the releases alone, not the releases joined to their environments,
    a difference that grows with the table. The rows and the count come from the same filters."""

    def __init__(self, queryset, columns):
        self.queryset, self.columns = queryset, columns

    @property
    def ordered(self) -> bool:  # read by Django's Paginator, which warns about an unordered list
        return self.queryset.ordered

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        return self.queryset.values(*self.columns)[index]


# For views that paginate by hand (APIView + paginate_queryset): the same two parameters.
PAGE_PARAMETERS = [
    OpenApiParameter("page", NUMBER_SCHEMA, description="A page number, from 1."),
    OpenApiParameter("page_size", NUMBER_SCHEMA,
                     description=f"Results per page; more than {StandardPagination.max_page_size} gives "
                                 f"{StandardPagination.max_page_size}."),
]
