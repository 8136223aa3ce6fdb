"""The base image's OS packages are scanned like the model's Python packages (issue 25, item 5).

Debian's OSV records name source packages of one release ("Debian:12"); the base's dpkg database is read
from the real registry (the session's docker-registry), layer by layer, as a runtime assembles it; the
packages are matched in dpkg's version order; findings go through the same policy; a base that cannot be
read blocks; and a build on another base, or with packages the base does not have, is refused."""
import gzip
import io
import json
import tarfile
import uuid

import pytest

from releases import registry, steps
from releases.builds.completion import record_completion
from releases.builds.repository import repository_for
from releases.models import AffectedPackage, Build, Release, ScanReport
from releases.scanning import dpkg, os_inventory
from releases.scanning.envparse import ParsedEnvironment
from releases.scanning.scanner import scan
from releases.scanning.store import DatabaseAdvisoryStore
from releases.statuses import Status
from tests.factories import release_with_files
from tests.osv_records import CRITICAL_V3, LOW_V3, record, sync_records

DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'


def paragraph(name, version, source="", status="install ok installed", arch="amd64"):
    return (f"Package: {name}\nStatus: {status}\nPriority: optional\nArchitecture: {arch}\n"
            + (f"Source: {source}\n" if source else "") + f"Version: {version}\nDescription: {name}\n"
            " a continuation line: Version: 0.0 is not a field\n")


STATUS = "\n".join([
    paragraph("libssl3", "3.0.11-1~deb12u2", source="openssl"),
    paragraph("openssl", "3.0.11-1~deb12u2"),
    paragraph("zlib1g", "1:1.2.13.dfsg-1", source="zlib (1.2.13.dfsg-1)"),
    paragraph("libc6", "2.36-9+deb12u9", source="glibc"),
    paragraph("python3-yaml", "6.0-3+b2", source="pyyaml (6.0-3)"),
    paragraph("old-removed", "1.0-1", status="deinstall ok config-files"),
])

# Debian's records, as osv.dev publishes them: source packages of one release, dpkg versions.
OPENSSL_DSA = record("DSA-5764-1", "openssl", [{"introduced": "0"}, {"fixed": "3.0.14-1~deb12u2"}],
                     ecosystem="Debian:12", summary="openssl - security update")
OPENSSL_OLD = record("DSA-5000-1", "openssl", [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u1"}],
                     ecosystem="Debian:12")  # fixed before the installed 3.0.11-1~deb12u2: not affected
ZLIB_UNFIXED = record("DEBIAN-CVE-2023-45853", "zlib", [{"introduced": "0"}], ecosystem="Debian:12",
                      vector=LOW_V3)
GLIBC_BULLSEYE = record("DLA-3152-1", "glibc", [{"introduced": "0"}, {"fixed": "2.37-1"}],
                        ecosystem="Debian:11", vector=CRITICAL_V3)  # would cover 2.36-9, but it is another release
PYYAML_DEBIAN = record("DEBIAN-CVE-2020-14343", "pyyaml", [{"introduced": "0"}, {"fixed": "5.4"}],
                       ecosystem="Debian:12", vector=CRITICAL_V3)  # 6.0-3 is fixed; and not PyPI's pyyaml
PYYAML_PYPI = record("GHSA-pypi-only", "pyyaml", [{"introduced": "0"}, {"fixed": "99"}], vector=CRITICAL_V3)
RECORDS = [OPENSSL_DSA, OPENSSL_OLD, ZLIB_UNFIXED, GLIBC_BULLSEYE, PYYAML_DEBIAN, PYYAML_PYPI]


# --- dpkg: version order and the status database ------------------------------------------------

@pytest.mark.parametrize("lower, higher", [
    ("3.0.11-1~deb12u1", "3.0.11-1"),  # a tilde sorts before everything: a backport is older
    ("3.0.11-1~deb12u2", "3.0.14-1~deb12u2"),
    ("9.9", "1:0.1"),  # the epoch wins
    ("2.36-9", "2.36-9+deb12u1"),
    ("1.0~rc1", "1.0"),
    ("1.2.13.dfsg-1", "1.2.13.dfsg-1.1"),
])
def test_versions_compare_as_dpkg_compares_them(lower, higher):
    assert dpkg.parse_version(lower) < dpkg.parse_version(higher)
    entry = dpkg.compile_entry("X", "p", [[{"introduced": "0"}, {"fixed": higher}]], "")
    assert dpkg.affected(lower, entry) and not dpkg.affected(higher, entry)


def test_the_status_file_gives_installed_packages_under_their_source_at_the_source_version():
    packages = {p["name"]: p for p in dpkg.parse_status(STATUS)}
    assert "old-removed" not in packages  # config files only: not installed
    assert (packages["libssl3"]["source"], packages["libssl3"]["source_version"]) == ("openssl", "3.0.11-1~deb12u2")
    assert (packages["zlib1g"]["source"], packages["zlib1g"]["source_version"]) == ("zlib", "1.2.13.dfsg-1")
    assert (packages["python3-yaml"]["version"], packages["python3-yaml"]["source_version"]) == ("6.0-3+b2", "6.0-3")
    assert (packages["openssl"]["source"], packages["openssl"]["source_version"]) == ("openssl", "3.0.11-1~deb12u2")
    assert STATUS.splitlines()[packages["libc6"]["line"] - 1] == "Package: libc6"  # the line findings point at


def test_a_status_file_dpkg_would_not_accept_is_refused_not_half_read():
    with pytest.raises(dpkg.DpkgError, match="Source field"):
        dpkg.parse_status(paragraph("libx", "1.0", source="not a (valid) source (field)"))
    many = "\n".join(paragraph(f"p{i}", "1.0") for i in range(dpkg.MAX_PACKAGES + 1))
    with pytest.raises(dpkg.DpkgError, match="more than"):
        dpkg.parse_status(many)


@pytest.mark.parametrize("os_release, ecosystem", [
    (DEBIAN_12, "Debian:12"),
    ('ID=debian\nPRETTY_NAME="Debian GNU/Linux trixie/sid"\n', ""),  # no release number: no advisories by release
    ('ID=ubuntu\nVERSION_ID="22.04"\n', ""),
    ('ID="alpine"\nVERSION_ID=3.20.1\n', ""),
])
def test_only_numbered_debian_releases_have_an_advisory_ecosystem(os_release, ecosystem):
    assert dpkg.ecosystem(os_release) == ecosystem


# --- sync and match -----------------------------------------------------------------------------

def inventory(status=STATUS, ecosystem="Debian:12") -> os_inventory.Inventory:
    return os_inventory.Inventory("base@sha256:" + "a" * 64, ecosystem, "debian-12", dpkg.parse_status(status))


def findings_for(inv, *python):
    parsed = ParsedEnvironment(dependencies=[*python, *os_inventory.dependencies(inv)], issues=[])
    return scan(parsed, DatabaseAdvisoryStore(use_cache=False)).findings


@pytest.mark.django_db
def test_debian_records_are_synced_under_their_release_and_matched_by_source_package(tmp_path):
    sync = sync_records(tmp_path / "osv", RECORDS)
    assert (sync.created, sync.failed) == (len(RECORDS), 0)
    assert set(AffectedPackage.objects.values_list("ecosystem", "name")) == {
        ("Debian:12", "openssl"), ("Debian:12", "zlib"), ("Debian:11", "glibc"), ("Debian:12", "pyyaml"),
        ("PyPI", "pyyaml")}
    found = {(f.package, f.advisory_id): f for f in findings_for(inventory())}
    assert set(found) == {("openssl", "DSA-5764-1"), ("zlib", "DEBIAN-CVE-2023-45853")}
    openssl = found[("openssl", "DSA-5764-1")]
    assert (openssl.version, openssl.ecosystem, openssl.definite, openssl.role) == (
        "3.0.11-1~deb12u2", "Debian:12", True, "os")
    assert openssl.fixed_versions == ("3.0.14-1~deb12u2",)
    assert openssl.source_file == "base:/var/lib/dpkg/status"


@pytest.mark.django_db
def test_a_name_in_one_ecosystem_never_matches_another_ecosystems_advisory(tmp_path):
    from releases.scanning.envparse import Dependency

    sync_records(tmp_path / "osv", RECORDS)
    pypi_yaml = Dependency("pyyaml", "==6.0", "6.0", "requirements.txt", 1)
    found = {(f.package, f.ecosystem, f.advisory_id) for f in findings_for(inventory(), pypi_yaml)}
    assert ("pyyaml", "pypi", "GHSA-pypi-only") in found  # PyPI's record, for the PyPI package
    assert not any(f[1] == "Debian:12" and f[0] == "pyyaml" for f in found)  # Debian's, fixed in 5.4 < 6.0-3
    bullseye = inventory(ecosystem="Debian:11")  # the same packages, read as bullseye's: glibc's DLA applies
    assert {f.advisory_id for f in findings_for(bullseye)} == {"DLA-3152-1"}


# --- reading the base from the registry ---------------------------------------------------------

def tar_layer(files: dict, gzipped=True) -> bytes:
    """files: path -> bytes (a file), str (a symlink's target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            if isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return gzip.compress(buffer.getvalue(), mtime=0) if gzipped else buffer.getvalue()


GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def push_base(repository: str, *layers: bytes, media_type=GZIP_LAYER) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux", "salt": uuid.uuid4().hex}).encode()
    descriptors = [{"mediaType": media_type, "digest": registry.push_blob(repository, layer), "size": len(layer)}
                   for layer in layers]
    manifest = json.dumps({"schemaVersion": 2, "mediaType": registry.OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": registry.push_blob(repository, config), "size": len(config)},
                           "layers": descriptors}).encode()
    digest = registry.put_manifest(repository, uuid.uuid4().hex[:12], manifest, registry.OCI_MANIFEST)
    return f"{repository}@{digest}"


@pytest.fixture
def base_registry(settings, registry, tmp_path):
    settings.BUILD_REGISTRY = f"{registry.address}/models"
    settings.BUILD_REGISTRY_TLS_VERIFY = False
    settings.OS_INVENTORY_CACHE_DIR = tmp_path / "cache"
    return f"{registry.address}/bases/b{uuid.uuid4().hex[:10]}"


DEBIAN_ROOT = {"usr/lib/os-release": DEBIAN_12.encode(), "etc/os-release": "../usr/lib/os-release",
               "var/lib/dpkg/status": STATUS.encode(), "usr/bin/python3": b"\x7fELF"}


def test_the_base_is_read_layer_by_layer_as_a_runtime_assembles_it(base_registry):
    upgraded = STATUS.replace("3.0.11-1~deb12u2", "3.0.14-1~deb12u2")
    image = push_base(base_registry, tar_layer(DEBIAN_ROOT), tar_layer({"var/lib/dpkg/status": upgraded.encode()}))
    found = os_inventory.for_image(image)
    assert (found.problem, found.ecosystem, found.distro) == ("", "Debian:12", "debian-12")
    assert {p["name"]: p["version"] for p in found.packages}["libssl3"] == "3.0.14-1~deb12u2"  # the top layer's
    assert len(found.packages) == 5
    assert os_inventory._cache_path(image.split("@")[1]).is_file()  # cached by digest: never read twice


@pytest.mark.parametrize("layers, media_type, problem", [
    ([DEBIAN_ROOT, {"var/lib/dpkg/.wh.status": b""}], GZIP_LAYER, "has no dpkg database"),
    ([DEBIAN_ROOT, {"var/lib/dpkg/.wh..wh..opq": b""}], GZIP_LAYER, "has no dpkg database"),
    ([{**DEBIAN_ROOT, "lib/apk/db/installed": b"P:musl\nV:1.2\n"}], GZIP_LAYER, "apk (Alpine) package database"),
    ([{**DEBIAN_ROOT, "var/lib/rpm/rpmdb.sqlite": b"x"}], GZIP_LAYER, "rpm package database"),
    ([{"usr/bin/busybox": b"\x7fELF"}], GZIP_LAYER, "has no dpkg database"),
    ([{**DEBIAN_ROOT, "usr/lib/os-release": b"ID=ubuntu\nVERSION_ID=24.04\n"}], GZIP_LAYER, "says ubuntu-24.04"),
    ([DEBIAN_ROOT], "application/vnd.oci.image.layer.v1.tar+zstd", "tar or tar+gzip"),
    ([{**DEBIAN_ROOT, "var/lib/dpkg/status": paragraph("x", "1", source="((bad").encode()}], GZIP_LAYER,
     "Source field"),
])
def test_a_base_that_cannot_be_read_surely_is_a_problem_never_an_empty_list(base_registry, layers, media_type,
                                                                               problem):
    image = push_base(base_registry, *(tar_layer(files) for files in layers), media_type=media_type)
    found = os_inventory.for_image(image)
    assert problem in found.problem
    assert found.packages == []


def test_a_layer_that_expands_past_its_bound_is_a_problem(base_registry, monkeypatch):
    monkeypatch.setattr(os_inventory, "MAX_LAYER_BYTES", 64 * 1024)
    bomb = tar_layer({**DEBIAN_ROOT, "zeros": bytes(1024 * 1024)})
    assert len(bomb) < 64 * 1024
    assert "expands to more than" in os_inventory.for_image(push_base(base_registry, bomb)).problem


def test_a_base_on_a_registry_that_is_down_is_an_operational_failure(settings, tmp_path):
    from devtools import processes

    settings.BUILD_REGISTRY_TLS_VERIFY, settings.OS_INVENTORY_CACHE_DIR = False, tmp_path
    settings.BUILD_REGISTRY_TIMEOUT_SECONDS = 2
    image = f"127.0.0.1:{processes.free_port()}/bases/x@sha256:{'b' * 64}"
    with pytest.raises(os_inventory.BaseImageUnavailable, match="could not be read from its registry"):
        os_inventory.for_image(image)


# --- the whole pipeline: scan, decision, build completion ---------------------------------------

@pytest.fixture
def debian_base(base_registry, settings, tmp_path):
    sync_records(tmp_path / "osv", RECORDS)
    image = push_base(base_registry, tar_layer(DEBIAN_ROOT))
    settings.BUILD_BASE_IMAGE = image
    return image


@pytest.mark.django_db
def test_a_vulnerable_os_package_in_the_base_blocks_the_release_like_a_python_one(owner, debian_base):
    release = release_with_files(owner, requirements_txt="requests==2.32.4\n")
    assert steps.scan_dependencies(release.pk) == "failed"
    report = ScanReport.objects.latest_for(release)
    assert report.base_image == debian_base
    assert {(f.package, f.advisory_id, f.role) for f in report.findings.all()} == {
        ("openssl", "DSA-5764-1", "os"), ("zlib", "DEBIAN-CVE-2023-45853", "os")}
    blocking = [b for b in report.decision["blocking"] if b.get("package")]
    assert [(b["package"], b["advisory_id"]) for b in blocking] == [("openssl", "DSA-5764-1")]  # no severity:
    # counted as CRITICAL by default; zlib's LOW does not block
    assert "openssl DSA-5764-1" in Release.objects.get(pk=release.pk).status_message
    os_dependencies = [d for d in report.dependencies if d["ecosystem"] == "Debian:12"]
    assert {d["name"] for d in os_dependencies} == {"openssl", "zlib", "glibc", "pyyaml"}


@pytest.mark.django_db
def test_an_unreadable_base_blocks_with_a_reason_that_names_the_base(owner, base_registry, settings, tmp_path):
    sync_records(tmp_path / "osv", RECORDS)
    settings.BUILD_BASE_IMAGE = push_base(base_registry, tar_layer({"usr/bin/busybox": b"\x7fELF"}))
    release = release_with_files(owner, requirements_txt="requests==2.32.4\n")
    assert steps.scan_dependencies(release.pk) == "failed"
    reasons = [b["reason"] for b in ScanReport.objects.latest_for(release).decision["blocking"]]
    assert any(r.startswith("base:/var/lib/dpkg/status: OS packages of the base image not scanned: the image has "
                            "no dpkg database") for r in reasons), reasons


@pytest.mark.django_db
def test_the_base_registry_down_fails_the_scan_step_as_retryable_not_as_a_verdict(owner, settings, tmp_path):
    from devtools import processes

    sync_records(tmp_path / "osv", RECORDS)
    settings.BUILD_REGISTRY_TLS_VERIFY, settings.OS_INVENTORY_CACHE_DIR = False, tmp_path
    settings.BUILD_REGISTRY_TIMEOUT_SECONDS = 2
    settings.BUILD_BASE_IMAGE = f"127.0.0.1:{processes.free_port()}/bases/x@sha256:{'c' * 64}"
    release = release_with_files(owner, requirements_txt="requests==2.32.4\n")
    steps.scan_dependencies(release.pk)
    release = Release.objects.get(pk=release.pk)
    assert release.status == Status.FAILED and release.failed_step == "scan"
    assert not ScanReport.objects.filter(release=release).exists()


@pytest.fixture
def building(owner, base_registry, settings, tmp_path):
    """A release scanned on a clean Debian base, building on the webhook backend; its images are pushed for
    real into the release's repository (the completion reads a remote image's OS packages from there)."""
    sync_records(tmp_path / "osv", RECORDS[1:2])
    base = push_base(base_registry, tar_layer(DEBIAN_ROOT))
    settings.BUILD_BASE_IMAGE = base
    release = release_with_files(owner, requirements_txt="requests==2.32.4\n")
    assert steps.scan_dependencies(release.pk) == "passed"
    Release.objects.filter(pk=release.pk).update(status=Status.BUILDING_IMAGE)
    return Build.objects.create(release=release, backend="webhook"), base


def push_built(build, *extra_layers: dict) -> tuple[str, str]:
    """An image on the Debian base, plus a model layer and `extra_layers`, in the release's repository."""
    repository = repository_for(build.release.model_name)
    layers = [tar_layer(DEBIAN_ROOT), tar_layer({"model/MLmodel": b"flavors: {}"}), *map(tar_layer, extra_layers)]
    reference, digest = push_base(repository, *layers).split("@")
    return f"{reference}:v1", digest


def complete(build, image, **extra):
    reference, digest = image
    return record_completion(uuid.uuid4().hex, {"build_id": build.pk, "status": "succeeded",
                                                "image_reference": reference, "digest": digest, **extra})


@pytest.mark.django_db
def test_an_image_built_on_the_scanned_base_with_its_packages_succeeds(building):
    build, base = building
    complete(build, push_built(build), base_image=base)  # a remote builder: the image itself is read
    release = Release.objects.get(pk=build.release_id)
    assert release.status == Status.SUCCEEDED, release.status_message
    listed = Build.objects.get(pk=build.pk).os_packages
    assert listed["distro"] == "debian-12" and len(listed["packages"]) == 5  # in the SBOM, for remote builds too


@pytest.mark.django_db
def test_a_local_builders_list_of_the_images_packages_is_compared_with_the_base(building):
    build, base = building
    packages = {"distro": "debian-12", "packages": dpkg.parse_status(STATUS)}
    complete(build, push_built(build), base_image=base, os_packages=packages)
    assert Release.objects.get(pk=build.release_id).status == Status.SUCCEEDED


@pytest.mark.django_db
@pytest.mark.parametrize("reported, expected", [
    ("other", "but the scan read the OS packages of"),
    ("", "built on no base image, but the scan read"),
])
def test_an_image_built_on_another_base_than_the_scanned_one_is_refused(building, reported, expected):
    build, base = building
    other = f"{base.split('@')[0]}@sha256:{'e' * 64}" if reported == "other" else ""
    complete(build, push_built(build), base_image=other)
    release = Release.objects.get(pk=build.release_id)
    assert release.status == Status.BUILD_FAILED
    assert expected in release.status_message


@pytest.mark.django_db
def test_an_image_holding_os_packages_its_base_does_not_is_refused(building):
    """A remote builder that ran `apt-get install netcat-traditional` on top of the scanned base."""
    build, base = building
    installed = STATUS + "\n" + paragraph("netcat-traditional", "1.10-47")
    complete(build, push_built(build, {"var/lib/dpkg/status": installed.encode()}), base_image=base)
    release = Release.objects.get(pk=build.release_id)
    assert release.status == Status.BUILD_FAILED
    assert "holds 1 OS package(s) its base does not, which were never scanned: netcat-traditional 1.10-47" in \
        release.status_message


@pytest.mark.django_db
def test_an_image_whose_os_packages_cannot_be_read_is_refused(building):
    build, base = building
    complete(build, push_built(build, {"var/lib/dpkg/.wh.status": b""}), base_image=base)
    release = Release.objects.get(pk=build.release_id)
    assert release.status == Status.BUILD_FAILED
    assert "the image's OS packages cannot be read: the image has no dpkg database" in release.status_message


@pytest.mark.django_db
def test_a_files_only_release_scans_no_os_packages(owner, settings, tmp_path):
    sync_records(tmp_path / "osv", RECORDS)
    settings.BUILD_BASE_IMAGE = "scratch"
    release = release_with_files(owner, requirements_txt="requests==2.32.4\n")
    assert steps.scan_dependencies(release.pk) == "passed"
    report = ScanReport.objects.latest_for(release)
    assert report.base_image == "" and not any(d["ecosystem"] != "pypi" for d in report.dependencies)
