"""Registering assets and their copies in batches, each batch in one transaction.

A batch either lands whole (assets, copies, subjects) or not at all, so an asset is never
half-registered. Inserts use SQLAlchemy's bulk "insertmanyvalues" path on both dialects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Table, func, insert, select, update
from sqlalchemy.orm import Session

from disgorge.catalog.schema import Asset, AssetHash, Copy, utcnow
from disgorge.catalog.sources import SourcesMixin
from disgorge.errors import NotFoundError
from disgorge.ledger.merkle import root_hash
from disgorge.model import AssetRecord

CHUNK = 500


@dataclass(slots=True)
class RegisterResult:
    new_assets: int = 0
    new_copies: int = 0
    unchanged: int = 0
    moved_copies: int = 0


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
        """Register a batch: new content becomes an asset, a new path of known content a copy."""
        result = RegisterResult()
        if not records:
            return result
        now = utcnow()
        with self.session() as s:
            shas = sorted({r.sha256 for r in records})
            uris = sorted({r.uri for r in records})
            known: dict[str, int] = {}
            for i in range(0, len(shas), CHUNK):
                known.update(
                    s.execute(
                        select(Asset.sha256, Asset.id).where(Asset.sha256.in_(shas[i : i + CHUNK]))
                    ).all()
                )
            copies: dict[str, int] = {}
            for i in range(0, len(uris), CHUNK):
                copies.update(
                    s.execute(select(Copy.uri, Copy.asset_id).where(Copy.uri.in_(uris[i : i + CHUNK]))).all()
                )
            pseudo = {x: self.hasher.subject(x) for x in {r.subject for r in records if r.subject}}
            subjects = self.subject_ids(s, set(pseudo.values()))
            fresh: dict[str, AssetRecord] = {}
            for r in records:
                if r.sha256 not in known and r.sha256 not in fresh:
                    fresh[r.sha256] = r
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
                        "subject_id": subjects[pseudo[r.subject]] if r.subject else None,
                        "categories": sorted(r.categories),
                        "meta": r.metadata,
                        "state": "active",
                        "created_at": now,
                    }
                    for r in fresh.values()
                ]
                known.update(_bulk_insert(s, cast(Table, Asset.__table__), rows, key="sha256"))
                result.new_assets = len(rows)
                crop_rows = [
                    {"asset_id": known[r.sha256], "variant": v, "pdq": pdq, "quality": q}
                    for r in fresh.values()
                    for v, (pdq, q) in enumerate(r.crops, 1)
                ]
                if crop_rows:
                    s.execute(insert(AssetHash), crop_rows)
            new_copies = []
            seen_uris: set[str] = set()
            for r in records:
                if r.uri in seen_uris:
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
                            "state": "present",
                            "created_at": now,
                        }
                    )
                elif copies[r.uri] != asset_id:
                    s.execute(
                        update(Copy)
                        .where(Copy.uri == r.uri)
                        .values(asset_id=asset_id, size=r.size, mtime_ns=r.mtime_ns, inode=r.inode)
                    )
                    result.moved_copies += 1
                else:
                    result.unchanged += 1
            if new_copies:
                _bulk_insert(s, cast(Table, Copy.__table__), new_copies, key=None)
                result.new_copies = len(new_copies)
            if fresh or new_copies:
                keyed = sorted(bytes.fromhex(self.hasher.tag("content", h)) for h in fresh)
                self._log(
                    s,
                    "ingest_batch",
                    {
                        "source_id": source_id,
                        "notice_id": notice_id,
                        "new_assets": len(fresh),
                        "new_copies": len(new_copies),
                        "assets_root": root_hash(keyed).hex(),
                    },
                )
        return result

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
        from disgorge.catalog.schema import Source

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
        keys = [r[key] for r in rows]
        out: dict[Any, int] = {}
        for i in range(0, len(keys), CHUNK):
            q = select(table.c[key], table.c.id).where(table.c[key].in_(keys[i : i + CHUNK]))
            out.update(conn.execute(q).all())
        return out
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
