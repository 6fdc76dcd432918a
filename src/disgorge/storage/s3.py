"""S3 objects through boto3, tested against a real SeaweedFS; every version holding the content is erased.

In a versioned bucket a DELETE without a version id only adds a delete marker and the bytes stay
readable by version id (S3 API, "Deleting object versions"), so erasure lists the key's versions
(``ListObjectVersions``) and deletes each one holding the planned content by its version id, plus the
key's delete markers once nothing else survives (:func:`~disgorge.storage.base.select_versions`). A
version id names immutable bytes, so deleting by id cannot hit content written after the check; an
unversioned key (version ``null``) is deleted with ``If-Match: <planned etag>`` (conditional DeleteObject),
which SeaweedFS 4.48 honours, so an overwrite after the check fails the delete instead of losing new data.

SeaweedFS keeps deleted bytes in its volume ``.dat`` files until a volume vacuum compacts them
(``weed shell``: ``volume.vacuum``; the default garbage threshold 0.3 leaves small deletions in place):
:meth:`S3Storage.compact` runs it (:mod:`disgorge.storage.seaweedfs`). Object key names persist in the filer's metadata log,
so keys should be opaque (content hashes), never names of people.

URIs are ``s3://bucket/key``; a trailing ``?versionId=ID`` selects one version (how :meth:`iter_objects`
names noncurrent versions for residual scans).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from disgorge.errors import InputError, NotFoundError, StoreError
from disgorge.storage.base import (
    BaseStorage,
    DeleteEvidence,
    Identity,
    ObjectInfo,
    Version,
    VersionDecision,
    norm_etag,
    refusal_outcome,
    select_versions,
)
from disgorge.storage.seaweedfs import Compaction, compact

DELETE_BATCH = 1000
"""Keys per ``DeleteObjects`` request: the S3 API's limit."""
DELETE_THREADS = 4
"""``DeleteObjects`` requests in flight at once (the store deletes a request's keys one after another;
4 gave 15-30% more than 2 on SeaweedFS here, 8 no more)."""
DELETE_MIN = 50
"""A batch is spread over concurrent ``DeleteObjects`` requests of at least this many keys each: the
store deletes a request's keys one after another."""
LISTING_THREADS = 8
"""Keys whose versions are listed at once before a batched delete (boto3 clients are thread-safe)."""
LIST_BATCH_MIN = 8
"""From this many keys in one bucket, their versions come from one listing of their common prefix."""
LIST_PAGE = 1000
"""Versions per ``ListObjectVersions`` page (the S3 API's most)."""
LIST_DENSITY = 20
"""A batched listing goes on while each page read finds this many wanted keys on average; in a sparse
range it stops, and the keys left are listed one by one."""


@dataclass(frozen=True, slots=True)
class _Decided:
    uri: str
    bucket: str
    key: str
    decision: VersionDecision


if TYPE_CHECKING:
    from disgorge.storage.registry import S3Config, StorageConfig

_ABSENT = {"404", "NoSuchKey", "NoSuchVersion", "NotFound", "NoSuchBucket"}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def parse_s3_uri(uri: str, *, key_required: bool = True) -> tuple[str, str, str | None]:
    """``s3://bucket/key?versionId=ID`` -> (bucket, key, ID or None)."""
    if not uri.startswith("s3://"):
        raise InputError(f"{uri!r} is not an s3:// URI")
    rest, sep, version = uri[5:].rpartition("?versionId=")
    if not sep:
        rest, version = uri[5:], ""
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise InputError(f"{uri!r}: {bucket!r} is not a valid bucket name")
    if key_required and not key:
        raise InputError(f"{uri!r} names a bucket, not an object", hint="use s3://bucket/key")
    if "\0" in key:
        raise InputError(f"{uri!r}: a NUL byte cannot be part of a key")
    return bucket, key, version or None


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _fail(exc: Exception, what: str) -> StoreError:
    return StoreError(
        f"S3 {what} failed: {exc}", hint="check the S3 endpoint, credentials and that the server runs"
    )


class S3Storage(BaseStorage):
    """Objects in S3 buckets; see the module docstring for what a delete removes."""

    compared_fields = ("size", "etag")

    def __init__(self, config: S3Config | None = None, *, client: Any = None) -> None:
        from disgorge.storage.registry import S3Config

        self.config = config or S3Config()
        self._client = client
        self._pending: dict[str, list[float]] = {}
        """bucket -> [bytes, versions, when the last was deleted] since the last compaction"""
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: StorageConfig) -> S3Storage:
        return cls(config.s3)

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            c = self.config
            self._client = boto3.client(
                "s3",
                endpoint_url=c.endpoint_url,
                aws_access_key_id=c.access_key_id,
                aws_secret_access_key=c.secret_access_key,
                region_name=c.region,
                config=Config(
                    s3={"addressing_style": "path"},
                    connect_timeout=c.connect_timeout,
                    read_timeout=c.read_timeout,
                    retries={"max_attempts": 3, "mode": "standard"},
                ),
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def compact(
        self, *, bucket: str | None = None, garbage_threshold: float = 0.0001, wait: float = 30.0
    ) -> Compaction:
        """SeaweedFS: vacuum the volumes (all, or one bucket's) so the bytes deleted through this backend
        leave the disks; waits for those deletions to reach the volumes first (see :mod:`.seaweedfs`)."""
        if not self.config.weed_master:
            raise InputError("no SeaweedFS master configured", hint="set weed_master in the S3 settings")
        rows = [self._pending[b] for b in ([bucket] if bucket else self._pending) if b in self._pending]
        done = compact(
            self.config.weed_master,
            collection=bucket,
            expect_garbage=int(sum(r[0] for r in rows)),
            expect_needles=int(sum(r[1] for r in rows)),
            deleted_at=max((r[2] for r in rows), default=None),
            weed=self.config.weed_binary,
            garbage_threshold=garbage_threshold,
            wait=wait,
        )
        for b in [bucket] if bucket else list(self._pending):
            self._pending.pop(b, None)
        return done

    def _deleted(self, bucket: str, size: int) -> None:
        """Count a version this backend deleted (answered now) toward the bucket's next compaction."""
        with self._lock:
            row = self._pending.setdefault(bucket, [0, 0, 0.0])
            row[0] += size
            row[1] += 1 if size else 0  # an empty object has no chunk on the volumes
            row[2] = time.monotonic()

    # --- reading ------------------------------------------------------------------------------------
    def stat(self, uri: str) -> ObjectInfo | None:
        bucket, key, version = parse_s3_uri(uri)
        kw = {"VersionId": version} if version else {}
        try:
            head = self.client.head_object(Bucket=bucket, Key=key, **kw)
        except Exception as exc:
            if _code(exc) in _ABSENT:
                return None
            raise _fail(exc, f"HEAD {uri}") from exc
        vid = head.get("VersionId")
        return ObjectInfo(
            uri,
            int(head["ContentLength"]),
            int(head["LastModified"].timestamp() * 1e9),
            None,
            norm_etag(head.get("ETag")),
            (vid,) if vid and vid != "null" else (),
        )

    def exists_many(self, uris: Iterable[str]) -> Iterator[bool]:
        """:meth:`exists` for each URI in order, ``LISTING_THREADS`` HEAD requests in flight at once."""
        items = list(uris)
        if not items:
            return
        with ThreadPoolExecutor(min(LISTING_THREADS, len(items))) as pool:
            yield from pool.map(self.exists, items)

    def open(self, uri: str) -> BinaryIO:
        bucket, key, version = parse_s3_uri(uri)
        kw = {"VersionId": version} if version else {}
        try:
            return cast(BinaryIO, self.client.get_object(Bucket=bucket, Key=key, **kw)["Body"])
        except Exception as exc:
            if _code(exc) in _ABSENT:
                raise NotFoundError(f"{uri} does not exist") from exc
            raise _fail(exc, f"GET {uri}") from exc

    def _listing(self, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
        """Versions and delete markers under ``prefix``, in key order, each tagged ``marker``."""
        try:
            for page in self.client.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                rows = [{**v, "marker": False} for v in page.get("Versions", [])]
                rows += [{**m, "marker": True} for m in page.get("DeleteMarkers", [])]
                yield from sorted(rows, key=lambda r: (r["Key"], not r["IsLatest"]))
        except Exception as exc:
            if _code(exc) == "NoSuchBucket":
                return
            raise _fail(exc, f"listing s3://{bucket}/{prefix}") from exc

    def versions(self, uri: str) -> list[Version]:
        """Every version and delete marker of exactly this key (or the one version the URI names)."""
        bucket, key, version = parse_s3_uri(uri)
        out = [
            Version(
                r["VersionId"],
                int(r.get("Size", 0)),
                norm_etag(r.get("ETag")),
                bool(r["IsLatest"]),
                r["marker"],
            )
            for r in self._listing(bucket, key)
            if r["Key"] == key
        ]
        if version is not None:
            out = [
                Version(v.version_id, v.size, v.etag, True, v.is_marker)
                for v in out
                if v.version_id == version
            ]
        return out

    def iter_objects(self, root_uri: str) -> Iterator[ObjectInfo]:
        """Every object under the prefix; noncurrent versions too, as ``s3://b/k?versionId=ID``."""
        bucket, prefix, _ = parse_s3_uri(root_uri, key_required=False)
        for r in self._listing(bucket, prefix):
            if r["marker"]:
                continue
            vid = r["VersionId"]
            uri = f"s3://{bucket}/{r['Key']}" + ("" if r["IsLatest"] else f"?versionId={vid}")
            mtime = int(r["LastModified"].timestamp() * 1e9)
            yield ObjectInfo(
                uri, int(r["Size"]), mtime, None, norm_etag(r.get("ETag")), () if vid == "null" else (vid,)
            )

    def _sha256_version(self, bucket: str, key: str, version_id: str) -> str:
        from disgorge.storage.base import sha256_stream

        with self.open(f"s3://{bucket}/{key}?versionId={version_id}") as body:
            return sha256_stream(body)

    # --- deleting -----------------------------------------------------------------------------------
    def _decide(
        self, uri: str, expected: Identity, rehash: bool, listed: list[Version] | None = None
    ) -> DeleteEvidence | _Decided:
        """The re-check before a delete: the key's versions now (``listed`` when a batched listing
        already found them), and which hold the planned content."""
        try:
            bucket, key, _ = parse_s3_uri(uri)
        except InputError as exc:
            return DeleteEvidence(uri, "refused", exc.message)
        versions = listed if listed else self.versions(uri)
        if not versions:
            return DeleteEvidence(uri, "already_gone", f"{uri}: no version or delete marker left")
        decision = select_versions(
            versions,
            expected,
            rehash=rehash,
            sha256_of=lambda v: self._sha256_version(bucket, key, v.version_id),
        )
        if decision.refusal:
            return DeleteEvidence(uri, refusal_outcome(decision.refusal), decision.refusal)
        if not decision.delete:
            return DeleteEvidence(uri, "already_gone", f"{uri}: no version holds the planned content")
        return _Decided(uri, bucket, key, decision)

    def _list_many(self, uris: list[str]) -> dict[str, list[Version]]:
        """The versions of many keys from few listings: per bucket, the keys' longest common prefix is
        listed once, paged, in key order (the S3 API's order), up to the last wanted key. A key the
        listing did not show, the last key of a listing cut short, and a URI naming one version are
        left out: :meth:`_decide` lists those one by one, so nothing is concluded from a partial page.
        A sparse range (few wanted keys among many others) stops early for the same fallback."""
        wanted: dict[str, dict[str, str]] = {}  # bucket -> key -> uri
        for uri in uris:
            try:
                bucket, key, version = parse_s3_uri(uri)
            except InputError:
                continue
            if version is None:
                wanted.setdefault(bucket, {})[key] = uri
        out: dict[str, list[Version]] = {}
        for bucket, keys in wanted.items():
            if len(keys) < LIST_BATCH_MIN:
                continue
            ordered = sorted(keys, key=lambda k: k.encode())
            last = ordered[-1].encode()
            prefix = _common_prefix(ordered[0], ordered[-1])  # of all: they sort between these
            found: dict[str, list[Version]] = {}
            pages = 0
            cut = False
            try:
                for page in self.client.get_paginator("list_object_versions").paginate(
                    Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": LIST_PAGE}
                ):
                    pages += 1
                    rows = [(v, False) for v in page.get("Versions", [])]
                    rows += [(m, True) for m in page.get("DeleteMarkers", [])]
                    past = False  # the listing went past the last wanted key: every key found is whole
                    for r, marker in rows:
                        k = r["Key"]
                        past = past or k.encode() > last
                        if k in keys:
                            found.setdefault(k, []).append(
                                Version(
                                    r["VersionId"],
                                    int(r.get("Size", 0)),
                                    norm_etag(r.get("ETag")),
                                    bool(r["IsLatest"]),
                                    marker,
                                )
                            )
                    if past:
                        break
                    if pages > 1 + len(found) // LIST_DENSITY:  # sparse: the rest one by one
                        cut = bool(page.get("IsTruncated"))
                        break
            except Exception as exc:
                if _code(exc) == "NoSuchBucket":
                    continue
                raise _fail(exc, f"listing s3://{bucket}/{prefix}") from exc
            if cut and found:  # its versions may go on in the page not read: list it alone
                found.pop(max(found, key=lambda k: k.encode()))
            for k, versions in found.items():
                out[keys[k]] = versions
        return out

    def delete_many(
        self, targets: Iterable[tuple[str, Identity]], *, rehash: bool = False
    ) -> Iterator[DeleteEvidence]:
        """Many keys at the speed of the store: each key's versions are re-checked as :meth:`delete`
        does (``LISTING_THREADS`` listings at once), then the versions chosen by id go in batched
        ``DeleteObjects`` requests (up to 1,000 keys each), delete markers in a second round once
        their versions are gone. An unversioned key (version ``null``) keeps its conditional single
        delete, since a batch cannot carry ``If-Match``. Evidence comes back in the targets' order."""
        items = list(targets)
        if not items:
            return
        listed = self._list_many([uri for uri, _ in items])
        with ThreadPoolExecutor(min(LISTING_THREADS, len(items))) as pool:
            decided = list(pool.map(lambda t: self._decide(t[0], t[1], rehash, listed.get(t[0])), items))
        batched: dict[str, list[tuple[int, str, Version]]] = {}
        out: list[DeleteEvidence | None] = [None] * len(items)
        single: list[int] = []
        for n, d in enumerate(decided):
            if isinstance(d, DeleteEvidence):
                out[n] = d
            elif any(v.version_id == "null" for v in d.decision.delete):
                single.append(n)
            else:
                batched.setdefault(d.bucket, []).extend((n, d.key, v) for v in d.decision.delete)
        if single:  # conditional deletes, each its own request: several in flight at once
            with ThreadPoolExecutor(min(LISTING_THREADS, len(single))) as pool:
                done = pool.map(lambda n: self._delete_decided(cast(_Decided, decided[n])), single)
                for n, got in zip(single, done, strict=True):
                    out[n] = got
        failed = self._delete_batched(batched)
        markers: dict[str, list[tuple[int, str, Version]]] = {}
        for n, d in enumerate(decided):
            if out[n] is None and isinstance(d, _Decided):
                if n in failed:
                    continue
                for v in d.decision.delete:
                    self._deleted(d.bucket, v.size)
                markers.setdefault(d.bucket, []).extend((n, d.key, m) for m in d.decision.markers)
        unmarked = self._delete_batched(markers)
        for n, d in enumerate(decided):
            if out[n] is None and isinstance(d, _Decided) and n not in failed:
                detail = d.decision.detail
                if d.decision.markers:
                    detail += f"; {len(d.decision.markers)} delete marker(s) removed"
                if n in unmarked:
                    detail += f"; a delete marker was not removed ({unmarked[n]})"
                out[n] = DeleteEvidence(d.uri, "deleted", detail, versions_deleted=len(d.decision.delete))
        for n, ev in enumerate(out):
            if ev is None:  # the store refused to delete it: what came before stands, the rest failed
                raise StoreError(
                    f"S3 DeleteObjects did not delete {items[n][0]}: {failed.get(n, 'no outcome')}",
                    hint="check the credentials' delete permission; run the erasure again to resume",
                )
            yield ev

    def _delete_batched(self, by_bucket: dict[str, list[tuple[int, str, Version]]]) -> dict[int, str]:
        """DeleteObjects by version id, 1,000 per request; returns target index -> error for the
        versions the store did not delete (an absent version counts as deleted)."""
        failed: dict[int, str] = {}
        requests: list[tuple[str, list[tuple[int, str, Version]]]] = []
        for bucket, rows in by_bucket.items():  # spread over the threads, at most 1,000 per request
            size = min(DELETE_BATCH, max(DELETE_MIN, -(-len(rows) // DELETE_THREADS)))
            requests += [(bucket, rows[i : i + size]) for i in range(0, len(rows), size)]

        def send(req: tuple[str, list[tuple[int, str, Version]]]) -> list[tuple[int, str]]:
            bucket, chunk = req
            owner = {(key, v.version_id): n for n, key, v in chunk}
            objects = [{"Key": key, "VersionId": v.version_id} for _, key, v in chunk]
            try:
                got = self.client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            except Exception as exc:
                raise _fail(exc, f"DeleteObjects in s3://{bucket}") from exc
            errors: list[tuple[int, str]] = []
            for e in got.get("Errors", []):
                if e.get("Code") in _ABSENT:
                    continue
                n = owner.get((e.get("Key"), e.get("VersionId")))
                if n is not None:
                    errors.append((n, f"{e.get('Code')}: {e.get('Message', '')}".strip()))
            return errors

        if not requests:
            return failed
        with ThreadPoolExecutor(min(DELETE_THREADS, len(requests))) as pool:
            for errors in pool.map(send, requests):
                for n, why in errors:
                    failed.setdefault(n, why)
        return failed

    def delete(self, uri: str, expected: Identity, *, rehash: bool = False) -> DeleteEvidence:
        """Delete every version of the key holding the planned content, re-checked just before."""
        d = self._decide(uri, expected, rehash)
        return d if isinstance(d, DeleteEvidence) else self._delete_decided(d)

    def _delete_decided(self, d: _Decided) -> DeleteEvidence:
        uri, bucket, key, decision = d.uri, d.bucket, d.key, d.decision
        for v in decision.delete:
            kw = {"IfMatch": f'"{v.etag}"'} if v.version_id == "null" and v.etag else {}
            try:
                self.client.delete_object(Bucket=bucket, Key=key, VersionId=v.version_id, **kw)
                self._deleted(bucket, v.size)
            except Exception as exc:
                if _code(exc) == "PreconditionFailed":
                    return DeleteEvidence(uri, "skipped_changed", "overwritten while being deleted")
                if _code(exc) not in _ABSENT:
                    raise _fail(exc, f"DELETE {uri} version {v.version_id}") from exc
        for m in decision.markers:
            try:
                self.client.delete_object(Bucket=bucket, Key=key, VersionId=m.version_id)
            except Exception as exc:
                if _code(exc) not in _ABSENT:
                    raise _fail(exc, f"DELETE {uri} delete marker {m.version_id}") from exc
        detail = decision.detail + (
            f"; {len(decision.markers)} delete marker(s) removed" if decision.markers else ""
        )
        return DeleteEvidence(uri, "deleted", detail, versions_deleted=len(decision.delete))

    def delete_history(self, prefix_uri: str) -> int:
        """Delete every noncurrent version and delete marker under a prefix; returns how many.

        Only for prefixes whose objects are written once, such as a Delta table's (the protocol never
        rewrites a data or commit file): there, a noncurrent version is always a removed file whose bytes
        a versioned bucket still keeps after ``vacuum``.
        """
        bucket, prefix, _ = parse_s3_uri(prefix_uri, key_required=False)
        if not prefix.endswith("/"):
            raise InputError(f"{prefix_uri!r}: give a folder prefix ending in '/'")
        removed = 0
        for r in list(self._listing(bucket, prefix)):
            if r["marker"] or not r["IsLatest"]:
                try:
                    self.client.delete_object(Bucket=bucket, Key=r["Key"], VersionId=r["VersionId"])
                except Exception as exc:
                    if _code(exc) not in _ABSENT:
                        raise _fail(exc, f"DELETE s3://{bucket}/{r['Key']} version {r['VersionId']}") from exc
                if not r["marker"]:
                    self._deleted(bucket, int(r.get("Size", 0)))
                removed += 1
        return removed
