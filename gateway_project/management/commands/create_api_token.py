"""`manage.py create_api_token USERNAME [--name NAME] [--days N]`: print a new API token, once.

For operators and scripts that cannot use the portal's session (POST /api/tokens/). Only the
token's SHA-256 is stored, so it cannot be shown again: lose it, make another, revoke the old.
"""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from gateway_project import tokens


class Command(BaseCommand):
    help = "Make an API token for a user and print it (it is not stored and cannot be shown again)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="what the token is for (default: cli)")
        parser.add_argument("--days", type=int, default=None, help="lifetime (default: API_TOKEN_DAYS)")

    def handle(self, *args, username, name, days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            token, raw = tokens.issue(user, name, days)
        except tokens.TokenRefused as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"Token {token.prefix}… for {username}, expires {token.expires_at:%Y-%m-%d %H:%M} UTC.")
        self.stdout.write(raw)
