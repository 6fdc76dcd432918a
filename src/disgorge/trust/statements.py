"""Signed statements: what a person says about the catalog (a request, an approval, a roster change),
signed with their own key, so that nobody else, the catalog's operator included, can say it for them.

A statement is one JSON object; its signature is Ed25519 over ``disgorge-statement/1\\n`` followed by
the statement's RFC 8785 canonical JSON. That payload never ends in a newline (a C2SP note body always
does) and never starts with ``{`` (a certificate's payload does), so no signature of one kind can pass
for another. Statements name the catalog they are about (``catalog``) and the thing they are about
(``about``: a plan id, a principal name), so one cannot be replayed into another catalog or plan::

    {"format": "disgorge-statement/1", "kind": "erasure.approve", "catalog": "<catalog id>",
     "about": "<plan id>", "principal": "bea", "key": "<bea's verifier key>", "at": "<RFC 3339>",
     "body": {...}}
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature

from disgorge.errors import VerificationFailed
from disgorge.hashing.canonical import canonical_json
from disgorge.ledger.note import NoteVerifier
from disgorge.trust.identity import Identity
from disgorge.trust.names import normalise_name

FORMAT = "disgorge-statement/1"
DOMAIN = b"disgorge-statement/1\n"
KINDS = (
    "roster.genesis",
    "roster.add",
    "roster.update",
    "roster.revoke",
    "erasure.request",
    "erasure.approve",
    "erasure.execute",
    "erasure.executed",
    "erasure.resolve",
    "notice.ack",
    "recipient.set",
)
_FIELDS = ("format", "kind", "catalog", "about", "principal", "key", "at", "body")


@dataclass(frozen=True)
class Signed:
    """A statement and its signature, as stored in the ledger and carried in certificates."""

    statement: dict[str, Any]
    signature: str

    @property
    def kind(self) -> str:
        return str(self.statement["kind"])

    @property
    def principal(self) -> str:
        return str(self.statement["principal"])

    @property
    def key(self) -> str:
        return str(self.statement["key"])

    @property
    def about(self) -> str:
        return str(self.statement["about"])

    @property
    def body(self) -> dict[str, Any]:
        return dict(self.statement["body"])

    def to_json(self) -> dict[str, Any]:
        return {"statement": self.statement, "signature": self.signature}


def payload(statement: dict[str, Any]) -> bytes:
    return DOMAIN + canonical_json(statement)


def sign(
    identity: Identity,
    kind: str,
    *,
    catalog: str,
    about: str,
    body: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Signed:
    if kind not in KINDS:
        raise ValueError(f"unknown statement kind {kind!r}")
    statement = {
        "format": FORMAT,
        "kind": kind,
        "catalog": catalog,
        "about": about,
        "principal": identity.name,
        "key": identity.public_key,
        "at": (at or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "body": body or {},
    }
    return Signed(statement, base64.b64encode(identity.sign(payload(statement))).decode())


def parse(doc: Any, what: str = "statement") -> Signed:
    """A signed statement from its JSON form, checked for shape (not yet for trust)."""
    if not isinstance(doc, dict) or set(doc) != {"statement", "signature"}:
        raise VerificationFailed(f"{what}: expected an object with 'statement' and 'signature'")
    st, sig = doc["statement"], doc["signature"]
    if not isinstance(st, dict) or set(st) != set(_FIELDS) or not isinstance(sig, str):
        raise VerificationFailed(f"{what}: malformed (fields {sorted(st) if isinstance(st, dict) else st!r})")
    if st["format"] != FORMAT or st["kind"] not in KINDS:
        raise VerificationFailed(f"{what}: unknown format or kind ({st['format']!r}, {st['kind']!r})")
    for f in ("catalog", "about", "principal", "key", "at"):
        if not isinstance(st[f], str):
            raise VerificationFailed(f"{what}: {f} must be a string")
    if not isinstance(st["body"], dict):
        raise VerificationFailed(f"{what}: body must be an object")
    return Signed(st, sig)


def verify_signature(signed: Signed, what: str = "statement") -> NoteVerifier:
    """Check the statement is signed by the key it names, under the name it names; returns that key.

    Whether that key belongs to that person, and may say this, is the roster's question."""
    try:
        verifier = NoteVerifier.parse(signed.key)
    except Exception as exc:
        raise VerificationFailed(f"{what}: the key it names is malformed ({exc})") from exc
    try:
        name = normalise_name(signed.principal)
    except Exception as exc:
        raise VerificationFailed(f"{what}: the principal name is not a valid name ({exc})") from exc
    if verifier.name != name or name != signed.principal:
        raise VerificationFailed(
            f"{what}: signed as {signed.principal!r} with a key named {verifier.name!r} (lookalike or forged name)"
        )
    try:
        raw = base64.b64decode(signed.signature, validate=True)
        verifier.public_key.verify(raw, payload(signed.statement))
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise VerificationFailed(
            f"{what} by {signed.principal!r}: the signature does not verify (altered or forged)"
        ) from exc
    return verifier
