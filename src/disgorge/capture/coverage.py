"""How much of what happened the catalog saw: ``disgorge coverage``.

For a window of run start times: runs per producer (an OpenLineage producer URI, ``mlflow``, or
``disgorge`` for runs recorded here), their inputs resolved to registered data versus unknown, and the
models registered in the window with and without a recorded training run. An answer to "which models did
these photos train?" is only as complete as these numbers say. ``events``: OpenLineage events stored
but not folded in (waiting, or failed with the reason: their runs are missing from every answer).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from disgorge.catalog import CatalogStore
from disgorge.model.roles import Principal


def coverage(
    store: CatalogStore, principal: Principal, *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    from disgorge.access import require

    require(principal, "read")
    producers: dict[str, dict[str, Any]] = {}
    for row in store.captured_summary(since, until):
        p = producers.setdefault(
            row["producer"],
            {"producer": row["producer"], "source": row["source"], "runs": 0, "resolved": 0, "unknown": 0},
        )
        p["runs"] += 1
        p["resolved"] += row["resolved"]
        p["unknown"] += row["unknown"]
    models = store.models_and_runs(since, until)
    untrained = [m for m in models if not m["trained_by_run"]]
    resolved = sum(p["resolved"] for p in producers.values())
    unknown = sum(p["unknown"] for p in producers.values())
    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "producers": sorted(producers.values(), key=lambda p: (-p["runs"], p["producer"])),
        "runs": sum(p["runs"] for p in producers.values()),
        "inputs": {"resolved": resolved, "unknown": unknown},
        "models": {
            "with_training_run": len(models) - len(untrained),
            "without_training_run": len(untrained),
            "untrained": [m["name"] or m["sha256"] for m in untrained],
        },
        "events": store.pending_lineage(),
    }
