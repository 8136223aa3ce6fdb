"""DSSE envelopes (github.com/secure-systems-lab/dsse, v1) around in-toto Statements, and their one verifier.

PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN the byte length in ASCII
decimal: the signature covers the payload type too, so a payload cannot be re-labelled. The envelope
is {"payloadType", "payload": base64(body), "signatures": [{"keyid", "sig": base64(signature)}]}.

`verify_envelope` is the only place that decides whether an attestation is good: the
verify_release command, `verify_stored` (admin) and the tests all call it.
"""
import base64
import binascii
import json
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from releases.evidence.canonical import canonical_json
from releases.evidence.keys import key_id

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
# The gateway's own predicate: what it knew when it released an image (README, "Release evidence").
PREDICATE_TYPE = "https://model-release-gateway.dev/attestation/release/v1"
MAX_ENVELOPE_BYTES = 4 * 1024 * 1024  # a real one is a few KB to a few hundred KB (approvals, waivers)


def pae(payload_type: str, body: bytes) -> bytes:
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def sign(statement: dict, private_key: Ed25519PrivateKey) -> bytes:
    """The envelope's bytes (canonical JSON), as stored, served and pushed."""
    body = canonical_json(statement)
    signature = private_key.sign(pae(PAYLOAD_TYPE, body))
    return canonical_json({"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(body).decode(),
                           "signatures": [{"keyid": key_id(private_key.public_key()),
                                           "sig": base64.b64encode(signature).decode()}]})


@dataclass
class Verification:
    ok: bool
    problems: list[str] = field(default_factory=list)
    statement: dict | None = None  # only when the signature verified: never read an unverified payload

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)


def _b64(text, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{what} is not a string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None


def _signed_by(envelope: dict, body: bytes, public_key: Ed25519PublicKey) -> bool:
    """Any signature that verifies under the key counts; a keyid is only a hint (it is not signed)."""
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise ValueError("the envelope has no signatures")
    message = pae(envelope["payloadType"], body)
    for entry in signatures[:16]:
        if not isinstance(entry, dict):
            continue
        try:
            public_key.verify(_b64(entry.get("sig"), "a signature"), message)
            return True
        except (InvalidSignature, ValueError):
            continue
    return False


def _subject_problems(statement: dict, digest: str | None, name: str | None,
                      predicate_type: str = PREDICATE_TYPE) -> list[str]:
    problems = []
    if statement.get("_type") != STATEMENT_TYPE:
        problems.append(f"the payload is not an in-toto Statement v1 (_type {statement.get('_type')!r})")
    if statement.get("predicateType") != predicate_type:
        problems.append(f"unexpected predicateType {statement.get('predicateType')!r} (expected {predicate_type})")
    subjects = statement.get("subject") if isinstance(statement.get("subject"), list) else []
    digests = {f"sha256:{s['digest'].get('sha256')}": s.get("name") for s in subjects
               if isinstance(s, dict) and isinstance(s.get("digest"), dict)}
    if not digests:
        problems.append("the statement names no subject digest")
    elif digest is not None and digest not in digests:
        problems.append(f"the attestation is for {', '.join(sorted(digests))}, not for {digest}")
    elif digest is not None and name is not None and digests[digest] != name:
        problems.append(f"the attestation names the image {digests[digest]!r}, not {name!r}")
    return problems


def verify_envelope(raw: bytes, public_key: Ed25519PublicKey, digest: str | None = None,
                    name: str | None = None, predicate_type: str = PREDICATE_TYPE) -> Verification:
    """Is `raw` a DSSE envelope signed by `public_key`, carrying a gateway release Statement for image
    `digest` ("sha256:<hex>"; None: any) in repository `name` (None: any)? Every problem is named."""
    if len(raw) > MAX_ENVELOPE_BYTES:
        return Verification(False, [f"the envelope is larger than {MAX_ENVELOPE_BYTES} bytes"])
    try:
        envelope = json.loads(raw)
        if not isinstance(envelope, dict):
            raise ValueError("the envelope is not a JSON object")
        if envelope.get("payloadType") != PAYLOAD_TYPE:
            raise ValueError(f"payloadType is {envelope.get('payloadType')!r}, not {PAYLOAD_TYPE}")
        body = _b64(envelope.get("payload"), "the payload")
        if not _signed_by(envelope, body, public_key):
            return Verification(False, ["no signature in the envelope verifies with this key (wrong key, "
                                        "or the payload or signature was changed)"])
        statement = json.loads(body)
        if not isinstance(statement, dict):
            raise ValueError("the payload is not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        return Verification(False, [f"not a valid envelope: {exc}"])
    problems = _subject_problems(statement, digest, name, predicate_type)
    return Verification(not problems, problems, statement)
