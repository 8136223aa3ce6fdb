"""The signed release attestation: written at SUCCEEDED, verified offline by verify_release, re-verified
from the record by verify_stored, and read the same way by an independent DSSE verifier."""
import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey

from approvals.models import ApprovalDecision, ApprovalStage
from releases.builds.completion import record_completion
from releases.evidence import dsse, keys
from releases.evidence.canonical import scan_report_digest
from releases.evidence.stored import verify_stored
from releases.models import Build, Finding, Release, ReleaseEvidence, ScanReport
from releases.statuses import Status, Step
from tests.evidence_helpers import approved_waiver, complete, scanned_release
from tests.factories import policy_version

pytestmark = pytest.mark.django_db
IMAGE = "registry.example:5000/models/fraud-detector"
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


@pytest.fixture
def public_pem(tmp_path):
    path = tmp_path / "public.pem"
    path.write_text(keys.public_pem(keys.signing_key().public_key()))
    return path


@pytest.fixture
def evidence(owner, advisories):
    waiver = approved_waiver()
    release = scanned_release(owner)
    stored = complete(release, f"{IMAGE}:v3-r{release.pk}-a1", DIGEST)
    stored.waiver = waiver
    return stored


def statement_of(evidence) -> dict:
    return json.loads(base64.b64decode(json.loads(evidence.envelope)["payload"]))


def verify(capsys, *args):
    try:
        call_command("verify_release", *args)
        code, message = 0, ""
    except CommandError as exc:  # what manage.py prints on stderr before exiting with returncode
        code, message = exc.returncode, str(exc)
    out = capsys.readouterr()
    return code, out.out, out.err + message


def test_succeeded_release_carries_a_dsse_envelope_of_an_in_toto_statement(evidence):
    release = Release.objects.get(pk=evidence.release_id)
    assert release.status == Status.SUCCEEDED
    envelope = json.loads(evidence.envelope)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert envelope["signatures"][0]["keyid"] == keys.key_id(keys.signing_key().public_key()) == evidence.key_id
    statement = statement_of(evidence)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == dsse.PREDICATE_TYPE
    assert statement["subject"] == [{"name": IMAGE, "digest": {"sha256": "ab" * 32}}]
    predicate = statement["predicate"]
    assert predicate["model"]["mlflow_run_id"] == "0123456789abcdef0123456789abcdef"
    assert {f["name"] for f in predicate["model"]["files"]} == {"requirements.txt", "conda.yaml", "python_env.yaml"}
    report = ScanReport.objects.latest_for(release)
    assert predicate["scan"]["report"] == report.pk and predicate["scan"]["digest"]["sha256"] == scan_report_digest(
        report.pk)
    assert predicate["advisories"]["sync"] == report.advisory_sync_id
    assert predicate["policy"]["version"] == report.policy.version
    assert len(predicate["policy"]["digest"]["sha256"]) == 64
    assert [w["id"] for w in predicate["waivers"]] == [evidence.waiver.pk]
    assert predicate["waivers"][0]["approved_by"] == "officer-b"
    assert predicate["build"]["backend"] == "webhook" and predicate["build"]["log_url"] == "https://ci.example/runs/7"
    assert predicate["sbom"]["digest"]["sha256"] == evidence.sbom_digest.removeprefix("sha256:")
    heads = predicate["audit"]["chain_heads"]
    assert str(release.pk) in heads and len(heads[str(release.pk)]["hash"]) == 64


def test_the_signature_covers_the_pae_of_the_payload(evidence):
    envelope = json.loads(evidence.envelope)
    body = base64.b64decode(envelope["payload"])
    message = b"DSSEv1 28 application/vnd.in-toto+json %d " % len(body) + body
    keys.signing_key().public_key().verify(base64.b64decode(envelope["signatures"][0]["sig"]), message)


def test_verify_release_from_a_file_prints_the_chain_of_evidence(evidence, public_pem, tmp_path, capsys):
    saved = tmp_path / "envelope.json"
    saved.write_text(evidence.envelope)
    code, out, err = verify(capsys, f"{IMAGE}@{DIGEST}", "--key", str(public_pem), "--attestation", str(saved))
    assert code == 0, err
    assert "VERIFIED" in out
    staging = f"staging v{policy_version('staging')}"
    for expected in ("fraud-detector version 3", "0123456789abcdef0123456789abcdef", "requirements.txt",
                     f"report #{statement_of(evidence)['predicate']['scan']['report']}", staging,
                     "GHSA-8q59-q68h-6hv4", "approved by officer-b", "webhook attempt 1", "CycloneDX 1.6",
                     evidence.sbom_digest, "chain head"):
        assert expected in out, expected


def test_verify_release_reads_the_database_when_given_no_file(evidence, public_pem, capsys):
    code, out, err = verify(capsys, f"{IMAGE}@{DIGEST}", "--key", str(public_pem))
    assert code == 0, err
    assert f"release #{evidence.release_id} (stored)" in out


def _flip_payload_byte(envelope_text: str) -> str:
    envelope = json.loads(envelope_text)
    body = bytearray(base64.b64decode(envelope["payload"]))
    at = body.index(b"fraud-detector")
    body[at] = ord("F")  # an attacker renames the model in the signed statement
    envelope["payload"] = base64.b64encode(bytes(body)).decode()
    return json.dumps(envelope)


def test_a_changed_byte_fails_with_a_reason(evidence, public_pem, tmp_path, capsys):
    tampered = tmp_path / "tampered.json"
    tampered.write_text(_flip_payload_byte(evidence.envelope))
    code, out, err = verify(capsys, f"{IMAGE}@{DIGEST}", "--key", str(public_pem), "--attestation", str(tampered))
    assert code == 1
    assert "no signature in the envelope verifies" in err and "VERIFIED:" not in out


def test_a_changed_signature_byte_fails(evidence, public_pem, tmp_path, capsys):
    envelope = json.loads(evidence.envelope)
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[0] ^= 1
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    path = tmp_path / "sig.json"
    path.write_text(json.dumps(envelope))
    code, _, err = verify(capsys, f"{IMAGE}@{DIGEST}", "--key", str(public_pem), "--attestation", str(path))
    assert code == 1 and "no signature" in err


def test_a_relabelled_payload_type_fails(evidence, public_pem, tmp_path, capsys):
    envelope = json.loads(evidence.envelope)
    envelope["payloadType"] = "application/json"
    path = tmp_path / "type.json"
    path.write_text(json.dumps(envelope))
    code, _, err = verify(capsys, f"{IMAGE}@{DIGEST}", "--key", str(public_pem), "--attestation", str(path))
    assert code == 1 and "payloadType" in err


def test_another_digest_fails(evidence, public_pem, tmp_path, capsys):
    saved = tmp_path / "envelope.json"
    saved.write_text(evidence.envelope)
    code, _, err = verify(capsys, f"{IMAGE}@{OTHER}", "--key", str(public_pem), "--attestation", str(saved))
    assert code == 1
    assert f"the attestation is for {DIGEST}, not for {OTHER}" in err


def test_another_repository_fails(evidence, public_pem, tmp_path, capsys):
    saved = tmp_path / "envelope.json"
    saved.write_text(evidence.envelope)
    code, _, err = verify(capsys, f"registry.example:5000/models/other@{DIGEST}", "--key", str(public_pem),
                          "--attestation", str(saved))
    assert code == 1 and "names the image" in err


def test_a_wrong_key_fails(evidence, tmp_path, capsys):
    wrong = tmp_path / "wrong.pem"
    wrong.write_text(keys.public_pem(Ed25519PrivateKey.generate().public_key()))
    code, _, err = verify(capsys, f"{IMAGE}@{DIGEST}", "--key", str(wrong))
    assert code == 1 and "no signature in the envelope verifies with this key" in err


def test_no_attestation_for_a_digest_fails(db, public_pem, capsys):
    code, _, err = verify(capsys, f"{IMAGE}@{OTHER}", "--key", str(public_pem))
    assert code == 1 and "No attestation" in err


def test_a_statement_signed_by_the_key_for_another_predicate_fails(public_pem, tmp_path, capsys):
    """Signed with the right key, but not a gateway release statement: refused."""
    foreign = {"_type": dsse.STATEMENT_TYPE, "predicateType": "https://slsa.dev/provenance/v1",
               "subject": [{"name": IMAGE, "digest": {"sha256": "ab" * 32}}], "predicate": {}}
    path = tmp_path / "foreign.json"
    path.write_bytes(dsse.sign(foreign, keys.signing_key()))
    code, _, err = verify(capsys, f"{IMAGE}@{DIGEST}", "--key", str(public_pem), "--attestation", str(path))
    assert code == 1 and "unexpected predicateType" in err


def test_verify_stored_is_ok_and_sees_a_record_edited_afterwards(evidence):
    release = Release.objects.get(pk=evidence.release_id)
    assert verify_stored(release).ok, verify_stored(release).problems
    Finding.objects.filter(report__release=release).order_by("id").first().delete()  # someone hides a finding
    result = verify_stored(release)
    assert not result.ok and any("changed since it was attested" in p for p in result.problems)


def test_verify_stored_sees_a_swapped_envelope(evidence, owner):
    release = Release.objects.get(pk=evidence.release_id)
    ReleaseEvidence.objects.filter(pk=evidence.pk).update(envelope=_flip_payload_byte(evidence.envelope))
    result = verify_stored(release)
    assert not result.ok and "no signature" in result.reason
    assert not verify_stored(Release.objects.exclude(pk=release.pk).first() or release).ok


def test_verify_stored_against_another_configured_key_fails(evidence, settings):
    settings.ATTESTATION_SIGNING_KEY = keys.new_private_pem().decode()
    assert not verify_stored(Release.objects.get(pk=evidence.release_id)).ok


def test_approvals_name_who_when_and_the_report_they_saw(owner, advisories, django_user_model):
    approved_waiver()
    release = scanned_release(owner, env="staging")
    report = ScanReport.objects.latest_for(release)
    stage = ApprovalStage.objects.filter(environment__name="production").order_by("order").first()
    lead = django_user_model.objects.create_user("lead-1")
    earlier = django_user_model.objects.create_user("lead-0")
    ApprovalDecision.objects.create(release=release, scan_report=report, stage=stage, user=lead, approved=True,
                                    comment="looks right")
    old_report = ScanReport.objects.create(release=release, scanner="builtin", started_at=report.started_at,
                                           duration_ms=1, passed=True, summary="older")
    ScanReport.objects.filter(pk=old_report.pk).update(created_at=report.created_at.replace(year=2000))
    ApprovalDecision.objects.create(release=release, scan_report=old_report, stage=stage, user=earlier, approved=True)
    evidence = complete(release, f"{IMAGE}:x", DIGEST)
    approvals = statement_of(evidence)["predicate"]["approvals"]
    assert [a["user"] for a in approvals] == ["lead-1"]  # a vote on a superseded report does not count
    assert approvals[0]["stage"] == stage.name and approvals[0]["comment"] == "looks right"
    assert approvals[0]["saw"] == {"scan_report": report.pk, "digest": {"sha256": scan_report_digest(report.pk)}}


def test_without_a_signing_key_nothing_becomes_succeeded(owner, advisories, settings):
    settings.ATTESTATION_SIGNING_KEY = ""
    settings.DEBUG = False
    approved_waiver()
    release = scanned_release(owner)

    build = Build.objects.create(release=release, backend="webhook")
    record_completion("no-key-1", {"build_id": build.pk, "status": "succeeded", "image_reference": f"{IMAGE}:x",
                                   "digest": DIGEST})
    release.refresh_from_db()
    assert release.status == Status.FAILED and release.failed_step == Step.BUILD
    assert "No attestation signing key is configured" in release.status_message
    assert not ReleaseEvidence.objects.filter(release=release).exists()


def test_a_system_check_refuses_a_build_backend_without_a_key(settings):
    from releases.evidence.checks import signing_key_configured

    settings.BUILD_BACKEND = "webhook"
    settings.ATTESTATION_SIGNING_KEY = ""
    settings.DEBUG = False
    assert [e.id for e in signing_key_configured()] == ["releases.E100"]
    settings.ATTESTATION_SIGNING_KEY = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"
    assert [e.id for e in signing_key_configured()] == ["releases.E101"]
    settings.ATTESTATION_SIGNING_KEY = keys.new_private_pem().decode()
    assert signing_key_configured() == []


def test_debug_without_a_key_makes_a_development_key_under_var(settings, tmp_path):
    settings.ATTESTATION_SIGNING_KEY = ""
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path
    first = keys.signing_key()
    assert (tmp_path / keys.DEV_KEY_NAME).stat().st_mode & 0o777 == 0o600
    assert keys.key_id(keys.signing_key().public_key()) == keys.key_id(first.public_key())  # made once, reused


def test_export_public_key_matches_the_signing_key(capsys):
    call_command("export_public_key")
    out = capsys.readouterr()
    assert keys.key_id(keys.load_public_key(out.out)) == keys.key_id(keys.signing_key().public_key())
    assert keys.key_id(keys.signing_key().public_key()) in out.err


# --- An independent verifier: securesystemslib's DSSE Envelope and its Ed25519 key ---------------------

def _sslib_key() -> SSlibKey:
    return SSlibKey.from_crypto(keys.signing_key().public_key(), keyid=keys.key_id(keys.signing_key().public_key()))


def test_securesystemslib_verifies_the_envelope(evidence):
    envelope = Envelope.from_dict(json.loads(evidence.envelope))
    key = _sslib_key()
    verified = envelope.verify([key], 1)
    assert key.keyid in verified
    assert json.loads(envelope.pae()[len(b"DSSEv1 28 application/vnd.in-toto+json "):].split(b" ", 1)[1]) == (
        statement_of(evidence))


def test_securesystemslib_refuses_a_changed_byte(evidence):
    from securesystemslib.exceptions import VerificationError

    envelope = Envelope.from_dict(json.loads(_flip_payload_byte(evidence.envelope)))
    with pytest.raises(VerificationError):
        envelope.verify([_sslib_key()], 1)


def test_an_envelope_signed_by_securesystemslib_verifies_here(tmp_path):
    """The other direction: the gateway's verifier reads an envelope another DSSE implementation wrote."""
    private = Ed25519PrivateKey.generate()
    signer = CryptoSigner(private)
    statement = {"_type": dsse.STATEMENT_TYPE, "predicateType": dsse.PREDICATE_TYPE,
                 "subject": [{"name": IMAGE, "digest": {"sha256": "ab" * 32}}], "predicate": {}}
    envelope = Envelope(payload=json.dumps(statement).encode(), payload_type=dsse.PAYLOAD_TYPE, signatures={})
    envelope.sign(signer)
    raw = json.dumps(envelope.to_dict()).encode()
    assert dsse.verify_envelope(raw, private.public_key(), DIGEST, IMAGE).ok
    assert not dsse.verify_envelope(raw, Ed25519PrivateKey.generate().public_key(), DIGEST, IMAGE).ok


# --- SLSA Provenance v1 (releases.evidence.provenance) -------------------------------------------------------

def test_the_provenance_is_slsa_v1_about_the_image_and_names_what_it_was_built_from(evidence, api):
    from releases.evidence import provenance

    envelope = json.loads(evidence.provenance)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1" == provenance.PREDICATE_TYPE
    assert statement["subject"] == [{"name": IMAGE, "digest": {"sha256": "ab" * 32}}]
    definition = statement["predicate"]["buildDefinition"]
    assert definition["buildType"] == provenance.BUILD_TYPE
    assert definition["externalParameters"]["release"] == evidence.release_id
    assert definition["resolvedDependencies"] == []  # this release has no base, lock or scanned model files
    assert statement["predicate"]["runDetails"]["builder"]["id"].endswith("/webhook")
    served = api.get(f"/api/releases/{evidence.release_id}/provenance/")  # the exact bytes that were signed
    assert served.status_code == 200 and served.content.decode() == evidence.provenance


def test_verify_release_checks_the_provenance_file_and_the_stored_one(evidence, public_pem, tmp_path, capsys):
    path = tmp_path / "provenance.json"
    path.write_text(evidence.provenance)
    code, out, _err = verify(capsys, f"{IMAGE}@{DIGEST}", "--key", str(public_pem), "--provenance", str(path))
    assert code == 0 and f"VERIFIED: {path}" in out
    code, out, _err = verify(capsys, f"{IMAGE}@{DIGEST}", "--key", str(public_pem))
    assert code == 0 and f"VERIFIED: release #{evidence.release_id} provenance (stored)" in out
    # the attestation is not a provenance, nor the other way round
    path.write_text(evidence.envelope)
    code, _out, err = verify(capsys, f"{IMAGE}@{DIGEST}", "--key", str(public_pem), "--provenance", str(path))
    assert code == 1 and "unexpected predicateType" in err


def test_a_release_without_provenance_answers_404(owner, api):
    from tests.factories import make_release

    release = make_release(owner, status=Status.SUCCEEDED)
    assert api.get(f"/api/releases/{release.pk}/provenance/").status_code == 404
