"""ModelColumns (gateway_project/row_reader.py) reads a row as the ORM does, on PostgreSQL and SQLite; the
token lookup that uses it finds what the ORM's queryset finds, field for field."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gateway_project import tokens
from gateway_project.models import ApiToken
from gateway_project.row_reader import ModelColumns

pytestmark = pytest.mark.django_db


def fields_of(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_the_token_lookup_reads_what_the_orm_reads_and_caches_the_user(owner):
    token, raw = tokens.issue(owner, "ci")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(hours=1),
                                                revoked_at=timezone.now())
    owner.last_login = timezone.now()
    owner.save()
    orm = ApiToken.objects.select_related("user").get(prefix=raw[:tokens.PREFIX_LENGTH])
    with CaptureQueriesContext(connection) as queries:
        found = tokens._find(raw[:tokens.PREFIX_LENGTH])
        user = found.user  # the join's user: no second query
    assert len(queries) == 1
    assert fields_of(found) == fields_of(orm) and fields_of(user) == fields_of(orm.user)
    assert found.expires_at.tzinfo is not None and user.is_active is True and isinstance(user.is_staff, bool)
    assert found._state.db == orm._state.db and not found._state.adding  # a saved row, as from a queryset
    assert tokens._find("mrg_nothere00") is None


def test_a_revoked_token_found_this_way_is_still_refused(owner):
    token, raw = tokens.issue(owner, "ci")
    tokens.revoke(token)
    with pytest.raises(Exception, match="revoked"):
        tokens.check(raw)


@pytest.fixture
def sqlite(tmp_path):
    """A SQLite database of its own beside the test database, with the user and token tables."""
    alias = "row-reader-sqlite"
    connections[alias] = DatabaseWrapper(
        {"NAME": str(tmp_path / "db.sqlite3"), "OPTIONS": {}, "ATOMIC_REQUESTS": False, "AUTOCOMMIT": True,
         "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": False, "TIME_ZONE": None, "USER": "", "PASSWORD": "", "HOST": "",
         "PORT": "", "TEST": {}, "ENGINE": "django.db.backends.sqlite3"}, alias=alias)
    try:
        with connections[alias].schema_editor() as editor:
            editor.create_model(User)
            editor.create_model(ApiToken)
        yield connections[alias]
    finally:
        connections[alias].close()
        del connections[alias]


def test_sqlite_rows_get_the_orms_conversions_booleans_and_aware_times(sqlite):
    """SQLite stores booleans as 0/1 and times as text: the ORM's converters, not the raw values."""
    user = User.objects.using(sqlite.alias).create(username="reader", is_staff=True, is_active=False,
                                                   last_login=timezone.now())
    token = ApiToken.objects.using(sqlite.alias).create(user=user, name="n", prefix="mrg_abc", digest="d" * 64,
                                                        expires_at=timezone.now() + timedelta(days=1))
    columns = ModelColumns(User, "u")
    with sqlite.cursor() as cursor:
        cursor.execute(f"SELECT {columns.select(sqlite)} FROM {columns.table(sqlite)}")
        raw_row = cursor.fetchone()
    assert raw_row[[f.attname for f in columns.fields].index("is_staff")] == 1  # what SQLite gives back
    read = columns.instance(sqlite, raw_row)
    assert fields_of(read) == fields_of(User.objects.using(sqlite.alias).get())
    assert read.is_staff is True and read.is_active is False and read.last_login.tzinfo is not None
    token_columns = ModelColumns(ApiToken, "t")
    with sqlite.cursor() as cursor:
        cursor.execute(f"SELECT {token_columns.select(sqlite)} FROM {token_columns.table(sqlite)}")
        read_token = token_columns.instance(sqlite, cursor.fetchone())
    assert fields_of(read_token) == fields_of(ApiToken.objects.using(sqlite.alias).get(pk=token.pk))
    assert read_token._state.db == sqlite.alias
