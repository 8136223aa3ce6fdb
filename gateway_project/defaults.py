"""Defaults shared by the settings and by commands that run without Django (scan_env)."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    return Path(os.environ.get("GATEWAY_VAR_DIR") or BASE_DIR / "var")


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir() / 'gateway.sqlite3'}"
