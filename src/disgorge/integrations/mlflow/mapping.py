"""MLflow entities as the catalog's captured lineage: runs, dataset inputs, logged and registered models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from disgorge.model.capture import CapturedDataset, CapturedRun

STATUS = {
    "RUNNING": "running",
    "SCHEDULED": "running",
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "aborted",
}
USE_TAG, PARTY_TAG, INPUTS_TAG = "disgorge.use", "disgorge.party", "disgorge.inputs"
UNDECLARED = "undeclared"


def dataset_input(name: str, digest: str, source_type: str, source: str) -> CapturedDataset:
    """An MLflow dataset as an input: a ``disgorge`` source names its version and manifest digest; any
    other source by the URI it gives (resolved against registered copies), else by name and digest."""
    try:
        doc: dict[str, Any] = json.loads(source) if source else {}
    except ValueError:
        doc = {"uri": source}
    if not isinstance(doc, dict):
        doc = {}
    if source_type == "disgorge" and doc.get("ref"):
        ref = str(doc["ref"])
        full = doc.get("digest")
        return CapturedDataset(
            namespace="disgorge",
            name=ref,
            uri=f"disgorge:{ref}",
            dataset_ref=None if full else ref,
            digest=str(full) if full else None,
        )
    uri = next((str(doc[k]) for k in ("uri", "url", "path", "location") if doc.get(k)), None)
    if uri is not None and uri.startswith("/"):
        uri = PurePosixPath(uri).as_uri()
    return CapturedDataset(
        namespace=f"mlflow:{source_type}", name=name, uri=uri or f"mlflow:{source_type}:{name}@{digest}"
    )


def model_uri(model_id: str) -> str:
    return f"models:/{model_id}"


def model_output(model_id: str) -> CapturedDataset:
    return CapturedDataset(
        namespace="mlflow",
        name=model_id,
        uri=model_uri(model_id),
        is_model=True,
        model_name=f"mlflow:{model_id}",
    )


def model_input(model_id: str) -> CapturedDataset:
    return CapturedDataset(namespace="mlflow", name=model_id, uri=model_uri(model_id))


def captured_run(
    run_id: str,
    *,
    name: str,
    status: str,
    tags: dict[str, str],
    start_ms: int | None,
    end_ms: int | None,
    inputs: tuple[CapturedDataset, ...] = (),
    outputs: tuple[CapturedDataset, ...] = (),
) -> CapturedRun:
    return CapturedRun(
        uid=run_id,
        source="mlflow",
        producer="mlflow",
        name=f"mlflow/{name}",
        status=STATUS.get(status, "running"),
        use=tags.get(USE_TAG) or UNDECLARED,
        party=tags.get(PARTY_TAG) or UNDECLARED,
        started_at=datetime.fromtimestamp(start_ms / 1000, UTC) if start_ms else None,
        ended_at=datetime.fromtimestamp(end_ms / 1000, UTC) if end_ms else None,
        inputs=inputs,
        outputs=outputs,
    )
