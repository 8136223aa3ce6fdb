"""Read the advisory tables with plain SQL through any DB-API cursor.

The worker passes Django's connection; `manage.py scan_env` opens its own
connection (sqlite3 or psycopg) so that it can run without setting Django up —
it is a pre-flight command that must start fast. The table names are fixed in
the models' Meta for this reason.
"""
import json
from datetime import UTC, datetime

from releases.scanning import dpkg
from releases.scanning.matcher import CompiledAffected, compile_affected
from releases.scanning.scanner import AdvisoryInfo
from releases.scanning.severity import Level

ADVISORY = "gateway_advisory"
ALIAS = "gateway_advisory_alias"
AFFECTED = "gateway_affected_package"
SYNC = "gateway_advisory_sync"
PYPI = "PyPI"


def _json(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _timestamp(value):
    """A timezone-aware datetime: SQLite hands raw SQL a naive string, which Django stored in UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SqlAdvisoryStore:
    def __init__(self, cursor_factory, placeholder: str = "%s"):
        self.cursor_factory = cursor_factory
        self.ph = placeholder

    def _rows(self, sql: str, params=()) -> list[tuple]:
        with self.cursor_factory() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def _in(self, values) -> str:
        return ", ".join([self.ph] * len(values))

    def snapshot(self) -> tuple[int, datetime] | None:
        rows = self._rows(f"SELECT id, finished_at FROM {SYNC} WHERE outcome = {self.ph} "
                          "ORDER BY finished_at DESC, id DESC LIMIT 1", ("succeeded",))
        return (rows[0][0], _timestamp(rows[0][1])) if rows else None

    def _affected_rows(self, ecosystem: str, names: set[str]):
        ordered = sorted(names)
        for start in range(0, len(ordered), 500):  # stay under SQLite's bound-parameter limit
            chunk = ordered[start:start + 500]
            yield from self._rows(
                f"SELECT p.advisory_id, p.name, p.ranges, p.listed_canonical, p.versions_outside_ranges, "
                f"p.fixed_versions FROM {AFFECTED} p "
                f"JOIN {ADVISORY} a ON a.id = p.advisory_id "
                f"WHERE a.withdrawn IS NULL AND p.ecosystem = {self.ph} AND p.name IN ({self._in(chunk)})",
                [ecosystem, *chunk])

    def affected(self, names: set[str]) -> dict[str, list[CompiledAffected]]:
        """PyPI packages' affected entries, by PEP 503 name."""
        found: dict[str, list[CompiledAffected]] = {name: [] for name in names}
        for advisory_id, name, ranges, listed, outside, fixed in self._affected_rows(PYPI, names):
            found[name].append(compile_affected(advisory_id, name, _json(ranges), listed, _json(outside),
                                                _json(fixed)))
        return found

    def os_affected(self, ecosystem: str, names: set[str]) -> dict[str, list[dpkg.DebianAffected]]:
        """A Debian release's ("Debian:12") affected entries, by source package."""
        found: dict[str, list[dpkg.DebianAffected]] = {name: [] for name in names}
        for advisory_id, name, ranges, listed, _outside, fixed in self._affected_rows(ecosystem, names):
            found[name].append(dpkg.compile_entry(advisory_id, name, _json(ranges), listed or "", _json(fixed)))
        return found

    def advisories_sharing(self, ids: set[str]) -> list[AdvisoryInfo]:
        """The advisories `ids` name, plus every other record sharing one of their aliases."""
        if not ids:
            return []
        given = sorted(ids)
        names = sorted({row[0] for row in self._rows(
            f"SELECT alias FROM {ALIAS} WHERE advisory_id IN ({self._in(given)})", given)} | ids)
        linked = sorted({row[0] for row in self._rows(
            f"SELECT advisory_id FROM {ALIAS} WHERE alias IN ({self._in(names)})", names)} | ids)
        rows = self._rows(
            f"SELECT id, aliases, summary, cvss_score, severity FROM {ADVISORY} "
            f"WHERE withdrawn IS NULL AND id IN ({self._in(linked)})", linked)
        return [AdvisoryInfo(i, tuple(_json(a) or ()), s or "", score, Level(level)) for i, a, s, score, level in rows]
