"""Pages of rows answered without DRF's per-request field building: read plans.

DRF builds a ModelSerializer's fields anew for every serializer it makes (model introspection, a deep copy
of each declared field) and then, per row and field, walks `source_attrs` through its generic getter.
For a page of 25 releases that was 3.8 ms of a 17 ms answer (measured, bench/load.py's list). A read plan
is made once per serializer class from that serializer's own fields, so what the answer holds and what the
OpenAPI schema says stay defined in one place, the serializer; the plan only reads each value and hands it
to the field's own `to_representation` (or to an exact shortcut for text, JSON and instants).

Two kinds of rows:
- model instances (`PlannedListSerializer`): a row the plan cannot read (a missing related object) is
  answered by DRF itself, so the answer is always what DRF would give;
- `queryset.values(*plan.columns)` rows (`represent_values`), for lists whose fields are all plain columns:
  no model instances at all (2 ms instead of 3.9 for 25 releases with their environment and requester).

tests/test_read_plans.py compares each planned serializer's answers with DRF's, field by field.
"""
import threading
from datetime import UTC, datetime
from operator import attrgetter

from django.conf import settings
from django.db.models.manager import BaseManager
from django.utils import timezone
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.settings import ISO_8601, api_settings

_PLANS: dict[type, "ReadPlan"] = {}
_LOCK = threading.RLock()  # a plan of nested rows makes its child's plan while holding it

# Field types whose to_representation is the plain value: any other type calls its own to_representation.
_VERBATIM = (serializers.JSONField, serializers.DictField, serializers.ListField)
# Fields a plan cannot take part by part: nested serializers, and fields that read the whole object.
_UNPLANNABLE = (serializers.BaseSerializer, serializers.HiddenField, serializers.ModelField,
                serializers.HyperlinkedIdentityField, serializers.ReadOnlyField)


class NotPlannable(TypeError):
    pass


class _Column:
    __slots__ = ("name", "key", "get", "method", "convert", "instant", "nested")

    def __init__(self, name, key, get, method, convert, instant, nested=None):
        self.name, self.key, self.get, self.method, self.convert, self.instant, self.nested = \
            name, key, get, method, convert, instant, nested


def _iso_z(value: datetime, zone) -> str:
    """DRF's DateTimeField with its default ISO 8601 format: in the current time zone, "+00:00" as "Z"."""
    if zone is not None:
        value = value.astimezone(zone) if timezone.is_aware(value) else timezone.make_aware(value, zone)
    elif timezone.is_aware(value):
        value = timezone.make_naive(value, UTC)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class ReadPlan:
    """How to answer one row with `serializer_class`'s readable fields, in their order."""

    def __init__(self, serializer_class: type[serializers.Serializer]):
        prototype = serializer_class()
        self.columns: list[str] = []  # the values() keys, when every field is a plain column
        self.only_columns = True
        self._plan: list[_Column] = []
        for field in prototype._readable_fields:
            if isinstance(field, serializers.SerializerMethodField):
                self.only_columns = False
                self._plan.append(_Column(field.field_name, None, None, field.method_name, None, False))
                continue
            if isinstance(field, serializers.ListSerializer) and field.source_attrs and field.source != "*":
                # A nested list of plain columns (a release's files): the child's plan, row by row.
                nested = plan_for(type(field.child))
                if not nested.only_columns:
                    raise NotPlannable(f"{serializer_class.__name__}.{field.field_name}: its rows need methods")
                self.only_columns = False
                self._plan.append(_Column(field.field_name, None, attrgetter(".".join(field.source_attrs)), None,
                                          None, False, nested))
                continue
            if isinstance(field, _UNPLANNABLE) or field.source == "*" or not field.source_attrs:
                raise NotPlannable(f"{serializer_class.__name__}.{field.field_name}: {type(field).__name__}")
            output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
            instant = (type(field) is serializers.DateTimeField and isinstance(output_format, str)
                       and output_format.lower() == ISO_8601 and not hasattr(field, "timezone"))
            if isinstance(field, _VERBATIM):
                convert = None
            elif type(field).to_representation is serializers.CharField.to_representation:
                convert = str  # CharField and the subclasses that keep its str(value) (EmailField, SlugField...)
            else:
                convert = field.to_representation
            key = "__".join(field.source_attrs)
            self.columns.append(key)
            self._plan.append(_Column(field.field_name, key, attrgetter(".".join(field.source_attrs)), None,
                                      convert, instant))

    def _value(self, column: _Column, raw, zone):
        if raw is None:
            return None
        if column.instant and isinstance(raw, datetime):  # (DRF answers a falsy instant, none exists, as None)
            return _iso_z(raw, zone)
        return raw if column.convert is None else column.convert(raw)

    def represent(self, instance, serializer, zone) -> dict:
        """One model instance; AttributeError when a related object is missing (the caller asks DRF)."""
        answer = {}
        for column in self._plan:
            if column.method is not None:
                answer[column.name] = getattr(serializer, column.method)(instance)
            elif column.nested is not None:  # as DRF's ListSerializer: a related manager's .all()
                rows = column.get(instance)
                rows = rows.all() if isinstance(rows, BaseManager) else rows
                answer[column.name] = None if rows is None else [column.nested.represent(row, None, zone)
                                                                 for row in rows]
            else:
                answer[column.name] = self._value(column, column.get(instance), zone)
        return answer

    def represent_values(self, rows) -> list[dict]:
        """Rows of `queryset.values(*self.columns)`."""
        if not self.only_columns:
            raise NotPlannable("a plan with method fields needs model instances")
        zone = current_zone()
        return [{c.name: self._value(c, row[c.key], zone) for c in self._plan} for row in rows]


def current_zone():
    """The zone DRF's DateTimeField writes instants in (read once per page, not per value)."""
    return timezone.get_current_timezone() if settings.USE_TZ else None


def plan_for(serializer_class: type) -> ReadPlan:
    plan = _PLANS.get(serializer_class)
    if plan is None:
        with _LOCK:  # gunicorn's threads: built once, then only read
            plan = _PLANS.get(serializer_class) or ReadPlan(serializer_class)
            _PLANS[serializer_class] = plan
    return plan


class PlannedSerializer:
    """Mixin for a serializer of one instance: answered through its read plan, its fields never built
    (DRF's own answer where the plan cannot read the instance)."""

    def to_representation(self, instance):
        try:
            return plan_for(type(self)).represent(instance, self, current_zone())
        except (AttributeError, SkipField):
            return super().to_representation(instance)


class PlannedListSerializer(serializers.ListSerializer):
    """`many=True` through the child's read plan. The child is never asked for its fields unless a row
    needs DRF (a missing related object), so they are not built for a page that does not."""

    def to_representation(self, data):
        rows = data.all() if hasattr(data, "all") and not isinstance(data, list) else data
        plan, zone, answer = plan_for(type(self.child)), current_zone(), []
        for row in rows:
            try:
                answer.append(plan.represent(row, self.child, zone))
            except (AttributeError, SkipField):
                answer.append(self.child.to_representation(row))
        return answer
