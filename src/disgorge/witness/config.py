"""A witness's configuration on disk: its key (and name), and the logs it follows.

The private key is PKCS8 PEM, mode 0600, as the home's signing key (:mod:`disgorge.ledger.keys`); its
public form, the cosignature/v1 verifier key that carries the witness's name, sits beside it in
``KEY.vkey``, so ``serve`` needs only the key file. A log is ``ORIGIN=VKEY``: the checkpoint origin
line and the log's signed-note verifier key (type 0x01), split at the first ``=``; a logs file holds
one per line, with ``#`` comments and blank lines.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from disgorge.errors import InputError
from disgorge.ledger.cosignature import CosignatureVerifier, cosigner_vkey
from disgorge.ledger.keys import create_signing_key, load_signing_key
from disgorge.ledger.note import NoteVerifier, _require_name
from disgorge.witness.core import LogConfig

__all__ = ["create_witness_key", "load_witness_key", "parse_log", "read_logs_file", "vkey_path"]


def vkey_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".vkey")


def create_witness_key(key_path: Path, name: str) -> str:
    """Create the witness key ``name`` at ``key_path`` (mode 0600, never overwritten); its vkey."""
    _require_name(name)
    public = vkey_path(key_path)
    if public.exists():
        raise InputError(f"{public} already exists; refusing to replace a witness's published key")
    key = create_signing_key(key_path)
    vkey = cosigner_vkey(name, key.public_key())
    public.write_text(vkey + "\n")
    return vkey


def load_witness_key(key_path: Path) -> tuple[str, Ed25519PrivateKey]:
    """The witness's name and private key, checked against the vkey published beside it."""
    if not key_path.exists():
        raise InputError(
            f"no witness key at {key_path}", hint="create one with: disgorge witness init --key FILE NAME"
        )
    key = load_signing_key(key_path)
    public = vkey_path(key_path)
    try:
        verifier = CosignatureVerifier.parse(public.read_text())
    except OSError as exc:
        raise InputError(
            f"witness key {key_path} has no readable verifier key {public} ({exc.strerror})",
            hint="it is written by `disgorge witness init`; restore it from where the key was published",
        ) from None
    if _raw(verifier.public_key) != _raw(key.public_key()):
        raise InputError(f"{public} is not the public key of {key_path}")
    return verifier.name, key


def parse_log(spec: str) -> LogConfig:
    """``ORIGIN=VKEY`` as one log to follow."""
    origin, sep, vkey = spec.partition("=")
    if not sep or not origin or not vkey:
        raise InputError(
            f"log {spec!r} is not ORIGIN=VKEY",
            hint="e.g. disgorge.local/home=home+1a2b3c4d+AQ… (the origin line of its checkpoints and "
            "the log's verifier key)",
        )
    try:
        return LogConfig(origin, (NoteVerifier.parse(vkey.strip()),))
    except InputError as exc:
        raise InputError(f"log {origin!r}: {exc.message}", hint=exc.hint) from None


def read_logs_file(path: Path) -> list[LogConfig]:
    """Every ``ORIGIN=VKEY`` line of a logs file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"logs file {path}: cannot read it ({exc})") from None
    logs = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            logs.append(parse_log(line))
        except InputError as exc:
            raise InputError(f"logs file {path}, line {n}: {exc.message}", hint=exc.hint) from None
    return logs


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
