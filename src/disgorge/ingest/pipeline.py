"""Ingest: hash files on every core (sha256 + PDQ with draft decoding), register in atomic batches.

Bad files (corrupt or truncated images, non-images, decompression bombs, unreadable files, symlinks,
manifest rows pointing nowhere, files under PATH that the manifest does not list) are reported per file
in the summary; they never stop the run and never leave a half-registered asset, because a batch
registers assets and copies in one transaction. Whatever a decoder raises, or a worker process that
dies, costs only the file that caused it (see :mod:`disgorge.hashing.workers`).

Subject attribution is never lost silently: every file needs a subject (a manifest's ``subject_id``,
or its folder with ``subject_from="parent-dir"``) unless the caller says the subject is unknown
(``no_subject``); a file whose content the catalog (or an earlier line) already attributes to another
subject is refused as ``subject_conflict``; content registered with no known subject gains the subject
a later manifest gives it.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import stat
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from disgorge.catalog import CatalogStore
from disgorge.errors import InputError, UsageError
from disgorge.hashing.image import ImageProblem, hash_variants
from disgorge.hashing.workers import map_isolated
from disgorge.ingest.manifest import ManifestRow, read_manifest
from disgorge.model import AssetRecord, IngestProblem, IngestSummary
from disgorge.scan.guard import Guard

BATCH = 500
MAX_FILE_BYTES = 512 * 1024 * 1024
SHOW_LINES = 10

Task = tuple[str, str | None, tuple[str, ...], dict[str, object]]


@dataclass(frozen=True, slots=True)
class IngestOptions:
    source: str
    manifest: Path | None = None
    subject_from: str | None = None
    workers: int = 0
    allow_non_images: bool = False
    no_subject: bool = False
    """Files without a subject are registered as "subject unknown" instead of being refused."""
    allow_near_erased: bool = False
    """Near copies of erased content are registered, flagged (and denied by every purpose check),
    instead of being refused."""
    engine: str = "local"
    """Where s3:// prefixes are hashed: ``local`` (this machine's process pool) or ``ray``."""


def hash_one(
    task: Task, allow_non_images: bool = False, dihedral: bool = False
) -> AssetRecord | IngestProblem:
    """Read one file once: sha256 of its bytes, then PDQ of the decoded image (and of its 8 dihedral
    forms with ``dihedral``, for the re-ingestion guard). Runs in a worker and never raises: any failure
    is this file's :class:`IngestProblem`."""
    try:
        return _hash_one(task, allow_non_images, dihedral)
    except Exception as exc:
        return IngestProblem(task[0], f"cannot be read: {type(exc).__name__}: {exc}", "unreadable")


def _hash_one(task: Task, allow_non_images: bool, dihedral: bool) -> AssetRecord | IngestProblem:
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
    return record_from_bytes(
        path,
        data,
        uri=Path(path).resolve().as_uri(),
        mtime_ns=st.st_mtime_ns,
        inode=st.st_ino,
        subject=subject,
        categories=categories,
        meta=meta,
        allow_non_images=allow_non_images,
        dihedral=dihedral,
    )


def record_from_bytes(
    name: str,
    data: bytes,
    *,
    uri: str,
    mtime_ns: int,
    inode: int,
    subject: str | None,
    categories: tuple[str, ...],
    meta: dict[str, object],
    allow_non_images: bool = False,
    dihedral: bool = False,
    etag: str | None = None,
    version_id: str | None = None,
) -> AssetRecord | IngestProblem:
    """The record of one object's bytes, wherever they were read (a file, an S3 object on a worker);
    a problem, named ``name``, when they are not an image that may be registered."""
    common = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "uri": uri,
        "mtime_ns": mtime_ns,
        "inode": inode,
        "subject": subject,
        "categories": categories,
        "metadata": dict(meta),
        "etag": etag,
        "version_id": version_id,
    }
    try:
        variants = hash_variants(data, dihedral=dihedral)
    except ImageProblem as exc:
        if exc.code == "not_an_image" and allow_non_images:
            media = mimetypes.guess_type(name)[0] or "application/octet-stream"
            return AssetRecord(media_type=media, **common)  # type: ignore[arg-type]
        return IngestProblem(name, exc.reason, exc.code)
    except Exception as exc:  # hash_variants promises ImageProblem only; never trust a decoder that much
        return IngestProblem(name, f"cannot decode: {type(exc).__name__}: {exc}", "corrupt_image")
    img = variants.whole
    return AssetRecord(
        media_type=img.media_type,
        width=img.width,
        height=img.height,
        pdq=img.pdq,
        pdq_quality=img.quality,
        crops=variants.crops,
        forms=variants.dihedral if dihedral else (),
        **common,  # type: ignore[arg-type]
    )


def _hash_task(args: tuple[Task, bool, bool]) -> AssetRecord | IngestProblem:
    return hash_one(*args)


def _walk(root: Path) -> Iterator[Path]:
    """Every entry under root in a stable order, without following directory symlinks."""
    if not root.is_dir():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _real(p: Path) -> str:
    """The path with its folders resolved but not its last component (a listed symlink stays a symlink)."""
    return os.path.join(os.path.realpath(p.parent), p.name)


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:SHOW_LINES]))
    return shown + (f" and {len(numbers) - SHOW_LINES} more" if len(numbers) > SHOW_LINES else "")


def plan_tasks(
    path: Path, opts: IngestOptions, default_categories: tuple[str, ...]
) -> tuple[list[Task], list[IngestProblem], list[str]]:
    """The files to hash, the problems known before hashing (a manifest row escaping the ingest root, a
    file under PATH the manifest does not list), and for each task where it came from (for messages)."""
    if opts.no_subject and opts.subject_from is not None:
        raise UsageError(
            "--no-subject contradicts --subject-from", hint="give one: is the subject known or not?"
        )
    tasks: list[Task] = []
    refused: list[IngestProblem] = []
    where: list[str] = []
    if opts.manifest is not None:
        root = path.resolve() if path.is_dir() else None
        rows: list[ManifestRow] = read_manifest(opts.manifest, base=path if path.is_dir() else None)
        if not opts.no_subject and (unknown := [r.line for r in rows if r.subject is None]):
            raise InputError(
                f"{opts.manifest}: {len(unknown)} row(s) have no subject_id (lines {_lines(unknown)}); "
                "nothing was registered",
                hint="fill in subject_id, or pass --no-subject to register them as 'subject unknown' "
                "(an erasure by subject would then miss them)",
            )
        listed: set[str] = set()
        for r in rows:
            real = _real(r.path)
            listed.add(real)
            if root is not None and not real.startswith(str(root) + os.sep):
                refused.append(
                    IngestProblem(
                        str(r.path), f"manifest line {r.line} points outside {root}", "outside_root"
                    )
                )
                continue
            tasks.append((str(r.path), r.subject, r.categories or default_categories, r.metadata))
            where.append(f"manifest line {r.line}")
        if root is not None:
            listed.add(_real(opts.manifest.absolute()))
            refused.extend(
                IngestProblem(
                    str(p), f"is under {path} but {opts.manifest} does not list it", "not_in_manifest"
                )
                for p in _walk(root)
                if _real(p) not in listed
            )
        return tasks, refused, where
    if opts.subject_from is None and not opts.no_subject:
        raise InputError(
            f"ingest {path}: nothing says whose photos these are; nothing was registered",
            hint="use --manifest FILE with a subject_id column, --subject-from parent-dir when each "
            "folder is one person, or --no-subject to register them as 'subject unknown'",
        )
    for p in _walk(path):
        subject = p.parent.name if opts.subject_from == "parent-dir" else None
        tasks.append((str(p), subject, default_categories, {}))
        where.append(str(p))
    return tasks, refused, where


class _Attributions:
    """Which task of this run first gave each content its subject, to name both sides of a conflict.

    Kept as two flat arrays (8 bytes of sha256 and a task index per file), searched only on a conflict,
    so a run of millions of files does not hold a dict of them."""

    def __init__(self) -> None:
        self.keys = array("Q")
        self.tasks = array("Q")

    def add(self, sha256: str, task: int) -> None:
        self.keys.append(int(sha256[:16], 16))
        self.tasks.append(task)

    def first(self, sha256: str) -> int | None:
        hits = np.flatnonzero(np.frombuffer(self.keys, dtype=np.uint64) == int(sha256[:16], 16))
        return int(self.tasks[hits[0]]) if len(hits) else None


def ingest(
    store: CatalogStore,
    path: Path,
    opts: IngestOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
    guard: Guard | None = None,
) -> IngestSummary:
    source = store.get_source(opts.source)
    tasks, refused, where = plan_tasks(path, opts, source.categories)
    summary = IngestSummary(scanned=len(refused), problems=list(refused))
    workers = opts.workers or min(2, os.cpu_count() or 1)
    batch: list[tuple[AssetRecord, int]] = []
    firsts = _Attributions()

    def flush() -> None:
        records = [r for r, _ in batch]
        task_of = {id(r): t for r, t in batch}
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
        summary.subjects_added += res.subjects_added
        summary.unknown_subject += res.new_unknown_subject
        for n in res.attributed:
            firsts.add(records[n].sha256, task_of[id(records[n])])
        for n, owner in res.conflicts:
            r = records[n]
            summary.problems.append(
                _conflict(r, where[task_of[id(r)]], owner, records, task_of, firsts, where)
            )
        batch.clear()

    # The dihedral forms cost 7 more PDQs per image: computed only when there is erased content to match.
    dihedral = guard is not None and guard.active()
    args = [(t, opts.allow_non_images, dihedral) for t in tasks]
    results = map_isolated(
        _hash_task,
        args,
        workers=workers if len(tasks) > 8 else 1,
        chunksize=8,
        on_failure=lambda a, reason: IngestProblem(a[0][0], reason, "unreadable"),
    )
    for done, item in enumerate(results, 1):
        summary.scanned += 1
        if isinstance(item, IngestProblem):
            summary.problems.append(item)
        else:
            summary.bytes_read += item.size
            batch.append((item, done - 1))
            if len(batch) >= BATCH:
                flush()
        if progress:
            progress(done, len(tasks))
    if batch:
        flush()
    return summary


def _conflict(
    r: AssetRecord,
    here: str,
    owner: int | None,
    records: list[AssetRecord],
    task_of: dict[int, int],
    firsts: _Attributions,
    where: list[str],
) -> IngestProblem:
    """The problem of a file whose subject contradicts the one its content already has."""
    earlier = task_of[id(records[owner])] if owner is not None else firsts.first(r.sha256)
    short = r.sha256[:12]
    if earlier is not None:
        reason = (
            f"{here} and {where[earlier]} give this content (sha256 {short}…) two different subjects; "
            f"it stays with the subject of {where[earlier]}"
        )
    else:
        reason = (
            f"{here} gives this content (sha256 {short}…) another subject than the one the catalog "
            "records; nothing was changed (to correct the catalog: disgorge asset set-subject "
            f"{short} --subject ID --reason TEXT)"
        )
    return IngestProblem(r.uri, reason, "subject_conflict")
