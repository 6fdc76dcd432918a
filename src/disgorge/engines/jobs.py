"""Ingest and scan an S3 prefix on an engine: list, batch, hash and join on the workers, write back on
the driver batch by batch, journal each finished batch.

The driver keeps only what needs the catalog: the exact lookup (one indexed query per batch), the
re-ingestion guard's decision, registration, and describing matches. Each batch is journaled after its
results are in the catalog, in key order of the listing, so a run that dies (a worker, the driver, the
machine) resumes with the same command: finished batches are skipped without reading their objects
again; a batch registered but not yet journaled when the driver died is hashed again and registers as
"already known". The result of a resumed job is assembled from the journal, so it is the same report a
run without the failure gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyroaring import BitMap

from disgorge.catalog import CatalogStore
from disgorge.catalog.engine_jobs import DoneBatch, EngineJobs
from disgorge.engines.executors import Executor, executor
from disgorge.engines.plan import Batch, batches, list_objects
from disgorge.engines.work import Done, Task, client_for
from disgorge.errors import InputError, StoreError, UsageError
from disgorge.ingest import IngestOptions
from disgorge.model import AssetRecord, IngestProblem, IngestSummary
from disgorge.scan.guard import Guard
from disgorge.scan.indexes import Indexes
from disgorge.scan.scan import Hashed, ScanReport, describe, exact_refs, join
from disgorge.storage.registry import S3Config
from disgorge.storage.s3 import parse_s3_uri

BATCH = 32


@dataclass(frozen=True, slots=True)
class EngineOptions:
    engine: str = "local"
    """``local`` (this machine's process pool) or ``ray``."""
    workers: int = 0
    """Batches hashed at once (0: every core of this machine, or every CPU of the Ray cluster)."""
    batch: int = BATCH
    die_once: str | None = None
    """Fault injection for tests (see :class:`~disgorge.engines.work.Task`)."""


@dataclass(slots=True)
class Stats:
    engine: str
    workers: int
    job: str = ""
    resumed: bool = False
    batches_skipped: int = 0
    batches_run: int = 0
    objects_hashed: int = 0
    batches_redone: int = 0
    failures: list[str] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)
    worker_seconds: float = 0.0
    worker_cpu_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "workers": self.workers,
            "job": self.job,
            "resumed": self.resumed,
            "batches_skipped": self.batches_skipped,
            "batches_run": self.batches_run,
            "batches_redone": self.batches_redone,
            "objects_hashed": self.objects_hashed,
            "worker_processes": len(self.pids),
            "worker_seconds": round(self.worker_seconds, 3),
            "worker_cpu_seconds": round(self.worker_cpu_seconds, 3),
        }


Write = Callable[[Batch, Done], dict[str, Any]]


def _run(
    store: CatalogStore,
    kind: str,
    root: str,
    params: dict[str, Any],
    listing: Iterator[Any],
    eng: EngineOptions,
    task_of: Callable[[Batch], Task],
    rows: tuple[np.ndarray, np.ndarray] | None,
    write: Write,
    ex: Executor,
) -> tuple[Stats, list[dict[str, Any]]]:
    jobs = EngineJobs(store)
    job = jobs.open(kind, root, params)
    stats = Stats(eng.engine, ex.workers, job.id, job.resumed)
    stale: list[int] = []

    def todo() -> Iterator[tuple[Batch, Task]]:
        for b in batches(listing, job.done, eng.batch, stale):
            if stale:  # forgotten before its objects are batched again, so ranges never overlap
                jobs.forget(stale)
                stats.batches_redone += len(stale)
                stale.clear()
            if isinstance(b, DoneBatch):
                stats.batches_skipped += 1
                continue
            yield b, task_of(b)

    try:
        for b, res in ex.run(todo(), rows):
            if isinstance(res, BaseException):
                stats.failures.append(f"{b.first_key}..{b.last_key}: {type(res).__name__}: {res}"[:300])
                continue
            stats.pids.add(res.pid)
            stats.worker_seconds += res.seconds
            stats.worker_cpu_seconds += res.cpu_seconds
            result = write(b, res)
            jobs.record(job.id, b.first_key, b.last_key, len(b.objects), b.digest, result)
            stats.batches_run += 1
            stats.objects_hashed += len(b.objects)
    finally:
        ex.close()
    if stats.failures:
        raise StoreError(
            f"{len(stats.failures)} batch(es) of {root} failed on every attempt (first: {stats.failures[0]}); "
            f"{stats.batches_run + stats.batches_skipped} finished batch(es) are journaled",
            hint="run the same command again to resume: finished batches are not hashed again",
        )
    jobs.finish(job.id)
    return stats, jobs.results(job.id)


def _bucket(root: str) -> tuple[str, str]:
    bucket, prefix, version = parse_s3_uri(root, key_required=False)
    if version:
        raise InputError(f"{root!r}: a prefix cannot name a version", hint="give s3://bucket/prefix")
    return bucket, prefix


def ingest_s3(
    store: CatalogStore,
    indexes: Indexes,
    root: str,
    opts: IngestOptions,
    guard: Guard,
    s3: S3Config | None,
    eng: EngineOptions,
) -> IngestSummary:
    """Register every object under an S3 prefix (its ETag and version id on the copy)."""
    if opts.manifest is not None:
        raise UsageError(
            "--manifest lists local files; an s3:// prefix takes its subjects from its keys",
            hint="use --subject-from parent-dir (s3://bucket/prefix/SUBJECT/key) or --no-subject",
        )
    if opts.no_subject and opts.subject_from is not None:
        raise UsageError(
            "--no-subject contradicts --subject-from", hint="give one: is the subject known or not?"
        )
    if opts.subject_from is None and not opts.no_subject:
        raise InputError(
            f"ingest {root}: nothing says whose photos these are; nothing was registered",
            hint="use --subject-from parent-dir when each folder is one person, or --no-subject to "
            "register them as 'subject unknown'",
        )
    bucket, prefix = _bucket(root)
    s3 = s3 or S3Config()
    ex = executor(eng.engine, eng.workers)
    source = store.get_source(opts.source)
    screening = guard.active()
    rows = indexes.rows("erased") if screening else None
    params = {
        "source": opts.source,
        "subject_from": opts.subject_from,
        "no_subject": opts.no_subject,
        "allow_non_images": opts.allow_non_images,
        "allow_near_erased": opts.allow_near_erased,
        "erased": indexes.fingerprint("erased") if screening else None,
    }
    token = f"erased:{params['erased']}"

    def task_of(b: Batch) -> Task:
        return Task(
            "ingest",
            bucket,
            b.objects,
            s3,
            index=token if screening else None,
            dihedral=screening,
            allow_non_images=opts.allow_non_images,
            subject_from=opts.subject_from,
            categories=tuple(source.categories),
            die_once=eng.die_once,
        )

    def write(b: Batch, done: Done) -> dict[str, Any]:
        problems = [p for p in done.items if isinstance(p, IngestProblem)]
        at = [n for n, i in enumerate(done.items) if isinstance(i, AssetRecord)]
        records: list[AssetRecord] = [done.items[n] for n in at]
        flags: list[IngestProblem] = []
        if screening:
            pos = {n: k for k, n in enumerate(at)}
            near = {(pos[n], i): v for (n, i), v in done.near.items() if n in pos}
            records, refused, flags = guard.screen(records, near)
            problems += refused
        res = store.register(records, source_id=source.id, notice_id=source.notice_id)
        guard.commit_flags()
        for n, _owner in res.conflicts:
            r = records[n]
            problems.append(
                IngestProblem(
                    r.uri,
                    f"gives this content (sha256 {r.sha256[:12]}…) another subject than the one it already "
                    "has; it keeps that subject (to correct it: disgorge asset set-subject)",
                    "subject_conflict",
                )
            )
        return {
            "scanned": len(done.items),
            "new_assets": res.new_assets,
            "new_copies": res.new_copies,
            "unchanged": res.unchanged + res.moved_copies,
            "bytes_read": sum(r.size for r in records),
            "subjects_added": res.subjects_added,
            "unknown_subject": res.new_unknown_subject,
            "problems": [[p.path, p.reason, p.code] for p in problems],
            "flags": [[p.path, p.reason, p.code] for p in flags],
        }

    listing = list_objects(client_for(s3), bucket, prefix, versions=False)
    stats, results = _run(store, "ingest", root, params, listing, eng, task_of, rows, write, ex)
    summary = IngestSummary()
    for r in results:
        for k in ("scanned", "new_assets", "new_copies", "unchanged", "bytes_read", "subjects_added"):
            setattr(summary, k, getattr(summary, k) + r[k])
        summary.unknown_subject += r["unknown_subject"]
        summary.problems += [IngestProblem(*p) for p in r["problems"]]
        summary.flags += [IngestProblem(*p) for p in r["flags"]]
    summary.engine = stats.to_json()
    return summary


def scan_s3(
    store: CatalogStore,
    indexes: Indexes,
    root: str,
    *,
    against: str,
    radius: int,
    s3: S3Config | None,
    eng: EngineOptions,
) -> ScanReport:
    """Scan every object and noncurrent version under an S3 prefix against the catalog, the erased
    content or one dataset; the near-duplicate join runs on the workers."""
    bucket, prefix = _bucket(root)
    s3 = s3 or S3Config()
    ex = executor(eng.engine, eng.workers)
    which = "erased" if against == "erased" else "catalog"
    restrict: BitMap | None = None
    dataset_id = None
    if against.startswith("dataset:"):
        ds = store.get_dataset(against.removeprefix("dataset:"))
        dataset_id, restrict = ds.id, store.members(ds.id)
    fingerprint = indexes.fingerprint(which)
    params = {"against": against, "dataset": dataset_id, "radius": radius, "index": fingerprint}
    token = f"{which}:{fingerprint}"
    rows = indexes.rows(which)

    def task_of(b: Batch) -> Task:
        return Task("scan", bucket, b.objects, s3, index=token, radius=radius, die_once=eng.die_once)

    def write(b: Batch, done: Done) -> dict[str, Any]:
        items: list[Hashed] = done.items
        found = join(store, which, items, exact_refs(store, which, items), done.near, restrict)
        return {
            "scanned": len(items),
            "bytes": sum(i.size for i in items),
            "matches": [
                describe(store, which, items[m.item], m.kind, m.distance, m.via, m.ref) for m in found
            ],
            "problems": [{"object": i.uri, "problem": i.problem} for i in items if i.problem],
        }

    listing = list_objects(client_for(s3), bucket, prefix, versions=True)
    stats, results = _run(store, "scan", root, params, listing, eng, task_of, rows, write, ex)
    report = ScanReport(against, radius, roots=[root])
    for r in results:
        report.scanned += r["scanned"]
        report.bytes += r["bytes"]
        report.matches += r["matches"]
        report.problems += r["problems"]
    report.engine = stats.to_json()
    return report
