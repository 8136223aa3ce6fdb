"""Conditional GET for a release: the portal polls with If-None-Match and mostly gets a 304.

The tag changes whenever anything shown about a release changes: every change is a status change or an
event (approvals, scans, builds and notes all record one), so (status, updated_at, newest event id) is
enough, and it costs one indexed query instead of serializing the release.
"""
from django.db.models import Max, QuerySet
from django.utils.http import parse_etags, quote_etag

from releases.models import Release


def release_etag(visible: QuerySet[Release], release_id: int) -> str | None:
    """The tag of release `release_id`, or None if it is not in `visible` (the caller's queryset, so the
    same releases answer 404 with or without If-None-Match)."""
    row = (visible.filter(pk=release_id).order_by().values("status", "updated_at")
           .annotate(last_event=Max("events__id")).values_list("status", "updated_at", "last_event")[:1])
    row = row[0] if row else None
    if row is None:
        return None
    status, updated_at, last_event = row
    return quote_etag(f"r{release_id}-{status}-{updated_at.timestamp():.6f}-{last_event or 0}")


def matches(request, etag: str) -> bool:
    wanted = request.headers.get("If-None-Match", "")
    return bool(wanted) and (etag in parse_etags(wanted) or "*" in parse_etags(wanted))
