"""Tokens made before hashing (DRF's authtoken table, plaintext keys) become hashed ApiTokens.

Each keeps working, under the same rule as a new one: it expires API_TOKEN_DAYS after this
migration. The plaintext rows are then deleted, so no secret is left at rest. On a database
that never had DRF's table there is nothing to do.
"""
import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone

LEGACY_TABLE = "authtoken_token"
PREFIX_LENGTH = 12  # as gateway_project.tokens.PREFIX_LENGTH; a migration must not import app code


def hash_legacy_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("gateway_project", "ApiToken")
    expires = timezone.now() + timedelta(days=settings.API_TOKEN_DAYS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {LEGACY_TABLE}")
        rows = cursor.fetchall()
        ApiToken.objects.bulk_create(
            ApiToken(user_id=user_id, name="migrated from a plaintext token", prefix=key[:PREFIX_LENGTH],
                     digest=hashlib.sha256(key.encode()).hexdigest(), created_at=created, expires_at=expires)
            for key, user_id, created in rows)
        cursor.execute(f"DELETE FROM {LEGACY_TABLE}")


class Migration(migrations.Migration):
    dependencies = [("gateway_project", "0001_api_tokens")]
    operations = [migrations.RunPython(hash_legacy_tokens, migrations.RunPython.noop)]
