"""The gateway's attestation signing key: Ed25519, PEM, from ATTESTATION_SIGNING_KEY (or its _FILE).

Never from the database: whoever can write the database must not be able to sign. Without a key
configured, nothing can be attested, so nothing can become SUCCEEDED (releases.evidence.attest);
a system check says so at start-up in production (releases.evidence.checks). With DEBUG on, a
development key is made once under var/ and its path logged.
"""
import hashlib
import logging
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

log = logging.getLogger(__name__)
DEV_KEY_NAME = "attestation-signing-key.pem"


class SigningKeyError(Exception):
    """No key, or not an Ed25519 key in PEM."""


def load_private_key(pem: str | bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"The attestation signing key is not a PEM private key without password ({exc}).") \
            from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"The attestation signing key must be Ed25519, not {type(key).__name__}.")
    return key


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"Not a PEM public key ({exc}).") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"The public key must be Ed25519, not {type(key).__name__}.")
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo: `openssl pkey -pubin -in key.pem -outform DER | sha256sum`."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def new_private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption())


def write_new_key(path: Path) -> Path:
    """A new private key at `path`, readable by its owner only; an existing file is never overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as fh:  # "x": two processes starting at once cannot both write one
        path.chmod(0o600)
        fh.write(new_private_pem())
    return path


def _development_key() -> str:
    path = Path(settings.VAR_DIR) / DEV_KEY_NAME
    if not path.exists():
        try:
            write_new_key(path)
            log.warning("DEBUG is on and no ATTESTATION_SIGNING_KEY is set: made a development signing key at %s "
                        "(export its public key with `manage.py export_public_key`)", path)
        except FileExistsError:
            pass
    return path.read_text()


def signing_key() -> Ed25519PrivateKey | None:
    """The configured key; None when none is configured (and DEBUG is off). A malformed key raises SigningKeyError."""
    pem = settings.ATTESTATION_SIGNING_KEY or (_development_key() if settings.DEBUG else "")
    return load_private_key(pem) if pem else None
