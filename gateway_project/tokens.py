"""API tokens: issue, check, list, revoke. The only code that reads or writes ApiToken.

A token is "mrg_" + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored: with
that much entropy a slow password hash adds nothing, and a fast one keeps each API request cheap.
Lookup is by the first PREFIX_LENGTH characters, then a constant-time comparison of the digests.
Tokens made before hashing (DRF's 40 hex characters) were migrated the same way, so they keep
working until they expire (gateway_project/migrations/0002).
"""
import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from gateway_project.models import ApiToken
from gateway_project.row_reader import ModelColumns

PREFIX_LENGTH = 12
SCHEME = "mrg_"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write per token per minute


class TokenRefused(Exception):
    """A token cannot be made as asked (bad name or lifetime): HTTP 400."""


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue(user, name: str, days: int | None = None) -> tuple[ApiToken, str]:
    """Make a token for `user`; returns the row and the secret, which is never stored or shown again."""
    name = (name or "").strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise TokenRefused("Give the token a name of 1-100 printable characters.")
    days = settings.API_TOKEN_DAYS if days is None else days
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise TokenRefused(f"A token lasts 1 to {settings.API_TOKEN_MAX_DAYS} days (API_TOKEN_MAX_DAYS).")
    for _ in range(5):  # a prefix collision (48 random bits) is rare; try again with a new secret
        raw = SCHEME + secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(user=user, name=name, prefix=raw[:PREFIX_LENGTH], digest=digest(raw),
                                                expires_at=timezone.now() + timedelta(days=days))
            return token, raw
        except IntegrityError:
            continue
    raise RuntimeError("could not find a free token prefix")


TOKEN_COLUMNS = ModelColumns(ApiToken, "t")
USER_COLUMNS = ModelColumns(get_user_model(), "u")
_LOOKUP_SQL: dict[str, str] = {}  # by database alias


def _find(prefix: str) -> ApiToken | None:
    """ApiToken.objects.select_related("user").filter(prefix=prefix).first(), in SQL written once: it runs
    on every API request, and compiling that queryset cost more than the rest of the request's auth."""
    connection = connections[router.db_for_read(ApiToken)]
    sql = _LOOKUP_SQL.get(connection.alias)
    if sql is None:
        sql = _LOOKUP_SQL[connection.alias] = (
            f"SELECT {TOKEN_COLUMNS.select(connection)}, {USER_COLUMNS.select(connection)} "
            f"FROM {TOKEN_COLUMNS.table(connection)} INNER JOIN {USER_COLUMNS.table(connection)} "
            f"ON {USER_COLUMNS.column(connection, 'id')} = {TOKEN_COLUMNS.column(connection, 'user')} "
            f"WHERE {TOKEN_COLUMNS.column(connection, 'prefix')} = %s")  # prefix is unique: one row at most
    with connection.cursor() as cursor:
        cursor.execute(sql, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    token = TOKEN_COLUMNS.instance(connection, row)
    token.user = USER_COLUMNS.instance(connection, row, len(TOKEN_COLUMNS))
    return token


def check(raw: str) -> ApiToken:
    """The live token `raw` is, with its user; AuthenticationFailed says why not."""
    token = _find(raw[:PREFIX_LENGTH])
    if token is None or not hmac.compare_digest(token.digest, digest(raw)):
        raise exceptions.AuthenticationFailed("Invalid token.")
    if token.revoked_at is not None:
        raise exceptions.AuthenticationFailed("This token was revoked.")
    now = timezone.now()
    if token.expires_at <= now:
        raise exceptions.AuthenticationFailed(
            f"This token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC; sign in to the portal and make a new one.")
    if not token.user.is_active:
        raise exceptions.AuthenticationFailed("User inactive or deleted.")
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def revoke(token: ApiToken) -> ApiToken:
    """Idempotent: revoking a revoked token keeps the first time."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db()
    return token


def owned_by(user):
    return ApiToken.objects.filter(user=user)


class TokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <token>` (or `Bearer <token>`)."""

    keywords = ("token", "bearer")

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Give the token as 'Authorization: Token <token>'.")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if len(raw) > 128:
            raise exceptions.AuthenticationFailed("Invalid token.")
        token = check(raw)
        return token.user, token

    def authenticate_header(self, request):
        return "Token"


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes TokenAuthentication (drf-spectacular finds it by target_class)."""

    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <token>`: make one at POST /api/tokens/ from a portal session."}
