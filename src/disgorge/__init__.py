"""Disgorge: provenance, consent enforcement, record-level lineage and provable erasure of training data.

The public names below load lazily, so importing one subpackage (say ``disgorge.neardup`` in a worker
process) does not pay for the catalog, SQLAlchemy and the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from disgorge.api import Catalog, RunContext, open
    from disgorge.errors import (
        ConflictError,
        DisgorgeError,
        InputError,
        NotFoundError,
        PolicyDenied,
        StoreError,
        UsageError,
        VerificationFailed,
    )
    from disgorge.settings import Home

_WHERE = {
    "Catalog": "disgorge.api",
    "RunContext": "disgorge.api",
    "open": "disgorge.api",
    "Home": "disgorge.settings",
    **dict.fromkeys(
        (
            "ConflictError",
            "DisgorgeError",
            "InputError",
            "NotFoundError",
            "PolicyDenied",
            "StoreError",
            "UsageError",
            "VerificationFailed",
        ),
        "disgorge.errors",
    ),
}

__all__ = [
    "Catalog",
    "ConflictError",
    "DisgorgeError",
    "Home",
    "InputError",
    "NotFoundError",
    "PolicyDenied",
    "RunContext",
    "StoreError",
    "UsageError",
    "VerificationFailed",
    "open",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'disgorge' has no attribute {name!r}")
