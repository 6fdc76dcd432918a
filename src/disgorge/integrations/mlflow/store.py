"""The ``disgorge+<uri>`` tracking store: MLflow's own store for ``<uri>``, with the catalog in front.

MLflow's run-context and request-header plugins swallow their exceptions, so only a store can refuse.
``create_run`` is refused when the run's ``disgorge.inputs`` tag names data its declared use
(``disgorge.use``) and party (``disgorge.party``) may not read; ``log_inputs`` when a ``disgorge`` dataset
may not be read; both before the wrapped store is touched (a refusal is recorded then and there). Every
run, input and logged model is recorded in the catalog of ``$DISGORGE_HOME`` by a background writer
(``recorder.py``), so recording adds almost nothing to MLflow's calls; the end of a run waits for it. The
catalog is opened on first use, once per store.

What these methods raise from Disgorge (a refusal, an unknown dataset, a catalog that cannot be written)
is raised as an ``MlflowException`` that is also the Disgorge error (``refusal.py``): behind ``mlflow
server`` a refusal is HTTP 403 ``PERMISSION_DENIED`` with its message, not an internal error, and an
in-process caller still catches ``PolicyDenied``.
"""

from __future__ import annotations

import threading
from typing import Any

import disgorge
from disgorge.integrations.mlflow.mapping import (
    INPUTS_TAG,
    PARTY_TAG,
    UNDECLARED,
    USE_TAG,
    captured_run,
    dataset_input,
    model_input,
    model_output,
)
from disgorge.integrations.mlflow.recorder import Recorder
from disgorge.integrations.mlflow.refusal import mlflow_errors
from disgorge.model.capture import CapturedDataset

SCHEME = "disgorge+"
TERMINAL = {"FINISHED", "FAILED", "KILLED"}


def build(store_uri: str, artifact_uri: str | None = None) -> DisgorgeTrackingStore:
    """The entry point MLflow calls for ``disgorge+sqlite:///…``, ``disgorge+http://…`` and the like."""
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    inner_uri = store_uri.removeprefix(SCHEME)
    # the registry holds a non-reentrant lock while it builds this store: use the builder, not get_store
    builder = _tracking_store_registry.get_store_builder(inner_uri)  # type: ignore[no-untyped-call]
    inner = builder(store_uri=inner_uri, artifact_uri=artifact_uri)
    return DisgorgeTrackingStore(inner)


class DisgorgeTrackingStore:
    """Delegates to the wrapped store; what it overrides checks first and records after."""

    def __init__(self, inner: Any, catalog: disgorge.Catalog | None = None) -> None:
        self._inner = inner
        self._catalog = catalog
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[str, dict[str, str], int | None]] = {}
        self.recorder = Recorder(lambda: self.catalog.store)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def catalog(self) -> disgorge.Catalog:
        """The catalog of ``$DISGORGE_HOME``, opened on first use (not when MLflow builds the store)."""
        if self._catalog is None:
            with self._lock:
                if self._catalog is None:
                    self._catalog = disgorge.open()
        return self._catalog

    def _check(self, refs: list[str], use: str, party: str, what: str) -> None:
        """The gate of ``Catalog.run``: the versions must be readable (not marked by an erasure) and
        their members allowed. What it reads is kept by the store behind the ledger's stamps (one
        grouped read per check), so a change made by any process reaches the very next call."""
        from disgorge.enforcement import check_datasets, denial, readable

        store = self.catalog.store
        with store.reading():  # the stamps, then what they guard, in one session and transaction
            infos = [readable(store.get_dataset(r)) for r in refs]
            report = check_datasets(store, infos, use=use, recipient=party, policy=self.catalog.policy)
        if not report.ok:
            store.record_decision(report.record("mlflow"))
            raise denial(report, what)
        self.recorder.decision(report.record("mlflow"))

    def _record(
        self,
        run_id: str,
        *,
        inputs: tuple[CapturedDataset, ...] = (),
        outputs: tuple[CapturedDataset, ...] = (),
        status: str = "RUNNING",
        end_ms: int | None = None,
    ) -> None:
        name, tags, start = self._run(run_id)
        run = captured_run(
            run_id,
            name=name,
            status=status,
            tags=tags,
            start_ms=start,
            end_ms=end_ms,
            inputs=inputs,
            outputs=outputs,
        )
        self.recorder.run(run)

    def _run(self, run_id: str) -> tuple[str, dict[str, str], int | None]:
        if run_id not in self._runs:
            run = self._inner.get_run(run_id)
            self._runs[run_id] = (run.info.run_name or run_id, dict(run.data.tags), run.info.start_time)
        return self._runs[run_id]

    def create_run(
        self, experiment_id: str, user_id: str, start_time: int | None, tags: list[Any], run_name: str | None
    ) -> Any:
        declared = {t.key: t.value for t in tags or []}
        refs = [r.strip() for r in declared.get(INPUTS_TAG, "").split(",") if r.strip()]
        if refs:
            with mlflow_errors():
                self._check(
                    refs,
                    declared.get(USE_TAG) or UNDECLARED,
                    declared.get(PARTY_TAG) or UNDECLARED,
                    f"MLflow run {run_name or ''!r} reading {', '.join(refs)}".replace(" ''", ""),
                )
        run = self._inner.create_run(experiment_id, user_id, start_time, tags, run_name)
        self._runs[run.info.run_id] = (
            run.info.run_name or run.info.run_id,
            dict(run.data.tags),
            run.info.start_time,
        )
        inputs = tuple(
            CapturedDataset(namespace="disgorge", name=r, uri=f"disgorge:{r}", dataset_ref=r) for r in refs
        )
        self._record(run.info.run_id, inputs=inputs)
        return run

    def log_inputs(
        self, run_id: str, datasets: list[Any] | None = None, models: list[Any] | None = None
    ) -> Any:
        name, tags, _ = self._run(run_id)
        inputs = [
            dataset_input(d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source)
            for d in datasets or []
        ]
        refs = [i.name for i in inputs if i.namespace == "disgorge"]
        if refs:
            with mlflow_errors():
                self._check(
                    refs,
                    tags.get(USE_TAG) or UNDECLARED,
                    tags.get(PARTY_TAG) or UNDECLARED,
                    f"reading {', '.join(refs)} in MLflow run {name!r}",
                )
        out = self._inner.log_inputs(run_id, datasets, models)
        inputs += [model_input(m.model_id) for m in models or []]
        self._record(run_id, inputs=tuple(inputs))
        return out

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        model = self._inner.create_logged_model(experiment_id, name, source_run_id, *args, **kwargs)
        if source_run_id:
            self._record(source_run_id, outputs=(model_output(model.model_id),))
        return model

    def set_tag(self, run_id: str, tag: Any) -> Any:
        self._runs.pop(run_id, None)  # a declared use or party may have changed: read it again
        return self._inner.set_tag(run_id, tag)

    def log_batch(self, run_id: str, metrics: Any, params: Any, tags: Any) -> Any:
        if tags:
            self._runs.pop(run_id, None)
        return self._inner.log_batch(run_id, metrics, params, tags)

    def update_run_info(
        self, run_id: str, run_status: Any, end_time: int | None, run_name: str | None
    ) -> Any:
        info = self._inner.update_run_info(run_id, run_status, end_time, run_name)
        from mlflow.entities import RunStatus

        status = run_status if isinstance(run_status, str) else RunStatus.to_string(run_status)
        self._record(run_id, status=status, end_ms=end_time)
        if status in TERMINAL:
            self.flush()
        return info

    def flush(self) -> None:
        """Wait until the catalog holds everything this store has seen."""
        with mlflow_errors():
            self.recorder.flush()
