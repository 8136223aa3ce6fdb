"""export_public_key [--output FILE]: the public half of the attestation signing key, in PEM.

Hand it to verify_release, Kyverno (verifyImages attestors keys.publicKeys) or the Sigstore
policy-controller. The key id printed is the one in every envelope's signatures[].keyid.
"""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from releases.evidence import keys


class Command(BaseCommand):
    help = "Print (or write) the attestation signing key's public key in PEM, and its key id."

    def add_arguments(self, parser):
        parser.add_argument("--output", help="write the PEM here instead of printing it")

    def handle(self, *args, output=None, **options):
        try:
            key = keys.signing_key()
        except keys.SigningKeyError as exc:
            raise CommandError(str(exc)) from None
        if key is None:
            raise CommandError("No attestation signing key is configured (ATTESTATION_SIGNING_KEY_FILE).")
        public = key.public_key()
        pem = keys.public_pem(public)
        if output:
            Path(output).write_text(pem)
            self.stderr.write(f"wrote {output} (key id {keys.key_id(public)})")
        else:
            self.stdout.write(pem, ending="")
            self.stderr.write(f"key id {keys.key_id(public)}")
