"""Lineage captured from the systems teams already run: OpenLineage events (Airflow, Spark, dbt, ...),
MLflow histories, Hugging Face datasets. See docs/capture.md."""

from disgorge.capture.pending import Folder, accept_event, fold_pending
from disgorge.capture.service import MAX_BATCH, EventResult, ingest_batch, ingest_event

__all__ = [
    "MAX_BATCH",
    "EventResult",
    "Folder",
    "accept_event",
    "fold_pending",
    "ingest_batch",
    "ingest_event",
]
