"""Listing a prefix and cutting it into batches, skipping what a resumed job already finished.

Keys come from the S3 listing itself, page by page in key order (``ListObjectsV2`` for ingest, which
registers current objects; ``ListObjectVersions`` for scans, which must also find noncurrent versions,
as the local scan does), never from Ray's ``read_binary_files``, which resolves paths serially on the
driver. A batch never splits one key's versions, so a finished batch is a key range: on resume the
objects now in that range are digested again, and the batch is skipped only if they are exactly the
ones it hashed (same keys, versions, ETags, sizes); otherwise it is forgotten and done again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from disgorge.catalog.engine_jobs import DoneBatch
from disgorge.engines.work import Listed
from disgorge.errors import InputError, StoreError


@dataclass(frozen=True, slots=True)
class Batch:
    objects: tuple[Listed, ...]

    @property
    def first_key(self) -> str:
        return self.objects[0].key

    @property
    def last_key(self) -> str:
        return self.objects[-1].key

    @property
    def digest(self) -> str:
        return digest(self.objects)


def digest(objects: tuple[Listed, ...] | list[Listed]) -> str:
    h = hashlib.sha256()
    for o in objects:
        h.update(f"{o.key}\0{o.version_id or ''}\0{o.etag or ''}\0{o.size}\n".encode())
    return h.hexdigest()


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def list_objects(client: Any, bucket: str, prefix: str, *, versions: bool) -> Iterator[Listed]:
    """Every object under the prefix in key order (with ``versions``, every version, newest first)."""
    op = "list_object_versions" if versions else "list_objects_v2"
    try:
        for page in client.get_paginator(op).paginate(Bucket=bucket, Prefix=prefix):
            for r in page.get("Versions" if versions else "Contents", []):
                vid = r.get("VersionId") if versions else None
                latest = bool(r.get("IsLatest", True))
                yield Listed(
                    r["Key"],
                    int(r["Size"]),
                    (r.get("ETag") or "").strip('"') or None,
                    int(r["LastModified"].timestamp() * 1e9),
                    vid if vid and vid != "null" and not latest else None,
                    latest,
                )
    except Exception as exc:
        if _code(exc) == "NoSuchBucket":
            raise InputError(f"s3://{bucket}/ does not exist", hint="check the bucket name") from exc
        raise StoreError(
            f"S3 listing s3://{bucket}/{prefix} failed: {exc}",
            hint="check the S3 endpoint, credentials and that the server runs",
        ) from exc


def _by_key(listing: Iterator[Listed]) -> Iterator[list[Listed]]:
    """Objects grouped by key (a key's versions are listed together)."""
    group: list[Listed] = []
    for obj in listing:
        if group and obj.key != group[0].key:
            yield group
            group = []
        group.append(obj)
    if group:
        yield group


def batches(
    listing: Iterator[Listed], done: tuple[DoneBatch, ...], size: int, stale: list[int]
) -> Iterator[Batch | DoneBatch]:
    """Batches of about ``size`` objects to run, and the finished batches they skip (yielded as such).
    A finished batch whose objects changed is appended to ``stale`` and its objects batched again."""
    ranges = list(done)
    r = 0
    fresh: list[Listed] = []
    held: list[Listed] = []  # the objects now inside ranges[r]
    for group in _by_key(listing):
        key = group[0].key
        while r < len(ranges) and key > ranges[r].last_key:
            yield from _close_range(ranges[r], held, stale, size)
            held = []
            r += 1
        if r < len(ranges) and ranges[r].first_key <= key:
            if fresh:
                yield Batch(tuple(fresh))
                fresh = []
            held.extend(group)
            continue
        fresh.extend(group)
        if len(fresh) >= size:
            yield Batch(tuple(fresh))
            fresh = []
    while r < len(ranges):
        yield from _close_range(ranges[r], held, stale, size)
        held = []
        r += 1
    if fresh:
        yield Batch(tuple(fresh))


def _close_range(
    rng: DoneBatch, held: list[Listed], stale: list[int], size: int
) -> Iterator[Batch | DoneBatch]:
    if held and len(held) == rng.objects and digest(held) == rng.digest:
        yield rng
        return
    stale.append(rng.id)
    for i in range(0, len(held), size):
        yield Batch(tuple(held[i : i + size]))
