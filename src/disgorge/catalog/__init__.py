"""The provenance catalog: SQLAlchemy store on SQLite (WAL) or PostgreSQL, with Alembic migrations."""

from disgorge.catalog.assets import AssetView, RegisterResult
from disgorge.catalog.consent import ConsentLine, DecisionRecord, new_uid
from disgorge.catalog.datasets import DatasetInfo
from disgorge.catalog.facade import CatalogStore
from disgorge.catalog.runs import ArtifactInfo, NewArtifact, RunInfo, as_uri
from disgorge.catalog.sources import SourceInfo

__all__ = [
    "ArtifactInfo",
    "AssetView",
    "CatalogStore",
    "ConsentLine",
    "DatasetInfo",
    "DecisionRecord",
    "NewArtifact",
    "RegisterResult",
    "RunInfo",
    "SourceInfo",
    "as_uri",
    "new_uid",
]
