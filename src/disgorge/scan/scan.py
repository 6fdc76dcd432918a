"""Residual scans: hash every object under some roots and report exact and near-duplicate matches
against the catalog, the erased content, or one dataset.

Exact matches compare sha256 (keyed, for erased content); near matches query the exact Hamming index
with the object's 8 dihedral PDQ forms and its centre crops, against stored whole images and crops,
so re-encoded, resized, mirrored, rotated and modestly cropped copies are all found, with no miss
within the radius. Images whose PDQ quality is below 50 are matched exactly only.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from pyroaring import BitMap
from sqlalchemy import select

from disgorge.catalog import CatalogStore
from disgorge.catalog.schema import Asset
from disgorge.errors import InputError
from disgorge.hashing.image import LOW_QUALITY, ImageProblem, hash_variants
from disgorge.hashing.workers import map_isolated
from disgorge.neardup import DEFAULT_RADIUS
from disgorge.scan.indexes import Indexes

VARIANT_NAMES = (
    "whole",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip",
    "flip+rotate90",
    "flip+rotate180",
    "flip+rotate270",
)


@dataclass(frozen=True, slots=True)
class Hashed:
    uri: str
    sha256: str
    size: int
    codes: tuple[bytes, ...] = ()
    labels: tuple[str, ...] = ()
    quality: int | None = None
    problem: str | None = None


@dataclass(slots=True)
class ScanReport:
    against: str
    radius: int
    scanned: int = 0
    bytes: int = 0
    matches: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    """The roots as scanned (absolute paths, s3:// prefixes)."""
    engine: dict[str, Any] | None = None
    """How an engine ran it (S3 prefixes): engine, workers, job, batches skipped on resume, ..."""

    def to_json(self) -> dict[str, Any]:
        return ({"engine": self.engine} if self.engine is not None else {}) | {
            "against": self.against,
            "radius": self.radius,
            "scanned": self.scanned,
            "bytes": self.bytes,
            "matches": self.matches,
            "problems": self.problems,
        }


def hash_object(uri: str, data: bytes) -> Hashed:
    """sha256 and PDQ forms of one object; never raises: a file no decoder can read is its own problem
    (``corrupt_image``, ``decompression_bomb``), and a non-image is matched by its bytes only."""
    sha = hashlib.sha256(data).hexdigest()
    try:
        v = hash_variants(data)
    except ImageProblem as exc:
        return Hashed(uri, sha, len(data), problem=exc.code if exc.code != "not_an_image" else None)
    except Exception:  # hash_variants promises ImageProblem only; one object never ends a scan
        return Hashed(uri, sha, len(data), problem="corrupt_image")
    crops = tuple(c for c, _ in v.crops)
    return as_hashed(uri, sha, len(data), forms=v.dihedral, crops=crops, quality=v.whole.quality)


def _hash_local(path: str) -> Hashed:
    uri = Path(path).absolute().as_uri()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read()
    except OSError as exc:
        return Hashed(uri, "", 0, problem=f"unreadable: {exc.strerror or exc}")
    return hash_object(uri, data)


def iter_local(root: Path) -> Iterator[str]:
    if root.is_file() and not root.is_symlink():
        yield str(root)
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                yield p


def normalise_roots(roots: list[str]) -> list[str]:
    """Scan roots as a person types them: relative folders resolve against the working directory, and a
    local root that does not exist is an input error (not a silent "0 objects scanned")."""
    out: list[str] = []
    for root in roots:
        parsed = urlparse(root)
        if parsed.scheme not in ("", "file"):
            out.append(root)
            continue
        path = Path(parsed.path if parsed.scheme else root).absolute()
        if not path.exists():
            raise InputError(
                f"scan root {root} does not exist", hint="give a folder, a file or an s3:// prefix"
            )
        out.append(str(path))
    return out


def hashed_objects(roots: list[str], storage: Any = None, workers: int = 2) -> Iterator[Hashed]:
    """Stream every object under the roots, hashed on ``workers`` processes for local files."""
    for root in roots:
        parsed = urlparse(root)
        if parsed.scheme in ("", "file"):
            paths = list(iter_local(Path(parsed.path if parsed.scheme else root)))
            yield from map_isolated(
                _hash_local,
                paths,
                workers=workers if len(paths) > 8 else 1,
                chunksize=8,
                on_failure=lambda p, reason: Hashed(
                    Path(p).absolute().as_uri(), "", 0, problem=f"unreadable: {reason}"
                ),
            )
        else:
            from disgorge.storage import backend_for

            backend = backend_for(root, storage)
            for info in backend.iter_objects(root):
                with backend.open(info.uri) as f:
                    yield hash_object(info.uri, f.read())


def scan(
    store: CatalogStore,
    indexes: Indexes,
    roots: list[str],
    *,
    against: str = "catalog",
    radius: int = DEFAULT_RADIUS,
    storage: Any = None,
    workers: int = 2,
    batch: int = 256,
) -> ScanReport:
    roots = normalise_roots(roots)
    report = ScanReport(against, radius, roots=roots)
    which = "erased" if against == "erased" else "catalog"
    restrict: BitMap | None = None
    if against.startswith("dataset:"):
        restrict = store.members(store.get_dataset(against.removeprefix("dataset:")).id)
    index = indexes.open(which)
    try:
        pending: list[Hashed] = []
        for item in hashed_objects(roots, storage, workers):
            report.scanned += 1
            report.bytes += item.size
            if item.problem:
                report.problems.append({"object": item.uri, "problem": item.problem})
            pending.append(item)
            if len(pending) >= batch:
                _match(store, index, which, pending, radius, restrict, report)
                pending = []
        if pending:
            _match(store, index, which, pending, radius, restrict, report)
    finally:
        index.close()
    return report


@dataclass(frozen=True, slots=True)
class Match:
    """One object's match: ``item`` indexes the matched batch, ``ref`` is the matched asset id (against
    the catalog) or the erasing plan id (against erased content)."""

    item: int
    kind: str
    distance: int
    via: str
    ref: Any


def as_hashed(
    uri: str,
    sha256: str,
    size: int,
    *,
    forms: tuple[bytes, ...],
    crops: tuple[bytes, ...],
    quality: int | None,
) -> Hashed:
    """An object's hashes as the matcher queries them: its dihedral forms (or only the whole image when
    they were not computed) and its centre crops, each labelled with the form it is."""
    labels = VARIANT_NAMES[: len(forms)] + tuple(f"crop{i + 1}" for i in range(len(crops)))
    return Hashed(uri, sha256, size, forms + crops, labels, quality)


def exact_refs(store: CatalogStore, which: str, items: list[Hashed]) -> dict[str, Any]:
    """sha256 -> asset id (against the catalog) or erasing plan id (keyed sha256, against erased)."""
    shas = [i.sha256 for i in items if i.sha256]
    if which == "catalog":
        with store.session() as s:
            return dict(s.execute(select(Asset.sha256, Asset.id).where(Asset.sha256.in_(shas))).all())
    return dict(store.tombstones_for(shas))


Near = dict[tuple[int, int], tuple[int, str]]
"""(item index, matched id) -> (best distance, the form or crop it was found through)."""


def near_best(index: Any, items: list[Hashed], radius: int, skip: set[int] | None = None) -> Near:
    """The near-duplicate join of items' codes against an index: the best distance per (item, stored id).
    Needs no catalog, so it runs where the index is (an engine's workers). Items below PDQ quality 50,
    and those in ``skip`` (exact matches), are not queried."""
    rows: list[tuple[int, int]] = []  # (item index, code index)
    codes: list[bytes] = []
    for n, item in enumerate(items):
        if skip and n in skip:
            continue
        if item.quality is not None and item.quality >= LOW_QUALITY:
            for k, code in enumerate(item.codes):
                rows.append((n, k))
                codes.append(code)
    if not codes:
        return {}
    found = index.range_search(np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(-1, 32), radius)
    best: Near = {}
    for q, ident, dist in found:
        n, k = rows[q]
        key = (n, int(ident))
        if key not in best or dist < best[key][0]:
            best[key] = (int(dist), items[n].labels[k])
    return best


def join(
    store: CatalogStore,
    which: str,
    items: list[Hashed],
    exact: dict[str, Any],
    near: Near,
    restrict: BitMap | None = None,
) -> list[Match]:
    """Matches from the exact lookup and the near join: an exact match wins over any near one."""
    out: list[Match] = []
    for n, item in enumerate(items):
        if item.sha256 in exact:
            ref = exact[item.sha256]
            if restrict is None or (isinstance(ref, int) and ref in restrict):
                out.append(Match(n, "exact", 0, "bytes", ref))
    best = {
        (n, ident): v
        for (n, ident), v in near.items()
        if items[n].sha256 not in exact and (restrict is None or ident in restrict)
    }
    plans = store.tombstone_plans([i for _, i in best]) if which == "erased" and best else {}
    for (n, ident), (dist, label) in sorted(best.items()):
        out.append(Match(n, "near", dist, label, plans.get(ident, "?") if which == "erased" else ident))
    return out


def match(
    store: CatalogStore,
    index: Any,
    which: str,
    items: list[Hashed],
    radius: int = DEFAULT_RADIUS,
    restrict: BitMap | None = None,
) -> list[Match]:
    """The one matcher behind scans, lookups and the re-ingestion guard: each item is an exact match
    (sha256; keyed sha256 against erased content) or else a near match of every stored hash within
    ``radius`` of any of its codes, best distance per (item, matched asset or tombstone). Items below PDQ
    quality 50 match exactly only; ``restrict`` limits catalog matches to those asset ids."""
    exact = exact_refs(store, which, items)
    skip = {n for n, i in enumerate(items) if i.sha256 in exact}
    return join(store, which, items, exact, near_best(index, items, radius, skip), restrict)


def _match(
    store: CatalogStore,
    index: Any,
    which: str,
    items: list[Hashed],
    radius: int,
    restrict: BitMap | None,
    report: ScanReport,
) -> None:
    for m in match(store, index, which, items, radius, restrict):
        report.matches.append(describe(store, which, items[m.item], m.kind, m.distance, m.via, m.ref))


def describe(
    store: CatalogStore, which: str, item: Hashed, kind: str, dist: int, label: str, ref: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"object": item.uri, "match": kind, "distance": dist, "via": label}
    if which == "erased":
        out["erased_by_plan"] = ref
    else:
        out["asset"] = store.asset(ref).sha256
    return out
