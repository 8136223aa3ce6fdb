"""A release's detail and scan report are kept under its ETag (releases/api/answer_cache.py): asked again
unchanged, they cost the tag's query; any change the lifecycle records is seen at once; nothing is kept
past its bounds; and the cache never answers for someone who may not read."""
import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devtools.sample_reports import large_report
from releases.lifecycle import record_event, transition
from releases.statuses import Status
from tests.factories import make_release

pytestmark = pytest.mark.django_db


def tables_read(queries) -> str:
    return " ".join(q["sql"] for q in queries.captured_queries)


def test_an_unchanged_detail_asked_again_costs_the_token_and_the_tag_and_is_the_same(api, owner):
    release = make_release(owner)
    first = api.get(f"/api/releases/{release.pk}/")
    with CaptureQueriesContext(connection) as queries:
        again = api.get(f"/api/releases/{release.pk}/")
    assert again.status_code == 200 and again.json() == first.json() and again["ETag"] == first["ETag"]
    assert len(queries) == 2 and "apitoken" in tables_read(queries) and "MAX(" in tables_read(queries)
    assert "releases_releasefile" not in tables_read(queries) and "releases_releaseevent\".\"message" not in (
        tables_read(queries))


def test_every_recorded_change_shows_at_once(api, owner):
    release = make_release(owner)
    api.get(f"/api/releases/{release.pk}/")
    record_event(release, "a note the cache has not seen")
    noted = api.get(f"/api/releases/{release.pk}/").json()
    assert noted["events"][-1]["message"] == "a note the cache has not seen"
    transition(release, Status.SCANNING_DEPENDENCIES, message="scanning")
    assert api.get(f"/api/releases/{release.pk}/").json()["status"] == Status.SCANNING_DEPENDENCIES
    release.refresh_from_db()
    release.image_reference = "registry.example/model:1"
    release.save()  # any save moves updated_at, so the tag
    assert api.get(f"/api/releases/{release.pk}/").json()["image_reference"] == "registry.example/model:1"


def test_a_new_scan_report_replaces_the_remembered_one(api, owner):
    release = make_release(owner, status=Status.SCANNING_DEPENDENCIES)
    first = large_report(release, 3)
    transition(release, Status.SCAN_FAILED, message="failed")
    assert api.get(f"/api/releases/{release.pk}/scan/").json()["id"] == first.pk
    assert api.get(f"/api/releases/{release.pk}/").json()["latest_scan"]["id"] == first.pk
    second = large_report(release, 1)  # a re-evaluation: a new report and an event, in one transaction
    record_event(release, "re-evaluated")
    assert api.get(f"/api/releases/{release.pk}/scan/").json()["id"] == second.pk
    assert api.get(f"/api/releases/{release.pk}/").json()["latest_scan"]["id"] == second.pk


def test_a_release_not_scanned_yet_is_404_before_and_its_report_after(api, owner):
    release = make_release(owner, status=Status.SCANNING_DEPENDENCIES)
    assert api.get(f"/api/releases/{release.pk}/scan/").status_code == 404
    report = large_report(release, 2)
    transition(release, Status.SCAN_FAILED, message="failed")
    assert api.get(f"/api/releases/{release.pk}/scan/").json()["id"] == report.pk


def test_an_answer_over_the_bound_is_served_and_not_kept(api, owner, settings):
    release = make_release(owner, status=Status.SCANNING_DEPENDENCIES)
    large_report(release, 3)
    transition(release, Status.SCAN_FAILED, message="failed")
    settings.ANSWER_CACHE_MAX_BYTES = 100
    for path in (f"/api/releases/{release.pk}/", f"/api/releases/{release.pk}/scan/"):
        assert api.get(path).status_code == 200
    assert not caches["answers"]._cache  # LocMemCache's own store: nothing kept


def test_off_when_the_time_is_zero(api, owner, settings):
    settings.ANSWER_CACHE_SECONDS = 0
    release = make_release(owner)
    api.get(f"/api/releases/{release.pk}/")
    with CaptureQueriesContext(connection) as queries:
        api.get(f"/api/releases/{release.pk}/")
    assert len(queries) > 2 and not caches["answers"]._cache


def test_a_remembered_answer_is_not_given_to_an_account_that_may_not_read(api, owner, stranger_api):
    release = make_release(owner, status=Status.SCANNING_DEPENDENCIES)
    large_report(release, 2)
    transition(release, Status.SCAN_FAILED, message="failed")
    for path in (f"/api/releases/{release.pk}/", f"/api/releases/{release.pk}/scan/"):
        assert api.get(path).status_code == 200  # now remembered
        refused = stranger_api.get(path)
        assert refused.status_code == 403 and "model_name" not in refused.json()
    assert api.get(f"/api/releases/{release.pk + 1000}/").status_code == 404


def test_findings_pages_are_kept_per_address_and_follow_a_new_report(api, owner):
    release = make_release(owner, status=Status.SCANNING_DEPENDENCIES)
    large_report(release, 30)
    transition(release, Status.SCAN_FAILED, message="failed")
    base = f"/api/releases/{release.pk}/scan/findings/"
    first, second = api.get(base).json(), api.get(base + "?page=2").json()
    assert first["count"] == 30 and len(first["results"]) == 25 and len(second["results"]) == 5
    assert {f["advisory_id"] for f in first["results"]}.isdisjoint(f["advisory_id"] for f in second["results"])
    high = api.get(base + "?severity=HIGH").json()
    assert high["count"] < 30 and {f["severity"] for f in high["results"]} == {"HIGH"}
    assert api.get(base + "?page=2").json() == second  # the same address, the same page
    other_host = api.get(base + "?page=2", HTTP_HOST="127.0.0.1")
    assert other_host.status_code in (200, 400) and "testserver" not in other_host.content.decode()
    assert api.get(base + "?severity=nonsense").status_code == 400
    large_report(release, 2)
    record_event(release, "re-evaluated")
    assert api.get(base).json()["count"] == 2


def test_a_cache_that_is_down_costs_the_work_not_the_answer(api, owner, monkeypatch):
    """With REDIS_URL the cache can fail: a kept answer only saves work, so the answer is computed."""
    from releases.api import answer_cache

    class Down:
        def get(self, key):
            raise ConnectionError("redis is down")

        def set(self, *args, **kwargs):
            raise ConnectionError("redis is down")

    release = make_release(owner, status=Status.SCANNING_DEPENDENCIES)
    large_report(release, 3)
    transition(release, Status.SCAN_FAILED, message="failed")
    monkeypatch.setattr(answer_cache, "_cache", lambda: Down())
    for path in (f"/api/releases/{release.pk}/", f"/api/releases/{release.pk}/scan/",
                 f"/api/releases/{release.pk}/scan/findings/"):
        assert api.get(path).status_code == 200


def test_a_cache_that_fails_only_on_writes_still_answers(api, owner, monkeypatch):
    from releases.api import answer_cache

    class ReadOnly:
        def get(self, key):
            return None

        def set(self, *args, **kwargs):
            raise ConnectionError("read-only replica")

    monkeypatch.setattr(answer_cache, "_cache", lambda: ReadOnly())
    release = make_release(owner)
    assert api.get(f"/api/releases/{release.pk}/").json()["id"] == release.pk
