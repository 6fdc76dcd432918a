"""Datasets as versioned, content-addressed manifests over roaring bitmaps of asset ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from pyroaring import BitMap
from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from disgorge.catalog.assets import AssetsMixin
from disgorge.catalog.members import ClassKey, decode_classes, encode_classes, from_blob, member_rows, to_blob
from disgorge.catalog.schema import Asset, Copy, Dataset, Source
from disgorge.catalog.where import compile_where
from disgorge.errors import InputError, NotFoundError
from disgorge.ledger.merkle import root_from_leaf_hashes
from disgorge.model import DatasetRef

LEAF_PREFIX = b"\x00"


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    id: int
    name: str
    version: int
    digest: str
    member_count: int
    derived_from: str | None
    query: str | None
    stats: dict[str, Any] = field(default_factory=dict)
    state: str = "active"
    """``erased_members`` once an erasure removed some of its members from later versions."""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def _info(d: Dataset, parent: str | None = None) -> DatasetInfo:
    return DatasetInfo(
        d.id, d.name, d.version, d.digest, d.member_count, parent, d.query, dict(d.stats), d.state
    )


def manifest_digest(shas: Iterable[str]) -> str:
    """RFC 9162 Merkle root over the members' sha256 values in sorted order: equal sets, equal digests."""
    from disgorge.ledger.merkle import leaf_hash

    return root_from_leaf_hashes([leaf_hash(bytes.fromhex(h)) for h in sorted(shas)]).hex()


def _dataset_rows() -> Any:
    """A version's row with its parent's ref, one statement, built once: every gated run start
    resolves its datasets by name."""
    d, parent = cast(Table, Dataset.__table__).alias("d"), cast(Table, Dataset.__table__).alias("p")
    cols = (d.c.id, d.c.name, d.c.version, d.c.digest, d.c.member_count, parent.c.name, parent.c.version)
    q = (
        select(*cols, d.c.query, d.c.stats, d.c.state)
        .select_from(d.outerjoin(parent, parent.c.id == d.c.derived_from_id))
        .where(d.c.name == bindparam("name"))
    )
    return q.where(d.c.version == bindparam("version")), q.order_by(d.c.version.desc()).limit(1)


_BY_VERSION, _LATEST = _dataset_rows()


class DatasetsMixin(AssetsMixin):
    _bitmaps: dict[int, BitMap]

    def members(self, dataset_id: int) -> BitMap:
        """The member bitmap of a dataset version; versions are immutable, so it is cached."""
        cache = self.__dict__.setdefault("_bitmaps", {})
        if dataset_id not in cache:
            with self.session() as s:
                blob = s.scalar(select(Dataset.members).where(Dataset.id == dataset_id))
            if blob is None:
                raise NotFoundError(f"dataset id {dataset_id} is not in the catalog")
            cache[dataset_id] = from_blob(blob)
        bm: BitMap = cache[dataset_id]
        return bm

    def dataset_classes(self, dataset_id: int) -> dict[ClassKey, BitMap] | None:
        """The dataset's members grouped by purpose class, or None for a version made before classes were kept."""
        # classes change only when assets get a subject, which a ``subject_attribution`` ledger event
        # records in the same transaction: its newest index, read first, says whether a cached entry
        # (made by this process or before another process's attribution) is still true
        cache: dict[int, tuple[int, dict[ClassKey, BitMap] | None]] = self.__dict__.setdefault("_classes", {})
        from disgorge.catalog.stamps import ledger_tops

        with self.session() as s:
            stamp = ledger_tops(s)["subject_attribution"]
            hit = cache.get(dataset_id)
            if hit is not None and hit[0] == stamp:
                return hit[1]
            blob = s.scalar(select(Dataset.classes).where(Dataset.id == dataset_id))
        classes = decode_classes(blob) if blob else None
        cache[dataset_id] = (stamp, classes)
        return classes

    def all_dataset_bitmaps(self) -> dict[int, BitMap]:
        """Every dataset version's members, loading the ones not cached yet in one pass."""
        with self.session() as s:
            return self.dataset_bitmaps(list(s.scalars(select(Dataset.id))))

    def dataset_bitmaps(self, ids: list[int]) -> dict[int, BitMap]:
        """These dataset versions' members, loading the ones not cached yet in one pass."""
        cache: dict[int, BitMap] = self.__dict__.setdefault("_bitmaps", {})
        missing = [i for i in ids if i not in cache]
        if not missing:
            return {i: cache[i] for i in ids}
        with self.session() as s:
            for k in range(0, len(missing), 200):
                rows = s.execute(
                    select(Dataset.id, Dataset.members).where(Dataset.id.in_(missing[k : k + 200]))
                )
                for ds_id, blob in rows:
                    cache[ds_id] = from_blob(blob)
        return {i: cache[i] for i in ids}

    def get_dataset(self, ref: str | DatasetRef) -> DatasetInfo:
        """A dataset version by ref (``NAME`` for the newest), kept by the store while no new version
        (``dataset``), erasure mark (``dataset_marked``) or subject attribution (its subject count) is
        appended to the ledger, in this process or another: every gated read looks its inputs up."""
        from disgorge.catalog.stamps import ledger_tops

        r = DatasetRef.parse(ref) if isinstance(ref, str) else ref
        q, params = (
            (_BY_VERSION, {"name": r.name, "version": r.version})
            if r.version
            else (_LATEST, {"name": r.name})
        )
        cache: dict[tuple[str, int | None], tuple[tuple[int, ...], DatasetInfo]]
        cache = self.__dict__.setdefault("_dataset_infos", {})
        with self.session() as s:
            tops = ledger_tops(s)
            stamp = (tops["dataset"], tops["dataset_marked"], tops["subject_attribution"])
            hit = cache.get((r.name, r.version))
            if hit is not None and hit[0] == stamp:
                return hit[1]
            row = s.connection().execute(q, params).first()
            if row is None:
                names = sorted(set(s.scalars(select(Dataset.name))))
                raise NotFoundError(
                    f"dataset {r} is not in the catalog (known: {', '.join(names[:20]) or 'none'})",
                    hint="list datasets with: disgorge dataset list",
                )
        ds_id, name, version, digest, count, p_name, p_version, query, stats, state = row
        derived = f"{p_name}@{p_version}" if p_name is not None else None
        info = DatasetInfo(ds_id, name, version, digest, count, derived, query, dict(stats), state)
        if len(cache) >= 4096:
            cache.clear()
        cache[(r.name, r.version)] = (stamp, info)
        return info

    def mark_erased_members(self, name: str, erased: BitMap) -> list[str]:
        """Mark every version of ``name`` that holds any of ``erased`` (its bitmap is history: reading
        it for training would read erased content); returns their refs."""
        marked = []
        with self.session() as s:
            for d in s.scalars(select(Dataset).where(Dataset.name == name).order_by(Dataset.version)):
                if from_blob(d.members).intersection_cardinality(erased):
                    d.state = "erased_members"
                    marked.append(f"{d.name}@{d.version}")
            if marked:
                self._log(
                    s, "dataset_marked", {"dataset": name, "versions": marked, "state": "erased_members"}
                )
        return marked

    def datasets_by_id(self, ids: Iterable[int]) -> dict[int, DatasetInfo]:
        """The dataset versions with these ids (as :meth:`list_datasets` describes them), one query."""
        wanted = sorted(set(ids))
        with self.session() as s:
            return {d.id: _info(d) for d in s.scalars(select(Dataset).where(Dataset.id.in_(wanted)))}

    def list_datasets(self) -> list[DatasetInfo]:
        with self.session() as s:
            return [_info(d) for d in s.scalars(select(Dataset).order_by(Dataset.name, Dataset.version))]

    def source_members(self, source_id: int) -> BitMap:
        with self.session() as s:
            ids = s.scalars(select(Asset.id).where(Asset.source_id == source_id, Asset.state == "active"))
            return BitMap(ids)

    def filter_members(self, members: BitMap, where: str) -> BitMap:
        pred = compile_where(where)
        out = BitMap()
        cols = [
            Asset.source_id,
            Asset.categories,
            Asset.meta,
            Asset.media_type,
            Asset.width,
            Asset.height,
            Asset.size,
            Asset.pdq_quality,
        ]
        with self.session() as s:
            names = dict(s.execute(select(Source.id, Source.name)).all())
            for row in member_rows(s, members, cols):
                rec = {
                    "source": names.get(row[1]),
                    "categories": row[2] or [],
                    "meta": row[3] or {},
                    "media_type": row[4],
                    "width": row[5],
                    "height": row[6],
                    "size": row[7],
                    "quality": row[8],
                }
                if pred(rec):
                    out.add(row[0])
        return out

    def members_from_manifest(self, entries: Iterable[str], *, origin: str) -> BitMap:
        """Resolve manifest lines (sha256 or registered path/URI) to asset ids; any unknown line is an error."""
        from pathlib import Path

        out = BitMap()
        missing: list[str] = []
        with self.session() as s:
            for n, raw in enumerate(entries, 1):
                text = raw.strip()
                if not text or text.startswith("#"):
                    continue
                if len(text) == 64 and all(c in "0123456789abcdef" for c in text.lower()):
                    aid = s.scalar(select(Asset.id).where(Asset.sha256 == text.lower()))
                else:
                    uri = text if "://" in text else Path(text).resolve().as_uri()
                    aid = s.scalar(select(Copy.asset_id).where(Copy.uri == uri))
                if aid is None:
                    missing.append(f"line {n}: {text}")
                else:
                    out.add(aid)
        if missing:
            raise InputError(
                f"manifest {origin}: {len(missing)} entries are not registered assets ({'; '.join(missing[:5])})",
                hint="ingest the files first, or remove those lines; nothing was created",
            )
        return out

    def _stats(self, s: Session, members: BitMap) -> tuple[str, dict[str, Any], dict[ClassKey, BitMap]]:
        """Digest, summary statistics and purpose classes of a member set, in one pass over its rows."""
        shas: list[str] = []
        classes: dict[ClassKey, BitMap] = {}
        sources: Counter[int] = Counter()
        subjects: set[int] = set()
        categories: set[str] = set()
        total = 0
        for row in member_rows(
            s,
            members,
            [Asset.sha256, Asset.source_id, Asset.subject_id, Asset.categories, Asset.size, Asset.notice_id],
        ):
            shas.append(row[1])
            key = (row[6], tuple(sorted(row[4] or ())), row[3] is not None)
            bm = classes.get(key)
            if bm is None:
                bm = classes[key] = BitMap()
            bm.add(row[0])
            sources[row[2]] += 1
            if row[3] is not None:
                subjects.add(row[3])
            categories.update(row[4] or ())
            total += row[5]
        names = dict(s.execute(select(Source.id, Source.name)).all())
        stats = {
            "sources": {names[k]: v for k, v in sorted(sources.items())},
            "subject_count": len(subjects),
            "categories": sorted(categories),
            "bytes": total,
        }
        return manifest_digest(shas), stats, classes

    def create_dataset(
        self,
        name: str,
        members: BitMap,
        *,
        derived_from: int | None = None,
        query: str | None = None,
        declared_use: str | None = None,
    ) -> tuple[DatasetInfo, bool]:
        """Create the next version of NAME with these members; returns (dataset, created).

        If the newest version has exactly these members (same digest), it is returned unchanged.
        """
        if not name or "@" in name:
            raise InputError(
                f"dataset name {name!r} is empty or contains '@'", hint="use letters, digits, - and _"
            )
        with self.session() as s:
            return self._create_dataset(
                s, name, members, derived_from=derived_from, query=query, declared_use=declared_use
            )

    def _create_dataset(
        self,
        s: Session,
        name: str,
        members: BitMap,
        *,
        derived_from: int | None = None,
        query: str | None = None,
        declared_use: str | None = None,
    ) -> tuple[DatasetInfo, bool]:
        """:meth:`create_dataset` in the caller's transaction (the name already checked)."""
        digest, stats, classes = self._stats(s, members)
        latest = s.scalars(
            select(Dataset).where(Dataset.name == name).order_by(Dataset.version.desc()).limit(1)
        ).first()
        if latest is not None and latest.digest == digest:
            return _info(latest), False
        version = (latest.version + 1) if latest else 1
        d = Dataset(
            name=name,
            version=version,
            digest=digest,
            member_count=len(members),
            members=to_blob(members),
            derived_from_id=derived_from,
            query=query,
            declared_use=declared_use,
            stats=stats,
            classes=encode_classes(classes),
        )
        s.add(d)
        s.flush()
        parent = s.get(Dataset, derived_from) if derived_from is not None else None
        if parent is not None:
            self._link(s, "dataset", parent.id, "dataset", d.id, "subset_of")
        self._log(
            s,
            "dataset",
            {
                "ref": f"{name}@{version}",
                "digest": digest,
                "members": len(members),
                "derived_from": f"{parent.name}@{parent.version}" if parent else None,
            },
        )
        return _info(d, f"{parent.name}@{parent.version}" if parent else None), True

    def dataset_count(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(Dataset)) or 0)
