"""State every home on one catalog must agree on, kept in the catalog rather than in a home's files.

Storage roots and the S3 endpoint (its secrets only referenced: credentials stay with each home, in
its private ``storage.json``, or come from boto3's own chain), the policy and its versions, and the
log's signing identity (origin and public keys). Two homes, or a server and a laptop, on one
PostgreSQL catalog then see one system. A home's older ``storage.json`` roots and endpoint, and its
``policy.yaml``, are taken into the catalog the first time the home opens it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from disgorge.catalog import CatalogStore
from disgorge.errors import ConflictError, InputError
from disgorge.settings import Home, _read, _write
from disgorge.storage import StorageConfig
from disgorge.storage.registry import S3Config, config_from_env

STORAGE = "storage"
POLICY = "policy"
LOG = "log_identity"
_SECRET = ("access_key_id", "secret_access_key")
_SHARED_S3 = ("endpoint_url", "region", "weed_master", "weed_binary")


def _local(home: Home) -> tuple[list[str], dict[str, Any] | None]:
    """What a home's own ``storage.json`` holds: legacy roots, and S3 settings (credentials)."""
    doc: dict[str, Any] = dict(_read(home.storage_path))
    roots, s3 = doc.get("roots"), doc.get("s3")
    return (
        [r for r in roots if isinstance(r, str)] if isinstance(roots, list) else [],
        dict(s3) if isinstance(s3, dict) else None,
    )


def storage_config(store: CatalogStore, home: Home) -> StorageConfig:
    """The catalog's roots and S3 endpoint, with this home's S3 credentials, plus the environment."""
    shared = _migrate_storage(store, home)
    _, secrets = _local(home)
    env = config_from_env(tuple(Path(r) for r in shared.get("roots", [])))
    s3: dict[str, Any] = dict(shared.get("s3") or {})
    s3.update({k: v for k, v in (secrets or {}).items() if k in _SECRET and v})
    for key, var in (shared.get("s3_credentials_env") or {}).items():
        if os.environ.get(var):
            s3[key] = os.environ[var]
    if s3 or env.s3 is not None:
        base = {} if env.s3 is None else {k: v for k, v in vars(env.s3).items() if v}
        return StorageConfig(roots=env.roots, s3=S3Config(**{**base, **s3}))
    return env


def _migrate_storage(store: CatalogStore, home: Home) -> dict[str, Any]:
    shared: dict[str, Any] = store.settings.get(STORAGE) or {"roots": [], "s3": None}
    roots, s3 = _local(home)
    new_roots = sorted(set(roots) - set(shared.get("roots", [])))
    new_s3 = {k: v for k, v in (s3 or {}).items() if k in _SHARED_S3 and v}
    if new_roots or (new_s3 and not shared.get("s3")):
        shared = {
            **shared,
            "roots": sorted({*shared.get("roots", []), *new_roots}),
            "s3": shared.get("s3") or new_s3 or None,
        }
        store.settings.put(STORAGE, shared)
    if roots or (s3 and set(s3) - set(_SECRET)):  # what the catalog now holds leaves the home file
        kept = {k: v for k, v in (s3 or {}).items() if k in _SECRET}
        _write(home.storage_path, {"s3": kept} if kept else {})
    return shared


def add_root(store: CatalogStore, home: Home, root: Path) -> list[str]:
    """Register a folder where erasure may delete, for every home on the catalog; all roots."""
    try:
        root = root.resolve()
        folder = root.is_dir()
    except (OSError, ValueError) as exc:  # a NUL byte, a loop of links
        raise InputError(f"storage root {str(root)!r} cannot be read: {exc}") from exc
    if not folder:
        raise InputError(f"storage root {root} is not a folder")
    shared = _migrate_storage(store, home)
    roots = sorted({*shared.get("roots", []), str(root)})
    if roots != shared.get("roots"):
        store.settings.put(STORAGE, {**shared, "roots": roots})
    return roots


def set_s3(store: CatalogStore, home: Home, settings: dict[str, str]) -> dict[str, str]:
    """Record the S3 endpoint in the catalog; credentials given in clear stay in this home's private
    ``storage.json``, and ``*_env`` names a variable every home reads its own credential from."""
    known = {*_SHARED_S3, *_SECRET, "access_key_id_env", "secret_access_key_env"}
    unknown = set(settings) - known
    if unknown:
        raise InputError(f"unknown S3 settings {sorted(unknown)}", hint=f"known: {', '.join(sorted(known))}")
    shared = _migrate_storage(store, home)
    endpoint = {k: v for k, v in settings.items() if k in _SHARED_S3 and v}
    refs = {k.removesuffix("_env"): v for k, v in settings.items() if k.endswith("_env") and v}
    store.settings.put(STORAGE, {**shared, "s3": endpoint, "s3_credentials_env": refs})
    secrets = {k: v for k, v in settings.items() if k in _SECRET and v}
    if secrets:
        _write(home.storage_path, {"s3": secrets})
    return {**endpoint, **{f"{k}_env": v for k, v in refs.items()}, **dict.fromkeys(secrets, "***")}


def policy_text(store: CatalogStore, home: Home) -> tuple[str, str] | None:
    """The catalog's current policy (text, version label); a home's ``policy.yaml`` is taken in once."""
    doc = store.settings.get(POLICY)
    if doc is None and home.policy_path.exists():
        set_policy(store, home.policy_path.read_text(), origin=str(home.policy_path))
        doc = store.settings.get(POLICY)
    if doc is None:
        return None
    return str(doc["text"]), f"catalog v{doc['version']} ({doc['sha256'][:12]})"


def set_policy(store: CatalogStore, text: str, *, origin: str) -> int:
    """Store a new policy version (parsed first: a bad policy is never stored); returns its version."""
    from disgorge.policy import parse_policy

    parse_policy(text, origin)
    sha = hashlib.sha256(text.encode()).hexdigest()
    current = store.settings.get(POLICY)
    if current is not None and current["sha256"] == sha:
        return int(current["version"])
    version = 1 + int(current["version"]) if current else 1
    store.settings.put(POLICY, {"version": version, "sha256": sha, "text": text, "origin": origin})
    return version


def bind_log_identity(store: CatalogStore, origin: str, public_keys: list[str]) -> None:
    """The catalog records its log's origin and signing keys; a home that would sign checkpoints of
    the same log under another origin or key is refused (its checkpoints would not verify)."""
    recorded = store.settings.put_if_absent(LOG, {"origin": origin, "keys": public_keys})
    if recorded["origin"] != origin or not set(public_keys) & set(recorded["keys"]):
        raise ConflictError(
            f"this home signs the ledger as {origin!r}, but the catalog's log is {recorded['origin']!r} "
            "with other keys: two signers of one log would produce checkpoints nobody can check",
            hint="share the home's keys: `disgorge key export --secret` on a home that works with this "
            "catalog, then `disgorge key import FILE` here",
        )
    if set(public_keys) - set(recorded["keys"]):  # a rotation by a home that holds the current key
        store.settings.put(LOG, {"origin": origin, "keys": sorted(set(recorded["keys"]) | set(public_keys))})
