"""Disgorge: provenance, consent enforcement, record-level lineage and provable erasure of training data."""

from disgorge.api import Catalog, Home, RunContext, open
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
