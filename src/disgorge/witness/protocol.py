"""The add-checkpoint wire format of C2SP tlog-witness, both ways, and its typed conflict error.

A request body (https://c2sp.org/tlog-witness) is ``old N``, at most 63 consistency proof hashes in
base64, one per line, an empty line, then the checkpoint as a signed note. A 409 answer carries the
witness's latest cosigned size as ``N\\n`` (``text/x.tlog.size``); a 200 answer is cosignature lines.
Parsing is strict (one canonical encoding of every field) and refuses anything else with InputError,
which the server answers with 400. Pure code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from disgorge.errors import ConflictError, InputError, VerificationFailed
from disgorge.ledger.cosignature import split_note
from disgorge.ledger.note import Checkpoint, _b64, _b64decode

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpointRequest",
    "SizeConflict",
    "format_add_checkpoint",
    "format_size",
    "parse_add_checkpoint",
    "parse_size",
]

MAX_PROOF_LINES = 63
"""A consistency proof of a uint64 tree has at most 63 hashes; the spec forbids clients sending more."""
MAX_BODY_BYTES = 256 * 1024
"""Requests above this are refused unread: 63 hashes and 100 post-quantum signatures fit well below."""
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")  # at most 20 digits: int() of longer text is refused
_MAX_SIZE = 2**64 - 1


class SizeConflict(ConflictError):
    """The witness's latest cosigned size is not the ``old`` size the request claimed (HTTP 409).

    A log resubmits with a consistency proof from ``witness_size``; a witness size beyond the log's
    own means the log lost entries the witness already saw.
    """

    code = "disgorge.witness.size_conflict"

    def __init__(self, message: str, *, witness_size: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.witness_size = witness_size


@dataclass(frozen=True)
class AddCheckpointRequest:
    old_size: int
    proof: tuple[bytes, ...]
    note: str
    checkpoint: Checkpoint
    """Parsed from the note's text, not yet authenticated: trust it only after the log's signature."""


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Read an add-checkpoint body, refusing any deviation from the spec with InputError (400)."""
    if len(body) > MAX_BODY_BYTES:
        raise InputError(f"request body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("request body is not valid UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise InputError("request body has no empty line between the old size and proof and the checkpoint")
    lines = head.split("\n")
    old_line, proof_lines = lines[0], lines[1:]
    old_text = old_line.removeprefix("old ")
    if old_text == old_line or not _DECIMAL.fullmatch(old_text) or int(old_text) > _MAX_SIZE:
        raise InputError(f"the first line must be 'old N' with N a decimal uint64, got {old_line[:80]!r}")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise InputError(f"{len(proof_lines)} consistency proof lines; at most {MAX_PROOF_LINES} are allowed")
    proof = []
    for n, line in enumerate(proof_lines, start=1):
        digest = _b64decode(line)
        if digest is None or len(digest) != 32 or _b64(digest) != line:
            raise InputError(f"consistency proof line {n} is not the base64 of a 32-byte hash: {line[:80]!r}")
        proof.append(digest)
    try:
        cp_body, _ = split_note(note)
        checkpoint = Checkpoint.parse(cp_body)
    except VerificationFailed as exc:
        raise InputError(f"the checkpoint is not a signed note: {exc.message}") from None
    except ValueError:  # Checkpoint.parse hands int() a size line of any length; Python refuses > 4300 digits
        raise InputError("the checkpoint's size line is not a decimal uint64") from None
    return AddCheckpointRequest(int(old_text), tuple(proof), note, checkpoint)


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The request body a log sends: ``old N``, the proof hashes, an empty line, the note."""
    if isinstance(old_size, bool) or not isinstance(old_size, int) or not 0 <= old_size <= _MAX_SIZE:
        raise InputError(f"old size must be an integer in [0, 2**64), got {old_size!r}")
    if len(proof) > MAX_PROOF_LINES or any(len(h) != 32 for h in proof):
        raise InputError(f"a consistency proof is at most {MAX_PROOF_LINES} hashes of 32 bytes")
    split_note(note)
    return "".join([f"old {old_size}\n", *(f"{_b64(h)}\n" for h in proof), "\n", note]).encode()


def format_size(size: int) -> str:
    return f"{size}\n"


def parse_size(text: str) -> int:
    """The size in a 409 body; anything but ``N\\n`` raises InputError."""
    value = text.removesuffix("\n")
    if value == text or not _DECIMAL.fullmatch(value) or int(value) > _MAX_SIZE:
        raise InputError(f"expected a tree size line 'N\\n', got {text[:80]!r}")
    return int(value)
