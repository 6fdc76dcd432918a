"""What every storage backend promises the erasure executor, and the identity rules they share.

A plan records each target's identity (:class:`Identity`) when it is frozen; the executor reaches the
target later, possibly after a crash and a resume. Backends therefore re-check identity immediately
before deleting, and report one of four outcomes (:class:`DeleteEvidence`) instead of raising for
anything that is about one target: an erasure run journals per-target evidence and carries on.

Rules shared by every backend, so that the executor can reason about them once:

* **Deny by default.** An identity that cannot tell two contents apart (size alone) never authorises a
  delete: at least one of mtime/inode, etag or sha256 must have been compared.
* **Idempotent.** Deleting what is absent is ``already_gone``, never an error.
* **Changed means skipped.** If the bytes at the URI no longer match the plan, nothing is deleted.
* **Versions.** A versioned object (S3, the memory store) is erased by deleting every version that holds
  the planned content (:func:`select_versions`); other content under the same key is left alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO, Literal, Protocol, Self, runtime_checkable

Outcome = Literal["deleted", "already_gone", "skipped_changed", "refused"]
OUTCOMES: tuple[Outcome, ...] = ("deleted", "already_gone", "skipped_changed", "refused")
CHUNK = 1 << 20
WEAK = "identity too weak to delete"


def refusal_outcome(detail: str) -> Outcome:
    """A mismatch is ``skipped_changed``; an identity that cannot tell contents apart is ``refused``."""
    return "refused" if detail.startswith(WEAK) else "skipped_changed"


@dataclass(frozen=True, slots=True)
class Identity:
    """What the plan recorded about a target: the thing deleted later must still be exactly this."""

    size: int
    mtime_ns: int | None = None
    inode: int | None = None
    sha256: str | None = None
    etag: str | None = None
    version_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a backend sees at a URI now. ``kind`` is ``dir`` for a model saved as a folder."""

    uri: str
    size: int
    mtime_ns: int | None = None
    inode: int | None = None
    etag: str | None = None
    version_ids: tuple[str, ...] = ()
    kind: Literal["file", "dir"] = "file"

    def identity(self, sha256: str | None = None) -> Identity:
        """The identity a planner records for this object."""
        return Identity(self.size, self.mtime_ns, self.inode, sha256, self.etag, self.version_ids)


@dataclass(frozen=True, slots=True)
class DeleteEvidence:
    """One target's outcome, journaled by the executor; ``detail`` says what was compared or why not."""

    uri: str
    outcome: Outcome
    detail: str
    versions_deleted: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "outcome": self.outcome,
            "detail": self.detail,
            "versions_deleted": self.versions_deleted,
        }


@runtime_checkable
class StorageBackend(Protocol):
    """Re-check and delete targets; list and read objects for residual scans.

    ``stat``/``check``/``open``/``exists``/``iter_objects`` raise :class:`~disgorge.errors.InputError` for
    a URI the backend refuses (outside its roots, a symlink on the path) and
    :class:`~disgorge.errors.StoreError` when the store fails. ``delete`` reports a refused URI as a
    ``refused`` outcome instead, so one bad target does not abort a run; it raises only ``StoreError``.
    """

    def stat(self, uri: str) -> ObjectInfo | None: ...

    def check(self, uri: str, expected: Identity, *, rehash: bool = False) -> tuple[bool, str]: ...

    def delete(self, uri: str, expected: Identity, *, rehash: bool = False) -> DeleteEvidence: ...

    def delete_many(
        self, targets: Iterable[tuple[str, Identity]], *, rehash: bool = False
    ) -> Iterator[DeleteEvidence]: ...

    def iter_objects(self, root_uri: str) -> Iterator[ObjectInfo]: ...

    def open(self, uri: str) -> BinaryIO: ...

    def exists(self, uri: str) -> bool: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class BaseStorage:
    """Shared plumbing: context manager, ``exists``/``check`` over ``stat``, ``delete_many`` as a loop."""

    #: which recorded fields this backend can compare cheaply (without reading the bytes)
    compared_fields: tuple[str, ...] = ("size", "mtime_ns", "inode", "etag")

    def stat(self, uri: str) -> ObjectInfo | None:
        raise NotImplementedError

    def open(self, uri: str) -> BinaryIO:
        raise NotImplementedError

    def delete(self, uri: str, expected: Identity, *, rehash: bool = False) -> DeleteEvidence:
        raise NotImplementedError

    def exists(self, uri: str) -> bool:
        return self.stat(uri) is not None

    def exists_many(self, uris: Iterable[str]) -> Iterator[bool]:
        """:meth:`exists` for each URI, in order (backends may answer many at once)."""
        for uri in uris:
            yield self.exists(uri)

    def check(self, uri: str, expected: Identity, *, rehash: bool = False) -> tuple[bool, str]:
        info = self.stat(uri)
        if info is None:
            return False, f"{uri}: absent"
        return compare(info, expected, self.compared_fields, rehash=rehash, sha256=lambda: self.sha256(uri))

    def sha256(self, uri: str) -> str:
        """Hex sha256 of the object's bytes, streamed."""
        with self.open(uri) as f:
            return sha256_stream(f)

    def delete_many(
        self, targets: Iterable[tuple[str, Identity]], *, rehash: bool = False
    ) -> Iterator[DeleteEvidence]:
        for uri, expected in targets:
            yield self.delete(uri, expected, rehash=rehash)

    def close(self) -> None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def sha256_stream(f: BinaryIO) -> str:
    h = hashlib.sha256()
    while chunk := f.read(CHUNK):
        h.update(chunk)
    return h.hexdigest()


def norm_etag(etag: str | None) -> str | None:
    """S3 returns ETags quoted (RFC 9110 entity-tag syntax); compare them unquoted."""
    return None if etag is None else etag.strip('"')


def compare(
    info: ObjectInfo,
    expected: Identity,
    fields: Sequence[str],
    *,
    rehash: bool = False,
    sha256: Callable[[], str] | None = None,
) -> tuple[bool, str]:
    """Does ``info`` still match what the plan recorded? Returns (match, what was compared or differed).

    Compares size and every field in ``fields`` that both sides know. The bytes are hashed when ``rehash``
    is asked, or when nothing but the size could be compared and the plan recorded a sha256; with neither,
    the answer is no (deny by default).
    """
    problems: list[str] = []
    seen: list[str] = []
    strong = False
    for name in ("size", *fields):
        if name == "size" and name in seen:
            continue
        want = getattr(expected, name)
        got = getattr(info, name)
        if name == "etag":
            want, got = norm_etag(want), norm_etag(got)
        if want is None or got is None:
            continue
        seen.append(name)
        strong = strong or name != "size"
        if want != got:
            problems.append(f"{name}: expected {want}, got {got}")
    if problems:
        return False, "changed since planning: " + "; ".join(problems)
    must_hash = rehash or not strong
    if must_hash:
        if expected.sha256 is None:
            why = "rehash asked" if rehash else f"only {'/'.join(seen) or 'nothing'} could be compared"
            return False, f"{WEAK}: {why} and the plan recorded no sha256"
        if sha256 is None:
            return False, f"{WEAK}: this backend cannot hash the object"
        got_sha = sha256()
        if got_sha != expected.sha256:
            return False, f"changed since planning: sha256: expected {expected.sha256}, got {got_sha}"
        seen.append("sha256")
    return True, "matches plan (" + ", ".join(seen) + ")"


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a versioned object, or a delete marker (which holds no bytes)."""

    version_id: str
    size: int
    etag: str | None
    is_latest: bool
    is_marker: bool = False
    mtime_ns: int | None = None
    inode: int | None = None


@dataclass(frozen=True, slots=True)
class VersionDecision:
    """Which versions to delete. ``refusal`` is set, and nothing selected, when the current version
    changed since planning or the plan's identity cannot tell contents apart."""

    delete: tuple[Version, ...]
    keep: tuple[Version, ...]
    markers: tuple[Version, ...]
    refusal: str | None = None
    detail: str = ""


def _version_matches(
    v: Version, expected: Identity, rehash: bool, sha256_of: Callable[[Version], str] | None
) -> str | None:
    """None if ``v`` holds the planned content, else why not (``weak:`` when it cannot be told)."""
    if v.size != expected.size:
        return f"size: expected {expected.size}, got {v.size}"
    # "null" names whatever an unversioned key holds now (S3 API), so it never identifies content
    strong = v.version_id != "null" and v.version_id in expected.version_ids
    if not strong:
        for name in ("etag", "mtime_ns", "inode"):
            want, got = getattr(expected, name), getattr(v, name)
            if name == "etag":
                want, got = norm_etag(want), norm_etag(got)
            if want is not None and got is not None:
                if want != got:
                    return f"{name}: expected {want}, got {got}"
                strong = True
    if rehash or not strong:
        if expected.sha256 is None or sha256_of is None:
            why = "rehash asked" if rehash else "only the size could be compared"
            return f"weak: {WEAK}: {why} and the plan recorded no sha256"
        got_sha = sha256_of(v)
        if got_sha != expected.sha256:
            return f"sha256: expected {expected.sha256}, got {got_sha}"
    return None


def select_versions(
    versions: Sequence[Version],
    expected: Identity,
    *,
    rehash: bool = False,
    sha256_of: Callable[[Version], str] | None = None,
) -> VersionDecision:
    """Pick the versions holding the planned content: listed by id, or equal in size and in every
    recorded field of (etag, mtime_ns, inode); in sha256 too when ``rehash`` is asked or nothing but the
    size could be compared (each candidate's bytes are then streamed).

    If the current version is real and differs from the plan, the key was overwritten after planning:
    nothing is selected. Delete markers are selected only when no other version survives, so removing
    them never resurrects a version the plan did not cover.
    """
    real = [v for v in versions if not v.is_marker]
    markers = tuple(v for v in versions if v.is_marker)
    verdicts = {v.version_id: _version_matches(v, expected, rehash, sha256_of) for v in real}
    latest = next((v for v in real if v.is_latest), None)
    if latest is not None and (why := verdicts[latest.version_id]) is not None:
        if why.startswith("weak: "):
            return VersionDecision((), tuple(real), (), refusal=why.removeprefix("weak: "))
        return VersionDecision((), tuple(real), (), refusal=f"changed since planning: {why}")
    weak = next((w for w in verdicts.values() if w and w.startswith("weak: ")), None)
    if weak is not None:
        return VersionDecision((), tuple(real), (), refusal=weak.removeprefix("weak: "))
    chosen = tuple(v for v in real if verdicts[v.version_id] is None)
    keep = tuple(v for v in real if v not in chosen)
    detail = f"{len(chosen)} version(s) hold the planned content"
    if keep:
        detail += f"; {len(keep)} other version(s) with other content kept"
    return VersionDecision(chosen, keep, () if keep else markers, detail=detail)
