"""Loaded with `-p` (pytest.ini) before Django settings are imported.

Settings are production-shaped in tests (DEBUG off); these are the only
test-specific values, and real environment variables still win.
"""
import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "k" * 50)
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# The build plumbing's tests push files-only images (seconds); the serving image tests build on the real base
# (tests/serving.py) and set BUILD_BASE_IMAGE to its digest themselves.
os.environ.setdefault("BUILD_BASE_IMAGE", "scratch")


def _session_signing_key() -> None:
    """A new attestation signing key for this test session, in a temporary directory removed at exit
    (never a key kept in the repository). Processes the tests start inherit the variable."""
    import atexit
    import shutil
    import tempfile

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = tempfile.mkdtemp(prefix="gateway-test-key-")
    atexit.register(shutil.rmtree, folder, True)
    path = os.path.join(folder, "attestation-key.pem")
    with open(path, "wb") as fh:
        fh.write(Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    os.environ["ATTESTATION_SIGNING_KEY_FILE"] = path


if not os.environ.get("ATTESTATION_SIGNING_KEY") and not os.environ.get("ATTESTATION_SIGNING_KEY_FILE"):
    _session_signing_key()
