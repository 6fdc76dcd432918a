"""Erasure plans, their approvals and journal, and the catalog's own forgetting."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import unquote

from pyroaring import BitMap
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    MetaData,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from disgorge.catalog.flags import FlagsMixin
from disgorge.catalog.members import from_blob, to_blob
from disgorge.catalog.schema import (
    Artifact,
    ArtifactCopy,
    Asset,
    AssetFlag,
    AssetHash,
    ConsentEvent,
    Copy,
    Deployment,
    Edge,
    ErasurePlan,
    ErasureTarget,
    Subject,
    Tombstone,
    utcnow,
)
from disgorge.errors import NotFoundError
from disgorge.ledger.merkle import root_hash

_TARGETS = cast(Table, ErasureTarget.__table__)

TargetRow = tuple[int, str, str, str, dict[str, Any]]
"""(seq, kind, action, uri, identity)"""


@dataclass(frozen=True, slots=True)
class PlanInfo:
    id: str
    scope: dict[str, Any]
    reason: str
    legal_basis: str
    deadline: str | None
    requester: str
    status: str
    counts: dict[str, Any]
    survivors: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TargetInfo:
    id: int
    seq: int
    kind: str
    action: str
    uri: str
    identity: dict[str, Any]
    state: str
    evidence: str | None


class ErasureMixin(FlagsMixin):
    def save_plan(
        self,
        *,
        plan_id: str,
        scope: dict[str, Any],
        reason: str,
        legal_basis: str,
        deadline: str | None,
        requester: str,
        counts: dict[str, Any],
        survivors: dict[str, Any],
        assets: BitMap,
        targets: Iterable[TargetRow],
    ) -> tuple[PlanInfo, bool]:
        """Store a plan and its frozen targets; the same plan id again returns the stored plan."""
        with self.session() as s:
            if s.get(ErasurePlan, plan_id) is None:
                s.add(
                    ErasurePlan(
                        id=plan_id,
                        scope=scope,
                        reason=reason,
                        legal_basis=legal_basis,
                        deadline=deadline,
                        requester=requester,
                        counts=counts,
                        survivors=survivors,
                        assets=to_blob(assets),
                    )
                )
                s.flush()
                batch: list[dict[str, Any]] = []
                for seq, kind, action, uri, identity in targets:
                    batch.append(
                        {
                            "plan_id": plan_id,
                            "seq": seq,
                            "kind": kind,
                            "action": action,
                            "uri": uri,
                            "identity": identity,
                            "state": "pending",
                            "attempts": 0,
                        }
                    )
                    if len(batch) >= 20_000:
                        s.connection().execute(insert(_TARGETS), batch)
                        batch.clear()
                if batch:
                    s.connection().execute(insert(_TARGETS), batch)
                self._log(
                    s,
                    "erasure_plan",
                    {
                        "plan_id": plan_id,
                        "scope": scope,
                        "reason": reason,
                        "legal_basis": legal_basis,
                        "requester": requester,
                        "deadline": deadline,
                        "counts": counts,
                    },
                )
                created = True
            else:
                created = False
        return self.get_plan(plan_id), created

    def get_plan(self, ref: str) -> PlanInfo:
        """A plan by id or unique id prefix (8+ hex digits)."""
        with self.session() as s:
            found = list(
                s.scalars(select(ErasurePlan).where(ErasurePlan.id.startswith(ref.lower())).limit(2))
            )
            if len(found) != 1 or len(ref) < 8:
                raise NotFoundError(
                    f"erasure plan {ref!r} is {'ambiguous' if len(found) > 1 else 'not in the catalog'}",
                    hint="give the plan id printed by `disgorge erase plan` (8 or more hex digits)",
                )
            return _info(found[0])

    def list_plans(self) -> list[PlanInfo]:
        """Every plan, oldest first."""
        with self.session() as s:
            return [_info(p) for p in s.scalars(select(ErasurePlan).order_by(ErasurePlan.created_at))]

    def plan_assets(self, plan_id: str) -> BitMap:
        with self.session() as s:
            blob = s.scalar(select(ErasurePlan.assets).where(ErasurePlan.id == plan_id))
        return from_blob(blob) if blob else BitMap()

    def record_fates(self, plan_id: str) -> dict[str, int]:
        """What the erasure left behind, in the catalog: deleted model and artifact copies, models and
        artifacts with no copy left destroyed (they stay listed, with their fate)."""
        uris = [t.uri for t in self.targets(plan_id, kinds=("model_copy", "artifact_copy"), states=("done",))]
        out = {"copies_deleted": 0, "artifacts_destroyed": 0}
        with self.session() as s:
            touched: set[int] = set()
            for i in range(0, len(uris), 900):
                chunk = uris[i : i + 900]
                touched.update(s.scalars(select(ArtifactCopy.artifact_id).where(ArtifactCopy.uri.in_(chunk))))
                out["copies_deleted"] += _rowcount(
                    s.execute(update(ArtifactCopy).where(ArtifactCopy.uri.in_(chunk)).values(state="deleted"))
                )
            for aid in sorted(touched):
                left = s.scalar(
                    select(func.count()).where(
                        ArtifactCopy.artifact_id == aid, ArtifactCopy.state != "deleted"
                    )
                )
                if not left:
                    out["artifacts_destroyed"] += _rowcount(
                        s.execute(update(Artifact).where(Artifact.id == aid).values(state="destroyed"))
                    )
            self._log(s, "erasure_fates", {"plan_id": plan_id, **out})
        return out

    def set_deployment_state(self, artifact_id: int, target: str, state: str) -> None:
        with self.session() as s:
            s.execute(
                update(Deployment)
                .where(Deployment.artifact_id == artifact_id, Deployment.target == target)
                .values(state=state)
            )
            self._log(s, "deployment_state", {"artifact_id": artifact_id, "state": state})

    def redact_targets(self, plan_id: str, keyed: Callable[[str], str]) -> int:
        """Forget the plan's target paths: each object or table target's URI (a per-person folder can
        name the person) becomes a keyed hash, and its evidence loses the path. Idempotent.

        Read as bare columns, and an object's identity (which names no path) is left as it is: only a
        table target's row values are rewritten."""
        c = _TARGETS.c
        objects: list[dict[str, Any]] = []
        tables: list[dict[str, Any]] = []
        with self.session() as s:
            q = select(c.id, c.kind, c.uri, c.evidence).where(
                c.plan_id == plan_id,
                c.kind.in_(("copy", "model_copy", "artifact_copy", "table_rows")),
                ~c.uri.startswith("keyed:"),
            )
            rows = s.connection().execute(q).all()
        for tid, kind, uri, evidence in rows:
            evidence = evidence or ""
            if evidence:
                for form in {uri, unquote(uri.removeprefix("file://"))}:
                    evidence = evidence.replace(form, "<path>")
            row = {"tid": tid, "u": "keyed:" + keyed(uri), "ev": evidence}
            (tables if kind == "table_rows" else objects).append(row)
        if tables:
            idents = {t.id: t.identity for t in self.targets(plan_id, kinds=("table_rows",))}
            for row in tables:
                identity = dict(idents[row["tid"]])
                identity["values"] = [keyed(str(v)) for v in identity.get("values", [])]
                row["ident"] = identity
        where = _TARGETS.c.id == bindparam("tid")
        plain = update(_TARGETS).where(where).values(uri=bindparam("u"), evidence=bindparam("ev"))
        table_stmt = plain.values(identity=bindparam("ident"))
        with self.session() as s:
            for stmt, batch in ((plain, objects), (table_stmt, tables)):
                for i in range(0, len(batch), 5000):
                    s.connection().execute(stmt, batch[i : i + 5000])
            p = s.get(ErasurePlan, plan_id)
            assert p is not None
            if p.redacted_at is None:
                p.redacted_at = utcnow()
            self._log(s, "erasure_redaction", {"plan_id": plan_id, "targets": len(rows)})
        return len(rows)

    def is_redacted(self, plan_id: str) -> bool:
        with self.session() as s:
            return s.scalar(select(ErasurePlan.redacted_at).where(ErasurePlan.id == plan_id)) is not None

    def set_plan_status(self, plan_id: str, status: str) -> None:
        with self.session() as s:
            p = s.get(ErasurePlan, plan_id)
            assert p is not None
            p.status = status
            if status == "done" and p.completed_at is None:
                p.completed_at = utcnow()
                keyed = sorted(
                    bytes.fromhex(k)
                    for k in s.scalars(select(Tombstone.keyed_sha256).where(Tombstone.plan_id == plan_id))
                )
                self._log(
                    s,
                    "erasure_completion",
                    {"plan_id": plan_id, "erased_root": root_hash(keyed).hex(), "erased": len(keyed)},
                )

    def targets(
        self,
        plan_id: str,
        *,
        states: tuple[str, ...] | None = None,
        kinds: tuple[str, ...] | None = None,
        batch: int = 5000,
    ) -> Iterator[TargetInfo]:
        """Targets in plan order, read in batches so a 3M-target plan is never held in memory."""
        c = _TARGETS.c
        cols = (c.id, c.seq, c.kind, c.action, c.uri, c.identity, c.state, c.evidence)
        last = -1
        while True:  # Core rows, not ORM instances: building those was most of a large plan's read time
            with self.session() as s:
                q = select(*cols).where(c.plan_id == plan_id, c.seq > last)
                if states is not None:
                    q = q.where(c.state.in_(states))
                if kinds is not None:
                    q = q.where(c.kind.in_(kinds))
                rows = s.connection().execute(q.order_by(c.seq).limit(batch)).all()
            if not rows:
                return
            for r in rows:
                yield TargetInfo(r[0], r[1], r[2], r[3], r[4], dict(r[5]), r[6], r[7])
            last = rows[-1][1]

    def target_refs(
        self,
        plan_id: str,
        *,
        kinds: tuple[str, ...] | None = None,
        states: tuple[str, ...] | None = None,
        batch: int = 50_000,
        column: Literal["uri", "evidence"] = "uri",
    ) -> Iterator[tuple[str, Any]]:
        """(kind, uri) of the targets in plan order: what a target names, without its identity; or,
        with ``column="evidence"``, (kind, its journal evidence or None)."""
        c = _TARGETS.c
        last = -1
        while True:
            with self.session() as s:
                q = select(c.seq, c.kind, c[column]).where(c.plan_id == plan_id, c.seq > last)
                if kinds is not None:
                    q = q.where(c.kind.in_(kinds))
                if states is not None:
                    q = q.where(c.state.in_(states))
                rows = s.connection().execute(q.order_by(c.seq).limit(batch)).all()
            if not rows:
                return
            for r in rows:
                yield r[1], r[2]
            last = rows[-1][0]

    def mark_target(self, target_id: int, state: str, evidence: str) -> None:
        """Journal one target's outcome in its own transaction, so a crash loses at most the step in flight."""
        with self.session() as s:
            s.execute(
                update(ErasureTarget)
                .where(ErasureTarget.id == target_id)
                .values(
                    state=state, evidence=evidence, attempts=ErasureTarget.attempts + 1, updated_at=utcnow()
                )
            )

    def mark_targets(self, outcomes: list[tuple[int, str, str]], *, attempt: bool = True) -> None:
        """Journal a batch of outcomes (target id, state, evidence) in one transaction; ``attempt=False``
        records an intent (about to act) without counting an attempt."""
        if not outcomes:
            return
        now = utcnow()
        c = _TARGETS.c
        tried = c.attempts + (1 if attempt else 0)
        if len({(st, ev) for _, st, ev in outcomes}) == 1:  # an intent, say: one statement for the batch
            _, st, ev = outcomes[0]
            ids = [t for t, _, _ in outcomes]
            with self.session() as s:
                for i in range(0, len(ids), 5000):
                    s.connection().execute(
                        update(_TARGETS)
                        .where(c.id.in_(ids[i : i + 5000]))
                        .values(state=st, evidence=ev, attempts=tried, updated_at=now)
                    )
            return
        stmt = (
            update(_TARGETS)
            .where(_TARGETS.c.id == bindparam("tid"))
            .values(
                state=bindparam("st"),
                evidence=bindparam("ev"),
                attempts=tried,
                updated_at=now,
            )
        )
        with self.session() as s:
            s.connection().execute(stmt, [{"tid": t, "st": st, "ev": ev} for t, st, ev in outcomes])

    def journal_counts(self, plan_id: str) -> dict[str, dict[str, int]]:
        with self.session() as s:
            rows = s.execute(
                select(ErasureTarget.kind, ErasureTarget.state, func.count())
                .where(ErasureTarget.plan_id == plan_id)
                .group_by(ErasureTarget.kind, ErasureTarget.state)
            ).all()
        out: dict[str, dict[str, int]] = {}
        for kind, state, n in rows:
            out.setdefault(kind, {})[state] = int(n)
        return out

    def forget_assets(self, plan_id: str, assets: BitMap) -> dict[str, int]:
        """Remove erased assets' rows, copies, crop hashes, links, and subjects left with no asset, keeping a
        tombstone (keyed sha256, PDQ) per asset for the re-ingestion guard. Idempotent.

        Set-based: the plan's asset ids go into a temporary table once, and each table loses its rows in
        one statement joined to it; only the tombstones' keyed hashes are computed here, a slice of ids at
        a time, so memory stays bounded whatever the plan's size."""
        ids = list(assets)
        counts = {"assets": 0, "subjects": 0, "tombstones": 0}
        if not ids:
            return counts
        with self.session() as s:
            conn = s.connection()
            erased, orphan = _temp_ids(conn, "_forget_assets", ids), _temp_ids(conn, "_forget_subjects", [])
            in_plan = select(erased.c.id)
            stones = select(func.count()).select_from(Tombstone).where(Tombstone.plan_id == plan_id)
            before = int(conn.execute(stones).scalar() or 0)
            add = _insert_ignoring(self.dialect, Tombstone, "keyed_sha256")
            for i in range(0, len(ids), _SLICE):
                lo, hi = ids[i], ids[min(i + _SLICE, len(ids)) - 1]
                crops: dict[int, bytes] = {}
                for aid, code in conn.execute(
                    select(AssetHash.asset_id, AssetHash.pdq)
                    .join(erased, erased.c.id == AssetHash.asset_id)
                    .where(erased.c.id.between(lo, hi))
                    .order_by(AssetHash.asset_id, AssetHash.variant)
                ):
                    crops[aid] = crops.get(aid, b"") + bytes(code)
                fresh = [
                    {"keyed_sha256": self.hasher.tag("content", sha), "pdq": pdq, "crops": crops.get(aid)}
                    | {"plan_id": plan_id}
                    for aid, sha, pdq in conn.execute(
                        select(Asset.id, Asset.sha256, Asset.pdq)
                        .join(erased, erased.c.id == Asset.id)
                        .where(erased.c.id.between(lo, hi))
                    )
                ]
                if fresh:
                    conn.execute(add, fresh)
            counts["tombstones"] = int(conn.execute(stones).scalar() or 0) - before
            conn.execute(
                insert(orphan).from_select(
                    ["id"],
                    select(Asset.subject_id)
                    .where(Asset.id.in_(in_plan), Asset.subject_id.is_not(None))
                    .distinct(),
                )
            )
            conn.execute(delete(AssetHash).where(AssetHash.asset_id.in_(in_plan)))
            unflagged = _rowcount(conn.execute(delete(AssetFlag).where(AssetFlag.asset_id.in_(in_plan))))
            if unflagged:
                self._log(s, "asset_flags", {"plan_id": plan_id, "unflagged": unflagged})
            conn.execute(delete(Copy).where(Copy.asset_id.in_(in_plan)))
            conn.execute(delete(Edge).where(Edge.src_kind == "asset", Edge.src_id.in_(in_plan)))
            counts["assets"] = _rowcount(conn.execute(delete(Asset).where(Asset.id.in_(in_plan))))
            left = select(Asset.id).where(Asset.subject_id == orphan.c.id).exists()
            orphans = select(orphan.c.id).where(~left)
            conn.execute(delete(orphan).where(left))  # subjects that still have an asset stay
            conn.execute(delete(ConsentEvent).where(ConsentEvent.subject_id.in_(orphans)))
            counts["subjects"] = _rowcount(conn.execute(delete(Subject).where(Subject.id.in_(orphans))))
            erased.drop(conn)
            orphan.drop(conn)
            if counts["assets"]:  # kept checks name members by their rows: they hold no longer
                self._log(s, "assets_forgotten", {"plan_id": plan_id, **counts})
        return counts

    def plan_tombstones(self, plan_id: str) -> list[bytes]:
        with self.session() as s:
            return [
                bytes.fromhex(k)
                for k in s.scalars(select(Tombstone.keyed_sha256).where(Tombstone.plan_id == plan_id))
            ]

    def assets_present(self, assets: BitMap) -> int:
        ids = list(assets)
        with self.session() as s:
            return sum(
                int(
                    s.scalar(select(func.count()).select_from(Asset).where(Asset.id.in_(ids[i : i + 900])))
                    or 0
                )
                for i in range(0, len(ids), 900)
            )

    def save_verification(self, plan_id: str, result: dict[str, Any]) -> None:
        with self.session() as s:
            p = s.get(ErasurePlan, plan_id)
            assert p is not None
            p.verification = result
            self._log(
                s,
                "erasure_verification",
                {
                    "plan_id": plan_id,
                    "clean": bool(result.get("clean")),
                    "remaining": len(result.get("remaining", [])),
                    "residual": len(result.get("residual", [])),
                    "scanned": result.get("scanned", 0),
                },
            )

    def verification(self, plan_id: str) -> dict[str, Any] | None:
        with self.session() as s:
            p = s.get(ErasurePlan, plan_id)
            return dict(p.verification) if p is not None and p.verification else None

    def tombstone_for(self, sha256: str) -> str | None:
        """The plan that erased this exact content, if any."""
        with self.session() as s:
            return s.scalar(
                select(Tombstone.plan_id).where(Tombstone.keyed_sha256 == self.hasher.tag("content", sha256))
            )

    def tombstone_pdqs(self, plan_id: str | None = None) -> list[tuple[bytes, str]]:
        q = select(Tombstone.pdq, Tombstone.plan_id)
        if plan_id is not None:
            q = q.where(Tombstone.plan_id == plan_id)
        with self.session() as s:
            rows = s.execute(q).all()
        return [(p, plan) for p, plan in rows if p is not None]

    def has_tombstones(self) -> bool:
        with self.session() as s:
            return s.scalar(select(Tombstone.id).limit(1)) is not None

    def tombstone_plans(self, tombstone_ids: list[int]) -> dict[int, str]:
        with self.session() as s:
            q = select(Tombstone.id, Tombstone.plan_id).where(Tombstone.id.in_(sorted(set(tombstone_ids))))
            return {int(i): str(p) for i, p in s.execute(q)}

    def tombstones_for(self, shas: list[str]) -> dict[str, str]:
        """sha256 -> erasing plan id, for the given contents that were erased."""
        keyed = {self.hasher.tag("content", h): h for h in shas}
        out: dict[str, str] = {}
        with self.session() as s:
            items = list(keyed)
            for i in range(0, len(items), 900):
                q = select(Tombstone.keyed_sha256, Tombstone.plan_id).where(
                    Tombstone.keyed_sha256.in_(items[i : i + 900])
                )
                out.update({keyed[k]: plan for k, plan in s.execute(q)})
        return out


def _info(p: ErasurePlan) -> PlanInfo:
    return PlanInfo(
        p.id,
        dict(p.scope),
        p.reason,
        p.legal_basis,
        p.deadline,
        p.requester,
        p.status,
        dict(p.counts),
        dict(p.survivors),
    )


_SLICE = 20_000
"""Assets whose tombstones are computed and inserted at once."""


def _temp_ids(conn: Connection, name: str, ids: list[int]) -> Table:
    """A temporary table of ids on this connection (dropped by the caller, or with the rollback)."""
    table = Table(name, MetaData(), Column("id", BigInteger, primary_key=True), prefixes=["TEMPORARY"])
    # one left by a failed call on this pooled connection (SQLite runs DDL outside the transaction)
    conn.execute(
        text(f"DROP TABLE IF EXISTS {'pg_temp' if conn.dialect.name == 'postgresql' else 'temp'}.{name}")
    )
    table.create(conn)
    schema = "pg_temp" if conn.dialect.name == "postgresql" else "temp"
    for i in range(0, len(ids), 50_000):
        chunk = ids[i : i + 50_000]
        if conn.dialect.name == "sqlite":  # one statement, not one parameter set per id
            conn.execute(
                text(f"INSERT INTO {schema}.{name} (id) SELECT value FROM json_each(:ids)"),
                {"ids": json.dumps(chunk)},
            )
        elif conn.dialect.name == "postgresql":
            conn.execute(
                text(f"INSERT INTO {schema}.{name} (id) SELECT unnest(CAST(:ids AS bigint[]))"),
                {"ids": chunk},
            )
        else:
            conn.execute(insert(table), [{"id": n} for n in chunk])
    return table


def _insert_ignoring(dialect: str, entity: Any, key: str) -> Any:
    """INSERT that skips rows whose ``key`` is already stored (SQLite and PostgreSQL both say it so)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(entity).on_conflict_do_nothing(index_elements=[key])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(entity).on_conflict_do_nothing(index_elements=[key])


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _utc(when: Any) -> Any:
    from datetime import UTC

    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
