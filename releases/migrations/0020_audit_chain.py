"""Tamper-evident audit: each event's sequence and chain hash; the database refuses to change events.

The new columns are filled for the events already stored (in created_at, id order per release,
1000 at a time) before the unique (release, sequence) constraint and the trigger are created.

The trigger: on PostgreSQL it refuses UPDATE and DELETE of any event row. TRUNCATE fires no row
trigger, which pytest-django's flush between transactional tests relies on; revoke TRUNCATE from
the gateway's database role in production (and do not let it own the table, or it can drop the
trigger). On SQLite it refuses UPDATE only: Django flushes SQLite tables with DELETE, in no fixed
order, so a DELETE trigger would break every transactional test and `manage.py flush`. A deleted
event is still caught by verify_audit_log (a gap, or a status no event leads to). A later migration
that rebuilds the SQLite table (AlterField) drops the trigger with the old table and must create it
again: tests/test_audit_chain.py checks it exists after the whole migration chain.
"""
from django.db import migrations, models
from django.db.models import Q
from django.utils import timezone

from releases import audit_hash  # format mrg-audit-v1 is frozen: this migration's hashes stay valid

BATCH = 1000
TRIGGER = "releases_event_append_only"

POSTGRES_GUARD = f"""
CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'release events are append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON releases_releaseevent
    FOR EACH ROW EXECUTE FUNCTION {TRIGGER}();
"""
POSTGRES_UNGUARD = f"DROP TRIGGER IF EXISTS {TRIGGER} ON releases_releaseevent; DROP FUNCTION IF EXISTS {TRIGGER}();"
SQLITE_GUARD = f"""
CREATE TRIGGER {TRIGGER} BEFORE UPDATE ON releases_releaseevent
BEGIN SELECT RAISE(ABORT, 'release events are append-only: UPDATE refused'); END;
"""
SQLITE_UNGUARD = f"DROP TRIGGER IF EXISTS {TRIGGER};"

COLUMNS = ("id", "release_id", "from_status", "to_status", "actor_id", "actor__username", "message", "data",
           "created_at")


def backfill(apps, schema_editor):
    """Chain the stored events, a bounded batch at a time (keyset on release, created_at, id)."""
    event_model = apps.get_model("releases", "ReleaseEvent")
    events = event_model.objects.using(schema_editor.connection.alias).order_by("release_id", "created_at", "id")
    release_id, sequence, previous, after = None, 0, audit_hash.GENESIS, None
    while True:
        batch = events if after is None else events.filter(
            Q(release_id__gt=after[0]) | Q(release_id=after[0], created_at__gt=after[1])
            | Q(release_id=after[0], created_at=after[1], id__gt=after[2]))
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in batch.values_list(*COLUMNS)[:BATCH]]
        if not rows:
            return
        updates = []
        for row in rows:
            if row["release_id"] != release_id:
                release_id, sequence, previous = row["release_id"], 0, audit_hash.GENESIS
            sequence += 1
            username = row["actor__username"] or ""  # the name today: the best record of it there is
            previous = audit_hash.chain_hash({
                "release": release_id, "sequence": sequence, "from_status": row["from_status"],
                "to_status": row["to_status"], "actor": row["actor_id"], "actor_username": username,
                "message": row["message"], "data": row["data"], "created_at": row["created_at"]}, previous)
            updates.append((sequence, previous, username, row["id"]))
        with schema_editor.connection.cursor() as cursor:
            cursor.executemany("UPDATE releases_releaseevent SET sequence = %s, chain_hash = %s, actor_username = %s "
                               "WHERE id = %s", updates)
        last = rows[-1]
        after = (last["release_id"], last["created_at"], last["id"])


def guard(apps, schema_editor):
    sql = {"postgresql": POSTGRES_GUARD, "sqlite": SQLITE_GUARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)  # no placeholders: plpgsql uses % itself


def unguard(apps, schema_editor):
    sql = {"postgresql": POSTGRES_UNGUARD, "sqlite": SQLITE_UNGUARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)  # no placeholders: plpgsql uses % itself


class Migration(migrations.Migration):

    dependencies = [
        ("releases", "0019_finding_severity_rank"),
    ]

    operations = [
        migrations.AlterField(
            model_name="releaseevent",
            name="created_at",
            field=models.DateTimeField(db_index=True, default=timezone.now, editable=False),
        ),
        migrations.AddField(
            model_name="releaseevent",
            name="actor_username",
            field=models.CharField(blank=True, editable=False, max_length=150),
        ),
        migrations.AddField(
            model_name="releaseevent",
            name="sequence",
            field=models.PositiveIntegerField(editable=False, null=True, help_text="1, 2, 3… within the release."),
        ),
        migrations.AddField(
            model_name="releaseevent",
            name="chain_hash",
            field=models.CharField(default="", editable=False, max_length=64,
                                   help_text="SHA-256 over this event and the previous event's hash."),
            preserve_default=False,
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="releaseevent",
            name="sequence",
            field=models.PositiveIntegerField(editable=False, help_text="1, 2, 3… within the release."),
        ),
        migrations.AddConstraint(
            model_name="releaseevent",
            constraint=models.UniqueConstraint(fields=("release", "sequence"), name="release_event_sequence_unique"),
        ),
        migrations.RunPython(guard, unguard),
    ]
