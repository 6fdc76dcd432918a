"""Certificates of destruction: issue the current format (v2, signed statements by people), verify
either format offline. ``disgorge certificate verify`` reads both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from disgorge.certificate import v2
from disgorge.errors import VerificationFailed
from disgorge.ledger import certificate as v1
from disgorge.ledger.audit import parse_strict_json
from disgorge.ledger.note import NoteVerifier

FORMAT = v2.FORMAT


def format_of(data: bytes) -> str:
    doc = parse_strict_json(data, "the certificate", VerificationFailed)
    return str(doc.get("format")) if isinstance(doc, dict) else ""


def verify_any(
    data: bytes,
    log_keys: Sequence[str | NoteVerifier],
    *,
    witness_keys: Sequence[str] = (),
    require_scan: bool = False,
) -> Any:
    """Verify a certificate of either format; v1 has no witnesses, no people and no scan coverage, so
    asking for those of a v1 certificate fails."""
    if format_of(data) == v1.FORMAT:
        if witness_keys or require_scan:
            raise VerificationFailed(
                f"a {v1.FORMAT} certificate carries no witness cosignatures and no scan coverage",
                hint="ask the issuer for a disgorge-certificate/2 certificate",
            )
        return v1.verify_certificate(data, log_keys)
    return v2.verify(data, log_keys, witness_keys=witness_keys, require_scan=require_scan)


__all__ = ["FORMAT", "format_of", "v2", "verify_any"]
