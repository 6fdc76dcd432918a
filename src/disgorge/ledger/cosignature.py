"""Witness cosignatures on checkpoints: C2SP tlog-cosignature v1 (timestamped Ed25519, type 0x04).

A cosignature (https://c2sp.org/tlog-cosignature) is one more signed-note signature line on a
checkpoint, ``— NAME base64(key ID ‖ timestamp ‖ signature)``, by which a witness states that, as of
the timestamp, this is the largest tree it has seen for the log and that it is consistent with every
earlier one it cosigned. The key ID is SHA-256(NAME ‖ 0x0A ‖ 0x04 ‖ public key)[:4]; the timestamp is
8 bytes big-endian POSIX seconds below 2**63; the Ed25519 signature covers::

    cosignature/v1
    time <timestamp>
    <the whole checkpoint body, final newline included>

A witness's verifier key is a signed-note vkey of type 0x04, ``NAME+hex(key ID)+base64(0x04 ‖ key)``.
The type byte keeps a log key and a witness key apart even under the same name, and the fixed header
keeps a cosignature from passing for a log's signature. Pure code, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from disgorge.errors import InputError, VerificationFailed
from disgorge.ledger.note import (  # the signed-note grammar is shared with the log's own signatures
    _CONTROL,
    _HEX8,
    _SIG_PREFIX,
    MAX_SIGNATURES,
    Checkpoint,
    NoteVerifier,
    _b64,
    _b64decode,
    _parse_signature_line,
    _raw,
    _require_name,
    _split_note,
    _valid_name,
    verify_checkpoint,
)

__all__ = [
    "COSIGNATURE_TYPE",
    "MAX_TIMESTAMP",
    "Cosignature",
    "CosignatureVerifier",
    "add_cosignatures",
    "cosign",
    "cosignature_key_id",
    "cosignature_message",
    "cosigner_vkey",
    "split_note",
    "verify_cosignatures",
    "verify_cosigned_checkpoint",
]

COSIGNATURE_TYPE = b"\x04"
"""The signed-note signature type of timestamped Ed25519 cosignatures (cosignature/v1)."""
MAX_TIMESTAMP = 2**63 - 1
_HEADER = "cosignature/v1\n"
_BLOB_SIZE = 4 + 8 + 64


def cosignature_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte ID a cosignature line carries: the type byte 0x04 makes it differ from a log key's."""
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_TYPE + _raw(public_key)).digest()[:4]


def cosigner_vkey(name: str, public_key: Ed25519PublicKey) -> str:
    """A witness's verifier key: ``NAME+hex(key ID)+base64(0x04 ‖ public key)``."""
    _require_name(name)
    return f"{name}+{cosignature_key_id(name, public_key).hex()}+{_b64(COSIGNATURE_TYPE + _raw(public_key))}"


@dataclass(frozen=True)
class CosignatureVerifier:
    """A trusted witness key, by the name and key ID its cosignature lines carry."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def parse(cls, vkey: str) -> CosignatureVerifier:
        """Read a witness verifier key (type 0x04); anything else is a configuration error (InputError)."""
        vkey = vkey.strip()
        name, _, rest = vkey.partition("+")
        hex_id, _, key64 = rest.partition("+")
        key = _b64decode(key64)
        if not _valid_name(name) or not _HEX8.fullmatch(hex_id) or key is None:
            raise InputError(
                f"malformed witness key {vkey!r}",
                hint="expected NAME+hex(key ID)+base64(0x04 ‖ public key), as `disgorge witness init` prints",
            )
        if len(key) != 33 or key[:1] != COSIGNATURE_TYPE:
            kind = "a log's signing key (type 0x01)" if key[:1] == b"\x01" else f"of type 0x{key[:1].hex()}"
            raise InputError(
                f"witness key {vkey!r} is {kind}, not a cosignature/v1 key (type 0x04 and 32 bytes)",
                hint="a witness publishes its key with type 0x04; use the key its operator printed",
            )
        public_key = Ed25519PublicKey.from_public_bytes(key[1:])
        if cosignature_key_id(name, public_key) != bytes.fromhex(hex_id):
            raise InputError(f"witness key {vkey!r} has key ID {hex_id}, but its name and key give another")
        return cls(name, bytes.fromhex(hex_id), public_key)

    @classmethod
    def from_public_key(cls, name: str, public_key: Ed25519PublicKey) -> CosignatureVerifier:
        _require_name(name)
        return cls(name, cosignature_key_id(name, public_key), public_key)

    def vkey(self) -> str:
        return cosigner_vkey(self.name, self.public_key)


@dataclass(frozen=True)
class Cosignature:
    """One cosignature line, parsed but not yet verified."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    @classmethod
    def from_line(cls, line: str) -> Cosignature:
        """Parse ``— NAME base64(key ID ‖ timestamp ‖ signature)`` (without or with its newline)."""
        name, kid, payload = _parse_signature_line(line.removesuffix("\n"))
        if len(payload) != _BLOB_SIZE - 4:
            raise VerificationFailed(
                f"malformed cosignature by {name}: {4 + len(payload)} bytes, expected {_BLOB_SIZE} "
                "(key ID, 8-byte timestamp, Ed25519 signature)"
            )
        timestamp = int.from_bytes(payload[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            raise VerificationFailed(f"malformed cosignature by {name}: its timestamp exceeds 2**63 - 1")
        return cls(name, kid, timestamp, payload[8:])

    def line(self) -> str:
        blob = self.key_id + self.timestamp.to_bytes(8, "big") + self.signature
        return f"{_SIG_PREFIX}{self.name} {_b64(blob)}\n"


def cosignature_message(body: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: the header, the time line and the checkpoint body."""
    _require_timestamp(timestamp)
    return f"{_HEADER}time {timestamp}\n{body}".encode()


def cosign(body: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> str:
    """The cosignature line (ending in a newline) of witness ``name`` on checkpoint text ``body``."""
    _require_name(name)
    if not body.endswith("\n") or _CONTROL.search(body):
        raise InputError("a cosigned body must end with a newline and hold no control characters")
    signature = private_key.sign(cosignature_message(body, timestamp))
    return Cosignature(name, cosignature_key_id(name, private_key.public_key()), timestamp, signature).line()


def split_note(note: str) -> tuple[str, list[str]]:
    """A signed note's text and its signature lines (each with its newline), structure checked only."""
    body, lines = _split_note(note)
    if len(lines) > MAX_SIGNATURES:
        raise VerificationFailed(f"malformed note: more than {MAX_SIGNATURES} signatures")
    for line in lines:
        _parse_signature_line(line)
    return body, [f"{line}\n" for line in lines]


def add_cosignatures(note: str, lines: Iterable[str]) -> str:
    """``note`` with signature ``lines`` appended after its own, each line kept once."""
    body, existing = split_note(note)
    merged = list(existing)
    for line in lines:
        line = line if line.endswith("\n") else f"{line}\n"
        if line.count("\n") != 1:
            raise InputError(f"a signature line must be one line, got {line!r}")
        _parse_signature_line(line[:-1])
        if line not in merged:
            merged.append(line)
    out = f"{body}\n{''.join(merged)}"
    split_note(out)
    return out


def verify_cosignatures(
    note: str, witness_keys: Iterable[str | CosignatureVerifier]
) -> tuple[str, list[Cosignature]]:
    """The note's body and the cosignatures on it by trusted witnesses, each one verified.

    Lines by other keys (the log's own signature, unknown witnesses) are ignored, as signed-note
    requires; a line whose name and key ID match a trusted witness but does not verify (forged, or
    copied from another checkpoint) fails the whole note with VerificationFailed.
    """
    trusted = _index(witness_keys)
    body, lines = split_note(note)
    verified: list[Cosignature] = []
    for line in lines:
        name, kid, _ = _parse_signature_line(line[:-1])
        verifier = trusted.get((name, kid))
        if verifier is None:
            continue
        cosig = Cosignature.from_line(line)
        if cosig.timestamp == 0:
            raise VerificationFailed(f"the cosignature by witness {name} carries no time (timestamp 0)")
        try:
            verifier.public_key.verify(cosig.signature, cosignature_message(body, cosig.timestamp))
        except InvalidSignature:
            raise VerificationFailed(
                f"the cosignature by witness {name}+{kid.hex()} does not verify on this checkpoint: "
                "it was made for another checkpoint (replayed) or forged"
            ) from None
        verified.append(cosig)
    return body, verified


def verify_cosigned_checkpoint(
    note: str,
    origin: str,
    log_keys: Iterable[str | NoteVerifier],
    witness_keys: Iterable[str | CosignatureVerifier],
    *,
    min_witnesses: int = 1,
) -> tuple[Checkpoint, list[tuple[str, int]]]:
    """The checkpoint in ``note`` once the log signed it and ``min_witnesses`` distinct trusted
    witnesses cosigned it; with each such witness's name and latest cosignature time (POSIX seconds).

    Raises VerificationFailed naming what is missing: the log's signature, the origin, or witnesses.
    """
    witnesses = list(witness_keys)
    if isinstance(min_witnesses, bool) or not isinstance(min_witnesses, int) or min_witnesses < 0:
        raise InputError(f"min_witnesses must be a non-negative integer, got {min_witnesses!r}")
    try:
        checkpoint = verify_checkpoint(note, origin, log_keys)
    except ValueError:  # note.Checkpoint.parse passes int() a size line of any length (> 4300 digits)
        raise VerificationFailed("malformed checkpoint: the size line is not a decimal uint64") from None
    _, cosigs = verify_cosignatures(note, witnesses)
    latest: dict[str, int] = {}
    for c in cosigs:
        latest[c.name] = max(c.timestamp, latest.get(c.name, 0))
    if len(latest) < min_witnesses:
        names = sorted(
            {
                (w if isinstance(w, CosignatureVerifier) else CosignatureVerifier.parse(w)).name
                for w in witnesses
            }
        )
        raise VerificationFailed(
            f"the checkpoint of {origin!r} at size {checkpoint.size} is cosigned by {len(latest)} trusted "
            f"witness(es), {min_witnesses} required",
            hint=f"trusted witnesses: {', '.join(names) or 'none'}; a checkpoint is cosigned when its log "
            "submits it to them with a consistency proof",
        )
    return checkpoint, sorted(latest.items())


def _index(keys: Iterable[str | CosignatureVerifier]) -> dict[tuple[str, bytes], CosignatureVerifier]:
    trusted: dict[tuple[str, bytes], CosignatureVerifier] = {}
    for key in keys:
        verifier = key if isinstance(key, CosignatureVerifier) else CosignatureVerifier.parse(key)
        slot = (verifier.name, verifier.key_id)
        if slot in trusted and _raw(trusted[slot].public_key) != _raw(verifier.public_key):
            raise InputError(
                f"two different witness keys share the name and key ID {slot[0]}+{slot[1].hex()}"
            )
        trusted[slot] = verifier
    return trusted


def _require_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise InputError(f"a cosignature timestamp must be an integer in [0, 2**63), got {timestamp!r}")


WITNESSES = "witnesses"
"""The catalog setting that lists the witnesses an admin configured (``ledger witness add``)."""
