"""System check: a gateway that builds releases must be able to sign them (registered in releases/apps.py)."""
from django.conf import settings
from django.core.checks import Error, register

from releases.evidence import keys


@register()
def signing_key_configured(app_configs=None, **kwargs) -> list[Error]:
    """Without a key no release can become SUCCEEDED; say so at start-up rather than at the first build."""
    if not settings.BUILD_BACKEND:
        return []
    try:
        key = keys.signing_key()
    except keys.SigningKeyError as exc:
        return [Error(str(exc), id="releases.E101", hint="ATTESTATION_SIGNING_KEY_FILE must name an Ed25519 "
                      "private key in PEM: openssl genpkey -algorithm ed25519 -out key.pem")]
    if key is None:
        return [Error("BUILD_BACKEND is set but no attestation signing key is configured: no release could become "
                      "SUCCEEDED.", id="releases.E100",
                      hint="Set ATTESTATION_SIGNING_KEY_FILE to an Ed25519 private key in PEM "
                           "(openssl genpkey -algorithm ed25519 -out key.pem).")]
    return []
