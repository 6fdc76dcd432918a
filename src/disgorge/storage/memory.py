"""An in-memory object store, shipped in the package for tests and examples (httpx ``MockTransport``).

It keeps the S3 rules the executor must cope with (versions, delete markers, etags as MD5 of the bytes)
and adds fault injection: :meth:`MemoryStorage.fail` makes the N-th call of an operation raise, either
before it takes effect or after (``after=True``: the object is gone but the caller never hears so, as
when a process is killed between a delete and its journal entry). Any URI scheme is accepted as a key,
so a test can map ``s3`` or ``file`` to one of these through ``StorageConfig(backends=...)``.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from disgorge.errors import InputError, NotFoundError, StoreError
from disgorge.storage.base import (
    BaseStorage,
    DeleteEvidence,
    Identity,
    ObjectInfo,
    Version,
    compare,
    refusal_outcome,
    select_versions,
)

if TYPE_CHECKING:
    from disgorge.storage.registry import StorageConfig

OPS = ("stat", "check", "delete", "iter_objects", "open", "exists")


@dataclass(frozen=True, slots=True)
class _Entry:
    version_id: str
    data: bytes | None  # None: a delete marker
    mtime_ns: int
    inode: int

    @property
    def etag(self) -> str | None:
        return None if self.data is None else hashlib.md5(self.data).hexdigest()


@dataclass(slots=True)
class _Fault:
    op: str
    nth: int
    error: BaseException
    after: bool
    times: int


@dataclass
class MemoryStorage(BaseStorage):
    """Objects keyed by URI (any scheme); ``versioned`` keeps every put, like an S3 versioned bucket."""

    versioned: bool = False
    objects: dict[str, list[_Entry]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    _counts: Counter[str] = field(default_factory=Counter)
    _faults: list[_Fault] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    compared_fields = ("size", "mtime_ns", "inode", "etag")

    @classmethod
    def from_config(cls, config: StorageConfig) -> MemoryStorage:
        return cls()

    # --- setting up a scenario ----------------------------------------------------------------------
    def put(self, uri: str, data: bytes, *, mtime_ns: int | None = None) -> ObjectInfo:
        """Store ``data`` at ``uri`` (a new version if versioned, else a replacement)."""
        key, vid = _split(uri)
        if vid is not None:
            raise InputError(f"{uri!r}: cannot put a given version")
        n = next(self._ids)
        entry = _Entry(f"v{n}" if self.versioned else "null", bytes(data), mtime_ns or time.time_ns(), n)
        versions = self.objects.setdefault(key, [])
        if not self.versioned:
            versions.clear()
        versions.append(entry)
        info = self.stat(key)
        assert info is not None
        return info

    def remove(self, uri: str) -> None:
        """Delete as a plain S3 DELETE would (a marker if versioned); no checks, no evidence."""
        key, _ = _split(uri)
        if self.versioned and key in self.objects:
            self.objects[key].append(_Entry(f"v{next(self._ids)}", None, time.time_ns(), 0))
        else:
            self.objects.pop(key, None)

    def fail(
        self,
        op: str,
        *,
        nth: int = 1,
        error: BaseException | None = None,
        after: bool = False,
        times: int = 1,
    ) -> None:
        """Make the ``nth`` next call of ``op`` (counted from now) raise ``error`` (default StoreError)."""
        if op not in OPS:
            raise InputError(f"cannot inject a fault into {op!r}", hint=f"one of {', '.join(OPS)}")
        err = error or StoreError(f"injected fault: {op} call {self._counts[op] + nth}")
        self._faults.append(_Fault(op, self._counts[op] + nth, err, after, times))

    def contents(self) -> dict[str, bytes]:
        """Every stored version's bytes by versioned URI: a checksum of the whole store for assertions."""
        return {
            f"{k}?versionId={e.version_id}": e.data
            for k, vs in self.objects.items()
            for e in vs
            if e.data is not None
        }

    def _tick(self, op: str, uri: str, *, after: bool = False) -> None:
        if not after:
            self._counts[op] += 1
            self.calls.append((op, uri))
        for f in self._faults:
            if f.op == op and f.after == after and f.nth == self._counts[op] and f.times > 0:
                f.times -= 1
                f.nth += 1
                raise f.error

    # --- the StorageBackend protocol ------------------------------------------------------------------
    def _versions(self, uri: str) -> tuple[str, list[Version]]:
        key, vid = _split(uri)
        entries = self.objects.get(key, [])
        out = [
            Version(
                e.version_id,
                len(e.data or b""),
                e.etag,
                i == len(entries) - 1,
                e.data is None,
                e.mtime_ns,
                e.inode,
            )
            for i, e in enumerate(entries)
        ]
        if vid is not None:
            out = [
                Version(v.version_id, v.size, v.etag, True, v.is_marker, v.mtime_ns, v.inode)
                for v in out
                if v.version_id == vid
            ]
        return key, out

    def _entry(self, uri: str) -> _Entry | None:
        key, vid = _split(uri)
        entries = self.objects.get(key, [])
        if vid is not None:
            return next((e for e in entries if e.version_id == vid and e.data is not None), None)
        return entries[-1] if entries and entries[-1].data is not None else None

    def _info(self, uri: str, e: _Entry) -> ObjectInfo:
        key, vid = _split(uri)
        ids = tuple(x.version_id for x in self.objects[key] if x.data is not None) if vid is None else (vid,)
        ids = tuple(i for i in ids if i != "null")  # as in S3: "null" is no version id
        return ObjectInfo(uri, len(e.data or b""), e.mtime_ns, e.inode, e.etag, ids)

    def stat(self, uri: str) -> ObjectInfo | None:
        self._tick("stat", uri)
        e = self._entry(uri)
        return None if e is None else self._info(uri, e)

    def exists(self, uri: str) -> bool:
        self._tick("exists", uri)
        return self._entry(uri) is not None

    def check(self, uri: str, expected: Identity, *, rehash: bool = False) -> tuple[bool, str]:
        self._tick("check", uri)
        e = self._entry(uri)
        if e is None:
            return False, f"{uri}: absent"
        data = e.data or b""
        return compare(
            self._info(uri, e),
            expected,
            self.compared_fields,
            rehash=rehash,
            sha256=lambda: hashlib.sha256(data).hexdigest(),
        )

    def open(self, uri: str) -> BinaryIO:
        self._tick("open", uri)
        e = self._entry(uri)
        if e is None:
            raise NotFoundError(f"{uri} does not exist")
        return io.BytesIO(e.data or b"")

    def iter_objects(self, root_uri: str) -> Iterator[ObjectInfo]:
        """Current objects under the prefix, then each noncurrent version as ``uri?versionId=ID``."""
        self._tick("iter_objects", root_uri)
        for key in sorted(k for k in self.objects if k.startswith(root_uri)):
            entries = self.objects[key]
            for i, e in enumerate(entries):
                if e.data is None:
                    continue
                uri = key if i == len(entries) - 1 else f"{key}?versionId={e.version_id}"
                yield self._info(uri, e)

    def delete(self, uri: str, expected: Identity, *, rehash: bool = False) -> DeleteEvidence:
        """Delete every version holding the planned content (see :func:`select_versions`)."""
        self._tick("delete", uri)
        key, versions = self._versions(uri)
        if not versions:
            return DeleteEvidence(uri, "already_gone", f"{uri}: absent")
        datas = {e.version_id: e.data or b"" for e in self.objects[key]}
        decision = select_versions(
            versions,
            expected,
            rehash=rehash,
            sha256_of=lambda v: hashlib.sha256(datas[v.version_id]).hexdigest(),
        )
        if decision.refusal:
            return DeleteEvidence(uri, refusal_outcome(decision.refusal), decision.refusal)
        if not decision.delete:
            return DeleteEvidence(uri, "already_gone", f"{uri}: no version holds the planned content")
        doomed = {v.version_id for v in (*decision.delete, *decision.markers)}
        self.objects[key] = [e for e in self.objects[key] if e.version_id not in doomed]
        if not self.objects[key]:
            del self.objects[key]
        self._tick("delete", uri, after=True)
        return DeleteEvidence(uri, "deleted", decision.detail, versions_deleted=len(decision.delete))


def _split(uri: str) -> tuple[str, str | None]:
    """``key?versionId=ID`` -> (key, ID); the query selects one version, as in S3 tooling."""
    key, sep, vid = uri.rpartition("?versionId=")
    return (key, vid) if sep else (uri, None)
