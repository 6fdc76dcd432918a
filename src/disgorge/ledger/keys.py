"""Ed25519 signing keys for a Disgorge home, and the keyring that keeps retired public keys verifiable.

One private key signs both the ledger's checkpoints (C2SP signed notes, https://c2sp.org/signed-note)
and certificates of destruction. It lives in ``keys/signing.key`` as unencrypted PKCS8 PEM, mode 0600;
a key file readable by anyone else is refused, since whoever reads it can forge certificates.

Its public form is the signed-note verifier key ``NAME+hex(key ID)+base64(0x01 ‖ public key)``, which
carries the name and key ID that signature lines use: ``disgorge key export-public`` prints it and
``--key`` reads it back. Certificates must stay verifiable for years, longer than a key should live, so
rotation archives the old private key (mode 0600) and keeps its public key in the keyring, a JSON file
of verifier keys with the dates each was added and retired, the current key first::

    {"format": "disgorge-keyring/1",
     "keys": [{"key": "NAME+kid+AQ…", "added": "2025-03-01T09:00:00Z", "retired": null},
              {"key": "NAME+kid+AQ…", "added": "2024-01-05T12:00:00Z", "retired": "2025-03-01T09:00:00Z"}]}

The keyring is public, but it is also a trust anchor: an auditor should take keys from a copy obtained
out of band, not from the operator's disk at verification time.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from disgorge.errors import InputError
from disgorge.ledger.audit import parse_strict_json
from disgorge.ledger.note import NoteVerifier, verifier_key

__all__ = [
    "KEYRING_FORMAT",
    "RETIRED_DIR",
    "SIGNING_KEY_FILE",
    "Keyring",
    "KeyringEntry",
    "create_signing_key",
    "init_keys",
    "load_signing_key",
    "parse_public_key",
    "public_key_pem",
    "public_key_text",
    "read_trusted_keys",
    "rotate",
    "trusted_keys_from_text",
]

SIGNING_KEY_FILE = "signing.key"
"""The current private key's file name inside a home's keys directory."""
RETIRED_DIR = "retired"
"""Where :func:`rotate` archives retired private keys, under the keys directory."""
KEYRING_FORMAT = "disgorge-keyring/1"

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")


def create_signing_key(path: Path) -> Ed25519PrivateKey:
    """Generate a key and write it to ``path`` (mode 0600); an existing file is never overwritten."""
    key = Ed25519PrivateKey.generate()
    _write_private(path, key)
    return key


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read the private key at ``path``, refusing a file that group or others can read or write."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(f"no signing key at {path}", hint="run `disgorge init` to create one") from None
    except OSError as exc:
        raise InputError(f"cannot open signing key {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode & 0o777
        if mode & 0o077:
            raise InputError(
                f"signing key {path} has mode {mode:o}; it must be readable by its owner only",
                hint=f"run: chmod 600 {path}",
            )
        data = f.read()
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InputError(f"signing key {path} is not an unencrypted PKCS8 PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"signing key {path} is a {type(key).__name__}, expected an Ed25519 key")
    return key


def public_key_text(name: str, key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The verifier key string for ``key`` under ``name`` (what ``disgorge key export-public`` prints)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return verifier_key(name, public)


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The SubjectPublicKeyInfo PEM of ``key``, for tools that do not read verifier key strings."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def parse_public_key(text: str, *, name: str | None = None) -> NoteVerifier:
    """Read a verifier key string, or a PEM Ed25519 public key together with the ``name`` it signs as.

    A PEM key carries no name, and the signed-note key ID depends on it, so ``name`` is then required;
    given with a verifier key string, it must match the string's name.
    """
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            public = load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
            raise InputError("malformed PEM public key") from exc
        if not isinstance(public, Ed25519PublicKey):
            raise InputError(f"the PEM public key is a {type(public).__name__}, expected Ed25519")
        if name is None:
            raise InputError(
                "a PEM public key does not say which name it signs as",
                hint="give the key's name (the ledger origin), or use the verifier key string",
            )
        return NoteVerifier.parse(verifier_key(name, public))
    verifier = NoteVerifier.parse(text)
    if name is not None and verifier.name != name:
        raise InputError(f"verifier key {text!r} is named {verifier.name!r}, expected {name!r}")
    return verifier


def trusted_keys_from_text(text: str, *, name: str | None = None) -> list[NoteVerifier]:
    """The keys in a ``--key`` file: a keyring (every key, retired ones too), a PEM key, or verifier
    key strings one per line (blank lines and ``#`` comments ignored)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return Keyring.from_bytes(text.encode("utf-8")).verifiers()
    if stripped.startswith("-----BEGIN"):
        return [parse_public_key(stripped, name=name)]
    lines = [line.strip() for line in text.splitlines()]
    keys = [parse_public_key(line, name=name) for line in lines if line and not line.startswith("#")]
    if not keys:
        raise InputError("no public key found", hint="expected NAME+hex(key ID)+base64 key, PEM or keyring")
    return keys


def read_trusted_keys(path: Path, *, name: str | None = None) -> list[NoteVerifier]:
    """:func:`trusted_keys_from_text` on the file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read public key file {path}: {exc}") from exc
    try:
        return trusted_keys_from_text(text, name=name)
    except InputError as exc:
        raise InputError(f"{path}: {exc.message}", hint=exc.hint) from exc


@dataclass(frozen=True)
class KeyringEntry:
    """One public key: its verifier key string, when it became current and when it was retired."""

    key: str
    added: str
    retired: str | None = None

    def __post_init__(self) -> None:
        NoteVerifier.parse(self.key)
        for what, value in (("added", self.added), ("retired", self.retired)):
            if (value is not None or what == "added") and not (
                isinstance(value, str) and _TIME.fullmatch(value)
            ):
                raise InputError(f"keyring: {what} of key {self.key} must be an RFC 3339 time, got {value!r}")

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier.parse(self.key)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "added": self.added, "retired": self.retired}


@dataclass(frozen=True)
class Keyring:
    """Every public key a home has signed with, current (not retired) first; retired keys still verify."""

    entries: tuple[KeyringEntry, ...]

    def __post_init__(self) -> None:
        if not self.entries:
            raise InputError("a keyring holds at least one key")
        if any(e.retired is None for e in self.entries[1:]):
            raise InputError("keyring: only the first key may be current; every other key must be retired")
        seen = set()
        for e in self.entries:
            v = e.verifier
            if (v.name, v.key_id) in seen:
                raise InputError(f"keyring: key {v.name}+{v.key_id.hex()} is listed twice")
            seen.add((v.name, v.key_id))

    @property
    def current(self) -> KeyringEntry:
        """The key new signatures are made with; InputError if every key is retired."""
        if self.entries[0].retired is not None:
            raise InputError("keyring: every key is retired", hint="run `disgorge key rotate`")
        return self.entries[0]

    def verifier_keys(self) -> list[str]:
        """Every key's verifier string, current first: what a certificate verifier should trust."""
        return [e.key for e in self.entries]

    def verifiers(self) -> list[NoteVerifier]:
        return [e.verifier for e in self.entries]

    def rotated(self, new_key: str, now: str) -> Keyring:
        """This keyring with the current key retired at ``now`` and ``new_key`` current from ``now``."""
        old = self.current
        return Keyring((KeyringEntry(new_key, now), KeyringEntry(old.key, old.added, now), *self.entries[1:]))

    def to_bytes(self) -> bytes:
        doc = {"format": KEYRING_FORMAT, "keys": [e.to_json() for e in self.entries]}
        return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Keyring:
        """Read a keyring, rejecting duplicate JSON keys, unknown members and malformed entries."""
        doc = parse_strict_json(data, "keyring")
        if not isinstance(doc, dict) or set(doc) != {"format", "keys"} or doc["format"] != KEYRING_FORMAT:
            raise InputError(f"keyring must be an object with format {KEYRING_FORMAT!r} and keys")
        if not isinstance(doc["keys"], list):
            raise InputError("keyring: keys must be a list")
        entries = []
        for i, e in enumerate(doc["keys"]):
            if not isinstance(e, dict) or set(e) != {"key", "added", "retired"}:
                raise InputError(f"keyring: key {i} must be an object with key, added and retired")
            if not isinstance(e["key"], str):
                raise InputError(f"keyring: key {i} must hold a verifier key string")
            entries.append(KeyringEntry(e["key"], e["added"], e["retired"]))
        return cls(tuple(entries))

    @classmethod
    def load(cls, path: Path) -> Keyring:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read keyring {path}: {exc.strerror}") from exc
        try:
            return cls.from_bytes(data)
        except InputError as exc:
            raise InputError(f"{path}: {exc.message}", hint=exc.hint) from exc

    def save(self, path: Path) -> None:
        """Replace the file at ``path`` atomically, so a crash leaves the old keyring or the new one."""
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(self.to_bytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def init_keys(
    keys_dir: Path, keyring_path: Path, name: str, *, now: datetime | None = None
) -> Ed25519PrivateKey:
    """Create a home's signing key and a keyring holding its public key; refuse if either exists."""
    if keyring_path.exists():
        raise InputError(f"keyring {keyring_path} already exists; refusing to replace it")
    key = create_signing_key(keys_dir / SIGNING_KEY_FILE)
    Keyring((KeyringEntry(public_key_text(name, key), _stamp(now)),)).save(keyring_path)
    return key


def rotate(
    keyring_path: Path, keys_dir: Path, name: str, *, now: datetime | None = None
) -> Ed25519PrivateKey:
    """Replace the signing key with a new one under ``name``; return the new key.

    The old private key is archived as ``retired/<key ID>-<time>.key`` (mode 0600) and its public key
    stays in the keyring, marked retired, so what it signed still verifies. The keyring is written
    before the new key is installed: a crash in between leaves both keys trusted, never a signing key
    that nothing trusts.
    """
    current = keys_dir / SIGNING_KEY_FILE
    old = load_signing_key(current)
    old_text = public_key_text(name, old)
    keyring = Keyring.load(keyring_path)
    if keyring.current.key != old_text:
        raise InputError(
            f"the signing key {current} is {old_text}, but the keyring's current key is {keyring.current.key}",
            hint="the key name or the keyring is out of date; fix it before rotating",
        )
    stamp = _stamp(now)
    staged = keys_dir / (SIGNING_KEY_FILE + ".new")
    if staged.exists():
        raise InputError(
            f"{staged} exists: a previous rotation was interrupted", hint="inspect and remove it"
        )
    new = Ed25519PrivateKey.generate()
    retired_dir = keys_dir / RETIRED_DIR
    retired_dir.mkdir(mode=0o700, exist_ok=True)
    kid = NoteVerifier.parse(old_text).key_id.hex()
    _write_private(retired_dir / f"{kid}-{stamp.replace(':', '')}.key", old)
    _write_private(staged, new)
    keyring.rotated(public_key_text(name, new), stamp).save(keyring_path)
    os.replace(staged, current)
    return new


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise InputError(
            f"key file {path} already exists; refusing to overwrite a private key",
            hint="use `disgorge key rotate` to replace the signing key",
        ) from None
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())


def _stamp(now: datetime | None) -> str:
    when = (now or datetime.now(UTC)).astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
