"""Loaded with `-p` (pytest.ini) before Django settings are imported.

Settings are production-shaped in tests (DEBUG off); these are the only
test-specific values, and real environment variables still win.
"""
import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "k" * 50)
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
