"""What a worker does with one batch of S3 keys, on any engine: fetch each object with boto3, compute
sha256 and PDQ (its dihedral forms and crops), and join the codes against the shipped index.

Module-level and free of the catalog, so a Ray task or a pool process can run it anywhere that reaches
the bucket. The S3 client and the index are built once per worker process and kept for later batches.
A bad object (not an image, corrupt, too large, deleted since the listing) is that object's problem;
only a failure of the store itself fails the batch, which the engine then retries.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from disgorge.hashing.image import ImageProblem
from disgorge.ingest.pipeline import MAX_FILE_BYTES, record_from_bytes
from disgorge.model import IngestProblem
from disgorge.neardup import HammingIndex
from disgorge.scan.guard import as_query
from disgorge.scan.scan import Hashed, Near, hash_object, near_best
from disgorge.storage.base import norm_etag
from disgorge.storage.registry import S3Config

_ABSENT = {"404", "NoSuchKey", "NoSuchVersion", "NotFound"}


@dataclass(frozen=True, slots=True)
class Listed:
    """One object as listed: ``version_id`` is set for noncurrent versions (scans list every version)."""

    key: str
    size: int
    etag: str | None
    mtime_ns: int
    version_id: str | None = None
    latest: bool = True


@dataclass(frozen=True, slots=True)
class Task:
    mode: str
    """``ingest`` (records to register) or ``scan`` (hashes to match)."""
    bucket: str
    objects: tuple[Listed, ...]
    s3: S3Config
    index: str | None = None
    """Names the shipped index rows (a job and index fingerprint); None: no near join on the worker."""
    radius: int = 31
    dihedral: bool = True
    allow_non_images: bool = False
    subject_from: str | None = None
    categories: tuple[str, ...] = ()
    die_once: str | None = None
    """Fault injection for tests: a marker file path; the first worker to find it absent creates it and
    dies mid-batch (as a killed machine would)."""


@dataclass(slots=True)
class Done:
    items: list[Any]
    """``Hashed`` per object (scan), or ``AssetRecord | IngestProblem`` (ingest), in listing order."""
    near: Near = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    """The worker's CPU time on the batch: what it cost, whatever else the machine was running."""
    pid: int = 0


_CLIENTS: dict[tuple[int, S3Config], Any] = {}
_INDEX: dict[str, HammingIndex] = {}


def client_for(config: S3Config) -> Any:
    """This process's client for the endpoint. Keyed by pid: a pool worker forked from the driver
    inherits the driver's client and its open sockets, and two processes reading one socket get each
    other's responses (object A's bytes under key B: caught by the tests)."""
    key = (os.getpid(), config)
    if key not in _CLIENTS:
        import boto3
        from botocore.config import Config

        _CLIENTS[key] = boto3.client(
            "s3",
            endpoint_url=config.endpoint_url,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            region_name=config.region,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=4,
            ),
        )
    return _CLIENTS[key]


def _index(token: str, rows: tuple[np.ndarray, np.ndarray]) -> HammingIndex:
    index = _INDEX.get(token)
    if index is None:
        for old in _INDEX.values():
            old.close()
        _INDEX.clear()
        index = HammingIndex(threads=1)  # one core per worker: the engine runs one worker per core
        ids, codes = rows
        if len(ids):
            index.add(ids, codes)
        _INDEX[token] = index
    return index


def uri_of(bucket: str, obj: Listed) -> str:
    return f"s3://{bucket}/{obj.key}" + ("" if obj.latest else f"?versionId={obj.version_id}")


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _subject(task: Task, key: str) -> str | None:
    if task.subject_from != "parent-dir":
        return None
    parent = key.rsplit("/", 2)
    return parent[-2] if len(parent) >= 2 and parent[-2] else None


def _one(task: Task, client: Any, obj: Listed) -> Any:
    uri = uri_of(task.bucket, obj)
    if obj.size > MAX_FILE_BYTES:
        problem = f"is larger than {MAX_FILE_BYTES} bytes"
        return (
            IngestProblem(uri, problem, "too_large")
            if task.mode == "ingest"
            else Hashed(uri, "", 0, problem="too_large")
        )
    kw = {"VersionId": obj.version_id} if obj.version_id else {}
    try:
        got = client.get_object(Bucket=task.bucket, Key=obj.key, **kw)
        data = got["Body"].read()
    except Exception as exc:
        if _code(exc) not in _ABSENT:
            raise
        if task.mode == "ingest":
            return IngestProblem(uri, "was deleted after it was listed", "missing")
        return Hashed(uri, "", 0, problem="missing: deleted after it was listed")
    if task.mode == "scan":
        return hash_object(uri, data)
    subject = _subject(task, obj.key)
    if task.subject_from == "parent-dir" and subject is None:
        return IngestProblem(uri, "has no folder in its key to take the subject from", "no_subject")
    vid = got.get("VersionId")
    return record_from_bytes(
        obj.key,
        data,
        uri=uri,
        mtime_ns=obj.mtime_ns,
        inode=0,
        subject=subject,
        categories=task.categories,
        meta={},
        allow_non_images=task.allow_non_images,
        dihedral=task.dihedral,
        etag=norm_etag(got.get("ETag")) or obj.etag,
        version_id=vid if vid and vid != "null" else None,
    )


def run_task(task: Task, rows: tuple[np.ndarray, np.ndarray] | None = None) -> Done:
    """Hash one batch and join it against the index rows (when given). Raises only when the store
    fails; a failure of one object's decoding is that object's problem."""
    start, cpu = time.perf_counter(), time.process_time()
    client = client_for(task.s3)
    items: list[Any] = []
    for n, obj in enumerate(task.objects):
        if task.die_once and n == len(task.objects) // 2 and not os.path.exists(task.die_once):
            with open(task.die_once, "x"):
                pass
            os._exit(17)
        try:
            items.append(_one(task, client, obj))
        except ImageProblem as exc:  # never raised by the hashers; kept so one object never fails a batch
            items.append(IngestProblem(uri_of(task.bucket, obj), exc.reason, exc.code))
    near: Near = {}
    if task.index is not None and rows is not None:
        queries = [
            i if isinstance(i, Hashed) else as_query(i) for i in items if not isinstance(i, IngestProblem)
        ]
        positions = [n for n, i in enumerate(items) if not isinstance(i, IngestProblem)]
        found = near_best(_index(task.index, rows), queries, task.radius)
        near = {(positions[q], ident): v for (q, ident), v in found.items()}
    return Done(items, near, time.perf_counter() - start, time.process_time() - cpu, os.getpid())
