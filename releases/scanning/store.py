"""The advisory store the worker uses: SQL through Django's connection, cached per process.

Compiling an advisory (parsing its versions) costs far more than matching it,
so compiled entries are kept per package name until the next advisory sync
(the snapshot id changes), then dropped.
"""
import gc
import threading

from django.db import connection

from releases.scanning.dpkg import DebianAffected
from releases.scanning.matcher import CompiledAffected
from releases.scanning.scanner import AdvisoryInfo
from releases.scanning.sqlstore import SqlAdvisoryStore

_lock = threading.Lock()
_cache: dict = {"snapshot": None, "affected": {}, "infos": {}, "vulnerabilities": {}, "findings": {}}
MAX_CACHED_LOOKUPS = 10_000


class DatabaseAdvisoryStore:
    def __init__(self, use_cache: bool = True):
        self.sql = SqlAdvisoryStore(connection.cursor)
        self._snapshot = self.sql.snapshot()
        if use_cache:
            with _lock:
                if _cache["snapshot"] != self._snapshot:
                    _cache.update(snapshot=self._snapshot, affected={}, infos={}, vulnerabilities={}, findings={})
                if len(_cache["findings"]) > MAX_CACHED_LOOKUPS:
                    _cache["findings"].clear()
            self._affected, self._infos = _cache["affected"], _cache["infos"]
            # Used by the scanner: per advisory id, and per (name, version, specifier).
            self.vulnerability_cache, self.finding_cache = _cache["vulnerabilities"], _cache["findings"]
        else:
            self._affected, self._infos, self.vulnerability_cache, self.finding_cache = {}, {}, {}, {}

    def snapshot(self):
        return self._snapshot

    def affected(self, names: set[str]) -> dict[str, list[CompiledAffected]]:
        missing = names - self._affected.keys()
        if missing:
            self._affected.update(self.sql.affected(missing))
            # The compiled entries live as long as the snapshot: keep them out of the cyclic
            # garbage collector's full passes, which otherwise walk them all (100+ ms pauses).
            # They hold no reference cycles, so refcounting still frees them when dropped.
            gc.freeze()
        return {name: self._affected[name] for name in names}

    def os_affected(self, ecosystem: str, names: set[str]) -> dict[str, list[DebianAffected]]:
        key = {name: (ecosystem, name) for name in names}
        missing = {name for name in names if key[name] not in self._affected}
        if missing:
            self._affected.update({key[name]: entries for name, entries in self.sql.os_affected(ecosystem, missing)
                                   .items()})
        return {name: self._affected[key[name]] for name in names}

    def advisories_sharing(self, ids: set[str]) -> list[AdvisoryInfo]:
        key = frozenset(ids)
        if key not in self._infos:
            infos = self.sql.advisories_sharing(ids)
            if len(self._infos) >= MAX_CACHED_LOOKUPS:
                self._infos.clear()
            self._infos[key] = infos
        return self._infos[key]
