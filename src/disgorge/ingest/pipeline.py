"""Ingest: hash files on every core (sha256 + PDQ with draft decoding), register in atomic batches.

Bad files (corrupt or truncated images, non-images, decompression bombs, unreadable files, symlinks,
manifest rows pointing nowhere) are reported per file in the summary; they never stop the run and
never leave a half-registered asset, because a batch registers assets and copies in one transaction.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from disgorge.catalog import CatalogStore
from disgorge.hashing.image import ImageProblem, hash_variants
from disgorge.ingest.manifest import ManifestRow, read_manifest
from disgorge.model import AssetRecord, IngestProblem, IngestSummary
from disgorge.scan.guard import Guard

BATCH = 500
MAX_FILE_BYTES = 512 * 1024 * 1024

Task = tuple[str, str | None, tuple[str, ...], dict[str, object]]


@dataclass(frozen=True, slots=True)
class IngestOptions:
    source: str
    manifest: Path | None = None
    subject_from: str | None = None
    workers: int = 0
    allow_non_images: bool = False


def hash_one(task: Task, allow_non_images: bool = False) -> AssetRecord | IngestProblem:
    """Read one file once: sha256 of its bytes, then PDQ of the decoded image. Runs in a worker."""
    path, subject, categories, meta = task
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            return IngestProblem(path, "is a symbolic link; links are not followed", "symlink")
        if not stat.S_ISREG(st.st_mode):
            return IngestProblem(path, "is not a regular file", "not_a_file")
        if st.st_size > MAX_FILE_BYTES:
            return IngestProblem(path, f"is larger than {MAX_FILE_BYTES} bytes", "too_large")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return IngestProblem(path, "does not exist", "missing")
    except OSError as exc:
        return IngestProblem(path, f"cannot be read: {exc.strerror or exc}", "unreadable")
    digest = hashlib.sha256(data).hexdigest()
    uri = Path(path).resolve().as_uri()
    common = {
        "sha256": digest,
        "size": len(data),
        "uri": uri,
        "mtime_ns": st.st_mtime_ns,
        "inode": st.st_ino,
        "subject": subject,
        "categories": categories,
        "metadata": dict(meta),
    }
    try:
        variants = hash_variants(data, dihedral=False)
    except ImageProblem as exc:
        if exc.code == "not_an_image" and allow_non_images:
            media = mimetypes.guess_type(path)[0] or "application/octet-stream"
            return AssetRecord(media_type=media, **common)  # type: ignore[arg-type]
        return IngestProblem(path, exc.reason, exc.code)
    img = variants.whole
    return AssetRecord(
        media_type=img.media_type,
        width=img.width,
        height=img.height,
        pdq=img.pdq,
        pdq_quality=img.quality,
        crops=variants.crops,
        **common,  # type: ignore[arg-type]
    )


def _hash_task(args: tuple[Task, bool]) -> AssetRecord | IngestProblem:
    return hash_one(args[0], args[1])


def _walk(root: Path) -> Iterator[Path]:
    """Every entry under root in a stable order, without following directory symlinks."""
    if not root.is_dir():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def plan_tasks(
    path: Path, opts: IngestOptions, default_categories: tuple[str, ...]
) -> tuple[list[Task], list[IngestProblem]]:
    """The files to hash, and manifest rows refused up front (a path escaping the ingest root)."""
    tasks: list[Task] = []
    refused: list[IngestProblem] = []
    if opts.manifest is not None:
        root = path.resolve() if path.is_dir() else None
        rows: list[ManifestRow] = read_manifest(opts.manifest, base=path if path.is_dir() else None)
        for r in rows:
            if root is not None and not os.path.realpath(r.path).startswith(str(root) + os.sep):
                refused.append(
                    IngestProblem(
                        str(r.path), f"manifest line {r.line} points outside {root}", "outside_root"
                    )
                )
                continue
            tasks.append((str(r.path), r.subject, r.categories or default_categories, r.metadata))
        return tasks, refused
    for p in _walk(path):
        subject = p.parent.name if opts.subject_from == "parent-dir" else None
        tasks.append((str(p), subject, default_categories, {}))
    return tasks, refused


def ingest(
    store: CatalogStore,
    path: Path,
    opts: IngestOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
    guard: Guard | None = None,
) -> IngestSummary:
    source = store.get_source(opts.source)
    tasks, refused = plan_tasks(path, opts, source.categories)
    summary = IngestSummary(scanned=len(refused), problems=list(refused))
    workers = opts.workers or min(2, os.cpu_count() or 1)
    batch: list[AssetRecord] = []

    def flush() -> None:
        records = list(batch)
        if guard is not None:
            records, refused, flags = guard.screen(records)
            summary.problems.extend(refused)
            summary.flags.extend(flags)
        res = store.register(records, source_id=source.id, notice_id=source.notice_id)
        if guard is not None:
            guard.commit_flags()
        summary.new_assets += res.new_assets
        summary.new_copies += res.new_copies
        summary.unchanged += res.unchanged + res.moved_copies
        batch.clear()

    args = [(t, opts.allow_non_images) for t in tasks]
    pool = ProcessPoolExecutor(workers) if workers > 1 and len(tasks) > 8 else None
    try:
        results = pool.map(_hash_task, args, chunksize=8) if pool else map(_hash_task, args)
        for done, item in enumerate(results, 1):
            summary.scanned += 1
            if isinstance(item, IngestProblem):
                summary.problems.append(item)
            else:
                summary.bytes_read += item.size
                batch.append(item)
                if len(batch) >= BATCH:
                    flush()
            if progress:
                progress(done, len(tasks))
        if batch:
            flush()
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    return summary
