"""A person's identity: an Ed25519 key of their own, outside any shared home.

``disgorge identity init NAME`` writes it to ``$DISGORGE_IDENTITY`` (default
``~/.config/disgorge/identity``), mode 0600. Its public half is a C2SP verifier key string
(``NAME+KEYID+BASE64``), the form the roster stores and every statement names.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from disgorge.errors import ConflictError, InputError
from disgorge.ledger.note import verifier_key
from disgorge.trust.names import normalise_name

FORMAT = "disgorge-identity/1"


def default_path() -> Path:
    env = os.environ.get("DISGORGE_IDENTITY")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "disgorge" / "identity"


@dataclass(frozen=True)
class Identity:
    name: str
    private_key: Ed25519PrivateKey
    path: Path | None = None

    @property
    def public_key(self) -> str:
        """The verifier key string others add to a roster."""
        return verifier_key(self.name, self.private_key.public_key())

    def sign(self, payload: bytes) -> bytes:
        return self.private_key.sign(payload)

    @classmethod
    def generate(cls, name: str) -> Identity:
        return cls(normalise_name(name), Ed25519PrivateKey.generate())

    def save(self, path: Path) -> None:
        """Write the identity (mode 0600); never overwrites an existing file."""
        pem = self.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
        doc = json.dumps({"format": FORMAT, "name": self.name, "key": pem}, indent=2) + "\n"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            raise ConflictError(
                f"an identity already exists at {path}; refusing to overwrite a private key",
                hint="give another file with --file, or set DISGORGE_IDENTITY",
            ) from None
        with os.fdopen(fd, "w") as f:
            f.write(doc)

    @classmethod
    def load(cls, path: Path) -> Identity:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise InputError(
                f"no identity at {path}", hint="create one with `disgorge identity init NAME`"
            ) from None
        except OSError as exc:
            raise InputError(f"identity {path}: cannot open it ({exc.strerror})") from exc
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode & 0o777
            data = f.read()
        if mode & 0o077:
            raise InputError(
                f"identity {path} has mode {mode:o}; it must be readable by its owner only",
                hint=f"run: chmod 600 {path}",
            )
        try:
            doc = json.loads(data)
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise ValueError("not a disgorge identity")
            key = load_pem_private_key(str(doc["key"]).encode(), password=None)
            name = normalise_name(str(doc["name"]))
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            raise InputError(f"identity {path} is malformed ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise InputError(f"identity {path} does not hold an Ed25519 key")
        return cls(name, key, path)


def load_default() -> Identity | None:
    """The caller's identity from ``$DISGORGE_IDENTITY`` or the default path, if one exists there."""
    path = default_path()
    if os.environ.get("DISGORGE_IDENTITY") or path.exists():
        return Identity.load(path)
    return None
