"""Read plans (releases/api/read_plans.py) answer exactly what DRF answers for the same serializer."""
import hashlib
import inspect
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework import serializers

from releases.api import read_plans
from releases.api import serializers as api_serializers
from releases.api.read_plans import NotPlannable, PlannedListSerializer, ReadPlan, plan_for
from releases.lifecycle import record_event
from releases.models import Finding, Release, ReleaseEvent, ReleaseFile, ScanReport
from releases.statuses import Status, Step
from tests.factories import make_release

PLANNED = [cls for _, cls in inspect.getmembers(api_serializers, inspect.isclass)
           if issubclass(cls, serializers.ModelSerializer) and cls.__module__ == api_serializers.__name__
           and getattr(cls.Meta, "list_serializer_class", None) is PlannedListSerializer]


def drf(serializer_class, rows) -> list[dict]:
    """DRF's own answer, by the ListSerializer the plan replaces."""
    return serializers.ListSerializer(child=serializer_class(), instance=rows).data


@pytest.fixture
def releases(owner):
    """Releases with every kind of value a list shows: empty and filled text, choices, odd instants."""
    made = [make_release(owner, status=Status.FAILED, model_name="m-é✓", failed_step=Step.BUILD,
                         mlflow_run_id="r" * 32, image_digest="sha256:" + "a" * 64, status_message="line\nnext"),
            make_release(owner, status=Status.APPROVED, env="production")]
    # A microsecond of zero (isoformat drops it) and an instant far from now.
    Release.objects.filter(pk=made[1].pk).update(created_at=datetime(2001, 2, 3, 4, 5, 6, tzinfo=ZoneInfo("UTC")),
                                                 updated_at=timezone.now() + timedelta(days=3650))
    for release in made:
        record_event(release, "an event", data={"k": [1, 2.5, None], ReleaseEvent.STAFF_DETAIL: "secret"})
        ReleaseFile.objects.create(release=release, name="MLmodel", size=3, sha256=hashlib.sha256(b"x").hexdigest(),
                                   content="abc")
    report = ScanReport.objects.create(release=made[0], scanner="osv", started_at=timezone.now(), duration_ms=1.5,
                                       passed=False, summary="s")
    Finding.objects.create(report=report, package="p", version="", advisory_id="A-1", severity="high",
                           definite=False, source_file="requirements.txt", line=3, score=None, aliases=["CVE-1"])
    Finding.objects.create(report=report, package="q", version="1.0", advisory_id="A-2", severity="critical",
                           definite=True, source_file="requirements.txt", line=4, score=9.8, fixed_versions=["1.1"])
    return made


def test_every_planned_serializer_is_found_and_plannable():
    assert {cls.__name__ for cls in PLANNED} >= {"ReleaseSerializer", "ReleaseEventSerializer",
                                                 "ReleaseFileSerializer", "FindingSerializer"}
    for cls in PLANNED:
        assert plan_for(cls) is plan_for(cls)  # built once


@pytest.mark.django_db
def test_planned_answers_equal_drfs_for_instances(releases):
    rows = {
        api_serializers.ReleaseSerializer: Release.objects.select_related("environment", "requested_by"),
        api_serializers.ReleaseEventSerializer: ReleaseEvent.objects.select_related("actor"),
        api_serializers.ReleaseFileSerializer: ReleaseFile.objects.all(),
        api_serializers.FindingSerializer: Finding.objects.all(),
    }
    for cls in PLANNED:
        queryset = list(rows[cls].order_by("id"))
        planned = cls(queryset, many=True).data
        assert isinstance(cls(queryset, many=True), PlannedListSerializer)
        assert planned == drf(cls, queryset), cls.__name__
        assert [list(row) for row in planned] == [list(row) for row in drf(cls, queryset)]  # key order too


@pytest.mark.django_db
def test_values_rows_equal_drfs_instances_in_another_time_zone(releases):
    plan = plan_for(api_serializers.ReleaseSerializer)
    assert plan.only_columns and "environment__name" in plan.columns
    with timezone.override(ZoneInfo("Asia/Kolkata")):  # +05:30: instants are not written with "Z"
        by_values = plan.represent_values(Release.objects.order_by("id").values(*plan.columns))
        by_drf = drf(api_serializers.ReleaseSerializer, list(Release.objects.order_by("id")))
    assert by_values == by_drf
    assert by_values[1]["created_at"] == "2001-02-03T09:35:06+05:30"
    assert by_values[0]["model_name"] == "m-é✓" and by_values[0]["failed_step"] == Step.BUILD


@pytest.mark.django_db
def test_the_staff_detail_stays_out_of_planned_events(releases):
    data = api_serializers.ReleaseEventSerializer(ReleaseEvent.objects.all(), many=True).data
    assert all(ReleaseEvent.STAFF_DETAIL not in row["data"] for row in data)
    assert any(row["data"].get("k") == [1, 2.5, None] for row in data)


@pytest.mark.django_db
def test_a_row_the_plan_cannot_read_is_answered_by_drf(releases):
    class Broken:  # what a missing related object looks like to the plan: AttributeError
        def __getattr__(self, name):
            raise AttributeError(name)

    fallback = []

    class Child(api_serializers.ReleaseFileSerializer):
        def to_representation(self, instance):
            fallback.append(instance)
            return {"answered": "by DRF"}

    row = Broken()
    assert PlannedListSerializer(child=Child(), instance=[row]).data == [{"answered": "by DRF"}]
    assert fallback == [row]


def test_fields_a_plan_cannot_take_are_refused_when_the_plan_is_made():
    class Nested(serializers.Serializer):
        files = api_serializers.ReleaseFileSerializer(many=True, source="*")

    class Whole(serializers.Serializer):
        everything = serializers.DictField(source="*")

    class NestedWithMethods(serializers.Serializer):  # event rows need their serializer's get_data
        events = api_serializers.ReleaseEventSerializer(many=True)

    for cls in (Nested, Whole, NestedWithMethods):
        with pytest.raises(NotPlannable):
            ReadPlan(cls)
    with pytest.raises(NotPlannable):  # method fields need instances, not values() rows
        plan_for(api_serializers.FindingSerializer).represent_values([])


def test_instants_are_written_as_drf_writes_them():
    field = serializers.DateTimeField()
    utc, kolkata = ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")
    for value in (datetime(2026, 12, 1, 16, 0, 0, 123456, tzinfo=utc), datetime(2026, 12, 1, 16, 0, tzinfo=utc),
                  datetime(2026, 12, 1, 16, 0)):
        for zone in (utc, kolkata):
            with timezone.override(zone):
                assert read_plans._iso_z(value, read_plans.current_zone()) == field.to_representation(value)


@pytest.mark.django_db
def test_a_planned_release_detail_equals_drfs(releases):
    from releases.api.read_plans import PlannedSerializer

    class WithFiles(PlannedSerializer, serializers.ModelSerializer):  # a nested list of plain rows
        files = api_serializers.ReleaseFileSerializer(many=True)

        class Meta:
            model = Release
            fields = ["id", "files"]

    for release in Release.objects.select_related("environment", "requested_by"):
        planned = api_serializers.ReleaseDetailSerializer(release)
        by_drf = super(PlannedSerializer, planned).to_representation(release)
        assert planned.data == by_drf and list(planned.data) == list(by_drf)
        assert planned.data["events_count"] == 1 and planned.data["files"][0]["name"] == "MLmodel"
        nested = WithFiles(release)
        assert nested.data == super(PlannedSerializer, nested).to_representation(release)
        assert nested.data["files"] and "content" not in nested.data["files"][0]
