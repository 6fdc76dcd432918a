"""The catalog store: one SQLAlchemy engine, sessions, and the operations every capability needs.

Operations are grouped by entity in mixins (sources, assets, datasets, lineage) over :class:`StoreBase`,
so each file stays small; :class:`CatalogStore` is what callers hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Engine, Table, func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from disgorge.catalog.engine import make_engine, upgrade
from disgorge.catalog.lineage_graph import LineageGraph
from disgorge.catalog.schema import Edge, LedgerEntry, utcnow
from disgorge.errors import StoreError
from disgorge.hashing import KeyedHasher, canonical_json
from disgorge.ledger.merkle import leaf_hash


class StoreBase:
    def __init__(self, url: str, hasher: KeyedHasher, *, migrate: bool = True) -> None:
        self.url = url
        self.hasher = hasher
        self.engine: Engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            try:
                upgrade(self.engine)
            except OperationalError as exc:
                raise StoreError(
                    f"cannot open the catalog at {self.engine.url.render_as_string()}: {exc.orig}",
                    hint="check DISGORGE_CATALOG / DISGORGE_HOME and that the database server is running",
                ) from exc

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self._sessions() as s, s.begin():
            yield s

    def _log(self, s: Session, kind: str, body: dict[str, Any]) -> int:
        """Append one event to the ledger in the caller's transaction; returns its index."""
        return self._log_many(s, [(kind, body)])[0]

    def _log_many(self, s: Session, events: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """Append events in the caller's transaction, so the log and the catalog change commit together.

        PostgreSQL serialises appenders with a transaction-scoped advisory lock; SQLite's single writer
        does the same. Entries are RFC 8785 canonical JSON; leaves are RFC 9162 leaf hashes."""
        if not events:
            return []
        if self.dialect == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(7243157)"))
        start = int(s.scalar(select(func.coalesce(func.max(LedgerEntry.seq), -1))) or 0) + 1
        at = utcnow().isoformat()
        rows = []
        for n, (kind, body) in enumerate(events):
            entry = canonical_json({"at": at, "kind": kind, **body})
            rows.append({"seq": start + n, "kind": kind, "entry": entry.decode(), "leaf": leaf_hash(entry)})
        s.connection().execute(
            insert(cast(Table, LedgerEntry.__table__)), rows
        )  # Core executemany, not the ORM
        return [start + n for n in range(len(events))]

    @staticmethod
    def _link(s: Session, src_kind: str, src_id: int, dst_kind: str, dst_id: int, relation: str) -> None:
        """Add a lineage edge unless it exists (edges are a set)."""
        exists = s.scalar(
            select(Edge.id).where(
                Edge.src_kind == src_kind,
                Edge.src_id == src_id,
                Edge.dst_kind == dst_kind,
                Edge.dst_id == dst_id,
                Edge.relation == relation,
            )
        )
        if exists is None:
            s.add(Edge(src_kind=src_kind, src_id=src_id, dst_kind=dst_kind, dst_id=dst_id, relation=relation))

    @staticmethod
    def _link_many(s: Session, edges: list[tuple[str, int, str, int, str]]) -> None:
        """Add the edges (src kind, src id, dst kind, dst id, relation) that do not exist: one lookup."""
        wanted = list(dict.fromkeys(edges))
        if not wanted:
            return
        have: set[tuple[str, int, str, int, str]] = set()
        dst_ids = sorted({e[3] for e in wanted})
        for i in range(0, len(dst_ids), 900):
            q = select(Edge.src_kind, Edge.src_id, Edge.dst_kind, Edge.dst_id, Edge.relation).where(
                Edge.dst_id.in_(dst_ids[i : i + 900]), Edge.dst_kind.in_({e[2] for e in wanted})
            )
            have.update((str(a), int(b), str(c), int(d), str(r)) for a, b, c, d, r in s.execute(q))
        rows = [
            {"src_kind": a, "src_id": b, "dst_kind": c, "dst_id": d, "relation": r}
            for a, b, c, d, r in wanted
            if (a, b, c, d, r) not in have
        ]
        if rows:
            s.flush()
            s.connection().execute(insert(cast(Table, Edge.__table__)), rows)  # one executemany

    def lineage_graph(self, s: Session) -> LineageGraph:
        """The in-memory lineage graph, brought up to date in the caller's session."""
        graph: LineageGraph = self.__dict__.setdefault("_graph", LineageGraph())
        return graph.refresh(s)

    def close(self) -> None:
        self.engine.dispose()
