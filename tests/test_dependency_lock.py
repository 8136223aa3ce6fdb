"""Resolve and lock: uv against a local index of generated wheels, the stored lock, its scan and the policy knob."""
from pathlib import Path

import pytest

from releases import steps
from releases.evidence import canonical
from releases.locking import lockfile, service
from releases.locking.resolver import ResolverUnavailable
from releases.models import DependencyLock, Environment, EnvironmentPolicy, Finding, Release, ScanReport
from releases.models.core import AppendOnlyError
from releases.statuses import Status
from tests.hanging import hanging_server
from tests.lock_fixtures import LEAF_ADVISORY, RUNTIME, RUNTIME_PACKAGES, locked_release, model_files, sha256
from tests.osv_records import DEFAULT_SET, sync_records
from tests.package_index import Package, package_index

pytestmark = pytest.mark.django_db
Outcome = DependencyLock.Outcome


def set_knob(env_name: str, value: str) -> EnvironmentPolicy:
    current = EnvironmentPolicy.current_for(Environment.objects.get(name=env_name).pk)
    current.resolve_dependencies = value
    current.save()  # a new version
    return current


def served_hash(index, filename: str) -> str:
    project = filename.split("-")[0].replace("_", "-").lower()
    return sha256(index.projects[project][filename][0])


# --- Resolution and the lock ---------------------------------------------------------------------------

def test_the_lock_pins_the_whole_closure_with_the_index_hashes(lock_index):
    lock = service.make_lock(model_files("toplib\n"), "warn")
    assert lock.outcome == Outcome.RESOLVED, lock.message
    packages = {p.name: p for p in lockfile.parse(lock.content, 100)}
    assert {name: p.version for name, p in packages.items()} == {"toplib": "1.0", "midlib": "1.2", "leaflib": "2.5",
                                                                 **RUNTIME}
    assert packages["leaflib"].hashes == [served_hash(lock_index, "leaflib-2.5-py3-none-any.whl")]
    assert packages["toplib"].declared and packages["leaflib"].chain == ["toplib", "midlib"]
    assert "winlib" not in packages  # its marker is for Windows: the target is Linux
    assert (lock.package_count, lock.python_version, lock.platform) == (5, "3.10.12", "x86_64-manylinux_2_28")
    assert lock.sha256 == sha256(lock.content.encode()) and lock.uv_version.startswith("uv 0.13.9")
    assert "--hash=sha256:" in lock.content and "==" in lock.content


def test_credentials_in_the_index_url_are_never_stored(lock_index, settings):
    settings.PACKAGE_INDEX_URL = lock_index.url.replace("http://", "http://robot:s3cr3t@")
    lock = service.make_lock(model_files("toplib\n"), "warn")
    assert lock.outcome == Outcome.RESOLVED
    assert "s3cr3t" not in lock.index_url and "robot" not in lock.index_url
    assert lock.index_url == lock_index.url and "s3cr3t" not in lock.content


def test_python_version_comes_from_the_model_and_its_absence_is_refused(lock_index):
    lock = service.make_lock(model_files("pyonly312\n"), "warn")
    assert lock.outcome == Outcome.UNRESOLVABLE and "Python" in lock.message  # 3.10.12 cannot install it
    conda = "dependencies:\n  - python=3.12\n  - pip:\n    - pyonly312\n"
    lock = service.make_lock({"MLmodel": "flavors: {}\n", "conda.yaml": conda}, "warn")
    assert lock.outcome == Outcome.RESOLVED and lock.python_version == "3.12"
    assert any("conda" in note for note in lock.notes) is False  # python itself is not a conda package to scan
    lock = service.make_lock(model_files("toplib\n", python_env=""), "warn")
    assert lock.outcome == Outcome.UNRESOLVABLE
    assert lock.message == ("not resolved: no Python version to resolve for: neither python_env.yaml (python:) nor "
                            "conda.yaml (python=X.Y) names one")
    assert all(any(name in r for name in ("pyonly312", "mlflow-skinny", "mlflow_skinny", "pandas"))
               for r in lock_index.requests)  # toplib was never asked for: no Python, no resolution


def test_conflicting_python_versions_are_refused_with_both_places(lock_index):
    files = {**model_files("toplib\n"), "conda.yaml": "dependencies:\n  - python=3.11\n  - pip:\n    - toplib\n"}
    lock = service.make_lock(files, "warn")
    assert lock.outcome == Outcome.UNRESOLVABLE
    assert "conda.yaml:2 says 3.11" in lock.message and "python_env.yaml:1 says 3.10.12" in lock.message


def test_conda_packages_are_not_locked_and_the_lock_says_so(lock_index):
    conda = "dependencies:\n  - python=3.10.12\n  - numpy=1.19.0\n  - pip:\n    - toplib\n"
    lock = service.make_lock({"MLmodel": "flavors: {}\n", "conda.yaml": conda}, "warn")
    assert lock.outcome == Outcome.RESOLVED and lock.package_count == 3 + len(RUNTIME)
    assert lock.notes[:1] == ["1 conda package(s) are not in the lock (conda's solver and channels choose them); they "
                          "are scanned as declared: numpy"]


# --- What the resolver must never do -----------------------------------------------------------------------

def test_an_sdist_only_package_is_unresolvable_and_its_build_code_never_runs(lock_index):
    lock = service.make_lock(model_files("buildme\n"), "require")
    assert lock.outcome == Outcome.UNRESOLVABLE
    assert "buildme==1.0 has no usable wheels" in lock.message and "building from source is disabled" in lock.message
    assert not lock_index.build_marker.exists()  # setup.py would have written it
    assert not any(r.startswith("/files/buildme") for r in lock_index.requests)  # not even downloaded


@pytest.mark.parametrize("line", ["leaflib @ http://127.0.0.1:9/leaflib-2.5-py3-none-any.whl",
                                  "file:///etc/passwd", "../elsewhere/leaflib-2.5-py3-none-any.whl",
                                  "git+https://example.invalid/leaflib.git#egg=leaflib"])
def test_a_direct_reference_is_refused_before_anything_is_asked(lock_index, line):
    lock = service.make_lock(model_files(f"toplib\n{line}\n"), "require")
    assert lock.outcome == Outcome.UNRESOLVABLE
    assert lock.message.startswith("not resolved: requirements.txt:2: ")
    assert "is not from the package index" in lock.message
    assert lock_index.requests == []  # uv never ran


def test_a_wheel_that_requires_a_url_is_refused_by_the_resolver_without_fetching_it(settings, tmp_path):
    with hanging_server() as elsewhere:
        sneaky = Package("sneaky", "1.0", [f"payload @ {elsewhere}/payload-1.0-py3-none-any.whl"])
        with package_index([sneaky, *RUNTIME_PACKAGES], tmp_path / "built") as (url, index):
            settings.PACKAGE_INDEX_URL, settings.DEPENDENCY_LOCK_CACHE_DIR = url, tmp_path / "cache"
            lock = service.make_lock(model_files("sneaky\n"), "require")
    assert lock.outcome == Outcome.UNRESOLVABLE and "URL dependencies must be expressed as direct" in lock.message


def test_index_options_in_the_files_do_not_reach_the_resolver(lock_index):
    lock = service.make_lock(model_files("--extra-index-url http://127.0.0.1:9/simple\n-f /etc\ntoplib\n"), "warn")
    assert lock.outcome == Outcome.RESOLVED
    assert lock.notes[0].startswith("the environment files name other package sources")


# --- Outages and bounds --------------------------------------------------------------------------------

def test_an_index_that_is_down_is_an_outage_not_a_verdict(settings, tmp_path):
    settings.PACKAGE_INDEX_URL, settings.DEPENDENCY_LOCK_CACHE_DIR = "http://127.0.0.1:9/simple", tmp_path / "c"
    with pytest.raises(ResolverUnavailable) as caught:
        service.make_lock(model_files("toplib\n"), "warn")
    assert "could not be reached" in str(caught.value) and "127.0.0.1" not in str(caught.value)
    assert "127.0.0.1:9" in caught.value.detail  # for staff


def test_an_index_that_never_answers_is_bounded_by_the_deadline(settings, tmp_path):
    settings.DEPENDENCY_LOCK_TIMEOUT_SECONDS, settings.DEPENDENCY_LOCK_CACHE_DIR = 2, tmp_path / "c"
    with hanging_server() as url:
        settings.PACKAGE_INDEX_URL = f"{url}/simple"
        with pytest.raises(ResolverUnavailable) as caught:
            service.make_lock(model_files("toplib\n"), "warn")
    assert "did not finish within 2 s" in str(caught.value) or "could not be reached" in str(caught.value)


def test_the_lock_size_and_package_count_are_bounded(lock_index, settings):
    settings.DEPENDENCY_LOCK_MAX_PACKAGES = 2
    lock = service.make_lock(model_files("toplib\n"), "warn")
    assert lock.outcome == Outcome.UNRESOLVABLE and "more than 2 packages" in lock.message
    settings.DEPENDENCY_LOCK_MAX_PACKAGES, settings.DEPENDENCY_LOCK_MAX_BYTES = 1000, 300
    lock = service.make_lock(model_files("toplib\nOther_Lib\n"), "warn")
    assert lock.outcome == Outcome.UNRESOLVABLE and "larger than DEPENDENCY_LOCK_MAX_BYTES" in lock.message


def test_require_without_an_index_is_a_configuration_outage_and_warn_resolves_nothing(settings):
    settings.PACKAGE_INDEX_URL = ""
    with pytest.raises(ResolverUnavailable, match="PACKAGE_INDEX_URL"):
        service.make_lock(model_files("toplib\n"), "require")
    assert service.make_lock(model_files("toplib\n"), "warn").outcome == Outcome.OFF
    assert service.make_lock(model_files("toplib\n"), "off").outcome == Outcome.OFF


def test_a_lock_is_written_once(owner, lock_index):
    _release, lock = locked_release(owner, "toplib\n")
    lock.content = "toplib==9.9 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    with pytest.raises(AppendOnlyError, match="never changed"):
        lock.save()


# --- The scan of the lock ------------------------------------------------------------------------------

@pytest.fixture
def leaf_advisory(tmp_path):
    return sync_records(tmp_path / "osv", [*DEFAULT_SET, LEAF_ADVISORY])


def test_a_transitive_finding_is_definite_and_names_who_pulled_it_in(owner, lock_index, leaf_advisory):
    release, lock = locked_release(owner, "toplib>=1\n")
    assert steps.scan_dependencies(release.pk) == "failed"
    release.refresh_from_db()
    assert release.status == Status.SCAN_FAILED and "leaflib GHSA-leaf-0001" in release.status_message
    finding = Finding.objects.get(report__release=release)
    assert (finding.package, finding.version, finding.definite) == ("leaflib", "2.5", True)
    assert finding.source_file == "requirements.lock.txt" and finding.pulled_in_by == ["toplib", "midlib"]
    assert lock.content.splitlines()[finding.line - 1].startswith("leaflib==2.5")
    report = ScanReport.objects.get(release=release)
    blocking = report.decision["blocking"][0]
    assert blocking["pulled_in_by"] == "toplib → midlib" and blocking["where"].startswith("requirements.lock.txt:")
    declared = next(d for d in report.dependencies if d["name"] == "toplib")
    assert (declared["source_file"], declared["line"], declared["version"], declared["specifier"]) == (
        "requirements.txt", 1, "1.0", ">=1")  # the declared line, now pinned by the lock
    assert not report.decision["warnings"]  # toplib>=1 is no longer "unpinned": the lock pins it


def test_without_a_lock_the_same_model_has_only_a_possible_finding(owner, lock_index, leaf_advisory, settings):
    settings.PACKAGE_INDEX_URL = ""
    release, lock = locked_release(owner, "toplib>=1\nleaflib\n")
    assert lock.outcome == Outcome.OFF
    assert steps.scan_dependencies(release.pk) == "passed"
    finding = Finding.objects.get(report__release=release)
    assert (finding.package, finding.definite) == ("leaflib", False)


def test_unresolvable_blocks_under_require_with_the_resolvers_message(owner, lock_index, leaf_advisory):
    set_knob("staging", "require")
    release, lock = locked_release(owner, "toplib\nneeds-old-leaf\n", knob="require")
    assert lock.outcome == Outcome.UNRESOLVABLE and "leaflib<2" in lock.message
    assert steps.scan_dependencies(release.pk) == "failed"
    release.refresh_from_db()
    assert release.status == Status.SCAN_FAILED
    assert "Dependencies cannot be resolved into a lock: Because" in release.status_message
    report = ScanReport.objects.get(release=release)
    entry = next(b for b in report.decision["blocking"] if b.get("lock"))
    assert entry["resolver_message"] == lock.message and entry["where"] == "requirements.lock.txt"


def test_unresolvable_under_warn_passes_with_a_warning_and_the_declared_scan(owner, lock_index, leaf_advisory):
    release, lock = locked_release(owner, "toplib\nneeds-old-leaf\npyyaml==5.3.1\n")
    assert lock.outcome == Outcome.UNRESOLVABLE
    assert steps.scan_dependencies(release.pk) == "failed"  # pyyaml 5.3.1 is CRITICAL as declared
    report = ScanReport.objects.get(release=release)
    assert any(w.get("lock") == "unresolvable" for w in report.decision["warnings"])
    assert not any(b.get("lock") for b in report.decision["blocking"])
    assert {f.package for f in report.findings.all()} == {"pyyaml"}  # declared lines, scanned as today
    assert all(f.source_file == "requirements.txt" for f in report.findings.all())
    assert any("no dependency lock (unresolvable)" in note["message"] for note in report.issues)


def test_a_release_fetched_without_a_lock_is_blocked_once_the_environment_requires_one(owner, lock_index,
                                                                                      leaf_advisory, settings):
    settings.PACKAGE_INDEX_URL = ""
    release, _lock = locked_release(owner, "Other_Lib==0.9\n")
    set_knob("staging", "require")
    assert steps.scan_dependencies(release.pk) == "failed"
    assert "requires a dependency lock and the release has none" in Release.objects.get(pk=release.pk).status_message


def test_off_ignores_an_unresolvable_lock(owner, lock_index, leaf_advisory):
    set_knob("staging", "off")
    release, lock = locked_release(owner, "Other_Lib==0.9\nneeds-old-leaf==1.0\n")  # made while it was warn
    assert lock.outcome == Outcome.UNRESOLVABLE
    assert steps.scan_dependencies(release.pk) == "passed"
    report = ScanReport.objects.get(release=release)
    assert not report.decision["warnings"] and not report.decision["blocking"]


def test_the_knob_is_validated_like_the_other_knobs():
    policy = EnvironmentPolicy(environment=Environment.objects.get(name="staging"), resolve_dependencies="maybe")
    with pytest.raises(Exception) as caught:
        policy.full_clean(exclude=["version"])
    assert "resolve_dependencies" in str(caught.value)
    assert EnvironmentPolicy._meta.get_field("resolve_dependencies").default == "warn"


def test_admin_refuses_an_unknown_knob_value_and_adds_no_version(admin_client):
    staging = EnvironmentPolicy.current_for(Environment.objects.get(name="staging").pk)
    versions = EnvironmentPolicy.objects.filter(environment_id=staging.environment_id).count()
    response = admin_client.post(f"/admin/releases/environmentpolicy/{staging.pk}/change/", {
        "environment": staging.environment_id, "block_at": "CRITICAL", "unknown_counts_as": "CRITICAL",
        "possible_findings": "warn", "unpinned_requirements": "warn", "unpinned_build_dependencies": "warn",
        "direct_references": "block", "resolve_dependencies": "sometimes", "metric_gates": "[]",
        "required_tags": "[]"})
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert EnvironmentPolicy.objects.filter(environment_id=staging.environment_id).count() == versions


# --- A later environment keeps its predecessor's versions ---------------------------------------------

def test_a_later_environment_prefers_the_predecessors_lock_and_gets_the_same_digest(owner, settings, tmp_path):
    chain = [Package("toplib", "1.0", ["midlib"]), Package("midlib", "1.2", ["leaflib<3"]), Package("leaflib", "2.0"),
             *RUNTIME_PACKAGES]
    with package_index(chain, tmp_path / "built") as (url, index):
        index.page_max_age = 0  # every run sees what the mirror serves now
        settings.PACKAGE_INDEX_URL, settings.DEPENDENCY_LOCK_CACHE_DIR = url, tmp_path / "cache"
        staging, staging_lock = locked_release(owner, "toplib\n")
        Release.objects.filter(pk=staging.pk).update(status=Status.SUCCEEDED, model_version="1")
        index.publish(Package("leaflib", "2.5"))  # released upstream after staging was built
        canary = Environment.objects.get(name="canary")
        preferred = service.predecessor_lock("clean-model", "1", canary)
        assert preferred == staging_lock.content
        kept = service.make_lock(model_files("toplib\n"), "warn", preferred)
        fresh = service.make_lock(model_files("toplib\n"), "warn")
    assert kept.sha256 == staging_lock.sha256 and "leaflib==2.0" in kept.content
    assert "leaflib==2.5" in fresh.content  # without the preference the promotion would be refused
    assert service.predecessor_lock("clean-model", "1", Environment.objects.get(name="staging")) == ""
    assert service.predecessor_lock("clean-model", "2", canary) == ""  # another version: no preference


def test_a_preferred_lock_that_does_not_read_as_a_lock_is_not_given_to_uv(lock_index):
    hostile = "-r /etc/passwd\n--index-url http://127.0.0.1:9/simple\n"
    assert service._checked(hostile) == ""  # uv would read an existing output file's lines as requirements
    lock = service.make_lock(model_files("toplib\n"), "warn", hostile)
    assert lock.outcome == Outcome.RESOLVED and "passwd" not in lock.content
    assert service._checked(lock.content) == lock.content


def test_trivy_sees_the_locked_pins_and_the_finding_names_who_pulled_it_in(owner, lock_index, settings):
    settings.DEPENDENCY_SCANNER = "trivy"
    settings.TRIVY_PATH = str(Path(__file__).parent / "fakes" / "trivy")
    release, lock = locked_release(owner, "yamluser\n")
    assert "pyyaml==5.3.1" in lock.content
    assert steps.scan_dependencies(release.pk) == "failed"
    finding = Finding.objects.get(report__release=release)
    assert (finding.package, finding.version, finding.advisory_id) == ("pyyaml", "5.3.1", "CVE-2020-14343")
    assert finding.pulled_in_by == ["yamluser"] and finding.source_file == "requirements.lock.txt"


# --- Digests signed before the lock existed still re-derive -------------------------------------------------

def test_the_new_knob_and_column_leave_earlier_digests_unchanged(owner, lock_index, leaf_advisory):
    staging = Environment.objects.get(name="staging")
    policy = EnvironmentPolicy.current_for(staging.pk)
    assert "resolve_dependencies" not in canonical.policy_document(policy, "staging")  # warn: as every older one
    stricter = set_knob("staging", "require")
    assert canonical.policy_document(stricter, "staging")["resolve_dependencies"] == "require"
    release, _lock = locked_release(owner, "toplib\npyyaml==5.3.1\n")
    steps.scan_dependencies(release.pk)
    findings = canonical.scan_report_document(ScanReport.objects.get(release=release).pk)["findings"]
    by_package = {f["package"]: f for f in findings}
    assert "pulled_in_by" not in by_package["pyyaml"]  # a declared requirement: the v1 form, unchanged
    assert by_package["leaflib"]["pulled_in_by"] == ["toplib", "midlib"]  # covered by the digest
