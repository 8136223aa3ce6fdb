"""The release SBOM: CycloneDX 1.6 JSON written by cyclonedx-python-lib, valid against the 1.6 schema, with
purls, where each dependency was read, the model component, and VEX analysis states."""
import hashlib
import json
import time

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from releases.evidence.dsse import MAX_ENVELOPE_BYTES
from releases.evidence.sbom import MAX_SBOM_BYTES
from releases.models import Finding, Release, ReleaseFile, ScanReport
from releases.scanning.envparse import MAX_DEPENDENCIES
from tests.evidence_helpers import approved_waiver, complete, scanned_release
from tests.osv_records import HIGH_V3, record, sync_records

pytestmark = pytest.mark.django_db
IMAGE = "registry.example:5000/models/fraud-detector"
DIGEST = "sha256:" + "ef" * 32


@pytest.fixture
def sbom_release(owner, advisories):
    waiver = approved_waiver(reason="Loader never reads untrusted YAML.")
    release = scanned_release(owner)
    evidence = complete(release, f"{IMAGE}:v3", DIGEST)
    return evidence, json.loads(evidence.sbom), waiver


def test_it_validates_against_the_cyclonedx_1_6_schema(sbom_release):
    evidence, sbom, _ = sbom_release
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.6"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(evidence.sbom) is None


def test_the_validator_does_reject_a_broken_sbom(sbom_release):
    """The validation above can fail: a component with an unknown type is refused."""
    _, sbom, _ = sbom_release
    sbom["components"][0]["type"] = "spaceship"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(sbom)) is not None


def test_its_digest_is_the_one_stored_and_attested(sbom_release):
    evidence, _, _ = sbom_release
    assert evidence.sbom_digest == "sha256:" + hashlib.sha256(evidence.sbom.encode()).hexdigest()


def test_every_scanned_dependency_with_purl_place_and_role(sbom_release):
    evidence, sbom, _ = sbom_release
    report = ScanReport.objects.latest_for(Release.objects.get(pk=evidence.release_id))
    libraries = [c for c in sbom["components"] if c["type"] == "library"]
    assert len(libraries) == len(report.dependencies)
    by_purl = {c.get("purl"): c for c in libraries}
    assert {"pkg:pypi/pyyaml@5.3", "pkg:pypi/requests@2.19.0", "pkg:pypi/pillow", "pkg:conda/numpy@1.21.0",
            "pkg:pypi/pip@23.0"} <= set(by_purl)
    pyyaml = by_purl["pkg:pypi/pyyaml@5.3"]
    assert {"location": "requirements.txt", "line": 1} in pyyaml["evidence"]["occurrences"]
    roles = {p["name"]: p["value"] for p in by_purl["pkg:pypi/pip@23.0"]["properties"]}
    assert roles["gateway:role"] == "build"
    assert {p["name"]: p["value"] for p in pyyaml["properties"]}["gateway:role"] == "runtime"


def test_the_model_is_a_machine_learning_model_component_with_run_and_file_hashes(sbom_release):
    evidence, sbom, _ = sbom_release
    model = next(c for c in sbom["components"] if c["type"] == "machine-learning-model")
    assert (model["name"], model["version"]) == ("fraud-detector", "3")
    assert {"name": "mlflow:run_id", "value": "0123456789abcdef0123456789abcdef"} in model["properties"]
    hashes = {f["name"]: f["hashes"][0]["content"] for f in model["components"]}
    assert hashes == dict(ReleaseFile.objects.filter(release_id=evidence.release_id).values_list("name", "sha256"))
    assert sbom["metadata"]["component"]["type"] == "container"
    assert sbom["metadata"]["component"]["hashes"][0]["content"] == "ef" * 32


def test_vulnerabilities_carry_vex_states(sbom_release):
    evidence, sbom, waiver = sbom_release
    states = {(v["id"], v["analysis"]["state"]) for v in sbom["vulnerabilities"]}
    assert ("GHSA-8q59-q68h-6hv4", "not_affected") in states  # waived
    assert ("PYSEC-2018-28", "exploitable") in states  # HIGH, below staging's CRITICAL threshold: shipped
    assert ("PYSEC-2021-35", "in_triage") in states  # pillow is unpinned: a possible match
    waived = next(v for v in sbom["vulnerabilities"] if v["id"] == "GHSA-8q59-q68h-6hv4")
    assert f"Waiver #{waiver.pk}" in waived["analysis"]["detail"] and waiver.reason in waived["analysis"]["detail"]
    refs = {c["bom-ref"]: c for c in sbom["components"]}
    assert refs[waived["affects"][0]["ref"]]["purl"] == "pkg:pypi/pyyaml@5.3"
    assert len(sbom["vulnerabilities"]) == Finding.objects.filter(report__release_id=evidence.release_id).count()


def test_a_release_at_the_scanner_bound_gives_a_bounded_sbom(owner, tmp_path):
    """MAX_DEPENDENCIES pinned requirements, each with a HIGH finding (staging ships them): the widest release."""
    names = [f"pkg{i}" for i in range(MAX_DEPENDENCIES)]
    sync_records(tmp_path / "osv", [record(f"TEST-{i}", name, [{"introduced": "0"}, {"fixed": "2.0"}], vector=HIGH_V3)
                                    for i, name in enumerate(names)])
    release = scanned_release(owner, files={"requirements.txt": "".join(f"{n}==1.0\n" for n in names)},
                              model_name="wide")
    assert len(ScanReport.objects.latest_for(release).dependencies) == MAX_DEPENDENCIES
    started = time.perf_counter()
    evidence = complete(release, f"{IMAGE}:wide", DIGEST)
    elapsed = time.perf_counter() - started
    size, envelope = len(evidence.sbom.encode()), len(evidence.envelope.encode())
    print(f"\n{MAX_DEPENDENCIES} dependencies, {MAX_DEPENDENCIES} findings: SBOM {size} bytes, "
          f"envelope {envelope} bytes, attested in {elapsed:.2f} s")
    assert len(json.loads(evidence.sbom)["vulnerabilities"]) == MAX_DEPENDENCIES
    assert size < MAX_SBOM_BYTES and envelope < MAX_ENVELOPE_BYTES
