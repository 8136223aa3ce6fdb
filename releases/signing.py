"""Signed webhooks in both directions (build requests out, completion callbacks in).

Headers: X-Gateway-Delivery (a unique id), X-Gateway-Timestamp (unix seconds) and
X-Gateway-Signature: "v1,<base64 HMAC-SHA256(secret, '<delivery>.<timestamp>.<raw body>')>".
Several space-separated "v1," signatures may be sent and several secrets accepted, so a
secret can be rotated without downtime. Comparison is constant-time.
"""
import base64
import hashlib
import hmac

TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """Missing, malformed, stale or wrong signature (HTTP 401)."""


def signature(secret: str, delivery: str, timestamp: str, body: bytes) -> str:
    payload = f"{delivery}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, delivery: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"X-Gateway-Delivery": delivery, "X-Gateway-Timestamp": str(timestamp),
            "X-Gateway-Signature": signature(secret, delivery, str(timestamp), body)}


def verify(delivery: str | None, timestamp: str | None, sent: str | None, body: bytes, secrets: list[str],
           now: float, tolerance: int = TOLERANCE_SECONDS) -> None:
    if not secrets:
        raise SignatureError("No callback secret is configured.")
    if not delivery or not timestamp or not sent:
        raise SignatureError("Missing X-Gateway-Delivery, X-Gateway-Timestamp or X-Gateway-Signature.")
    if len(delivery) > 128:
        raise SignatureError("X-Gateway-Delivery is too long.")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        # checked before int(): a 309-digit number would overflow the float comparison below
        raise SignatureError("X-Gateway-Timestamp must be unix seconds.")
    try:
        stamp = int(timestamp)
    except ValueError:
        raise SignatureError("X-Gateway-Timestamp must be unix seconds.") from None
    if abs(now - stamp) > tolerance:
        raise SignatureError(f"Timestamp outside the accepted window of ±{tolerance} s.")
    offered = [part for part in sent.split() if part.startswith("v1,")]
    expected = [signature(secret, delivery, timestamp, body) for secret in secrets]
    # Compare every pair (no early exit on a match), each in constant time.
    matched = False
    for candidate in offered:
        for wanted in expected:
            matched |= hmac.compare_digest(candidate.encode(), wanted.encode())
    if not matched:
        raise SignatureError("Signature does not match.")
