"""The catalog store as callers hold it."""

from __future__ import annotations

from disgorge.catalog.capture import CaptureMixin


class CatalogStore(CaptureMixin):
    """The catalog: sources, subjects, assets, copies, datasets, runs, artifacts, links, deployments,
    consent events and decisions, erasure plans and their journal, and the ledger, on SQLite or PostgreSQL."""
