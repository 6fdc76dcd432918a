"""A Disgorge home and the settings kept in it.

``$DISGORGE_HOME`` (default ``./.disgorge``) holds the SQLite catalog, the keys (mode 0600), the policy
(``policy.yaml``), the storage settings (``storage.json``: roots where erasure may act, the S3 endpoint)
and the near-duplicate indexes; ``$DISGORGE_CATALOG`` (a SQLAlchemy URL) moves the catalog to PostgreSQL.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from disgorge.errors import InputError
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
