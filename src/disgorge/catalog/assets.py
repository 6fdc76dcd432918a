"""Registering assets and their copies in batches, each batch in one transaction.

A batch either lands whole (assets, copies, subjects) or not at all, so an asset is never
half-registered. Inserts use SQLAlchemy's bulk "insertmanyvalues" path on both dialects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from pyroaring import BitMap
from sqlalchemy import JSON, Table, func, insert, select, update
from sqlalchemy.orm import Session

from disgorge.catalog.members import decode_classes, encode_classes, from_blob, member_rows
from disgorge.catalog.schema import Asset, AssetHash, Copy, Dataset, Source, Subject, utcnow
from disgorge.catalog.sources import SourcesMixin
from disgorge.catalog.sql import rows_where_in
from disgorge.errors import NotFoundError, UsageError
from disgorge.ledger.merkle import root_hash
from disgorge.model import AssetRecord


@dataclass(slots=True)
class RegisterResult:
    new_assets: int = 0
    new_copies: int = 0
    unchanged: int = 0
    moved_copies: int = 0
    subjects_added: int = 0
    new_unknown_subject: int = 0
    attributed: list[int] = field(default_factory=list)
    """Indexes of the records whose subject became their content's subject."""
    conflicts: list[tuple[int, int | None]] = field(default_factory=list)
    """(record index, index of the record of this batch that gave the content its subject, or None
    when the catalog already had it): records refused because their subject contradicts it."""


@dataclass(frozen=True, slots=True)
class AssetView:
    id: int
    sha256: str
    size: int
    media_type: str
    width: int | None
    height: int | None
    pdq: bytes | None
    pdq_quality: int | None
    source: str
    subject_id: int | None
    categories: tuple[str, ...]
    state: str
    copies: tuple[str, ...]


class AssetsMixin(SourcesMixin):
    def register(self, records: Sequence[AssetRecord], *, source_id: int, notice_id: int) -> RegisterResult:
        """Register a batch: new content becomes an asset, a new path of known content a copy.

        Content with no known subject takes the first subject a record gives it; a record giving content
        a subject other than the one it has is a conflict: it is not registered (not even as a copy), and
        is reported in ``conflicts``."""
        result = RegisterResult()
        if not records:
            return result
        now = utcnow()
        with self.session() as s:
            shas = {r.sha256 for r in records}
            uris = {r.uri for r in records}
            known: dict[str, int] = {}
            decided: dict[str, tuple[str, Any] | None] = {}
            for sha, aid, sid in rows_where_in(
                s, [Asset.sha256, Asset.id, Asset.subject_id], Asset.sha256, shas
            ):
                known[sha] = aid
                decided[sha] = ("id", sid) if sid is not None else None
            copies: dict[str, int] = dict(rows_where_in(s, [Copy.uri, Copy.asset_id], Copy.uri, uris))
            pseudo = {x: self.hasher.subject(x) for x in {r.subject for r in records if r.subject}}
            existing = self._subject_rows(s, set(pseudo.values()))
            fresh: dict[str, AssetRecord] = {}
            owner: dict[str, int] = {}
            added: dict[str, str] = {}
            skip: set[int] = set()
            for n, r in enumerate(records):
                if r.sha256 not in known and r.sha256 not in fresh:
                    fresh[r.sha256] = r
                if not r.subject:
                    continue
                p, cur = pseudo[r.subject], decided.get(r.sha256)
                if cur is None:
                    decided[r.sha256] = ("pseudonym", p)
                    owner[r.sha256] = n
                    result.attributed.append(n)
                    if r.sha256 in known:
                        added[r.sha256] = p
                elif (cur[1] != p) if cur[0] == "pseudonym" else (existing.get(p) != cur[1]):
                    skip.add(n)
                    result.conflicts.append((n, owner.get(r.sha256)))
            chosen = {v[1] for v in decided.values() if v is not None and v[0] == "pseudonym"}
            subjects = self.subject_ids(s, chosen, existing=existing)

            def subject_of(sha: str) -> int | None:
                d = decided.get(sha)
                return subjects[d[1]] if d is not None else None

            if fresh:
                rows = [
                    {
                        "sha256": r.sha256,
                        "size": r.size,
                        "media_type": r.media_type,
                        "width": r.width,
                        "height": r.height,
                        "pdq": r.pdq,
                        "pdq_quality": r.pdq_quality,
                        "source_id": source_id,
                        "notice_id": notice_id,
                        "subject_id": subject_of(r.sha256),
                        "categories": sorted(r.categories),
                        "meta": r.metadata,
                        "state": "active",
                        "created_at": now,
                    }
                    for r in fresh.values()
                ]
                known.update(_bulk_insert(s, cast(Table, Asset.__table__), rows, key="sha256"))
                result.new_assets = len(rows)
                result.new_unknown_subject = sum(1 for row in rows if row["subject_id"] is None)
                crop_rows = [
                    {"asset_id": known[r.sha256], "variant": v, "pdq": pdq, "quality": q}
                    for r in fresh.values()
                    for v, (pdq, q) in enumerate(r.crops, 1)
                ]
                if crop_rows:
                    s.execute(insert(AssetHash), crop_rows)
            if added:
                self._attribute(s, {known[sha]: subjects[p] for sha, p in added.items()}, by="ingest")
                result.subjects_added = len(added)
            new_copies = []
            seen_uris: set[str] = set()
            for n, r in enumerate(records):
                if r.uri in seen_uris or n in skip:
                    continue
                seen_uris.add(r.uri)
                asset_id = known[r.sha256]
                if r.uri not in copies:
                    new_copies.append(
                        {
                            "asset_id": asset_id,
                            "uri": r.uri,
                            "size": r.size,
                            "mtime_ns": r.mtime_ns,
                            "inode": r.inode,
                            "etag": r.etag,
                            "version_id": r.version_id,
                            "state": "present",
                            "created_at": now,
                        }
                    )
                elif copies[r.uri] != asset_id:
                    s.execute(
                        update(Copy)
                        .where(Copy.uri == r.uri)
                        .values(
                            asset_id=asset_id,
                            size=r.size,
                            mtime_ns=r.mtime_ns,
                            inode=r.inode,
                            etag=r.etag,
                            version_id=r.version_id,
                        )
                    )
                    result.moved_copies += 1
                else:
                    result.unchanged += 1
            if new_copies:
                _bulk_insert(s, cast(Table, Copy.__table__), new_copies, key=None)
                result.new_copies = len(new_copies)
            if fresh or new_copies or result.moved_copies:
                keyed = sorted(bytes.fromhex(self.hasher.tag("content", h)) for h in fresh)
                self._log(
                    s,
                    "ingest_batch",
                    {
                        "source_id": source_id,
                        "notice_id": notice_id,
                        "new_assets": len(fresh),
                        "new_copies": len(new_copies),
                        "moved_copies": result.moved_copies,
                        "unknown_subject": result.new_unknown_subject,
                        "assets_root": root_hash(keyed).hex(),
                    },
                )
        return result

    def set_subject(self, sha256: str, subject: str, *, reason: str) -> tuple[AssetView, bool]:
        """Give one asset the subject ``subject`` (an external id, stored as its pseudonym), whatever
        subject it had: the explicit correction a conflicting manifest cannot make. Ledgered with the
        reason. Returns the asset and whether anything changed."""
        if not reason.strip():
            raise UsageError("a subject correction needs a reason", hint="it is written to the ledger")
        if not subject.strip():
            raise UsageError("the subject id is empty")
        asset_id = self.resolve_asset(sha256)
        pseudonym = self.hasher.subject(subject)
        with self.session() as s:
            sid = self.subject_ids(s, {pseudonym})[pseudonym]
            old = s.scalar(select(Asset.subject_id).where(Asset.id == asset_id))
            changed = old != sid
            if changed:
                self._attribute(s, {asset_id: sid}, by="set-subject", reason=reason.strip(), previous=old)
        return self.asset(asset_id), changed

    def _attribute(
        self,
        s: Session,
        subjects: dict[int, int],
        *,
        by: str,
        reason: str | None = None,
        previous: int | None = None,
    ) -> None:
        """Set assets' subjects, keep the datasets' purpose classes true, and log the change."""
        for asset_id, sid in subjects.items():
            s.execute(update(Asset).where(Asset.id == asset_id).values(subject_id=sid))
        shas = s.scalars(select(Asset.sha256).where(Asset.id.in_(sorted(subjects))))
        keyed = sorted(bytes.fromhex(self.hasher.tag("content", h)) for h in shas)
        body: dict[str, Any] = {"by": by, "assets": len(subjects), "assets_root": root_hash(keyed).hex()}
        if reason is not None:
            body.update(reason=reason, previous="known" if previous is not None else "unknown")
        self._log(s, "subject_attribution", body)
        _reclass(s, BitMap(subjects), self.__dict__.get("_classes"))

    def _subject_rows(self, s: Session, pseudonyms: set[str]) -> dict[str, int]:
        """Row ids of the subjects among ``pseudonyms`` that exist, creating none."""
        return dict(rows_where_in(s, [Subject.pseudonym, Subject.id], Subject.pseudonym, pseudonyms))

    def unknown_subject_counts(self, source_ids: Sequence[int]) -> dict[str, int]:
        """Per source name, how many of its assets have no known subject (erasure by subject misses them)."""
        with self.session() as s:
            q = (
                select(Source.name, func.count(Asset.id))
                .join(Asset, Asset.source_id == Source.id)
                .where(Asset.subject_id.is_(None), Source.id.in_(sorted(set(source_ids))))
                .group_by(Source.name)
                .order_by(Source.name)
            )
            return {name: int(n) for name, n in s.execute(q)}

    def asset_count(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(Asset)) or 0)

    def resolve_asset(self, sha256: str) -> int:
        """Asset id for a full sha256 or a unique prefix of at least 8 hex digits."""
        text = sha256.lower().removeprefix("sha256:")
        with self.session() as s:
            if len(text) == 64:
                ids = list(s.scalars(select(Asset.id).where(Asset.sha256 == text)))
            elif len(text) >= 8:
                ids = list(s.scalars(select(Asset.id).where(Asset.sha256.startswith(text)).limit(2)))
            else:
                ids = []
        if len(ids) != 1:
            raise NotFoundError(
                f"asset {sha256!r} is {'ambiguous' if ids else 'not in the catalog'}",
                hint="give the full sha256 (64 hex digits) of the content",
            )
        return ids[0]

    def asset(self, asset_id: int) -> AssetView:
        with self.session() as s:
            a = s.get(Asset, asset_id)
            if a is None:
                raise NotFoundError(f"asset id {asset_id} is not in the catalog")
            src = s.get(Source, a.source_id)
            uris = tuple(s.scalars(select(Copy.uri).where(Copy.asset_id == asset_id).order_by(Copy.uri)))
            return AssetView(
                a.id,
                a.sha256,
                a.size,
                a.media_type,
                a.width,
                a.height,
                a.pdq,
                a.pdq_quality,
                src.name if src else "?",
                a.subject_id,
                tuple(a.categories),
                a.state,
                uris,
            )


def _reclass(s: Session, assets: BitMap, cache: dict[int, Any] | None) -> None:
    """Move newly attributed assets into the has-subject purpose class of every dataset version holding
    them, and recount its subjects: a version's members never change, but what is known of them can."""
    for ds_id, blob, classes_blob, stats in s.execute(
        select(Dataset.id, Dataset.members, Dataset.classes, Dataset.stats)
    ):
        moved = from_blob(blob) & assets
        if not moved:
            continue
        if classes_blob:
            classes = decode_classes(classes_blob)
            for (notice, cats, has_subject), bm in list(classes.items()):
                hit = bm & moved
                if has_subject or not hit:
                    continue
                bm -= hit
                if not bm:
                    del classes[(notice, cats, has_subject)]
                target = classes.setdefault((notice, cats, True), BitMap())
                target |= hit
            s.execute(update(Dataset).where(Dataset.id == ds_id).values(classes=encode_classes(classes)))
        members = from_blob(blob)
        count = len({r[1] for r in member_rows(s, members, [Asset.subject_id]) if r[1] is not None})
        s.execute(update(Dataset).where(Dataset.id == ds_id).values(stats={**stats, "subject_count": count}))
        if cache is not None:
            cache.pop(ds_id, None)


def _bulk_insert(s: Session, table: Table, rows: list[dict[str, Any]], key: str | None) -> dict[Any, int]:
    """Insert through the driver's fastest path (SQLite executemany, PostgreSQL COPY with ids drawn
    from the sequence), in the session's transaction; return {row[key]: id} when key is given."""
    conn = s.connection()
    cols = list(rows[0])
    json_cols = {c for c in cols if isinstance(table.c[c].type, JSON)}
    if conn.dialect.name == "sqlite":

        def cell(c: str, v: Any) -> Any:
            if c in json_cols:
                return json.dumps(v)
            if isinstance(v, datetime):
                return v.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            return v

        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [tuple(cell(c, r[c]) for c in cols) for r in rows],
        )
        if key is None:
            return {}
        return dict(rows_where_in(s, [table.c[key], table.c.id], table.c[key], [r[key] for r in rows]))
    ids: list[int] | None = None
    if key is not None:
        ids = [
            r[0]
            for r in conn.exec_driver_sql(
                f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, %s)",
                (len(rows),),
            )
        ]
    names = (["id"] if ids is not None else []) + cols
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as cp:
        for n, r in enumerate(rows):
            vals = [json.dumps(r[c]) if c in json_cols else r[c] for c in cols]
            cp.write_row([ids[n], *vals] if ids is not None else vals)
    if ids is None or key is None:
        return {}
    return {r[key]: ids[n] for n, r in enumerate(rows)}
