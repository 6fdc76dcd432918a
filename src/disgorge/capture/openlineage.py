"""OpenLineage 2-0-2 run events, validated structurally (https://openlineage.io/spec/2-0-2/OpenLineage.json).

The facets the catalog acts on are typed: ``parent`` (ParentRunFacet), ``version``
(DatasetVersionDatasetFacet), ``datasetType`` (DatasetTypeDatasetFacet), the input and output ``subset``
facets, and Disgorge's own ``disgorge`` facets (a run's declared use and party; an input's dataset version
and manifest digest; an output's model name and sha256). Every other facet is kept as received.
A malformed event is refused with one line naming the field and what was wrong.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from disgorge.errors import InputError

MAX_EVENT_BYTES = 1 << 20
"""One event's JSON, at most 1 MiB: lineage metadata, not data."""
MAX_DATASETS = 1000
"""Inputs or outputs of one event."""
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Open(BaseModel):
    """Unknown keys are kept: facets grow and producers add their own."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Facets(_Open):
    """A map of facets: the typed ones by name, every other kept, each a JSON object."""

    __pydantic_extra__: dict[str, dict[str, Any]] = Field(init=False)


class Facet(_Open):
    producer: str | None = Field(default=None, alias="_producer")
    schema_url: str | None = Field(default=None, alias="_schemaURL")


class ParentRun(_Open):
    runId: uuid.UUID
    facets: dict[str, dict[str, Any]] | None = None


class ParentJob(_Open):
    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    facets: dict[str, dict[str, Any]] | None = None


class ParentRoot(_Open):
    run: ParentRun
    job: ParentJob


class ParentRunFacet(Facet):
    run: ParentRun
    job: ParentJob
    root: ParentRoot | None = None


class DisgorgeRunFacet(Facet):
    """A run's declared data use (a fideslang key) and the party that runs it."""

    use: str | None = Field(default=None, min_length=1, max_length=100)
    party: str | None = Field(default=None, min_length=1, max_length=200)


class RunFacets(_Facets):
    parent: ParentRunFacet | None = None
    disgorge: DisgorgeRunFacet | None = None


class Run(_Open):
    runId: uuid.UUID
    facets: RunFacets = Field(default_factory=RunFacets)


class Job(_Open):
    namespace: str = Field(min_length=1, max_length=1000)
    name: str = Field(min_length=1, max_length=1000)
    facets: dict[str, dict[str, Any]] = Field(default_factory=dict)


class DatasetVersionFacet(Facet):
    datasetVersion: str = Field(max_length=200)


class DatasetTypeFacet(Facet):
    datasetType: str = Field(max_length=100)
    subType: str | None = None


class DatasetFacets(_Facets):
    version: DatasetVersionFacet | None = None
    datasetType: DatasetTypeFacet | None = None


class SubsetFacet(Facet):
    inputCondition: dict[str, Any] | None = None
    outputCondition: dict[str, Any] | None = None


class DisgorgeInputFacet(Facet):
    """The exact dataset version read: ``dataset`` (NAME@V) and/or its ``manifestDigest`` (the RFC 9162
    root over its members' sha256), which pins the records read."""

    dataset: str | None = Field(default=None, max_length=210, pattern=r"^[^@]+(@\d+)?$")
    manifestDigest: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class DisgorgeOutputFacet(Facet):
    """An output that is a model: its name, the sha256 and size of its bytes, the relation to input models."""

    kind: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    size: int | None = Field(default=None, ge=0)
    relation: str | None = None


class InputFacets(_Facets):
    subset: SubsetFacet | None = None
    disgorge: DisgorgeInputFacet | None = None


class OutputFacets(_Facets):
    subset: SubsetFacet | None = None
    disgorge: DisgorgeOutputFacet | None = None


class Dataset(_Open):
    namespace: str = Field(min_length=1, max_length=1000)
    name: str = Field(min_length=1, max_length=1900)
    facets: DatasetFacets = Field(default_factory=DatasetFacets)


class InputDataset(Dataset):
    inputFacets: InputFacets = Field(default_factory=InputFacets)


class OutputDataset(Dataset):
    outputFacets: OutputFacets = Field(default_factory=OutputFacets)


class RunEvent(_Open):
    eventTime: datetime
    producer: str = Field(min_length=1, max_length=2000)
    schemaURL: str = Field(min_length=1)
    eventType: Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"] | None = None
    run: Run
    job: Job
    inputs: list[InputDataset] = Field(default_factory=list, max_length=MAX_DATASETS)
    outputs: list[OutputDataset] = Field(default_factory=list, max_length=MAX_DATASETS)

    @field_validator("eventTime")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("needs a timezone (e.g. 2026-12-02T06:00:00Z)")
        return v.astimezone(UTC)

    @property
    def type(self) -> str:
        return self.eventType or "OTHER"

    @property
    def time_key(self) -> str:
        return self.eventTime.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    @property
    def run_uid(self) -> str:
        return str(self.run.runId)


class NotARunEvent(Exception):
    """A DatasetEvent or JobEvent: valid OpenLineage, but it describes no run to record."""


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[") or "event"


def reason(exc: ValidationError) -> str:
    """The first problem of a refused event as one line: the field's path, then what was wrong."""
    errs = exc.errors(include_url=False)
    first = errs[0]
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"{_where(tuple(first['loc']))}: {first['msg']}{more}"


def load(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The event as a JSON object, refused if it is not one or is over :data:`MAX_EVENT_BYTES`."""
    if isinstance(raw, dict):
        return raw
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_EVENT_BYTES:
        raise InputError(
            f"event is {size} bytes, over the {MAX_EVENT_BYTES}-byte limit",
            hint="send lineage metadata only; split very wide jobs into several events",
        )
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"event is not JSON ({exc})", hint="send one OpenLineage RunEvent as JSON") from exc
    if not isinstance(doc, dict):
        raise InputError(f"event is a JSON {type(doc).__name__}, not an object", hint="send one RunEvent")
    return doc


def parse(doc: dict[str, Any]) -> RunEvent:
    """Validate one event; raises InputError with the reason, or NotARunEvent."""
    if "run" not in doc and ("dataset" in doc or ("job" in doc and "eventType" not in doc)):
        raise NotARunEvent("a DatasetEvent or JobEvent: no run to record")
    try:
        event = RunEvent.model_validate(doc)
    except ValidationError as exc:
        raise InputError(
            f"event refused: {reason(exc)}", hint="see the OpenLineage 2-0-2 RunEvent schema"
        ) from exc
    return event


def dataset_uri(namespace: str, name: str) -> str:
    """OpenLineage's dataset naming (spec/Naming.md) as the URI the catalog stores copies under."""
    if namespace == "disgorge":
        return f"disgorge:{name}"
    if namespace == "file" or namespace.startswith("file:"):
        from pathlib import PurePosixPath

        path = PurePosixPath(name if name.startswith("/") else "/" + name)
        return path.as_uri()
    if "://" in namespace:
        return namespace.rstrip("/") + "/" + name.lstrip("/")
    return f"{namespace}/{name}"
