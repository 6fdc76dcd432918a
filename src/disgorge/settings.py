"""A Disgorge home and the settings kept in it.

``$DISGORGE_HOME`` (default ``./.disgorge``) holds the SQLite catalog, the keys (mode 0600), the policy
(``policy.yaml``), the storage settings (``storage.json``: roots where erasure may act, the S3 endpoint)
and the near-duplicate indexes; ``$DISGORGE_CATALOG`` (a SQLAlchemy URL) moves the catalog to PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from disgorge.catalog import CatalogStore
from disgorge.errors import ConflictError, InputError
from disgorge.hashing.keyed import KEY_BYTES, KeyedHasher, key_fingerprint, load_key, write_key
from disgorge.storage import StorageConfig
from disgorge.storage.registry import S3Config, config_from_env


@dataclass(frozen=True, slots=True)
class Home:
    path: Path
    catalog_url: str

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None, catalog_url: str | None = None) -> Home:
        path = Path(home or os.environ.get("DISGORGE_HOME") or ".disgorge").absolute()
        url = catalog_url or os.environ.get("DISGORGE_CATALOG") or f"sqlite:///{path / 'catalog.db'}"
        return cls(path, url)

    @property
    def key_path(self) -> Path:
        return self.path / "keys" / "pseudonym.key"

    @property
    def policy_path(self) -> Path:
        return self.path / "policy.yaml"

    @property
    def storage_path(self) -> Path:
        return self.path / "storage.json"


PSEUDONYM_KEY = "pseudonym_key"
SHARE_KEY_HINT = (
    "every home on one catalog needs the same pseudonym key: on a home that works with this catalog run "
    "`disgorge key export --secret > home-secrets.json`, copy the file here privately, then run "
    "`disgorge key import home-secrets.json` (and delete the copy)"
)


def bind_pseudonym_key(store: CatalogStore, home: Home) -> KeyedHasher:
    """The home's pseudonym key, checked against the fingerprint the catalog records.

    The first home to open a catalog records its key's fingerprint; any other key is refused, since
    subjects registered under one key are invisible under another (and erasure by subject would miss
    them). A home without a key mints one only for a catalog that has none yet."""
    where = store.engine.url.render_as_string()
    recorded = store.settings.get(PSEUDONYM_KEY)
    path = home.key_path
    if path.exists():
        key = load_key(path)
        fingerprint = key_fingerprint(key)
        if recorded is None:
            recorded = store.settings.put_if_absent(PSEUDONYM_KEY, {"fingerprint": fingerprint})
        if recorded.get("fingerprint") != fingerprint:
            raise ConflictError(
                f"this home's pseudonym key ({path}, fingerprint {fingerprint[:16]}) is not the key the "
                f"catalog at {where} was built with (fingerprint {str(recorded.get('fingerprint'))[:16]}): "
                "subjects registered through one would not be found through the other",
                hint=SHARE_KEY_HINT,
            )
        return KeyedHasher(key)
    if recorded is not None:
        raise ConflictError(
            f"the catalog at {where} was built with pseudonym key {str(recorded.get('fingerprint'))[:16]}, "
            f"and this home ({home.path}) has no key yet; a new one would not find its subjects",
            hint=SHARE_KEY_HINT,
        )
    key = secrets.token_bytes(KEY_BYTES)
    write_key(path, key)  # before the catalog records it: a catalog must never name a key nobody holds
    fingerprint = key_fingerprint(key)
    if (
        store.settings.put_if_absent(PSEUDONYM_KEY, {"fingerprint": fingerprint})["fingerprint"]
        != fingerprint
    ):
        path.unlink()
        raise ConflictError(
            f"another home bound the catalog at {where} to its pseudonym key just now", hint=SHARE_KEY_HINT
        )
    return KeyedHasher(key)


def _read(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})",
            hint="fix or remove the file; `disgorge storage root add` rewrites it",
        ) from exc
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a JSON object with 'roots' and optionally 's3'")
    return doc


def load_storage_config(path: Path) -> StorageConfig:
    """Roots and S3 settings from ``storage.json``, plus ``DISGORGE_STORAGE_ROOTS`` / ``DISGORGE_S3_*``."""
    doc = _read(path)
    roots = doc.get("roots", [])
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise InputError(f"{path}: 'roots' must be a list of folder paths")
    env = config_from_env(tuple(Path(r) for r in roots))
    s3 = doc.get("s3")
    if isinstance(s3, dict):
        return StorageConfig(
            roots=env.roots, s3=S3Config(**{k: v for k, v in s3.items() if isinstance(k, str)})
        )
    return env


def _write(path: Path, doc: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold S3 credentials
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(doc, indent=2))
    os.replace(tmp, path)


def save_s3_config(path: Path, settings: dict[str, str]) -> dict[str, str]:
    """Record the S3 endpoint erasure and scans use (credentials default to boto3's own chain)."""
    known = set(S3Config.__dataclass_fields__)
    unknown = set(settings) - known
    if unknown:
        raise InputError(f"unknown S3 settings {sorted(unknown)}", hint=f"known: {', '.join(sorted(known))}")
    doc = _read(path)
    saved = {k: v for k, v in settings.items() if v}
    doc["s3"] = saved
    _write(path, doc)
    return saved


def save_storage_root(path: Path, root: Path) -> list[str]:
    """Register a folder where erasure may delete; returns every registered root."""
    if not root.is_dir():
        raise InputError(f"storage root {root} is not a folder")
    doc = _read(path)
    existing = doc.get("roots", [])
    roots = [r for r in existing if isinstance(r, str)] if isinstance(existing, list) else []
    resolved = str(root.resolve())
    if resolved not in roots:
        roots.append(resolved)
    doc["roots"] = sorted(roots)
    _write(path, doc)
    return sorted(roots)


SECRETS_FORMAT = "disgorge-home-secrets/1"
_SECRET_NAMES = re.compile(
    r"(pseudonym\.key|signing\.key|keyring\.json|origin\.txt|retired/[0-9a-f]{8}-[0-9TZ-]+\.key)"
)


def export_home_secrets(home: Home) -> bytes:
    """The home's keys as one JSON document, for a second home on the same catalog (keep it private)."""
    keys = home.key_path.parent
    files = {
        str(p.relative_to(keys)): base64.b64encode(p.read_bytes()).decode()
        for p in sorted(keys.rglob("*"))
        if p.is_file() and _SECRET_NAMES.fullmatch(str(p.relative_to(keys)))
    }
    return (json.dumps({"format": SECRETS_FORMAT, "files": files}, indent=2, sort_keys=True) + "\n").encode()


def import_home_secrets(
    home: Home, data: bytes, *, origin: str, expected_fingerprint: str | None
) -> list[str]:
    """Install exported keys into a home; refuses a bundle whose pseudonym key the catalog does not
    record, and never overwrites a different key already in the home. Returns the files written."""
    try:
        doc = json.loads(data)
        if doc.get("format") != SECRETS_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}")
        files = doc["files"]
        decoded = {str(k): base64.b64decode(v, validate=True) for k, v in files.items()}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InputError(
            f"{origin}: not a Disgorge home-secrets file ({type(exc).__name__})",
            hint="create one with `disgorge key export --secret` on the home that works with the catalog",
        ) from exc
    bad = [k for k in decoded if not _SECRET_NAMES.fullmatch(k)]
    if bad or "pseudonym.key" not in decoded:
        raise InputError(f"{origin}: unexpected entries {bad or ['(no pseudonym.key)']}")
    fingerprint = key_fingerprint(decoded["pseudonym.key"])
    if expected_fingerprint is not None and fingerprint != expected_fingerprint:
        raise ConflictError(
            f"{origin} holds pseudonym key {fingerprint[:16]}, but the catalog records {expected_fingerprint[:16]}",
            hint="export the secrets from a home that works with this catalog",
        )
    keys = home.key_path.parent
    for name, content in decoded.items():
        target = keys / name
        if target.exists() and target.read_bytes() != content:
            raise ConflictError(
                f"{target} already holds a different key; refusing to overwrite it",
                hint="import into a new home, or move the existing keys away first",
            )
    written = []
    for name, content in sorted(decoded.items()):
        target = keys / name
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        written.append(name)
    return written


def recorded_key_fingerprint(home: Home) -> str | None:
    """The pseudonym key fingerprint the home's catalog records, read without binding a key."""
    store = CatalogStore(home.catalog_url)
    try:
        recorded = store.settings.get(PSEUDONYM_KEY)
    finally:
        store.close()
    return None if recorded is None else str(recorded.get("fingerprint"))
