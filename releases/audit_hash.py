"""What an audit event's chain hash covers, byte for byte (format "mrg-audit-v1", frozen).

    chain_hash = hex(SHA-256(canonical JSON of {
        "chain": "mrg-audit-v1",
        "release": <release id>, "sequence": <1, 2, 3… within the release>,
        "from_status": "...", "to_status": "...",
        "actor": <user id or null>, "actor_username": "<the username when the event was written>",
        "message": "...", "data": <the event's data>,
        "created_at": "YYYY-MM-DDTHH:MM:SS.ffffffZ"   (UTC, always six fraction digits),
        "previous": <the chain_hash of the release's previous event; 64 zeros for sequence 1>,
    }))

Canonical JSON: UTF-8; object keys sorted by code point; no whitespace; strings escaped only where
JSON requires it (", \\ and control characters; everything else, non-ASCII included, as itself);
true, false, null; numbers as their exact decimal value in plain notation (no exponent, no "+",
no trailing fraction zeros, no "." when integral, zero as 0: 1e2, 100.0 and 100 are all 100).

Why numbers are written that way: the database gives back the value it was given, not its
spelling. PostgreSQL's jsonb stores numbers as exact decimals and returns 1e2 as 100, 1e300 as
a 301-digit integer and 1.0 as 1.0, which Python then reads as an int or a float. Python writes
a float as the shortest decimal that reads back as the same float, so that decimal's value is
what every database keeps; hashing the value (not the text) gives the same bytes at write time
and at every later verification, on PostgreSQL and on SQLite alike. NaN and infinities have no
JSON form (neither database stores them) and are refused.

Only the Python standard library is used, so any verifier (or an auditor's script over a database
dump) can recompute a chain without the gateway.
"""
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) writes for a str, minus the setup

CHAIN_FORMAT = "mrg-audit-v1"
GENESIS = "0" * 64  # the "previous" of a release's first event
HASHED_FIELDS = ("release", "sequence", "from_status", "to_status", "actor", "actor_username", "message", "data",
                 "created_at")


def canonical_event(fields: Mapping, previous: str) -> bytes:
    """The bytes that are hashed: `fields` holds HASHED_FIELDS (created_at an aware datetime)."""
    document = {name: fields[name] for name in HASHED_FIELDS}
    document["created_at"] = utc_timestamp(fields["created_at"])
    document["chain"] = CHAIN_FORMAT
    document["previous"] = previous
    return _encode(document).encode("utf-8")


def chain_hash(fields: Mapping, previous: str) -> str:
    return hashlib.sha256(canonical_event(fields, previous)).hexdigest()


def canonical_data(data) -> str:
    """Raises ValueError or TypeError for data with no canonical form (checked before any write)."""
    return _encode(data)


def utc_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")  # a naive time has no single UTC reading
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _encode(value) -> str:
    # bool before int: True is an int in Python, and must stay `true`.
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, list):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("object keys must be strings (store the data as JSON first)")
        return "{" + ",".join(encode_basestring(key) + ":" + _encode(value[key])
                              for key in sorted(value)) + "}"
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


def _number(value: int | float) -> str:
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinities have no JSON form")
        exact = Decimal(repr(value))  # the decimal Python wrote into the JSON, hence what the database kept
    else:
        exact = Decimal(value)
    if exact == 0:
        return "0"  # -0.0 comes back from PostgreSQL as 0
    text = format(exact, "f")  # exact: Decimal.normalize() would round to the context's 28 digits
    return text.rstrip("0").rstrip(".") if "." in text else text
