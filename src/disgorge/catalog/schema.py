"""ORM tables of the catalog. Rows here are storage shapes, kept apart from the domain records in
``disgorge.model``; the Alembic migrations under ``migrations/`` must produce exactly this schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Id = BigInteger().with_variant(Integer, "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class Source(Base):
    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    controller: Mapped[str | None] = mapped_column(String(200))
    legal_basis: Mapped[str | None] = mapped_column(String(100))
    categories: Mapped[list[str]]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Notice(Base):
    """A version of a source's privacy notice: what the people were told, hence what is permitted."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("source_id", "version"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    version: Mapped[int] = mapped_column(Integer)
    text_sha256: Mapped[str] = mapped_column(String(64))
    uses: Mapped[list[str]]
    recipients: Mapped[list[str]]
    effective_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Subject(Base):
    __tablename__ = "subjects"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)


class Asset(Base):
    """Ids are never reused (AUTOINCREMENT on SQLite): dataset bitmaps of erased assets must never come to
    name new content."""

    __tablename__ = "assets"
    __table_args__ = (
        Index("ix_assets_source_id_id", "source_id", "id"),
        Index("ix_assets_subject_id", "subject_id"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    pdq: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"))
    categories: Mapped[list[str]]
    meta: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Copy(Base):
    """Where an asset's bytes live; identity (size, mtime, inode) is recorded to re-check before deletion."""

    __tablename__ = "copies"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    uri: Mapped[str] = mapped_column(String(2000), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    inode: Mapped[int | None] = mapped_column(BigInteger)
    etag: Mapped[str | None] = mapped_column(String(200))
    """An S3 copy's ETag when registered: with ``version_id``, a strong identity to delete by."""
    version_id: Mapped[str | None] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16), default="present")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dataset(Base):
    """A versioned, content-addressed manifest. Members are a serialized roaring bitmap of asset ids;
    ``digest`` is the RFC 9162 Merkle root over the members' sorted sha256 values."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    member_count: Mapped[int] = mapped_column(BigInteger)
    members: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    classes: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    """Members grouped by purpose class (notice, categories, has subject); see ``members.encode_classes``."""
    derived_from_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))
    query: Mapped[str | None] = mapped_column(Text)
    declared_use: Mapped[str | None] = mapped_column(String(100))
    stats: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    use: Mapped[str] = mapped_column(String(100))
    party: Mapped[str] = mapped_column(String(200))
    code_version: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Artifact(Base):
    """Derived data: models, checkpoints, embeddings, thumbnails. Models are artifacts of kind 'model'."""

    __tablename__ = "artifacts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    transform: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ArtifactCopy(Base):
    __tablename__ = "artifact_copies"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"), index=True)
    uri: Mapped[str] = mapped_column(String(2000), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    inode: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default="present")


class Edge(Base):
    """One lineage link between nodes of kinds asset, dataset, run and artifact.

    dataset -> run and artifact -> run are run inputs; run -> artifact is an output; artifact ->
    artifact carries a typed relation (fine_tuned_from, distilled_from, ...); asset/dataset ->
    artifact is ``derived_from``. Dataset membership is not here: it lives in the bitmaps.
    """

    __tablename__ = "edges"
    __table_args__ = (
        UniqueConstraint("src_kind", "src_id", "dst_kind", "dst_id", "relation"),
        Index("ix_edges_src", "src_kind", "src_id"),
        Index("ix_edges_dst", "dst_kind", "dst_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    src_kind: Mapped[str] = mapped_column(String(8))
    src_id: Mapped[int] = mapped_column(BigInteger)
    dst_kind: Mapped[str] = mapped_column(String(8))
    dst_id: Mapped[int] = mapped_column(BigInteger)
    relation: Mapped[str] = mapped_column(String(24))


class Deployment(Base):
    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id"), index=True)
    target: Mapped[str] = mapped_column(String(500))
    hook: Mapped[str | None] = mapped_column(String(1000))
    state: Mapped[str] = mapped_column(String(16), default="live")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConsentImport(Base):
    """One imported consent-system export; re-importing the same bytes is a no-op."""

    __tablename__ = "consent_imports"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    file_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    rows: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConsentEvent(Base):
    """Append-only: a subject granted or withdrew a use for a recipient at a time."""

    __tablename__ = "consent_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    use: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    notice_version: Mapped[int | None] = mapped_column(Integer)
    import_id: Mapped[int] = mapped_column(ForeignKey("consent_imports.id"))


class Decision(Base):
    """A recorded purpose decision: which inputs, under which policy version, with what outcome."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    use: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    policy_version: Mapped[str] = mapped_column(String(100))
    inputs_digest: Mapped[str] = mapped_column(String(64))
    inputs: Mapped[list[str]]
    allowed: Mapped[int] = mapped_column(BigInteger)
    denied: Mapped[int] = mapped_column(BigInteger)
    by_reason: Mapped[dict[str, Any]]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ErasurePlan(Base):
    """A frozen erasure order: scope, order metadata and the content address of its target list."""

    __tablename__ = "erasure_plans"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(String(200))
    deadline: Mapped[str | None] = mapped_column(String(32))
    requester: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="planned")
    counts: Mapped[dict[str, Any]]
    survivors: Mapped[dict[str, Any]]
    assets: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    """Roaring bitmap of the erased asset ids, for the catalog's own forgetting at the end."""
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    redacted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the catalog forgot the plan's target paths (kept since only as keyed hashes)."""


class ErasureTarget(Base):
    """One planned action and its journal state (pending, done, failed, skipped) with evidence."""

    __tablename__ = "erasure_targets"
    __table_args__ = (
        UniqueConstraint("plan_id", "seq"),
        Index("ix_erasure_targets_plan_state", "plan_id", "state"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("erasure_plans.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(24))
    uri: Mapped[str] = mapped_column(String(2000))
    identity: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    evidence: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Tombstone(Base):
    """Content-free evidence of erased content: keyed sha256 and PDQ, for the re-ingestion guard."""

    __tablename__ = "tombstones"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    keyed_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    pdq: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    crops: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The stored centre crops' PDQs (32 bytes each), so a cropped copy is found after erasure too."""
    plan_id: Mapped[str] = mapped_column(ForeignKey("erasure_plans.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AssetHash(Base):
    """Extra perceptual hashes of an image (centre crops), so modestly cropped copies are found too;
    the whole-image PDQ stays on the asset row."""

    __tablename__ = "asset_hashes"
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), primary_key=True)
    variant: Mapped[int] = mapped_column(Integer, primary_key=True)
    pdq: Mapped[bytes] = mapped_column(LargeBinary(32))
    quality: Mapped[int] = mapped_column(Integer)


class AssetFlag(Base):
    """An asset that is a near duplicate (PDQ) of content erased under a plan: flagged, not refused."""

    __tablename__ = "asset_flags"
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("erasure_plans.id"), primary_key=True)
    distance: Mapped[int] = mapped_column(Integer)


class LedgerEntry(Base):
    """One event of the tamper-evident log: its canonical JSON and RFC 9162 leaf hash, at index ``seq``."""

    __tablename__ = "ledger_entries"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    entry: Mapped[str] = mapped_column(Text)
    leaf: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerKindTop(Base):
    """The newest ledger index of each event kind, kept by a trigger on ``ledger_entries`` (migration
    0015): the caches' stamps read a few rows, however long the ledger."""

    __tablename__ = "ledger_kind_tops"
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class CatalogStamp(Base):
    """A counter moved by trigger on every change to a group of tables (migration 0016: ``artifacts`` for
    artifacts, their copies and deployments), so a cache of their rows knows when to read them again."""

    __tablename__ = "catalog_stamps"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class LedgerCheckpoint(Base):
    """A signed C2SP checkpoint (origin, size, root) of the log."""

    __tablename__ = "ledger_checkpoints"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Setting(Base):
    """State every home and process on one catalog must agree on (the pseudonym key's fingerprint, ...).

    Kept in the catalog, not in a home's files, so a second home on the same database cannot silently
    diverge from the first."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LineageEvent(Base):
    """An OpenLineage event as received (canonical JSON), once per (run id, type, time); a different body
    under the same key is kept beside it (a conflict), so a fold never depends on which came first."""

    __tablename__ = "lineage_events"
    __table_args__ = (UniqueConstraint("run_uid", "event_type", "event_time", "digest"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_uid: Mapped[str] = mapped_column(String(36), index=True)
    event_type: Mapped[str] = mapped_column(String(16))
    event_time: Mapped[str] = mapped_column(String(32))
    """UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, so one instant written two ways is one key."""
    producer: Mapped[str] = mapped_column(String(2000))
    digest: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LineagePending(Base):
    """An event acknowledged (stored) but not yet folded into the catalog; ``failed`` holds why a fold
    could not be applied, so it is reported instead of retried for ever."""

    __tablename__ = "lineage_pending"
    event_id: Mapped[int] = mapped_column(
        ForeignKey("lineage_events.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    run_uid: Mapped[str] = mapped_column(String(36), index=True)
    accepted_by: Mapped[str | None] = mapped_column(String(200))
    """Who posted it: the fold's ledger entries are theirs, whoever's request or thread folds it."""
    failed: Mapped[str | None] = mapped_column(Text)


class CapturedRunRow(Base):
    """A catalog run that another system reported (OpenLineage, MLflow, Hugging Face)."""

    __tablename__ = "captured_runs"
    __table_args__ = (UniqueConstraint("source", "external_id"),)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(200))
    producer: Mapped[str] = mapped_column(String(2000))
    job_namespace: Mapped[str | None] = mapped_column(String(1000))
    job_name: Mapped[str | None] = mapped_column(String(1000))
    parent_uid: Mapped[str | None] = mapped_column(String(200))
    events: Mapped[int] = mapped_column(Integer, default=1)


class CapturedIO(Base):
    """One input or output of a captured run, as the producer named it, and what it resolved to.

    An input with no ``node_kind`` is unknown provenance: kept, reported by ``coverage`` and flagged by
    ``check --runs``, never dropped."""

    __tablename__ = "captured_io"
    __table_args__ = (
        UniqueConstraint("run_id", "direction", "uri"),
        Index("ix_captured_io_uri", "uri"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    direction: Mapped[str] = mapped_column(String(8))
    namespace: Mapped[str] = mapped_column(String(1000))
    name: Mapped[str] = mapped_column(String(2000))
    uri: Mapped[str] = mapped_column(String(2000))
    version: Mapped[str | None] = mapped_column(String(200))
    node_kind: Mapped[str | None] = mapped_column(String(8))
    node_id: Mapped[int | None] = mapped_column(BigInteger)
    how: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(500))


class ApiToken(Base):
    """A principal's API token for the server: only an argon2 hash of its secret is kept.

    The public ``id`` is part of the token itself, so a request is checked against one row."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    principal: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Job(Base):
    """A job: the catalog is its record (who asked, what, where it is, how it ended); the job queue
    only carries its id. ``attempt`` is the fencing token of the worker holding the lease: every
    write a worker makes names it, so a worker that lost its lease can change nothing."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str] = mapped_column(String(200), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    phase: Mapped[str | None] = mapped_column(String(200), nullable=True)
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancel_requested: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EngineJob(Base):
    """A hashing job over an object store prefix (ingest or scan), resumable batch by batch.

    ``params`` digests what makes two runs the same job (kind, root, options, the index they match
    against): a run finds the unfinished job with its digest and skips the batches it journaled."""

    __tablename__ = "engine_jobs"
    __table_args__ = (Index("ix_engine_jobs_digest_state", "digest", "state"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    root: Mapped[str] = mapped_column(String(2000))
    digest: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), default="running")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EngineBatch(Base):
    """One finished batch of a job: the key range it covered, a digest of exactly the objects it hashed
    (key, version, ETag, size), and its results, written once the results are in the catalog."""

    __tablename__ = "engine_batches"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("engine_jobs.id"), index=True)
    first_key: Mapped[str] = mapped_column(String(1024))
    last_key: Mapped[str] = mapped_column(String(1024))
    objects: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]]
    done_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
