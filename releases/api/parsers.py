"""JSON bodies, read with bounds: the API's parser and the build callback both use `loads`.

Python's json module recurses once per nesting level, so a body nested ~1,000 deep raises
RecursionError (an unauthenticated 500 on the callback). Nothing the gateway accepts is
nested more than a few levels, so anything deeper than MAX_DEPTH is refused as a 400
before or after parsing, whichever comes first.
"""
import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


class JSONBodyError(ValueError):
    """Not JSON, or nested too deeply: the request is at fault (HTTP 400)."""


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> object:
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise JSONBodyError(f"The JSON body is nested deeper than {max_depth} levels.") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise JSONBodyError(f"The body is not valid JSON: {exc}") from None
    if _depth(data) > max_depth:
        raise JSONBodyError(f"The JSON body is nested deeper than {max_depth} levels.")
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")  # NaN, Infinity: Python accepts them, JSON does not


def _depth(data: object) -> int:
    """Nesting depth without recursion (the document may be up to ~1,000 deep)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            deepest = max(deepest, level)
            stack.extend((item, level + 1) for item in value.values())
        elif isinstance(value, list):
            deepest = max(deepest, level)
            stack.extend((item, level + 1) for item in value)
    return deepest


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with `loads`' bounds; the body size is bounded by DATA_UPLOAD_MAX_MEMORY_SIZE."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads(stream.read().decode(encoding))
        except UnicodeDecodeError:
            raise ParseError(f"The body is not {encoding} text.") from None
        except JSONBodyError as exc:
            raise ParseError(str(exc)) from None
