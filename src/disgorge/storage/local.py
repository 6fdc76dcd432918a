"""Local files under registered storage roots, deleted without ever following a symlink.

Every operation resolves its target lexically inside a root (no ``..``, ``.``, empty component or NUL;
never ``realpath``), then opens directories one component at a time from the root with
``O_DIRECTORY | O_NOFOLLOW`` (open(2)), so a symlink planted anywhere on the path, before or after
planning, is refused rather than followed. The last component is examined with
``fstatat(..., AT_SYMLINK_NOFOLLOW)`` and removed with ``unlinkat`` relative to the parent's descriptor,
after re-checking (size, mtime_ns, inode) and optionally the sha256; the parent is then fsynced so the
removal survives a power loss before the executor journals it (fsync(2) on a directory).

What remains: a window of microseconds between the final ``fstatat`` and ``unlinkat`` in which another
process could rename a different file into place; ``unlinkat`` never follows a symlink, so the worst case
is removing a regular file renamed into the planned name within that window. Removing a file frees its
blocks but does not overwrite them; that is the file system's business (and the disk's).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import stat as st_mod
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, NoReturn, cast
from urllib.parse import quote_from_bytes, unquote_to_bytes, urlsplit

from disgorge.errors import InputError, NotFoundError, StoreError
from disgorge.storage.base import (
    BaseStorage,
    DeleteEvidence,
    Identity,
    ObjectInfo,
    compare,
    refusal_outcome,
    sha256_stream,
)
from disgorge.storage.fdtree import DIR_FLAGS, FILE_FLAGS, kind_of, remove_tree, tree_sha256, tree_stats

if TYPE_CHECKING:
    from disgorge.storage.registry import StorageConfig


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")
"""A file name no resolution check refuses and percent-decoding leaves as it is."""
DELETE_THREADS = 4
"""Folders deleted from at once within a batch."""


class _Absent(Exception):
    """The target (or a directory on its path) does not exist."""


@dataclass(frozen=True, slots=True)
class Where:
    """A target resolved lexically: its root and its components below the root."""

    path: str
    root: str
    parts: tuple[str, ...]

    @property
    def uri(self) -> str:
        return file_uri(self.path)


def file_uri(path: str) -> str:
    """``Path(path).as_uri()`` (RFC 8089, percent-encoded UTF-8), without building a Path."""
    return "file://" + quote_from_bytes(os.fsencode(path))


def uri_to_path(uri: str) -> str:
    """``file:///abs/p%20q`` (RFC 8089) or ``/abs/p q`` -> ``/abs/p q``; bytes that are not UTF-8 survive
    as surrogate escapes, as in ``os.fsdecode``."""
    if "://" not in uri:
        path = uri
    elif uri.startswith("file:///") and uri.isprintable() and "?" not in uri and "#" not in uri:
        # what urlsplit would answer (it drops tabs and newlines: not printable, so not here), sooner
        path = os.fsdecode(unquote_to_bytes(uri[7:]))
    else:
        parts = urlsplit(uri)
        if parts.scheme.lower() not in ("file", "delta") or parts.netloc not in ("", "localhost"):
            raise InputError(f"{uri!r} is not a local file URI", hint="use file:///absolute/path")
        if parts.query:
            raise InputError(f"{uri!r}: '?' in a file name must be percent-encoded as %3F")
        path = os.fsdecode(unquote_to_bytes(parts.path))
    if "\0" in path:
        raise InputError(f"{path!r}: refused: a NUL byte cannot be part of a path")
    if not path.startswith("/"):
        raise InputError(f"{path!r}: refused: the path is not absolute")
    return path


class LocalStorage(BaseStorage):
    """Files and folders under ``roots``; anything else is refused. See the module docstring."""

    compared_fields = ("size", "mtime_ns", "inode")

    def __init__(self, roots: Iterable[str | os.PathLike[str]], *, fsync: bool = True) -> None:
        self.roots: tuple[str, ...] = ()
        for r in roots:
            real = os.path.realpath(os.fspath(r))
            if not os.path.isdir(real):
                raise InputError(f"storage root {os.fspath(r)} is not a directory")
            self.roots += (real,)
        self._root_parts = [(r, [] if r == "/" else r.split("/")[1:]) for r in self.roots]
        self._folders: dict[str, tuple[str, int]] = {}  # folder -> (root, its depth): see locate
        self.fsync = fsync

    @classmethod
    def from_config(cls, config: StorageConfig) -> LocalStorage:
        return cls(config.roots)

    # --- resolution -------------------------------------------------------------------------------
    def locate(self, uri: str) -> Where:
        """Resolve ``uri`` inside a root, or raise :class:`InputError` naming the path and the reason.

        A folder that resolved once answers for its other plainly named files (no check can refuse
        those, and their root is the folder's) unless a storage root lies inside the folder."""
        path = uri_to_path(uri)
        folder, _, name = path.rpartition("/")
        plain = len(path) < 1024 and _PLAIN_NAME.fullmatch(name) is not None
        known = self._folders.get(folder) if plain else None
        if known is not None:
            return Where(path, known[0], tuple(path.split("/")[1:])[known[1] :])
        where = self._locate(path)
        inside = any(r.startswith(folder + "/") for r in self.roots)  # a root below: each file on its own
        if plain and where.path == path and where.parts and not inside and len(self._folders) < 65_536:
            self._folders[folder] = (where.root, len(path.split("/")) - 1 - len(where.parts))
        return where

    def _locate(self, path: str) -> Where:
        comps = path.split("/")[1:]
        while comps and comps[-1] == "":
            comps.pop()
        for bad, why in (("..", "'..' is never resolved"), (".", "'.' is not allowed"), ("", "'//'")):
            if bad in comps:
                raise InputError(f"{path!r}: refused: {why} in a target path", hint="use the canonical path")
        too_long = len(path) >= 1024 and len(os.fsencode(path)) >= 4096  # PATH_MAX; a char is <= 4 bytes
        if too_long or any(len(c) > 63 and len(os.fsencode(c)) > 255 for c in comps):  # NAME_MAX
            raise InputError(f"{path[:80]!r}...: refused: a name longer than 255 bytes or a path of 4096")
        best: str | None = None
        for root, rparts in self._root_parts:
            if comps[: len(rparts)] == rparts and (best is None or len(root) > len(best)):
                best = root
        if best is None:
            raise InputError(
                f"{path!r}: refused: outside every storage root ({', '.join(self.roots) or 'none registered'})",
                hint="register the root in the storage configuration, or fix the path",
            )
        depth = 0 if best == "/" else best.count("/")
        norm = "/" + "/".join(comps)
        return Where(norm, best, tuple(comps[depth:]))

    def _walk(self, where: Where, upto: int) -> int:
        """Open ``where.parts[:upto]`` from the root, never following a symlink; returns a dir fd."""
        try:
            fd = os.open(where.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise StoreError(f"storage root {where.root} cannot be opened: {exc.strerror}") from exc
        try:
            for i, comp in enumerate(where.parts[:upto]):
                try:
                    nfd = os.open(comp, DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    self._classify(fd, comp, exc, where, where.parts[: i + 1])
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _classify(self, fd: int, comp: str, exc: OSError, where: Where, prefix: tuple[str, ...]) -> NoReturn:
        shown = os.path.join(where.root, *prefix)
        if exc.errno == errno.ENOENT:
            raise _Absent from exc
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            try:
                mode = os.stat(comp, dir_fd=fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                raise _Absent from exc
            if st_mod.S_ISLNK(mode):
                raise InputError(
                    f"{where.path!r}: refused: {shown} is a symlink; symlinks on a target's path are "
                    "never followed",
                    hint="erase the real file under its own path, if it lies inside a storage root",
                ) from exc
            raise _Absent from exc
        raise StoreError(f"{where.path}: cannot open {shown}: {exc.strerror}") from exc

    @contextlib.contextmanager
    def _parent(self, where: Where) -> Iterator[int]:
        fd = self._walk(where, len(where.parts) - 1 if where.parts else 0)
        try:
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def parent_dir(self, where: Where) -> Iterator[int]:
        """A descriptor of the target's folder, opened from the root without following a symlink
        (for writers that must stay inside the roots, such as the atomic Parquet rewrite)."""
        try:
            cm = self._parent(where)
            fd = cm.__enter__()
        except _Absent:
            raise NotFoundError(f"{os.path.dirname(where.path)} does not exist") from None
        try:
            yield fd
        finally:
            cm.__exit__(None, None, None)

    # --- reading ------------------------------------------------------------------------------------
    def _info(self, fd: int, name: str, where: Where, st: os.stat_result) -> ObjectInfo:
        if st_mod.S_ISDIR(st.st_mode):
            dfd = os.open(name, DIR_FLAGS, dir_fd=fd) if name else os.dup(fd)
            try:
                size = sum(st_.st_size for _, st_ in tree_stats(dfd))
            finally:
                os.close(dfd)
            return ObjectInfo(where.uri, size, st.st_mtime_ns, st.st_ino, kind="dir")
        return ObjectInfo(where.uri, st.st_size, st.st_mtime_ns, st.st_ino)

    def _lstat(self, where: Where) -> tuple[int, str, os.stat_result] | None:
        """(parent fd, name, stat) of the target, or None if absent; the caller closes the fd."""
        try:
            fd = self._walk(where, max(len(where.parts) - 1, 0))
        except _Absent:
            return None
        name = where.parts[-1] if where.parts else "."
        try:
            return fd, name, os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            os.close(fd)
            return None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"{where.path}: cannot stat: {exc.strerror}") from exc

    def stat(self, uri: str) -> ObjectInfo | None:
        where = self.locate(uri)
        found = self._lstat(where)
        if found is None:
            return None
        fd, name, st = found
        try:
            if not (st_mod.S_ISREG(st.st_mode) or st_mod.S_ISDIR(st.st_mode)):
                raise InputError(f"{where.path!r}: refused: a {kind_of(st.st_mode)}, not a file or folder")
            return self._info(fd, name if where.parts else "", where, st)
        finally:
            os.close(fd)

    def exists(self, uri: str) -> bool:
        """Is anything (even a symlink) at ``uri``?"""
        found = self._lstat(self.locate(uri))
        if found is not None:
            os.close(found[0])
        return found is not None

    def exists_many(self, uris: Iterable[str]) -> Iterator[bool]:
        """:meth:`exists` for each URI in order; each folder is opened once for its consecutive files."""
        parent: tuple[str, int | None] | None = None
        try:
            for uri in uris:
                where = self.locate(uri)
                if len(where.parts) < 2:
                    yield self.exists(uri)
                    continue
                folder = where.path.rpartition("/")[0]
                if parent is None or parent[0] != folder:
                    if parent is not None and parent[1] is not None:
                        os.close(parent[1])
                    try:
                        parent = (folder, self._walk(where, len(where.parts) - 1))
                    except _Absent:
                        parent = (folder, None)
                if parent[1] is None:
                    yield False
                    continue
                try:
                    os.stat(where.parts[-1], dir_fd=parent[1], follow_symlinks=False)
                    yield True
                except FileNotFoundError:
                    yield False
                except OSError as exc:
                    raise StoreError(f"{where.path}: cannot stat: {exc.strerror}") from exc
        finally:
            if parent is not None and parent[1] is not None:
                os.close(parent[1])

    def open(self, uri: str) -> BinaryIO:
        where = self.locate(uri)
        if not where.parts:
            raise InputError(f"{where.path!r} is a storage root, not a file")
        try:
            fd = self._walk(where, len(where.parts) - 1)
        except _Absent:
            raise NotFoundError(f"{where.path} does not exist") from None
        try:
            return self._open_at(fd, where.parts[-1], where)
        finally:
            os.close(fd)

    def _open_at(self, fd: int, name: str, where: Where, ino: int | None = None) -> BinaryIO:
        try:
            ffd = os.open(name, FILE_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            raise NotFoundError(f"{where.path} does not exist") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InputError(f"{where.path!r}: refused: a symlink; symlinks are never followed") from exc
            raise StoreError(f"{where.path}: cannot open: {exc.strerror}") from exc
        st = os.fstat(ffd)
        if not st_mod.S_ISREG(st.st_mode) or (ino is not None and st.st_ino != ino):
            os.close(ffd)
            raise InputError(f"{where.path!r}: refused: not the regular file that was examined")
        os.set_blocking(ffd, True)
        return cast(BinaryIO, os.fdopen(ffd, "rb"))

    def _sha256_at(self, fd: int, name: str, where: Where, st: os.stat_result) -> str:
        """sha256 of a file, or of a folder as ``disgorge.hashing.digest.sha256_tree`` defines it."""
        if st_mod.S_ISDIR(st.st_mode):
            dfd = os.open(name, DIR_FLAGS, dir_fd=fd)
            try:
                return tree_sha256(dfd)
            finally:
                os.close(dfd)
        with self._open_at(fd, name, where, st.st_ino) as f:
            return sha256_stream(f)

    def _check_at(
        self, fd: int, name: str, where: Where, expected: Identity, rehash: bool
    ) -> tuple[bool, str, os.stat_result | None]:
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return False, f"{where.path}: absent", None
        if not (st_mod.S_ISREG(st.st_mode) or st_mod.S_ISDIR(st.st_mode)):
            kind = kind_of(st.st_mode)
            return False, f"changed since planning: now a {kind} (never followed or deleted)", st
        info = self._info(fd, name, where, st)
        ok, detail = compare(
            info,
            expected,
            self.compared_fields,
            rehash=rehash,
            sha256=lambda: self._sha256_at(fd, name, where, st),
        )
        return ok, detail, st

    def check(self, uri: str, expected: Identity, *, rehash: bool = False) -> tuple[bool, str]:
        where = self.locate(uri)
        if not where.parts:
            return False, f"{where.path} is a storage root"
        try:
            with self._parent(where) as fd:
                ok, detail, _ = self._check_at(fd, where.parts[-1], where, expected, rehash)
                return ok, detail
        except _Absent:
            return False, f"{where.path}: absent"

    def iter_objects(self, root_uri: str) -> Iterator[ObjectInfo]:
        """Every regular file under ``root_uri``, sorted, without following symlinks (they are skipped)."""
        where = self.locate(root_uri)
        found = self._lstat(where)
        if found is None:
            return
        fd, name, st = found
        try:
            if st_mod.S_ISREG(st.st_mode):
                yield ObjectInfo(where.uri, st.st_size, st.st_mtime_ns, st.st_ino)
                return
            if not st_mod.S_ISDIR(st.st_mode):
                return
            dfd = os.open(name, DIR_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        try:
            for rel, fst in tree_stats(dfd):
                yield ObjectInfo(file_uri(f"{where.path}/{rel}"), fst.st_size, fst.st_mtime_ns, fst.st_ino)
        finally:
            os.close(dfd)

    # --- deleting -----------------------------------------------------------------------------------
    def delete(self, uri: str, expected: Identity, *, rehash: bool = False) -> DeleteEvidence:
        return next(self.delete_many([(uri, expected)], rehash=rehash))

    def delete_many(
        self, targets: Iterable[tuple[str, Identity]], *, rehash: bool = False, batch: int = 4096
    ) -> Iterator[DeleteEvidence]:
        """Delete, ``batch`` targets at a time, evidence in the targets' order. Folders are fsynced once
        per batch, before the batch's evidence is yielded, so evidence is never handed out for a removal
        a power loss could undo; targets in one folder reuse its descriptor (each target is still
        re-checked by size, mtime and inode). A batch's folders are worked on by ``DELETE_THREADS``
        threads at once (a busy disk's journal answers many unlinks in flight far sooner than one
        after another), unless a target is a folder holding another's files: then in order."""
        it = iter(targets)
        while chunk := list(itertools.islice(it, batch)):
            groups, wheres = self._folder_groups(chunk)
            if groups is None or len(groups) < 2 or DELETE_THREADS < 2:
                yield from self._delete_group(chunk, range(len(chunk)), rehash, wheres)
                continue
            out: list[DeleteEvidence | None] = [None] * len(chunk)
            with ThreadPoolExecutor(min(DELETE_THREADS, len(groups))) as pool:
                futures = [pool.submit(self._delete_group, chunk, g, rehash, wheres) for g in groups]
                errors = [e for f in futures if (e := f.exception()) is not None]
                for g, f in zip(groups, futures, strict=True):
                    if f.exception() is None:  # only evidence whose folder was fsynced
                        for i, ev in zip(g, f.result(), strict=True):
                            out[i] = ev
            for got in out:
                if got is None:
                    raise errors[0]  # what came before stands; the rest is re-checked on resume
                yield got

    def _folder_groups(
        self, chunk: list[tuple[str, Identity]]
    ) -> tuple[list[list[int]] | None, list[Where] | None]:
        """The targets' indexes by folder, or None when folders cannot be worked on apart: a target that
        is refused, a root, or a folder on the way to another target's folder; and the targets resolved
        (None if one is refused), so deleting does not resolve them again."""
        groups: dict[str, list[int]] = {}
        paths: set[str] = set()
        wheres: list[Where] = []
        for i, (uri, _) in enumerate(chunk):
            try:
                where = self.locate(uri)
            except InputError:
                return None, None
            wheres.append(where)
            if not where.parts:
                return None, wheres
            paths.add(where.path)
            groups.setdefault(where.path.rpartition("/")[0] or "/", []).append(i)
        for folder in groups:
            up = folder
            while up:
                if up in paths:
                    return None, wheres
                up = up.rpartition("/")[0]
        return list(groups.values()), wheres

    def _delete_group(
        self,
        chunk: list[tuple[str, Identity]],
        indexes: Iterable[int],
        rehash: bool,
        wheres: list[Where] | None = None,
    ) -> list[DeleteEvidence]:
        """Delete these targets in order, then fsync their folders; the evidence once durable."""
        parents: dict[str, int] = {}
        absent: set[str] = set()
        try:
            done = [
                self._delete_one(
                    *chunk[i],
                    rehash,
                    parents,
                    None if wheres is None or i >= len(wheres) else wheres[i],
                    absent,
                )
                for i in indexes
            ]
            self._sync(parents)
            return done
        finally:
            for dfd in parents.values():
                os.close(dfd)

    def prune_empty(self, uris: Iterable[str]) -> int:
        """Remove the folders that deleting these files left empty, up to (never including) their root.

        ``rmdir`` relative to the parent's descriptor removes only an empty directory and never follows
        a symlink, so a folder that still holds anything, or was replaced by a link, stays."""
        folders: set[str] = set()
        seen: set[str] = set()
        for uri in uris:
            if (parent := uri.rpartition("/")[0]) in seen:  # its folders are already listed
                continue
            seen.add(parent)
            try:
                where = self.locate(uri)
            except InputError:
                continue
            for depth in range(len(where.parts) - 1, 0, -1):
                folders.add("/".join((where.root.rstrip("/"), *where.parts[:depth])) + "\0" + str(depth))
        removed = 0
        for item in sorted(folders, key=lambda f: -int(f.rsplit("\0", 1)[1])):
            path = item.rsplit("\0", 1)[0]
            try:
                where = self.locate(path)
                with contextlib.ExitStack() as stack:
                    fd = self._walk(where, len(where.parts) - 1)
                    stack.callback(os.close, fd)
                    os.rmdir(where.parts[-1], dir_fd=fd)
                    if self.fsync:
                        os.fsync(fd)
                removed += 1
            except (OSError, InputError, NotFoundError, StoreError, _Absent):
                continue  # not empty, gone, or not a plain folder: leave it
        return removed

    def _sync(self, parents: dict[str, int]) -> None:
        while parents:
            path, dfd = parents.popitem()
            try:
                if self.fsync:
                    os.fsync(dfd)
            except OSError as exc:
                raise StoreError(f"cannot fsync {path}: {exc.strerror}") from exc
            finally:
                os.close(dfd)

    def _delete_one(
        self,
        uri: str,
        expected: Identity,
        rehash: bool,
        parents: dict[str, int],
        where: Where | None,
        absent: set[str],
    ) -> DeleteEvidence:
        """``parents``: the batch's open folders; ``absent``: its folders found missing, so the other
        targets in one are not each walked from the root again (a resumed 3M-target erasure whose
        files were gone spent most of its deleting there). Deleting never makes a folder, so one found
        missing stays missing for the batch; a file put back later is what verification finds."""
        try:
            where = where or self.locate(uri)
        except InputError as exc:
            return DeleteEvidence(uri, "refused", exc.message)
        if not where.parts:
            return DeleteEvidence(
                where.uri, "refused", f"{where.path} is a storage root; roots are never deleted"
            )
        name = where.parts[-1]
        parent = where.path.rpartition("/")[0] or "/"
        try:
            fd = parents.get(parent)
            if fd is None:
                if parent in absent:
                    raise _Absent
                try:
                    fd = parents[parent] = self._walk(where, len(where.parts) - 1)
                except _Absent:
                    absent.add(parent)
                    raise
            ok, detail, st = self._check_at(fd, name, where, expected, rehash)
            if st is None:
                return DeleteEvidence(where.uri, "already_gone", detail)
            if not ok:
                return DeleteEvidence(where.uri, refusal_outcome(detail), detail)
            again = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if (again.st_ino, again.st_size, again.st_mtime_ns, again.st_mode) != (
                st.st_ino,
                st.st_size,
                st.st_mtime_ns,
                st.st_mode,
            ):
                return DeleteEvidence(where.uri, "skipped_changed", "changed while being checked")
            if st_mod.S_ISDIR(st.st_mode):
                remove_tree(fd, name, st.st_ino, sync=self.fsync)
            else:
                os.unlink(name, dir_fd=fd)
            return DeleteEvidence(where.uri, "deleted", detail)
        except _Absent:
            return DeleteEvidence(where.uri, "already_gone", f"{where.path}: absent")
        except InputError as exc:
            return DeleteEvidence(where.uri, "refused", exc.message)
        except FileNotFoundError:
            return DeleteEvidence(
                where.uri, "already_gone", f"{where.path}: removed by someone else meanwhile"
            )
        except OSError as exc:
            raise StoreError(f"{where.path}: cannot delete: {exc.strerror}") from exc
