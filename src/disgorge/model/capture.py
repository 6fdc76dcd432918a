"""Lineage captured from other systems (OpenLineage, MLflow, Hugging Face), as the catalog folds it.

A captured run is the cumulative fold of every event received for one run id; its inputs and outputs are
named the way the producer names them (``namespace`` + ``name``) and carry the URI they resolve by."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class CapturedDataset:
    namespace: str
    name: str
    uri: str
    """``s3://bucket/key``, ``file:///path``, ``postgres://host:port/db.schema.table``, or
    ``disgorge:NAME@V`` for a dataset version named directly."""
    version: str | None = None
    """DatasetVersionDatasetFacet's ``datasetVersion``."""
    digest: str | None = None
    """A dataset version's manifest digest (the ``disgorge`` input facet): record-level precision."""
    dataset_ref: str | None = None
    """``NAME@V`` given by the ``disgorge`` facet."""
    is_model: bool = False
    sha256: str | None = None
    """The bytes' sha256, when the producer gave it (the ``disgorge`` output facet)."""
    size: int | None = None
    model_name: str | None = None
    relation: str = "fine_tuned_from"
    subset: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CapturedRun:
    uid: str
    """The producer's run id (a UUID for OpenLineage; MLflow's run id otherwise)."""
    source: str
    """openlineage | mlflow | hf"""
    producer: str
    name: str
    status: str
    """running | finished | failed | aborted"""
    use: str
    party: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    job_namespace: str | None = None
    job_name: str | None = None
    parent_uid: str | None = None
    inputs: tuple[CapturedDataset, ...] = ()
    outputs: tuple[CapturedDataset, ...] = ()
    events: int = 1


@dataclass(slots=True)
class CaptureOutcome:
    """What applying one captured run changed: its catalog run id and how each input resolved."""

    run_id: int
    created: bool
    resolved: list[tuple[str, str, str]] = field(default_factory=list)
    """(uri, node kind, how)"""
    unknown: list[tuple[str, str]] = field(default_factory=list)
    """(uri, reason)"""
    models: list[str] = field(default_factory=list)
