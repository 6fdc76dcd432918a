"""Walking, hashing and removing folders through directory descriptors, never following a symlink.

Every descendant is opened relative to its parent's descriptor with ``O_NOFOLLOW`` (openat(2)), so a
symlink inside a folder is listed as a link, removed as a link, and never entered: a folder target (a model
saved as a directory) cannot lead a walk or a removal outside itself.
"""

from __future__ import annotations

import hashlib
import os
import stat as st_mod
from collections.abc import Iterator

from disgorge.errors import InputError
from disgorge.storage.base import sha256_stream

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def kind_of(mode: int) -> str:
    for test, name in ((st_mod.S_ISLNK, "symlink"), (st_mod.S_ISFIFO, "fifo"), (st_mod.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "device" if st_mod.S_ISCHR(mode) or st_mod.S_ISBLK(mode) else "special file"


def tree_stats(dfd: int, prefix: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, stat) of every regular file below ``dfd``, sorted; symlinks are not followed."""
    with os.scandir(dfd) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        rel = f"{prefix}{e.name}"
        if e.is_dir(follow_symlinks=False):
            try:
                sub = os.open(e.name, DIR_FLAGS, dir_fd=dfd)
            except OSError:
                continue  # replaced by a symlink or removed since listing: not followed
            try:
                yield from tree_stats(sub, rel + "/")
            finally:
                os.close(sub)
        elif e.is_file(follow_symlinks=False):
            yield rel, e.stat(follow_symlinks=False)


def tree_sha256(dfd: int) -> str:
    """The folder digest of :func:`disgorge.hashing.digest.sha256_tree`: sha256 over sorted
    ``relpath\\0sha256\\n`` lines of its regular files, read without following symlinks."""
    h = hashlib.sha256()
    # ordered as sha256_tree orders Paths: by their components, so "a/b" sorts before "a.b"
    for rel in sorted((rel for rel, _ in tree_stats(dfd)), key=lambda r: r.split("/")):
        h.update(f"{rel}\0{_hash_rel(dfd, rel)}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _hash_rel(dfd: int, rel: str) -> str:
    *dirs, name = rel.split("/")
    fds = [os.dup(dfd)]
    try:
        for d in dirs:
            fds.append(os.open(d, DIR_FLAGS, dir_fd=fds[-1]))
        with os.fdopen(os.open(name, FILE_FLAGS, dir_fd=fds[-1]), "rb") as f:
            return sha256_stream(f)
    finally:
        for fd in fds:
            os.close(fd)


def remove_tree(parent_fd: int, name: str, ino: int, *, sync: bool = True) -> None:
    """Remove the folder ``name`` below ``parent_fd`` if it is still inode ``ino``: files and links are
    unlinked, subfolders removed depth first, each folder fsynced before its own removal."""
    dfd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    try:
        if os.fstat(dfd).st_ino != ino:
            raise InputError(f"{name}: refused: not the folder that was examined (replaced meanwhile)")
        with os.scandir(dfd) as it:
            entries = list(it)
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                remove_tree(dfd, e.name, e.stat(follow_symlinks=False).st_ino, sync=sync)
            else:
                os.unlink(e.name, dir_fd=dfd)
        if sync:
            os.fsync(dfd)
    finally:
        os.close(dfd)
    os.rmdir(name, dir_fd=parent_fd)
