"""C2SP signed notes and tlog-checkpoints, signed with Ed25519: how Disgorge publishes its log heads.

A signed note (https://c2sp.org/signed-note) is a UTF-8 text ending in a newline, then a blank line,
then one line per signature, ``— NAME base64(key ID ‖ signature)``, where the Ed25519 key ID is
SHA-256(NAME ‖ 0x0A ‖ 0x01 ‖ public key)[:4]. A checkpoint (https://c2sp.org/tlog-checkpoint) is a note
whose text gives the log's origin, its tree size and its RFC 9162 root hash, then optional extension
lines. Using the common format lets Go's golang.org/x/mod/sumdb/note, transparency-dev witnesses and
monitors check Disgorge's checkpoints; the tests pin that against published vectors.

Verification follows the spec: signatures from unknown keys are ignored, every signature from a known
key must verify, and at least one must. Failures raise :class:`~disgorge.errors.VerificationFailed`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from disgorge.errors import InputError, VerificationFailed

__all__ = [
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteVerifier",
    "key_id",
    "sign_checkpoint",
    "sign_note",
    "verifier_key",
    "verify_checkpoint",
    "verify_note",
]

MAX_SIGNATURES = 100
"""Signature lines read before a note is rejected: the spec's floor is 16, Go's limit 100."""

_ED25519 = b"\x01"
_SIG_PREFIX = "— "  # em dash U+2014, space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls other than newline
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")  # 2**64 - 1 has 20 digits; int() of more can be slow
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_MAX_SIZE = 2**64 - 1


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte ID that a signature line carries to name its key."""
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + _raw(public_key)).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The text form a verifier is configured with: ``NAME+hex(key ID)+base64(0x01 ‖ public key)``."""
    _require_name(name)
    return f"{name}+{key_id(name, public_key).hex()}+{_b64(_ED25519 + _raw(public_key))}"


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 key, by the name and key ID its signature lines carry."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        """Read a verifier key string; a malformed one is a configuration error (InputError)."""
        name, _, rest = vkey.partition("+")
        hex_id, _, key64 = rest.partition("+")
        key = _b64decode(key64)
        if not _valid_name(name) or not _HEX8.fullmatch(hex_id) or key is None:
            raise InputError(
                f"malformed verifier key {vkey!r}", hint="expected NAME+hex(key ID)+base64(0x01 ‖ public key)"
            )
        if len(key) != 33 or key[:1] != _ED25519:
            raise InputError(f"verifier key {vkey!r} is not an Ed25519 key (type 0x01 and 32 bytes)")
        public_key = Ed25519PublicKey.from_public_bytes(key[1:])
        if key_id(name, public_key) != bytes.fromhex(hex_id):
            raise InputError(f"verifier key {vkey!r} has key ID {hex_id}, but its name and key give another")
        return cls(name, bytes.fromhex(hex_id), public_key)


def sign_note(body: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``body`` as key ``name``: the body, a blank line and one signature line."""
    _require_name(name)
    if not body.endswith("\n"):
        raise InputError("a note body must end with a newline")
    if _CONTROL.search(body):
        raise InputError("a note body must not contain ASCII control characters other than newline")
    signature = private_key.sign(_utf8(body, InputError))
    line = f"{_SIG_PREFIX}{name} {_b64(key_id(name, private_key.public_key()) + signature)}\n"
    return f"{body}\n{line}"


def verify_note(note: str, verifier_keys: Iterable[str | NoteVerifier]) -> str:
    """The body of ``note`` once a trusted key's signature on it verifies.

    Signatures by keys not in ``verifier_keys`` are ignored, so witnesses can cosign and logs rotate
    keys. Raises VerificationFailed for a malformed note, a signature by a trusted key that does not
    verify, or no signature by a trusted key at all.
    """
    trusted = _index_verifiers(verifier_keys)
    body, lines = _split_note(note)
    data = body.encode("utf-8")
    verified = []
    for n, line in enumerate(lines, start=1):
        if n > MAX_SIGNATURES:
            raise VerificationFailed(f"malformed note: more than {MAX_SIGNATURES} signatures")
        name, kid, signature = _parse_signature_line(line)
        verifier = trusted.get((name, kid))
        if verifier is None:
            continue
        try:
            verifier.public_key.verify(signature, data)
        except InvalidSignature:
            raise VerificationFailed(
                f"the signature by {name}+{kid.hex()} does not verify: the note was altered or forged"
            ) from None
        verified.append(name)
    if not verified:
        raise VerificationFailed(
            "the note has no signature by a trusted key",
            hint=f"trusted keys: {sorted(f'{n}+{k.hex()}' for n, k in trusted) or 'none'}",
        )
    return body


@dataclass(frozen=True)
class Checkpoint:
    """A log's claim of its size and root hash: the body of a c2sp.org/tlog-checkpoint note."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _CONTROL.search(self.origin):
            raise InputError(f"checkpoint origin must be one non-empty line, got {self.origin!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= _MAX_SIZE:
            raise InputError(f"checkpoint size must be an integer in [0, 2**64), got {self.size!r}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != 32:
            raise InputError(f"checkpoint root hash must be 32 bytes, got {self.root_hash!r}")
        for ext in self.extensions:
            if not ext or "\n" in ext or _CONTROL.search(ext):
                raise InputError(f"checkpoint extension lines must be non-empty single lines, got {ext!r}")

    def to_body(self) -> str:
        """The note text: origin, decimal size, base64 root hash, extensions, each ending in newline."""
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), _b64(self.root_hash), *self.extensions)
        )

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Read a checkpoint body, rejecting anything but the one canonical encoding of each field."""
        if not body.endswith("\n"):
            raise VerificationFailed("malformed checkpoint: the body must end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise VerificationFailed(
                f"malformed checkpoint: expected origin, size and root hash lines, got {len(lines)} line(s)"
            )
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL.fullmatch(size_text) or int(size_text) > _MAX_SIZE:
            raise VerificationFailed(
                f"malformed checkpoint: the size line must be a decimal uint64 without leading zeros, "
                f"got {size_text!r}"
            )
        root = _b64decode(root_text)
        if root is None or len(root) != 32 or _b64(root) != root_text:
            raise VerificationFailed(
                f"malformed checkpoint: the root line must be the base64 of 32 bytes, got {root_text!r}"
            )
        try:
            return cls(origin, int(size_text), root, tuple(extensions))
        except InputError as exc:
            raise VerificationFailed(f"malformed checkpoint: {exc.message}") from exc


def sign_checkpoint(checkpoint: Checkpoint, private_key: Ed25519PrivateKey, name: str | None = None) -> str:
    """Sign a checkpoint; the key name defaults to the origin, as tlog-checkpoint recommends."""
    return sign_note(checkpoint.to_body(), checkpoint.origin if name is None else name, private_key)


def verify_checkpoint(note: str, origin: str, verifier_keys: Iterable[str | NoteVerifier]) -> Checkpoint:
    """The checkpoint in ``note``, once signed by a trusted key and checked to be for ``origin``."""
    checkpoint = Checkpoint.parse(verify_note(note, verifier_keys))
    if checkpoint.origin != origin:
        raise VerificationFailed(
            f"the checkpoint is for origin {checkpoint.origin!r}, expected {origin!r}",
            hint="a log's checkpoint must not be accepted as another log's",
        )
    return checkpoint


def _index_verifiers(verifier_keys: Iterable[str | NoteVerifier]) -> dict[tuple[str, bytes], NoteVerifier]:
    trusted: dict[tuple[str, bytes], NoteVerifier] = {}
    for key in verifier_keys:
        verifier = key if isinstance(key, NoteVerifier) else NoteVerifier.parse(key)
        slot = (verifier.name, verifier.key_id)
        if slot in trusted and _raw(trusted[slot].public_key) != _raw(verifier.public_key):
            raise InputError(
                f"two different verifier keys share the name and key ID {slot[0]}+{slot[1].hex()}"
            )
        trusted[slot] = verifier
    return trusted


def _split_note(note: str) -> tuple[str, list[str]]:
    """The text (with its final newline) and the signature lines, split at the last blank line."""
    _utf8(note, VerificationFailed)
    if _CONTROL.search(note):
        raise VerificationFailed("malformed note: it contains an ASCII control character other than newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise VerificationFailed("malformed note: no blank line before the signatures")
    body, signatures = note[: split + 1], note[split + 2 :]
    if not signatures.endswith("\n"):
        raise VerificationFailed("malformed note: the signatures must be lines ending with a newline")
    return body, signatures[:-1].split("\n")


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    name, _, encoded = line.removeprefix(_SIG_PREFIX).partition(" ")
    blob = _b64decode(encoded)
    if not line.startswith(_SIG_PREFIX) or not _valid_name(name) or blob is None or len(blob) < 5:
        raise VerificationFailed(
            f"malformed note: bad signature line {line!r}",
            hint="expected '— NAME base64(key ID ‖ signature)'",
        )
    return name, blob[:4], blob[4:]


def _utf8(text: str, error: type[InputError] | type[VerificationFailed]) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise error("malformed note: the text is not valid UTF-8 (it holds a lone surrogate)") from exc


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _require_name(name: str) -> None:
    if not _valid_name(name):
        raise InputError(f"key name {name!r} must be non-empty, without spaces or '+'")


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Strict standard base64 (RFC 4648 §4), or None: no stray characters, padding required."""
    if not text:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
