"""Streaming sha256 over files, so a 12 MP photo or a model checkpoint is never held in memory twice."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Return (hex sha256, size) of the file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def sha256_tree(path: Path) -> tuple[str, int]:
    """Digest of a directory (a model saved as a folder): sha256 over sorted 'relpath\\0sha256\\n' lines."""
    h = hashlib.sha256()
    total = 0
    for p in sorted(q for q in path.rglob("*") if q.is_file() and not q.is_symlink()):
        digest, size = sha256_file(p)
        total += size
        h.update(f"{p.relative_to(path).as_posix()}\0{digest}\n".encode())
    return h.hexdigest(), total


def sha256_path(path: Path) -> tuple[str, int]:
    return sha256_tree(path) if path.is_dir() else sha256_file(path)
