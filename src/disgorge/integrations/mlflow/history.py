"""``disgorge import mlflow``: an existing MLflow history (runs, dataset inputs, logged models, registered
model versions) into the catalog, idempotently: re-importing upserts the same runs and adds nothing new.

No single MLflow API answers "which registered models used dataset X"; after an import, ``disgorge impact``
does, for every dataset the runs name as a ``disgorge`` source or by a registered copy's URI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import disgorge
from disgorge.integrations.mlflow.mapping import (
    captured_run,
    dataset_input,
    model_input,
    model_output,
    model_uri,
)
from disgorge.integrations.mlflow.store import SCHEME
from disgorge.model.capture import CapturedDataset, CapturedRun


def _pages(fetch: Any) -> Iterator[Any]:
    token = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def read_history(tracking_uri: str) -> list[CapturedRun]:
    """Every run of every experiment (deleted ones too), with its inputs and the models it made."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri.removeprefix(SCHEME))
    experiments = [
        e.experiment_id
        for e in _pages(lambda t: client.search_experiments(view_type=ViewType.ALL, page_token=t))
    ]
    made: dict[str, list[CapturedDataset]] = {}
    for i in range(0, len(experiments), 100):
        ids = experiments[i : i + 100]
        for m in _pages(lambda t, ids=ids: client.search_logged_models(experiment_ids=ids, page_token=t)):
            if m.source_run_id:
                made.setdefault(m.source_run_id, []).append(model_output(m.model_id))
    for rm in _pages(lambda t: client.search_registered_models(page_token=t)):
        for v in client.search_model_versions(f"name='{rm.name}'"):
            logged = getattr(v, "model_id", None) or str(v.source or "").removeprefix("models:/")
            if v.run_id and not any(o.uri == model_uri(logged) for o in made.get(v.run_id, [])):
                out = CapturedDataset(
                    namespace="mlflow",
                    name=f"{v.name}/{v.version}",
                    uri=f"models:/{v.name}/{v.version}",
                    is_model=True,
                    model_name=f"mlflow:{v.name}/{v.version}",
                )
                made.setdefault(v.run_id, []).append(out)
    runs = []
    for run in _pages(
        lambda t: client.search_runs(experiments, run_view_type=ViewType.ALL, max_results=1000, page_token=t)
    ):
        inputs = [
            dataset_input(d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source)
            for d in run.inputs.dataset_inputs
        ]
        inputs += [model_input(m.model_id) for m in getattr(run.inputs, "model_inputs", None) or []]
        runs.append(
            captured_run(
                run.info.run_id,
                name=run.info.run_name or run.info.run_id,
                status=run.info.status,
                tags=dict(run.data.tags),
                start_ms=run.info.start_time,
                end_ms=run.info.end_time,
                inputs=tuple(inputs),
                outputs=tuple(made.get(run.info.run_id, [])),
            )
        )
    return runs


def import_history(cat: disgorge.Catalog, tracking_uri: str) -> dict[str, Any]:
    """Import (read here, recorded by the catalog or its server), then say what was recorded and what
    could not be resolved."""
    cat._may("lineage.write")
    return cat.record_captured(read_history(tracking_uri), origin=tracking_uri)
