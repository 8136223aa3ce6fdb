"""verify_release IMAGE@DIGEST --key PUBLIC.pem [--attestation FILE | --release ID]: verify offline.

Good (exit 0) when the envelope is signed by the key, is a gateway release Statement, and names
exactly that image repository and digest; then it prints the chain of evidence. Anything else
exits 1 with the reason. The envelope comes from FILE (saved from the API or the registry: no
database, no network) or, without --attestation, from this gateway's database: every attestation
stored for that digest (a promoted digest has one per environment), each of which must verify,
and whose record must still match what was signed.
"""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from releases.evidence import keys
from releases.evidence import provenance as slsa
from releases.evidence.describe import evidence_lines
from releases.evidence.dsse import MAX_ENVELOPE_BYTES, PREDICATE_TYPE, Verification, verify_envelope
from releases.evidence.stored import verify_evidence, verify_provenance
from releases.models import ReleaseEvidence
from releases.registry import parse_reference


class Command(BaseCommand):
    help = "Verify a release attestation offline and print its chain of evidence (exit 1 if it does not verify)."

    def add_arguments(self, parser):
        parser.add_argument("image", help="IMAGE@sha256:DIGEST, e.g. registry.example/models/fraud@sha256:…")
        parser.add_argument("--key", required=True, help="the gateway's public key (PEM; manage.py export_public_key)")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--attestation", help="a DSSE envelope file (from the API or the registry)")
        source.add_argument("--release", type=int, help="only this release's stored attestation")
        source.add_argument("--provenance", help="a SLSA Provenance v1 DSSE envelope file (from the API)")

    def handle(self, *args, image, key, attestation=None, release=None, provenance=None, **options):
        try:
            reference = parse_reference(image)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not reference.digest:
            raise CommandError("Give the image by digest: IMAGE@sha256:<64 hex>.")
        try:
            public_key = keys.load_public_key(Path(key).read_bytes())
        except (OSError, keys.SigningKeyError) as exc:
            raise CommandError(f"Cannot read the public key {key}: {exc}") from None
        if provenance:
            results = self._from_file(provenance, public_key, reference, slsa.PREDICATE_TYPE)
        elif attestation:
            results = self._from_file(attestation, public_key, reference)
        else:
            results = self._from_database(release, public_key, reference)
        for label, result in results:
            self._report(label, result)
        if not all(result.ok for _, result in results):
            raise CommandError("The attestation does NOT verify.", returncode=1)

    def _from_file(self, path: str, public_key, reference,
                   predicate_type: str = PREDICATE_TYPE) -> list[tuple[str, Verification]]:
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_ENVELOPE_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        return [(path, verify_envelope(raw, public_key, reference.digest, reference.repo_ref, predicate_type))]

    def _from_database(self, release_id, public_key, reference) -> list[tuple[str, Verification]]:
        stored = ReleaseEvidence.objects.filter(subject_digest=reference.digest).order_by("-created_at", "-id")
        if release_id is not None:
            stored = stored.filter(release_id=release_id)
        found = []
        for evidence in stored[:20]:
            found.append((f"release #{evidence.release_id} (stored)",
                          verify_evidence(evidence, public_key, reference.digest, reference.repo_ref)))
            if evidence.provenance:  # evidence written before provenance existed has none to check
                found.append((f"release #{evidence.release_id} provenance (stored)",
                              verify_provenance(evidence, public_key, reference.digest, reference.repo_ref)))
        if not found:
            raise CommandError(f"No attestation for {reference.digest} in this gateway's database"
                               + (f" for release #{release_id}" if release_id else "") + ".", returncode=1)
        return found

    def _report(self, label: str, result: Verification) -> None:
        if result.ok:
            self.stdout.write(self.style.SUCCESS(f"VERIFIED: {label}"))
            statement = result.statement or {}
            if statement.get("predicateType") == slsa.PREDICATE_TYPE:
                for dependency in (statement.get("predicate") or {}).get("buildDefinition", {}).get(
                        "resolvedDependencies", []):
                    self.stdout.write(f"  built from {dependency.get('name')}: sha256 "
                                      f"{dependency.get('digest', {}).get('sha256')}")
                return
            for line in evidence_lines(statement):
                self.stdout.write("  " + line)
        else:
            self.stderr.write(f"NOT VERIFIED: {label}: {result.reason}")
