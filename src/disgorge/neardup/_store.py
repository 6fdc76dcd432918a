"""On-disk layout of a persisted index, written so that a crash at any instant leaves the last
committed state readable.

::

    DIR/MANIFEST.json                 the only mutable file; names everything below
    DIR/seg-<seq>-<rand>/ids.npy      int64 (n,)
    DIR/seg-<seq>-<rand>/codes.npy    uint64 (n, 4)
    DIR/seg-<seq>-<rand>/perm-TT.npy, offsets-TT.npy   MIH tables, if the segment has them
    DIR/tomb-<seq>-<rand>.npy         int64 (k, 2): id, hides rows of segments with seq <= this

Segment and tombstone files are written under temporary names, fsynced, renamed into place, and the
directory fsynced; only then is a new manifest written to a temporary file, fsynced and atomically
renamed over ``MANIFEST.json`` (POSIX ``rename``). A crash before that rename leaves the old
manifest, which names only complete files; leftovers are removed by the next commit. Readers
memory-map the files and never take a lock: committed files are never modified, only replaced.
One writer at a time per directory (the catalog's job to ensure).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from disgorge.errors import NotFoundError, StoreError
from disgorge.neardup._mih import LAYOUTS, Tables
from disgorge.neardup._segment import Segment

MANIFEST = "MANIFEST.json"
FORMAT = "disgorge.neardup"
VERSION = 1
TMP = ".tmp"


@dataclass(frozen=True)
class Manifest:
    """What is committed: segments in seq order, the tombstone file, the next seq to hand out."""

    next_seq: int
    segments: tuple[dict[str, Any], ...]
    tombstones: str | None

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "next_seq": self.next_seq,
            "segments": list(self.segments),
            "tombstones": self.tombstones,
        }
        return json.dumps(doc, sort_keys=True, indent=1).encode() + b"\n"


def _damaged(directory: Path, what: str) -> StoreError:
    return StoreError(
        f"near-duplicate index at {directory} is damaged: {what}",
        hint="restore the directory from a backup, or rebuild the index from the catalog",
    )


def read_manifest(directory: Path) -> Manifest:
    try:
        doc = json.loads((directory / MANIFEST).read_bytes())
    except (OSError, ValueError) as exc:
        raise _damaged(directory, f"cannot read {MANIFEST} ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise _damaged(directory, f"{MANIFEST} is not a {FORMAT} version {VERSION} manifest")
    return Manifest(int(doc["next_seq"]), tuple(doc["segments"]), doc["tombstones"])


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_array(path: Path, arr: npt.NDArray[Any]) -> None:
    """Write one ``.npy`` file and fsync it."""
    with open(path, "wb") as f:
        np.save(f, arr, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def _new_name(prefix: str, seq: int) -> str:
    return f"{prefix}-{seq:08d}-{secrets.token_hex(4)}"


def write_segment(directory: Path, seg: Segment) -> dict[str, Any]:
    """Write a segment's files under a temporary directory, then rename it into place."""
    name = _new_name("seg", seg.seq)
    tmp = directory / (name + TMP)
    tmp.mkdir()
    _write_array(tmp / "ids.npy", np.asarray(seg.ids))
    _write_array(tmp / "codes.npy", np.asarray(seg.codes))
    layout = None
    if seg.tables is not None:
        layout = seg.tables.layout.name
        for t, (perm, off) in enumerate(zip(seg.tables.perms, seg.tables.offsets, strict=True)):
            _write_array(tmp / f"perm-{t:02d}.npy", np.asarray(perm))
            _write_array(tmp / f"offsets-{t:02d}.npy", np.asarray(off))
    _fsync_dir(tmp)
    os.rename(tmp, directory / name)
    return {"name": name, "seq": seg.seq, "rows": len(seg), "layout": layout}


def write_tombstones(directory: Path, seq: int, tomb: npt.NDArray[np.int64]) -> str:
    name = _new_name("tomb", seq) + ".npy"
    tmp = directory / (name + TMP)
    _write_array(tmp, tomb)
    os.rename(tmp, directory / name)
    return name


def commit(directory: Path, manifest: Manifest) -> None:
    """Make ``manifest`` the committed state: the single atomic step of every save."""
    _fsync_dir(directory)  # the renamed segment and tombstone files are durable before they are named
    tmp = directory / (MANIFEST + TMP)
    with open(tmp, "wb") as f:
        f.write(manifest.to_json())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / MANIFEST)
    _fsync_dir(directory)


def collect_garbage(directory: Path, manifest: Manifest) -> None:
    """Remove files the committed manifest does not name: crash leftovers and replaced segments."""
    keep = {MANIFEST} | {str(s["name"]) for s in manifest.segments}
    if manifest.tombstones:
        keep.add(manifest.tombstones)
    for entry in directory.iterdir():
        if entry.name in keep or not entry.name.startswith(("seg-", "tomb-", MANIFEST)):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _load(directory: Path, path: Path, dtype: type[np.generic], shape: tuple[int, ...]) -> Any:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise _damaged(directory, f"cannot read {path.name} in {path.parent.name} ({exc})") from exc
    if arr.dtype != dtype or arr.shape != shape:
        raise _damaged(
            directory, f"{path.parent.name}/{path.name} has {arr.dtype}{arr.shape}, expected {shape}"
        )
    return arr


def load_segment(directory: Path, entry: dict[str, Any]) -> Segment:
    """Memory-map a committed segment, checking every file's dtype and shape against the manifest."""
    name, rows = str(entry["name"]), int(entry["rows"])
    seg_dir = directory / name
    ids = _load(directory, seg_dir / "ids.npy", np.int64, (rows,))
    codes = _load(directory, seg_dir / "codes.npy", np.uint64, (rows, 4))
    tables = None
    if entry.get("layout"):
        layout = LAYOUTS.get(str(entry["layout"]))
        if layout is None:
            raise _damaged(directory, f"segment {name} has unknown layout {entry['layout']!r}")
        perms = tuple(
            _load(directory, seg_dir / f"perm-{t:02d}.npy", np.uint32, (rows,)) for t in range(layout.pieces)
        )
        offs = tuple(
            _load(directory, seg_dir / f"offsets-{t:02d}.npy", np.uint32, ((1 << layout.width) + 1,))
            for t in range(layout.pieces)
        )
        if any(int(off[-1]) != rows for off in offs):
            raise _damaged(directory, f"segment {name} has bucket tables that do not cover its {rows} rows")
        tables = Tables(layout, perms, offs)
    return Segment(seq=int(entry["seq"]), ids=ids, codes=codes, tables=tables, name=name)


def load_tombstones(directory: Path, name: str | None) -> npt.NDArray[np.int64]:
    if name is None:
        return np.zeros((0, 2), dtype=np.int64)
    path = directory / name
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise _damaged(directory, f"cannot read {name} ({exc})") from exc
    if arr.dtype != np.int64 or arr.ndim != 2 or arr.shape[1] != 2:
        raise _damaged(directory, f"{name} has {arr.dtype}{arr.shape}, expected int64 (k, 2)")
    return np.asarray(arr, dtype=np.int64)


def init_directory(directory: Path, create: bool) -> None:
    """Create an empty committed index if ``directory`` has no manifest and ``create`` allows it."""
    if (directory / MANIFEST).exists():
        return
    if not create:
        raise NotFoundError(f"no near-duplicate index at {directory}", hint="open it with create=True")
    directory.mkdir(parents=True, exist_ok=True)
    commit(directory, Manifest(next_seq=1, segments=(), tombstones=None))
