"""The provenance catalog: SQLAlchemy store on SQLite (WAL) or PostgreSQL, with Alembic migrations."""

from disgorge.catalog.assets import AssetView, RegisterResult
from disgorge.catalog.datasets import DatasetInfo
from disgorge.catalog.runs import ArtifactInfo, CatalogStore, RunInfo, as_uri
from disgorge.catalog.sources import SourceInfo

__all__ = [
    "ArtifactInfo",
    "AssetView",
    "CatalogStore",
    "DatasetInfo",
    "RegisterResult",
    "RunInfo",
    "SourceInfo",
    "as_uri",
]
