"""The catalog store as callers hold it."""

from __future__ import annotations

from disgorge.catalog.consent import ConsentMixin


class CatalogStore(ConsentMixin):
    """The catalog: sources, subjects, assets, copies, datasets, runs, artifacts, links, deployments,
    consent events and decisions, on SQLite or PostgreSQL."""
