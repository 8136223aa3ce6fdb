"""No answer grows with the stored data: lists inside an answer are cut, and paginated at their own URL.
(Worker memory across 100 such reads is measured in bench/load.py.)"""
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devtools.sample_reports import large_report
from releases.api.serializers import LIST_LIMIT
from releases.lifecycle import record_event
from releases.models import ReleaseEvent, ScanReport
from releases.statuses import Status
from tests.factories import make_release

pytestmark = pytest.mark.django_db


def flood_events(release, count: int, size: int = 1500) -> None:
    ReleaseEvent.objects.bulk_create(ReleaseEvent(release=release, message=f"event {i} " + "x" * size)
                                     for i in range(count))


def test_a_release_shows_its_newest_events_and_pages_the_rest(api, owner):
    release = make_release(owner, status=Status.FAILED)
    flood_events(release, 450)
    record_event(release, "the newest one")
    body = api.get(f"/api/releases/{release.pk}/").json()
    total = ReleaseEvent.objects.filter(release=release).count()
    assert total > 450 and body["events_count"] == total
    assert len(body["events"]) == LIST_LIMIT and body["events"][-1]["message"] == "the newest one"
    ids = [e["id"] for e in body["events"]]
    assert ids == sorted(ids)  # oldest first, as the timeline reads
    pages, url = [], f"/api/releases/{release.pk}/events/?page_size=200"
    while url:
        page = api.get(url).json()
        pages += page["results"]
        url = page["next"]
    assert len(pages) == total and pages[-1]["message"] == "the newest one"
    assert [e["id"] for e in pages] == sorted(e["id"] for e in pages)


def test_the_detail_answer_and_its_queries_do_not_grow_with_the_events(api, owner):
    release = make_release(owner, status=Status.FAILED)
    flood_events(release, LIST_LIMIT)
    api.get(f"/api/releases/{release.pk}/")  # the token's first use writes last_used_at

    def measure():
        with CaptureQueriesContext(connection) as captured:
            response = api.get(f"/api/releases/{release.pk}/")
        return len(captured), len(response.content)

    queries, size = measure()
    flood_events(release, 2000)
    more_queries, more_size = measure()
    assert more_queries == queries
    assert more_size < size * 1.05  # the same 200 events, give or take the numbers in them


def test_scan_report_cuts_dependencies_and_notes_and_pages_them(api, owner):
    release = make_release(owner, status=Status.SCAN_FAILED)
    report = large_report(release, 10)
    deps = [{"name": f"pkg-{i}", "specifier": "==1.0", "file": "requirements.txt", "line": i + 1}
            for i in range(1000)]
    notes = [{"file": "requirements.txt", "line": i, "message": f"note {i}"} for i in range(450)]
    ScanReport.objects.filter(pk=report.pk).update(dependencies=deps, issues=notes)
    body = api.get(f"/api/releases/{release.pk}/scan/").json()
    assert len(body["dependencies"]) == LIST_LIMIT and body["dependencies_count"] == 1000
    assert len(body["issues"]) == LIST_LIMIT and body["issues_count"] == 450
    page = api.get(f"/api/releases/{release.pk}/scan/dependencies/", {"page": 5, "page_size": 200}).json()
    assert page["count"] == 1000 and page["results"][-1]["name"] == "pkg-999" and page["next"] is None
    notes_page = api.get(f"/api/releases/{release.pk}/scan/notes/", {"page_size": 200, "page": 3}).json()
    assert [n["message"] for n in notes_page["results"]] == [f"note {i}" for i in range(400, 450)]
    assert api.get(f"/api/releases/{release.pk}/scan/notes/", {"page": 99}).status_code == 404


def test_the_report_shows_the_first_of_each_list_in_order_and_nothing_of_a_value_that_is_not_a_list(api, owner):
    release = make_release(owner, status=Status.SCAN_FAILED)
    report = large_report(release, 1)
    deps = [{"name": f"pkg-{i}"} for i in range(LIST_LIMIT + 5)]
    ScanReport.objects.filter(pk=report.pk).update(dependencies=deps, issues={"not": "a list"})
    body = api.get(f"/api/releases/{release.pk}/scan/").json()
    assert [d["name"] for d in body["dependencies"]] == [f"pkg-{i}" for i in range(LIST_LIMIT)]
    assert (body["issues"], body["issues_count"], body["dependencies_count"]) == ([], 0, LIST_LIMIT + 5)


def test_an_external_scanners_raw_report_is_never_loaded_for_an_answer(api, owner):
    release = make_release(owner, status=Status.SCAN_FAILED)
    report = large_report(release, 5)
    ScanReport.objects.filter(pk=report.pk).update(raw_output={"Results": ["y" * 1000] * 5000})
    with CaptureQueriesContext(connection) as captured:
        response = api.get(f"/api/releases/{release.pk}/scan/")
    assert response.status_code == 200 and "raw_output" not in response.json()
    assert len(response.content) < 100_000
    assert not any("raw_output" in q["sql"] for q in captured.captured_queries)


def test_page_size_is_capped(api, owner):
    release = make_release(owner, status=Status.SCAN_FAILED)
    large_report(release, 500)
    page = api.get(f"/api/releases/{release.pk}/scan/findings/", {"page_size": 100000}).json()
    assert len(page["results"]) == 200
    assert len(json.dumps(page)) < 200_000


def test_lists_before_any_scan_are_404(api, owner):
    release = make_release(owner)
    for tail in ("scan/", "scan/dependencies/", "scan/notes/", "scan/findings/"):
        assert api.get(f"/api/releases/{release.pk}/{tail}").status_code == 404
