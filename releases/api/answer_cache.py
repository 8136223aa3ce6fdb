"""A release's read answers (its detail, scan report and pages of findings), kept under its ETag.

conditional.release_etag changes whenever anything shown about a release changes (its status, any
save of the release, every event; a scan report, files, the lock and the model files are stored in
the same transaction as the transition that records them). So an answer computed once under a tag is
the answer for as long as the tag stands, and a client that asks again without If-None-Match (a
script polling, a dashboard) costs one indexed query instead of four to seven and the serializing.
A page of findings is kept per address (page, filters, order and the host its links name).
Nothing is invalidated: a change makes a new tag, and the old entry ages out.

Bounded: only answers up to ANSWER_CACHE_MAX_BYTES (as JSON) are kept, in the "answers" cache
(per process, ANSWER_CACHE_ENTRIES entries; in Redis with REDIS_URL) for ANSWER_CACHE_SECONDS.
Authorization is not cached: the view checks the caller and finds the tag through the caller's
visible releases before it looks here, and an answer holds nothing that depends on who asks.
"""
import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.cache import caches
from rest_framework.utils.encoders import JSONEncoder

log = logging.getLogger(__name__)


def _cache():
    return caches["answers"]


def answer(kind: str, etag: str | None, compute: Callable[[], object]) -> object:
    """The answer `kind` for the release state `etag`: remembered, or computed (and remembered if
    small enough). Without a tag (the release is not visible) nothing is cached: compute answers."""
    if etag is None or not settings.ANSWER_CACHE_SECONDS:
        return compute()
    key = f"{kind}:{etag}"
    try:
        found = _cache().get(key)
    except Exception:  # the cache (Redis) is down: a kept answer only saves work, so compute it
        log.warning("answer cache unreadable; computing %s", kind, exc_info=True)
        return compute()
    if found is not None:
        return found
    data = compute()
    # Size as the client gets it; an answer larger than the bound is served, not kept. None (nothing to
    # show yet, a 404) is not kept: it is cheap, and the cache's own "missing".
    if data is not None and len(json.dumps(data, cls=JSONEncoder)) <= settings.ANSWER_CACHE_MAX_BYTES:
        try:
            _cache().set(key, data, settings.ANSWER_CACHE_SECONDS)
        except Exception:
            log.warning("answer cache unwritable; %s served without keeping it", kind, exc_info=True)
    return data
