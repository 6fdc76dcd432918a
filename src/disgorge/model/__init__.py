"""Frozen domain types shared by every layer. No I/O."""

from disgorge.model.types import (
    ARTIFACT_KINDS,
    MODEL_RELATIONS,
    AssetRecord,
    DatasetRef,
    IngestProblem,
    IngestSummary,
    RunInput,
    check_relation,
)

__all__ = [
    "ARTIFACT_KINDS",
    "MODEL_RELATIONS",
    "AssetRecord",
    "DatasetRef",
    "IngestProblem",
    "IngestSummary",
    "RunInput",
    "check_relation",
]
