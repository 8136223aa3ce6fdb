"""The demo's users: a superuser and one user per role, with stable passwords and API tokens.

devtools.demo runs `main` inside Django (`manage.py shell -c`), so it uses the demo's
settings. Passwords are made once and kept in var/demo_users.json (like the secret key),
so every run prints logins that work, and running the demo again changes nothing.
"""
import json
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

SUPERUSER = "demo"
# user -> (group, is_staff). The groups come from approvals/migrations/0002_roles_and_stages.py.
ROLE_USERS = {
    "requester": ("requesters", False),
    "ml-lead": ("ml-leads", False),
    "security": ("security-officers", False),
    "security2": ("security-officers", False),  # a waiver needs a second officer to approve it
    "sre": ("sre", False),
    "auditor": ("auditors", True),  # staff, so that they can read Django admin
    "platform-admin": ("platform-admins", True),
}


def _load_secrets(var_dir: Path) -> dict:
    path = var_dir / "demo_users.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    legacy = var_dir / "demo_password"  # earlier demos kept only the superuser's password
    if SUPERUSER not in known and legacy.exists():
        known[SUPERUSER] = {"password": legacy.read_text().strip()}
    for name in (SUPERUSER, *ROLE_USERS):
        known.setdefault(name, {"password": secrets.token_urlsafe(9)})
    return known


def _save_secrets(var_dir: Path, known: dict) -> None:
    path = var_dir / "demo_users.json"
    path.touch(mode=0o600)  # created private before any password is written to it
    path.write_text(json.dumps(known, indent=1) + "\n")


def _ensure(username: str, secret: dict, group: str | None, staff: bool, superuser: bool = False) -> dict:
    user, _ = get_user_model().objects.get_or_create(username=username)
    # Hashing costs ~0.6 s a user: skip it while the stored hash is still the one set here.
    if user.password != secret.get("hash"):
        user.set_password(secret["password"])
        secret["hash"] = user.password
    user.is_active, user.is_staff, user.is_superuser = True, staff, superuser
    user.save()
    user.groups.set([Group.objects.get(name=group)] if group else [])
    secret["token"] = _live_token(user, secret.get("token", ""))
    return {"user": username, "role": group or "superuser", "password": secret["password"], "token": secret["token"]}


def _live_token(user, saved: str) -> str:
    """Tokens are stored hashed: the demo keeps the secret in its 0600 file, and makes a new
    one when the saved one no longer works (expired, revoked, or a new database)."""
    from rest_framework.exceptions import AuthenticationFailed

    from gateway_project import tokens

    if saved:
        try:
            if tokens.check(saved).user_id == user.pk:
                return saved
        except AuthenticationFailed:
            pass
    return tokens.issue(user, "demo")[1]


def ensure_users(var_dir: Path) -> list[dict]:
    known = _load_secrets(var_dir)
    rows = [_ensure(SUPERUSER, known[SUPERUSER], None, staff=True, superuser=True)]
    rows += [_ensure(name, known[name], group, staff) for name, (group, staff) in ROLE_USERS.items()]
    _save_secrets(var_dir, known)
    return rows


def main() -> None:
    print(json.dumps(ensure_users(Path(settings.VAR_DIR))))
