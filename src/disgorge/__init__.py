"""Disgorge: provenance, consent enforcement, record-level lineage and provable erasure of training data."""

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
