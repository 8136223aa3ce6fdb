"""sync_advisories: upsert by modified, withdrawn, malformed files, zip input, atomic batches, removal."""
import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from releases.models import Advisory, AdvisoryAlias, AdvisorySync, AffectedPackage
from releases.scanning import sync as sync_module
from releases.scanning.sync import sync_advisories
from tests.osv_records import CRITICAL_V3, DEFAULT_SET, PYYAML_GHSA, PYYAML_PYSEC, record, sync_records, write

pytestmark = pytest.mark.django_db


def test_first_sync_creates_everything(tmp_path):
    sync = sync_records(tmp_path / "v", DEFAULT_SET)
    assert (sync.outcome, sync.files_seen, sync.created, sync.updated, sync.failed) == ("succeeded", 6, 6, 0, 0)
    assert sync.duration_seconds is not None and sync.finished_at
    pysec = Advisory.objects.get(pk="PYSEC-2021-142")
    assert pysec.aliases == ["CVE-2020-14343", "GHSA-8q59-q68h-6hv4"]
    assert pysec.severity == "UNKNOWN" and pysec.cvss_score is None
    affected = AffectedPackage.objects.get(advisory=pysec)
    assert affected.name == "pyyaml"  # "PyYAML" normalised
    assert affected.ranges == [[{"introduced": "0"}, {"fixed": "5.4"}]] and affected.fixed_versions == ["5.4"]
    assert set(AdvisoryAlias.objects.filter(advisory=pysec).values_list("alias", flat=True)) == {
        "PYSEC-2021-142", "CVE-2020-14343", "GHSA-8q59-q68h-6hv4"}


def test_resync_of_unchanged_data_changes_nothing(tmp_path):
    sync_records(tmp_path / "v", DEFAULT_SET)
    again = sync_advisories(tmp_path / "v")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)
    assert AffectedPackage.objects.count() == 6


def test_newer_modified_replaces_the_advisory_and_its_ranges(tmp_path):
    sync_records(tmp_path / "v1", [PYYAML_PYSEC])
    newer = {**PYYAML_PYSEC, "modified": "2025-01-01T00:00:00Z",
             "severity": [{"type": "CVSS_V3", "score": CRITICAL_V3}],
             "affected": [{"package": {"ecosystem": "PyPI", "name": "pyyaml"},
                           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5.4.1"}]}]}]}
    sync = sync_records(tmp_path / "v2", [newer])
    assert (sync.created, sync.updated) == (0, 1)
    advisory = Advisory.objects.get(pk="PYSEC-2021-142")
    assert advisory.severity == "CRITICAL" and advisory.cvss_score == 9.8
    fixed = AffectedPackage.objects.filter(advisory=advisory).values_list("fixed_versions", flat=True)
    assert list(fixed) == [["5.4.1"]]


def test_older_record_does_not_overwrite_a_newer_one(tmp_path):
    newer = {**PYYAML_PYSEC, "modified": "2025-01-01T00:00:00Z", "summary": "newer"}
    sync_records(tmp_path / "v1", [newer])
    sync = sync_records(tmp_path / "v2", [{**PYYAML_PYSEC, "summary": "older"}])
    assert sync.unchanged == 1 and Advisory.objects.get(pk="PYSEC-2021-142").summary == "newer"


def test_withdrawn_record_is_stored_as_withdrawn(tmp_path):
    sync = sync_records(tmp_path / "v", [record("PYSEC-W", "pkg", [{"introduced": "0"}],
                                                withdrawn="2024-02-01T00:00:00Z")])
    assert sync.withdrawn == 1
    assert Advisory.objects.get(pk="PYSEC-W").withdrawn is not None


def test_malformed_files_are_reported_and_skipped_without_aborting(tmp_path):
    directory = write(tmp_path / "v", DEFAULT_SET[:2])
    (directory / "broken.json").write_text("{not json")
    (directory / "broken.yaml").write_text("id: [unclosed\n")
    (directory / "no-modified.json").write_text(json.dumps({"id": "X-1", "affected": []}))
    (directory / "bad-event.json").write_text(json.dumps(
        record("X-2", "pkg", [{"introduced": "0", "fixed": "1.0"}])))  # two keys in one event
    (directory / "not-an-object.json").write_text("[1, 2]")
    (directory / "notes.txt").write_text("ignored: not .json/.yaml")
    sync = sync_advisories(directory)
    assert sync.outcome == "succeeded" and sync.created == 2 and sync.failed == 5
    errors = {e["file"]: e["error"] for e in sync.errors}
    assert "not valid JSON" in errors["broken.json"] and "not valid YAML" in errors["broken.yaml"]
    assert "missing modified" in errors["no-modified.json"]
    assert "exactly one key" in errors["bad-event.json"]
    assert not Advisory.objects.filter(pk__in=["X-1", "X-2"]).exists()


def test_directories_are_searched_at_any_depth_and_hidden_files_skipped(tmp_path):
    write(tmp_path / "v" / "pyyaml", [DEFAULT_SET[0]])
    write(tmp_path / "v" / "a" / "b" / "c", [DEFAULT_SET[2]])
    (tmp_path / "v" / ".id-allocator.yaml").write_text("not: an advisory\n")
    sync = sync_advisories(tmp_path / "v")
    assert sync.created == 2 and sync.failed == 0


def test_yaml_records_are_read(tmp_path):
    import yaml

    (tmp_path / "PYSEC-Y.yaml").write_text(yaml.safe_dump(record("PYSEC-Y", "pkg", [{"introduced": "0"}])))
    assert sync_advisories(tmp_path).created == 1


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_osv_export_zip(tmp_path):
    archive = _zip(tmp_path / "all.zip", {f"{r['id']}.json": json.dumps(r).encode() for r in DEFAULT_SET}
                   | {"broken.json": b"{", "README": b"x"})
    sync = sync_advisories(archive)
    assert (sync.created, sync.failed) == (6, 1)


def test_oversized_zip_member_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(sync_module, "MAX_FILE_BYTES", 100)
    big = record("BIG-1", "pkg", [{"introduced": "0"}], summary="x" * 500)
    sync = sync_advisories(_zip(tmp_path / "all.zip", {"BIG-1.json": json.dumps(big).encode()}))
    assert sync.failed == 1 and "larger than" in sync.errors[0]["error"]
    assert not Advisory.objects.exists()


def test_missing_or_wrong_source_fails_the_sync(tmp_path):
    missing = sync_advisories(tmp_path / "nope")
    assert missing.outcome == "failed" and "does not exist" in missing.errors[0]["error"]
    plain = tmp_path / "file.txt"
    plain.write_text("x")
    assert sync_advisories(plain).outcome == "failed"


def test_a_failing_batch_leaves_no_half_imported_advisory(tmp_path, monkeypatch):
    sync_records(tmp_path / "v1", [PYYAML_PYSEC])
    newer = {**PYYAML_PYSEC, "modified": "2025-01-01T00:00:00Z",
             "affected": [{"package": {"ecosystem": "PyPI", "name": "pyyaml"},
                           "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.9"}]}]}]}
    real_bulk_create = AdvisoryAlias.objects.bulk_create

    def failing(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(AdvisoryAlias.objects, "bulk_create", failing)
    with pytest.raises(RuntimeError):
        sync_records(tmp_path / "v2", [newer])
    monkeypatch.setattr(AdvisoryAlias.objects, "bulk_create", real_bulk_create)
    # The old advisory, its ranges and aliases are intact: the batch rolled back as a whole.
    assert AffectedPackage.objects.get(advisory_id="PYSEC-2021-142").fixed_versions == ["5.4"]
    assert AdvisoryAlias.objects.filter(advisory_id="PYSEC-2021-142").count() == 3


def test_progress_bar_only_on_a_terminal(tmp_path):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    write(tmp_path / "v", DEFAULT_SET)
    tty, pipe = Tty(), io.StringIO()
    sync_advisories(tmp_path / "v", progress_stream=tty)
    sync_advisories(tmp_path / "v", progress_stream=pipe)
    assert "6/6" in tty.getvalue() and "[####" in tty.getvalue()
    assert pipe.getvalue() == ""


def test_command_reports_counts_and_fails_on_bad_source(tmp_path):
    write(tmp_path / "v", DEFAULT_SET)
    out = io.StringIO()
    call_command("sync_advisories", str(tmp_path / "v"), stdout=out, stderr=io.StringIO())
    assert "6 created" in out.getvalue() and "succeeded" in out.getvalue()
    with pytest.raises(CommandError, match="failed"):
        call_command("sync_advisories", str(tmp_path / "missing"), stdout=io.StringIO(), stderr=io.StringIO())
    assert AdvisorySync.objects.count() == 2


def test_sync_rows_are_shown_in_admin(tmp_path, admin_client):
    sync_records(tmp_path / "v", DEFAULT_SET)
    page = admin_client.get("/admin/releases/advisorysync/")
    assert page.status_code == 200 and str(tmp_path / "v").encode() in page.content
    advisory_page = admin_client.get("/admin/releases/advisory/PYSEC-2021-142/change/")
    assert advisory_page.status_code == 200 and b"pyyaml" in advisory_page.content


def test_a_sync_removes_the_advisories_its_source_no_longer_holds(tmp_path):
    first = sync_records(tmp_path / "v1", DEFAULT_SET)
    assert (first.removed, first.removed_ids) == (0, [])
    sync = sync_advisories(write(tmp_path / "v2", [PYYAML_GHSA]), replace=True)
    gone = sorted(r["id"] for r in DEFAULT_SET if r is not PYYAML_GHSA)
    assert (sync.outcome, sync.unchanged, sync.removed, sync.removed_ids) == ("succeeded", 1, 5, gone)
    assert list(Advisory.objects.values_list("id", flat=True)) == ["GHSA-8q59-q68h-6hv4"]
    # Their ranges and aliases go with them: nothing of a removed record can match.
    assert set(AffectedPackage.objects.values_list("advisory_id", flat=True)) == {"GHSA-8q59-q68h-6hv4"}
    assert set(AdvisoryAlias.objects.values_list("advisory_id", flat=True)) == {"GHSA-8q59-q68h-6hv4"}


def test_a_removed_advisory_is_no_longer_matched(tmp_path):
    from releases.scanning.envparse import parse_environment
    from releases.scanning.scanner import scan
    from releases.scanning.store import DatabaseAdvisoryStore

    def advisory_ids():  # through the worker's cached store: the cache must not keep them
        result = scan(parse_environment({"requirements.txt": "requests==2.19.0\n"}), DatabaseAdvisoryStore())
        return sorted(f.advisory_id for f in result.findings)

    sync_records(tmp_path / "v1", DEFAULT_SET)
    assert advisory_ids() == ["PYSEC-2018-28", "PYSEC-2026-1872"]
    sync_records(tmp_path / "v2", [r for r in DEFAULT_SET if r["id"] != "PYSEC-2018-28"])
    assert advisory_ids() == ["PYSEC-2026-1872"]


def test_removed_ids_are_listed_up_to_a_bound_and_counted_in_full(tmp_path):
    many = [record(f"GATEWAY-DEMO-{i:04d}", "pkg", [{"introduced": "0"}]) for i in range(25)]
    sync_records(tmp_path / "v1", many)
    sync = sync_advisories(write(tmp_path / "v2", [PYYAML_PYSEC]), replace=True)
    assert sync.removed == 25 and sync.removed_ids == [f"GATEWAY-DEMO-{i:04d}" for i in range(20)]


def test_nothing_is_removed_when_a_file_could_not_be_read(tmp_path):
    """The unreadable file may be the newer version of any absent record: keep them all."""
    sync_records(tmp_path / "v1", DEFAULT_SET)
    directory = write(tmp_path / "v2", [PYYAML_PYSEC])
    (directory / "PYSEC-2021-35.json").write_text("{truncated")
    sync = sync_advisories(directory)
    assert (sync.outcome, sync.failed, sync.removed, sync.absent_kept) == ("succeeded", 1, 0, 5)
    assert Advisory.objects.count() == 6


def test_a_source_without_records_removes_nothing(tmp_path):
    sync_records(tmp_path / "v1", DEFAULT_SET)
    (tmp_path / "empty").mkdir()
    sync = sync_advisories(tmp_path / "empty")
    assert (sync.removed, sync.absent_kept) == (0, 6) and Advisory.objects.count() == 6


def test_a_failed_source_removes_nothing(tmp_path):
    sync_records(tmp_path / "v1", DEFAULT_SET)
    assert sync_advisories(tmp_path / "missing").outcome == "failed"
    assert Advisory.objects.count() == 6


def test_command_says_how_many_and_which_advisories_it_removed(tmp_path):
    many = [record(f"GATEWAY-DEMO-{i:04d}", "pkg", [{"introduced": "0"}]) for i in range(23)]
    write(tmp_path / "demo", many)
    write(tmp_path / "real", DEFAULT_SET)
    call_command("sync_advisories", str(tmp_path / "demo"), stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("sync_advisories", "--replace", str(tmp_path / "real"), stdout=out, stderr=io.StringIO())
    lines = out.getvalue().splitlines()
    assert "6 created" in lines[0] and "23 removed" in lines[0]
    listed = ", ".join(f"GATEWAY-DEMO-{i:04d}" for i in range(20))
    assert lines[1] == f"removed 23 advisories absent from {tmp_path / 'real'}: {listed} and 3 more"


def test_command_says_why_absent_advisories_were_kept(tmp_path):
    write(tmp_path / "v1", DEFAULT_SET)
    call_command("sync_advisories", str(tmp_path / "v1"), stdout=io.StringIO(), stderr=io.StringIO())
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "broken.json").write_text("{")
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_advisories", str(tmp_path / "v2"), stdout=out, stderr=err)
    assert "0 removed" in out.getvalue() and "removed 6" not in out.getvalue()
    assert f"kept 6 advisories absent from {tmp_path / 'v2'}: 1 file(s) could not be read" in err.getvalue()


def test_a_source_smaller_than_what_it_would_remove_removes_nothing_without_replace(tmp_path):
    """A truncated export or a subdirectory must not silently unblock releases."""
    sync_records(tmp_path / "v1", DEFAULT_SET)
    partial = write(tmp_path / "v2", [PYYAML_PYSEC])
    sync = sync_advisories(partial)
    assert (sync.outcome, sync.removed, sync.absent_kept) == ("succeeded", 0, 5)
    assert "sync with --replace" in sync.absent_kept_reason and Advisory.objects.count() == 6
    err = io.StringIO()
    call_command("sync_advisories", str(partial), stdout=io.StringIO(), stderr=err)
    assert "kept 5 advisories" in err.getvalue() and "--replace" in err.getvalue()
    assert sync_advisories(partial, replace=True).removed == 5
    assert list(Advisory.objects.values_list("id", flat=True)) == ["PYSEC-2021-142"]


def test_a_shrinking_source_removes_what_it_lacks_when_it_still_holds_more(tmp_path):
    sync_records(tmp_path / "v1", DEFAULT_SET)
    sync = sync_records(tmp_path / "v2", [r for r in DEFAULT_SET if r["id"] != "PYSEC-2018-28"])
    assert (sync.removed, sync.removed_ids, sync.absent_kept) == (1, ["PYSEC-2018-28"], 0)
