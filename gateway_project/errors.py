"""What a request that fails gets: a clear 400 for input no database can hold, a 503 during a
database outage, and never a page that shows internals.

Django turns an exception from a view or a middleware into a call of `server_error` (handler500,
with the exception still current), so one function sees every unhandled failure on every path.
"""
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

DATABASE_RETRY_AFTER_SECONDS = 15


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _answer(request, status: int, detail: str, headers: dict | None = None):
    if _is_api(request) or "json" in request.headers.get("Accept", ""):
        response = JsonResponse({"detail": detail}, status=status)
    else:
        response = HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _database_unreachable(exc: BaseException | None) -> bool:
    """Lost or refused connections, not errors in a query (those are bugs: 500)."""
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, OperationalError):
        text = str(exc).lower()
        # SQLite's "database is locked" is contention, not an outage, but the answer is the same: retry.
        return not any(sign in text for sign in ("syntax error", "no such table", "no such column"))
    return False


def server_error(request, *args, **kwargs):
    exc = sys.exc_info()[1]
    if _database_unreachable(exc):
        return _answer(request, 503, "The database is unavailable; try again shortly.",
                       {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})
    return _answer(request, 500, "The request failed on the server; it has been logged.")


class RejectNulMiddleware:
    """A NUL character in the path or the query string is refused with 400.

    No stored name can contain one, and PostgreSQL refuses it in any text parameter
    ("A string literal cannot contain NUL"), which would otherwise be a 500 on every lookup.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any("\x00" in key or any("\x00" in value for value in request.GET.getlist(key))
                                          for key in request.GET):
            return _answer(request, 400, "The URL contains a NUL character.")
        return self.get_response(request)


def not_found(request, exception=None):
    """JSON under /api/ (clients parse it); a short page elsewhere. The tried patterns are never listed."""
    return _answer(request, 404, "Not found.")


def bad_request(request, exception=None):
    return _answer(request, 400, "Bad request.")


# Query parameters that may be given more than once (the filters built on MultipleChoiceFilter:
# releases/api/filters.py). Any other parameter given twice is ambiguous: refused, not guessed.
REPEATABLE_PARAMETERS = {"status", "severity"}


class RejectRepeatedParametersMiddleware:
    """`?environment=a&environment=b` is a 400 under /api/, where each parameter has one meaning."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            repeated = sorted(key for key in request.GET if key not in REPEATABLE_PARAMETERS
                              and len(request.GET.getlist(key)) > 1)
            if repeated:
                return _answer(request, 400, f"Give each of these parameters once: {', '.join(repeated)}.")
        return self.get_response(request)


class QuietOutageFilter:
    """On the django.request logger: a request refused during a database outage is logged as one
    line, without its traceback. The outage itself is news once; 1,538 tracebacks in 10 s are not."""

    def filter(self, record) -> bool:
        if getattr(record, "status_code", None) == 503 and record.exc_info and \
                _database_unreachable(record.exc_info[1]):
            record.exc_info = None
            record.exc_text = None
        return True
