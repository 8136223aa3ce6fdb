"""The advisory store read from the database, with a per-process cache.

Compiling an advisory (parsing its versions) costs far more than matching it,
so compiled entries are kept per package name until the next advisory sync
(the snapshot id changes), then dropped.
"""
import threading
from datetime import datetime

from releases.models import Advisory, AdvisoryAlias, AdvisorySync, AffectedPackage
from releases.scanning.matcher import CompiledAffected, compile_affected
from releases.scanning.scanner import AdvisoryInfo
from releases.scanning.severity import Level

_lock = threading.Lock()
_cache: dict = {"snapshot": None, "affected": {}, "infos": {}}


def latest_snapshot() -> tuple[int, datetime] | None:
    row = (AdvisorySync.objects.filter(outcome=AdvisorySync.Outcome.SUCCEEDED)
           .order_by("-finished_at", "-id").values_list("id", "finished_at").first())
    return (row[0], row[1]) if row else None


class DatabaseAdvisoryStore:
    def __init__(self, use_cache: bool = True):
        self.use_cache = use_cache
        self._snapshot = latest_snapshot()
        if use_cache:
            with _lock:
                if _cache["snapshot"] != self._snapshot:
                    _cache.update(snapshot=self._snapshot, affected={}, infos={})
            self._affected, self._infos = _cache["affected"], _cache["infos"]
        else:
            self._affected, self._infos = {}, {}

    def snapshot(self):
        return self._snapshot

    def affected(self, names: set[str]) -> dict[str, list[CompiledAffected]]:
        missing = names - self._affected.keys()
        if missing:
            loaded: dict[str, list[CompiledAffected]] = {name: [] for name in missing}
            rows = (AffectedPackage.objects.filter(name__in=missing, advisory__withdrawn__isnull=True)
                    .values_list("advisory_id", "name", "ranges", "versions", "fixed_versions"))
            for advisory_id, name, ranges, versions, fixed in rows:
                loaded[name].append(compile_affected(advisory_id, name, ranges, versions, fixed))
            self._affected.update(loaded)
        return {name: self._affected[name] for name in names}

    def advisories_sharing(self, ids: set[str]) -> list[AdvisoryInfo]:
        """The advisories `ids` name, plus every other record sharing one of their aliases."""
        if not ids:
            return []
        key = frozenset(ids)
        if key in self._infos:
            return self._infos[key]
        names = set(ids) | set(AdvisoryAlias.objects.filter(advisory_id__in=ids).values_list("alias", flat=True))
        linked_ids = set(AdvisoryAlias.objects.filter(alias__in=names).values_list("advisory_id", flat=True)) | ids
        rows = (Advisory.objects.filter(pk__in=linked_ids, withdrawn__isnull=True)
                .values_list("id", "aliases", "summary", "cvss_score", "severity"))
        infos = [AdvisoryInfo(i, tuple(a), s, score, Level(level)) for i, a, s, score, level in rows]
        if len(self._infos) < 10000:
            self._infos[key] = infos
        return infos
