"""Conditional GET for a release: the portal polls with If-None-Match and mostly gets a 304.

The tag changes whenever anything shown about a release changes: every change is a status change or an
event (approvals, scans, builds and notes all record one), so (status, updated_at, newest event id) is
enough, and it costs one indexed query instead of serializing the release.
"""
from django.db.models import Max
from django.utils.http import parse_etags, quote_etag

from releases.models import Release


def release_etag(release_id: int) -> str | None:
    row = (Release.objects.filter(pk=release_id).annotate(last_event=Max("events__id"))
           .values_list("status", "updated_at", "last_event").first())
    if row is None:
        return None
    status, updated_at, last_event = row
    return quote_etag(f"r{release_id}-{status}-{updated_at.timestamp():.6f}-{last_event or 0}")


def matches(request, etag: str) -> bool:
    wanted = request.headers.get("If-None-Match", "")
    return bool(wanted) and (etag in parse_etags(wanted) or "*" in parse_etags(wanted))
