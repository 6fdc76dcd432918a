"""Keyed pseudonyms (HMAC-SHA256) so the catalog never stores an external subject id in clear."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from disgorge.errors import InputError

KEY_BYTES = 32


def load_or_create_key(path: Path) -> bytes:
    """Read the home's HMAC key, creating it with mode 0600 on first use."""
    if not path.exists():
        write_key(path, secrets.token_bytes(KEY_BYTES))
    return load_key(path)


def write_key(path: Path, key: bytes) -> None:
    """Write a key file readable by its owner only; never overwrites one."""
    if len(key) != KEY_BYTES:
        raise InputError(f"a pseudonym key has {KEY_BYTES} bytes, got {len(key)}")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)


def key_fingerprint(key: bytes) -> str:
    """Names a key without revealing it: two homes with the same fingerprint hold the same key."""
    return hashlib.sha256(b"disgorge pseudonym key fingerprint\0" + key).hexdigest()


def load_key(path: Path) -> bytes:
    """Read a key file; one readable by others is refused (its holder can test guesses of subject ids)."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise InputError(
            f"key file {path} has mode {mode:o}; it must be readable by its owner only",
            hint=f"run: chmod 600 {path}",
        )
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise InputError(f"key file {path} holds {len(key)} bytes, expected {KEY_BYTES}")
    return key


class KeyedHasher:
    """HMAC-SHA256 under the home key, with a domain label so pseudonyms and content tags never collide."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._domains: dict[str, hmac.HMAC] = {}

    def tag(self, domain: str, value: str | bytes) -> str:
        data = value.encode() if isinstance(value, str) else value
        base = self._domains.get(domain)
        if base is None:  # the key's pads and the domain label hashed once, then copied per value
            base = self._domains[domain] = hmac.new(self._key, domain.encode() + b"\0", hashlib.sha256)
        h = base.copy()
        h.update(data)
        return h.hexdigest()

    def subject(self, external_id: str) -> str:
        return self.tag("subject", external_id.strip())
