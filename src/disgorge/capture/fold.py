"""The cumulative fold of one run's OpenLineage events into what the catalog records.

START, RUNNING, COMPLETE, FAIL, ABORT and OTHER events of a run may arrive in any order and more than
once; the fold depends only on the set of events, sorted by (time, type, digest): inputs and outputs are
the union of every event's (facets merged, later ones winning), the status is that of the latest
terminal event, the run starts at its earliest event and ends at its terminal one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from disgorge.capture.openlineage import InputDataset, OutputDataset, RunEvent, dataset_uri
from disgorge.model import MODEL_RELATIONS
from disgorge.model.capture import CapturedDataset, CapturedRun

TERMINAL = {"COMPLETE": "finished", "FAIL": "failed", "ABORT": "aborted"}
UNDECLARED = "undeclared"
"""The use and party of a run that declared none: no notice permits it, so ``check --runs`` flags it
if it read registered data."""
MODEL_SUFFIXES = (
    ".pt",
    ".pth",
    ".safetensors",
    ".onnx",
    ".ckpt",
    ".gguf",
    ".h5",
    ".keras",
    ".joblib",
    ".pkl",
)
MODEL_TYPES = {"MODEL", "ML_MODEL"}


def is_model(out: OutputDataset) -> bool:
    """An output is a model when a facet says so or its name is a model file's."""
    dg = out.outputFacets.disgorge
    if dg is not None and (dg.kind == "model" or dg.sha256 is not None or dg.name is not None):
        return True
    dtype = out.facets.datasetType
    if dtype is not None and dtype.datasetType.upper() in MODEL_TYPES:
        return True
    return out.name.lower().endswith(MODEL_SUFFIXES)


def _input(d: InputDataset) -> CapturedDataset:
    dg = d.inputFacets.disgorge
    version = d.facets.version.datasetVersion if d.facets.version else None
    ref = dg.dataset if dg and dg.dataset else None
    if d.namespace == "disgorge" and ref is None:
        ref = d.name if "@" in d.name or version is None else f"{d.name}@{version}"
    subset = d.inputFacets.subset
    return CapturedDataset(
        namespace=d.namespace,
        name=d.name,
        uri=dataset_uri(d.namespace, d.name),
        version=version,
        digest=dg.manifestDigest if dg else None,
        dataset_ref=ref,
        subset=subset.model_dump(by_alias=True, exclude_none=True) if subset else None,
    )


def _output(d: OutputDataset) -> CapturedDataset:
    dg = d.outputFacets.disgorge
    relation = dg.relation if dg and dg.relation in MODEL_RELATIONS else MODEL_RELATIONS[0]
    return CapturedDataset(
        namespace=d.namespace,
        name=d.name,
        uri=dataset_uri(d.namespace, d.name),
        version=d.facets.version.datasetVersion if d.facets.version else None,
        is_model=is_model(d),
        sha256=dg.sha256 if dg else None,
        size=dg.size if dg else None,
        model_name=dg.name if dg else None,
        relation=relation,
    )


def _merge(into: dict[str, CapturedDataset], items: Sequence[CapturedDataset]) -> None:
    """Later events win field by field, but never erase what an earlier one said."""
    for item in items:
        old = into.get(item.uri)
        if old is None:
            into[item.uri] = item
            continue
        fields: dict[str, Any] = {}
        for f in CapturedDataset.__slots__:
            new_v = getattr(item, f)
            fields[f] = new_v if new_v not in (None, False) else getattr(old, f)
        into[item.uri] = CapturedDataset(**fields)


def fold(events: Sequence[tuple[RunEvent, str]]) -> CapturedRun:
    """Fold a run's events (each with its body's sha256) into one captured run."""
    ordered = sorted(events, key=lambda e: (e[0].time_key, e[0].type, e[1]))
    first, last = ordered[0][0], ordered[-1][0]
    inputs: dict[str, CapturedDataset] = {}
    outputs: dict[str, CapturedDataset] = {}
    status, ended, use, party, parent = "running", None, None, None, None
    producer = next((e.producer for e, _ in ordered if e.type == "START"), first.producer)
    for event, _ in ordered:
        _merge(inputs, [_input(d) for d in event.inputs])
        _merge(outputs, [_output(d) for d in event.outputs])
        if event.type in TERMINAL:
            status, ended = TERMINAL[event.type], event.eventTime
        facets = event.run.facets
        if facets.disgorge is not None:
            use = facets.disgorge.use or use
            party = facets.disgorge.party or party
        if facets.parent is not None:
            parent = str(facets.parent.run.runId)
    return CapturedRun(
        uid=first.run_uid,
        source="openlineage",
        producer=producer,
        name=f"{last.job.namespace}/{last.job.name}",
        status=status,
        use=use or UNDECLARED,
        party=party or UNDECLARED,
        started_at=first.eventTime,
        ended_at=ended,
        job_namespace=last.job.namespace,
        job_name=last.job.name,
        parent_uid=parent,
        inputs=tuple(inputs[k] for k in sorted(inputs)),
        outputs=tuple(outputs[k] for k in sorted(outputs)),
        events=len(ordered),
    )
