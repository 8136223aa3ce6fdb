"""Helpers for the audit-chain tests: lifting the database's guard the way an attacker with DDL rights would."""
import importlib
from contextlib import contextmanager

from django.db import connection

from releases.audit_chain import GUARD_TRIGGER

MIGRATION = importlib.import_module("releases.migrations.0020_audit_chain")
TABLE = "releases_releaseevent"


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@contextmanager
def unguarded():
    """The append-only trigger lifted for the block, put back after it."""
    if connection.vendor == "postgresql":
        # ALTER TABLE waits for no deferred foreign-key check of this transaction: run them now.
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql(f"ALTER TABLE {TABLE} DISABLE TRIGGER {GUARD_TRIGGER}")
    else:
        sql(f"DROP TRIGGER {GUARD_TRIGGER}")
    try:
        yield
    finally:
        if connection.vendor == "postgresql":
            sql("SET CONSTRAINTS ALL IMMEDIATE")
            sql(f"ALTER TABLE {TABLE} ENABLE TRIGGER {GUARD_TRIGGER}")
            sql("SET CONSTRAINTS ALL DEFERRED")
        else:
            sql(MIGRATION.SQLITE_GUARD)


def drop_sequence_constraint() -> None:
    """Let a second event take a taken sequence (inside a test's transaction, which puts it back)."""
    if connection.vendor == "postgresql":
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql(f"ALTER TABLE {TABLE} DROP CONSTRAINT release_event_sequence_unique")
    else:
        sql("DROP INDEX release_event_sequence_unique")
