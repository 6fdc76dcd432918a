"""The catalog store as callers hold it."""

from __future__ import annotations

from disgorge.catalog.erasure import ErasureMixin


class CatalogStore(ErasureMixin):
    """The catalog: sources, subjects, assets, copies, datasets, runs, artifacts, links, deployments,
    consent events and decisions, erasure plans and their journal, on SQLite or PostgreSQL."""
