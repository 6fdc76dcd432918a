"""Domain records passed between the pipeline, the catalog and the surfaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from disgorge.errors import InputError

MODEL_RELATIONS = (
    "fine_tuned_from",
    "distilled_from",
    "merged_from",
    "quantized_from",
    "derived_from",
    "ensemble_of",
)
"""Typed parent links between models; the closure follows every one of them. ``ensemble_of`` links a
SISA shard model to the aggregate that combines it."""


def check_relation(relation: str) -> None:
    """Refuse a model relation the closure would not know to follow."""
    if relation not in MODEL_RELATIONS:
        raise InputError(f"relation {relation!r} is unknown", hint=f"relations: {', '.join(MODEL_RELATIONS)}")


ARTIFACT_KINDS = (
    "model",
    "checkpoint",
    "embedding",
    "thumbnail",
    "crop",
    "feature_table",
    "report",
    "other",
)

InputKind = Literal["dataset", "model", "artifact"]


@dataclass(frozen=True, slots=True)
class AssetRecord:
    """One distinct content, ready to register: everything the pipeline learnt from the bytes."""

    sha256: str
    size: int
    media_type: str
    uri: str
    mtime_ns: int
    inode: int
    width: int | None = None
    height: int | None = None
    pdq: bytes | None = None
    pdq_quality: int | None = None
    crops: tuple[tuple[bytes, int], ...] = ()
    """PDQ and quality of the stored centre crops (see ``disgorge.hashing.image.CROPS``)."""
    forms: tuple[bytes, ...] = ()
    """PDQ of the 8 dihedral forms (rotations, flips), computed only to match against erased content;
    not stored."""
    subject: str | None = None
    categories: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    etag: str | None = None
    """An S3 object's ETag and version id as read: recorded on the copy, so erasure can name exactly
    these bytes (a version id is immutable) without reading them again."""
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class IngestProblem:
    """A file that was not registered, and why; never fatal to the run."""

    path: str
    reason: str
    code: str


@dataclass(slots=True)
class IngestSummary:
    scanned: int = 0
    new_assets: int = 0
    new_copies: int = 0
    unchanged: int = 0
    bytes_read: int = 0
    subjects_added: int = 0
    """Known content that had no known subject and was given one by this ingest."""
    unknown_subject: int = 0
    """New assets registered as "subject unknown" (an erasure by subject cannot find them)."""
    problems: list[IngestProblem] = field(default_factory=list)
    flags: list[IngestProblem] = field(default_factory=list)
    """Registered, but flagged: near duplicates of erased content."""
    engine: dict[str, Any] | None = None
    """How an engine ran it (S3 prefixes): engine, workers, job, batches skipped on resume, ..."""

    def to_json(self) -> dict[str, Any]:
        return ({"engine": self.engine} if self.engine is not None else {}) | {
            "scanned": self.scanned,
            "new_assets": self.new_assets,
            "new_copies": self.new_copies,
            "unchanged": self.unchanged,
            "bytes_read": self.bytes_read,
            "subjects_added": self.subjects_added,
            "unknown_subject": self.unknown_subject,
            "problems": [{"path": p.path, "code": p.code, "reason": p.reason} for p in self.problems],
            "flags": [{"path": p.path, "code": p.code, "reason": p.reason} for p in self.flags],
        }


@dataclass(frozen=True, slots=True)
class DatasetRef:
    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        name, _, version = text.partition("@")
        if version and not version.isdigit():
            raise InputError(
                f"dataset reference {text!r}: version {version!r} is not a number",
                hint="write NAME or NAME@VERSION, e.g. faces@2",
            )
        return cls(name, int(version) if version else None)

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


@dataclass(frozen=True, slots=True)
class RunInput:
    kind: InputKind
    ref: str

    @classmethod
    def parse(cls, text: str) -> RunInput:
        kind, sep, ref = text.partition(":")
        if not sep or kind not in ("dataset", "model", "artifact") or not ref:
            raise InputError(
                f"run input {text!r} is not KIND:REF",
                hint="use dataset:NAME[@VERSION], model:NAME_OR_PATH or artifact:NAME_OR_PATH",
            )
        return cls(kind, ref)  # type: ignore[arg-type]
