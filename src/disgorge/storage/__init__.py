"""Storage backends the erasure executor re-checks and deletes through: local files, S3, Delta tables.

``backend_for(uri, config)`` picks the backend by URI scheme (``file://`` or an absolute path, ``s3://``,
``delta://``, ``memory://``); the S3 and Delta drivers, and their libraries, are imported only when a URI
needs them. Every backend follows the rules in :mod:`disgorge.storage.base`.
"""

from disgorge.storage.base import (
    BaseStorage,
    DeleteEvidence,
    Identity,
    ObjectInfo,
    Outcome,
    StorageBackend,
)
from disgorge.storage.local import LocalStorage
from disgorge.storage.memory import MemoryStorage
from disgorge.storage.registry import (
    S3Config,
    StorageConfig,
    backend_for,
    config_from_env,
    reach,
    register_backend,
    scheme_of,
)

__all__ = [
    "BaseStorage",
    "DeleteEvidence",
    "Identity",
    "LocalStorage",
    "MemoryStorage",
    "ObjectInfo",
    "Outcome",
    "S3Config",
    "StorageBackend",
    "StorageConfig",
    "backend_for",
    "config_from_env",
    "reach",
    "register_backend",
    "scheme_of",
]
