"""Backends chosen by URI scheme, with drivers imported only when a URI needs them.

Follows mlflow's tracking-store registry (``tracking/_tracking_service/registry.py``): a scheme maps to
a factory, so ``boto3`` and ``deltalake`` are imported only by a run that touches ``s3://`` or
``delta://``. Backends are cached per :class:`StorageConfig`, so an executor calling
``backend_for(uri, config)`` once per target reuses one S3 client; ``config.close()`` releases them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self, cast
from urllib.parse import urlsplit

from disgorge.errors import InputError
from disgorge.storage.base import StorageBackend

Factory = Callable[["StorageConfig"], StorageBackend]

_DRIVERS: dict[str, str] = {
    "file": "disgorge.storage.local:LocalStorage",
    "s3": "disgorge.storage.s3:S3Storage",
    "memory": "disgorge.storage.memory:MemoryStorage",
    "delta": "disgorge.storage.delta:DeltaStorage",
    "delta+s3": "disgorge.storage.delta:DeltaStorage",
}
_FACTORIES: dict[str, Factory] = {}


@dataclass(frozen=True)
class S3Config:
    """An S3 endpoint. Credentials default to boto3's chain (environment, profile) when ``None``.

    ``weed_master`` (``host:port``, or ``host:port.grpcPort`` if the gRPC port is not port+10000) lets
    :meth:`S3Storage.compact` run SeaweedFS's volume vacuum, without which deleted bytes stay on disk.
    """

    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str = "us-east-1"
    weed_master: str | None = None
    weed_binary: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 60.0


@dataclass(frozen=True, eq=False)
class StorageConfig:
    """Where erasure may act: local storage roots, the S3 endpoint, and backends given explicitly.

    ``backends`` maps a scheme to a ready backend and wins over the drivers: tests map ``s3`` or
    ``memory`` to a :class:`~disgorge.storage.memory.MemoryStorage` to inject faults.
    """

    roots: tuple[Path, ...] = ()
    s3: S3Config | None = None
    backends: Mapping[str, StorageBackend] = field(default_factory=dict)
    _cache: dict[str, StorageBackend] = field(default_factory=dict, init=False, repr=False)

    def close(self) -> None:
        """Close the backends this config created (not those passed in ``backends``)."""
        while self._cache:
            _, backend = self._cache.popitem()
            backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def scheme_of(uri: str) -> str:
    """``file``, ``s3``, ``memory``, ``delta``, ``delta+s3``, ...; an absolute path counts as ``file``."""
    if "\0" in uri:
        raise InputError(f"{uri!r}: a NUL byte is never part of a path or URI")
    if uri.startswith("/"):
        return "file"
    for plain in ("file:///", "s3://"):  # what urlsplit answers for these, without parsing the rest
        if uri.startswith(plain):
            return plain.partition(":")[0]
    scheme = urlsplit(uri).scheme.lower()
    if not scheme or "://" not in uri:
        raise InputError(
            f"{uri!r} is neither an absolute path nor a URI",
            hint="use file:///abs/path, s3://bucket/key, delta:///abs/table, delta+s3://bucket/table "
            "or memory://name/key",
        )
    return scheme


def register_backend(scheme: str, factory: Factory) -> None:
    """Add or replace the driver for ``scheme`` (plugins; tests)."""
    _FACTORIES[scheme.lower()] = factory


def _factory(scheme: str) -> Factory:
    if scheme in _FACTORIES:
        return _FACTORIES[scheme]
    target = _DRIVERS.get(scheme)
    if target is None:
        known = ", ".join(sorted({*_DRIVERS, *_FACTORIES}))
        raise InputError(f"no storage backend for scheme {scheme!r}", hint=f"known schemes: {known}")
    module, _, name = target.partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cast(Factory, cls.from_config)


def backend_for(uri: str, config: StorageConfig) -> StorageBackend:
    """The backend that handles ``uri`` under ``config`` (created once per config and scheme)."""
    scheme = scheme_of(uri)
    if scheme in config.backends:
        return config.backends[scheme]
    cached = config._cache.get(scheme)
    if cached is None:
        cached = config._cache[scheme] = _factory(scheme)(config)
    return cached


def reach(uri: str, config: StorageConfig) -> str | None:
    """Why ``config`` cannot reach ``uri`` (outside every root, no S3 endpoint), or None if it can.

    Checked without touching the object, so a plan can say before anything runs which targets erasure
    could not delete and what would fix it."""
    from disgorge.errors import DisgorgeError

    try:
        scheme = scheme_of(uri)
    except DisgorgeError as exc:
        return exc.message
    if scheme in config.backends:
        return None
    if scheme in ("s3", "delta+s3"):
        return None if config.s3 is not None else "no S3 endpoint is configured"
    if scheme in ("file", "delta"):
        from disgorge.storage.local import LocalStorage, uri_to_path

        try:
            path = uri_to_path(uri.partition("#")[0] if scheme == "delta" else uri)
            local = backend_for("file:///", config)  # created once per config, not once per target
            if not isinstance(local, LocalStorage):
                local = LocalStorage(config.roots)
            local.locate(path)
        except DisgorgeError:
            return "outside every storage root"
        return None
    if scheme in _DRIVERS or scheme in _FACTORIES:
        return None if scheme != "memory" else "no in-memory store is configured"
    return f"no storage backend for scheme {scheme!r}"


def config_from_env(roots: tuple[Path, ...] = ()) -> StorageConfig:
    """A config from ``DISGORGE_STORAGE_ROOTS`` (``os.pathsep``-separated) and ``DISGORGE_S3_*``.

    ``DISGORGE_S3_ENDPOINT``, ``DISGORGE_S3_WEED_MASTER``; credentials from boto3's usual chain.
    """
    env_roots = tuple(Path(p) for p in os.environ.get("DISGORGE_STORAGE_ROOTS", "").split(os.pathsep) if p)
    endpoint = os.environ.get("DISGORGE_S3_ENDPOINT")
    master = os.environ.get("DISGORGE_S3_WEED_MASTER")
    s3 = S3Config(endpoint_url=endpoint, weed_master=master) if endpoint or master else None
    return StorageConfig(roots=roots + env_roots, s3=s3)
