"""Dependency locks are append-only in the database too, as the audit events are (migration 0020).

A lock changed after it was scanned would let a build install, and an attestation sign, what was never
scanned. The model refuses updates and deletes (releases.models.locks); these triggers refuse them in SQL,
the same way and with the same limits as the events' trigger: PostgreSQL refuses UPDATE and DELETE
(TRUNCATE fires no row trigger: pytest-django's flush relies on it; revoke TRUNCATE in production and do not
let the gateway's role own the table); SQLite refuses UPDATE only, because Django flushes SQLite tables with
DELETE in no fixed order. A lock deleted on SQLite (or edited by a role that drops the trigger) is still
caught: every use re-derives the lock's digest and compares it with the fetch event's record
(releases.locking.shipping). A later migration that rebuilds the SQLite table must create the trigger again
(tests/test_lock_integrity.py checks it exists after the whole migration chain).
"""
from django.db import migrations

TRIGGER = "releases_dependencylock_append_only"
TABLE = "releases_dependencylock"

POSTGRES_GUARD = f"""
CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'dependency locks are append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {TRIGGER}();
"""
POSTGRES_UNGUARD = f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}; DROP FUNCTION IF EXISTS {TRIGGER}();"
SQLITE_GUARD = f"""
CREATE TRIGGER {TRIGGER} BEFORE UPDATE ON {TABLE}
BEGIN SELECT RAISE(ABORT, 'dependency locks are append-only: UPDATE refused'); END;
"""
SQLITE_UNGUARD = f"DROP TRIGGER IF EXISTS {TRIGGER};"


def guard(apps, schema_editor):
    sql = {"postgresql": POSTGRES_GUARD, "sqlite": SQLITE_GUARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)  # no placeholders: plpgsql uses % itself


def unguard(apps, schema_editor):
    sql = {"postgresql": POSTGRES_UNGUARD, "sqlite": SQLITE_UNGUARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("releases", "0025_model_file_scan"),
    ]

    operations = [
        migrations.RunPython(guard, unguard),
    ]
