"""The catalog store: one SQLAlchemy engine, sessions, and the operations every capability needs.

Operations are grouped by entity in mixins (sources, assets, datasets, lineage) over :class:`StoreBase`,
so each file stays small; :class:`CatalogStore` is what callers hold.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine, Executable, Table, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from disgorge.catalog.engine import make_engine, upgrade
from disgorge.catalog.jobs import Jobs
from disgorge.catalog.schema import Edge, LedgerEntry, utcnow
from disgorge.catalog.settings import Settings
from disgorge.catalog.statements import Statements
from disgorge.catalog.tokens import Tokens
from disgorge.errors import StoreError
from disgorge.hashing import KeyedHasher, canonical_json
from disgorge.ledger.merkle import leaf_hash

if TYPE_CHECKING:
    from disgorge.catalog.lineage_graph import LineageGraph


ACTOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("disgorge_actor", default=None)
"""The principal a request acts for, where one store serves many (the server); else ``store.actor``."""

_PG_APPEND = text(
    "SELECT disgorge_ledger_append(CAST(:kinds AS text[]), CAST(:entries AS text[]), CAST(:leaves AS bytea[]))"
)
"""Takes the lock that orders ledger appenders on PostgreSQL until their transaction ends, reads the
top and inserts the entries, in one statement (SQLite has one writer: a read and an insert)."""
_SQLITE_LEDGER_LOCK = text("DELETE FROM ledger_entries WHERE 0 = 1")
"""A write that changes nothing: pysqlite begins a transaction, and SQLite takes its one writer's lock,
only at a transaction's first write; an append that is the first write reads the top after this."""
_LEDGER_TOP = select(func.coalesce(func.max(LedgerEntry.seq), -1))
_READING: contextvars.ContextVar[tuple[StoreBase, Session] | None] = contextvars.ContextVar(
    "disgorge_reading", default=None
)
"""The session of an open :meth:`StoreBase.reading` block (per thread / task), which sessions join."""


class StoreBase:
    def __init__(self, url: str, hasher: KeyedHasher | None = None, *, migrate: bool = True) -> None:
        self.url = url
        self._hasher = hasher
        self.actor: str | None = None
        """Who this store's changes are recorded as made by (a principal name, or local:USER)."""
        self.engine: Engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            try:
                upgrade(self.engine)
            except SQLAlchemyError as exc:
                raise self._store_error(exc, "cannot open the catalog at {url}") from exc

    @property
    def hasher(self) -> KeyedHasher:
        """The pseudonym key's hasher; bound once the home's key is checked against the catalog's."""
        if self._hasher is None:
            raise StoreError("the catalog's pseudonym key is not bound yet (open it with disgorge.open)")
        return self._hasher

    @hasher.setter
    def hasher(self, hasher: KeyedHasher) -> None:
        self._hasher = hasher

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        Database failures leave the store as :class:`StoreError` (exit 3), named by catalog URL, so no
        caller above the catalog ever sees a SQLAlchemy exception. Inside :meth:`reading`, it is the
        reading block's session (one connection and one transaction for a whole read)."""
        ambient = _READING.get()
        if ambient is not None and ambient[0] is self:
            yield ambient[1]
            return
        try:
            with self._sessions() as s, s.begin():
                yield s
        except SQLAlchemyError as exc:
            raise self._store_error(exc, "the catalog at {url} failed") from exc

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """One session for every :meth:`session` opened inside the block (in this thread or task).

        A read made of many small queries (an impact, a gate's checks) then costs one pool checkout,
        one liveness ping and one transaction instead of one each per query; nested blocks join the
        outer one. Meant for reads: a write inside commits only when the outermost block ends."""
        ambient = _READING.get()
        if ambient is not None and ambient[0] is self:
            yield ambient[1]
            return
        with self.session() as s:
            token = _READING.set((self, s))
            try:
                yield s
            finally:
                _READING.reset(token)

    def ping(self) -> None:
        """Reach the database (a health check): StoreError if it cannot be reached."""
        with self.session() as s:
            s.execute(text("SELECT 1"))

    def _store_error(self, exc: SQLAlchemyError, what: str) -> StoreError:
        orig = getattr(exc, "orig", None) or exc
        detail = str(orig).splitlines()[0] if str(orig) else type(orig).__name__
        return StoreError(
            f"{what.format(url=self.engine.url.render_as_string())}: {detail}",
            hint="check DISGORGE_CATALOG / DISGORGE_HOME, that the database server is running and that "
            "the catalog file is not damaged (restore it from a backup if it is)",
        )

    def _log(self, s: Session, kind: str, body: dict[str, Any]) -> int:
        """Append one event to the ledger in the caller's transaction; returns its index."""
        return self._log_many(s, [(kind, body)])[0]

    def _log_many(self, s: Session, events: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """Append events in the caller's transaction, so the log and the catalog change commit together.

        PostgreSQL serialises appenders with a transaction-scoped advisory lock; SQLite's single writer
        does the same. An entry's time is read before the lock: two appenders at once may log times a
        few milliseconds out of their indexes' order. Entries are RFC 8785 canonical JSON; leaves are RFC 9162 leaf hashes."""
        if not events:
            return []
        s.info.pop("ledger_tops", None)  # stamps.ledger_tops: this session's caches' stamps move on
        conn = s.connection()  # Core: a ledger append is on every run start's path
        at = utcnow().isoformat()
        by = ACTOR.get() or self.actor
        entries = [canonical_json({"at": at, "kind": kind, "by": by, **body}) for kind, body in events]
        if self.dialect == "postgresql":
            # the lock is held from here to the commit: one round trip (migration 0014), not three
            start = int(
                conn.execute(
                    _PG_APPEND,
                    {
                        "kinds": [k for k, _ in events],
                        "entries": [e.decode() for e in entries],
                        "leaves": [leaf_hash(e) for e in entries],
                    },
                ).scalar_one()
            )
            return list(range(start, start + len(events)))
        if not getattr(conn.connection.dbapi_connection, "in_transaction", True):
            conn.execute(_SQLITE_LEDGER_LOCK)  # nothing written yet: the top read must be under the lock
        start = int(conn.execute(_LEDGER_TOP).scalar() or 0) + 1
        rows = [
            {"seq": start + n, "kind": kind, "entry": entry.decode(), "leaf": leaf_hash(entry)}
            for n, ((kind, _), entry) in enumerate(zip(events, entries, strict=True))
        ]
        conn.execute(_APPEND, rows)  # one executemany
        return [start + n for n in range(len(events))]

    @staticmethod
    def _link(s: Session, src_kind: str, src_id: int, dst_kind: str, dst_id: int, relation: str) -> bool:
        """Add a lineage edge unless it exists (edges are a set); True if it was added."""
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
        return exists is None

    @property
    def settings(self) -> Settings:
        """State shared by every home and process on this catalog."""
        return Settings(self)

    @property
    def tokens(self) -> Tokens:
        """The server's API tokens (hashed)."""
        return Tokens(self)

    @property
    def jobs(self) -> Jobs:
        """Jobs the server's workers run (their record; the queue only carries ids)."""
        return Jobs(self)

    @property
    def statements(self) -> Statements:
        """Signed statements (roster changes, erasure requests and approvals) in the ledger."""
        return Statements(self)

    @staticmethod
    def _link_many(s: Session, edges: list[tuple[str, int, str, int, str]]) -> None:
        """Add the edges (src kind, src id, dst kind, dst id, relation) that do not exist: one statement
        (edges are a set: the unique constraint makes an existing one a no-op)."""
        wanted = list(dict.fromkeys(edges))
        if not wanted:
            return
        rows = [
            {"src_kind": a, "src_id": b, "dst_kind": c, "dst_id": d, "relation": r}
            for a, b, c, d, r in wanted
        ]
        s.flush()
        if s.get_bind().dialect.name == "postgresql":
            cols = ("src_kind", "src_id", "dst_kind", "dst_id", "relation")
            s.connection().execute(_PG_EDGES, {c: [r[c] for r in rows] for c in cols})
            return
        s.connection().execute(_SQLITE_EDGES, rows)  # one executemany

    def lineage_graph(self, s: Session, *, top: int | None = None) -> LineageGraph:
        """The in-memory lineage graph, brought up to date in the caller's session (``top``: the newest
        edge id, where the caller has just read it)."""
        from disgorge.catalog.lineage_graph import LineageGraph

        graph: LineageGraph = self.__dict__.setdefault("_graph", LineageGraph())
        return graph.refresh(s, top=top)

    def close(self) -> None:
        self.engine.dispose()
        other = self.__dict__.pop("_nowait", None)  # capture.py's engine for nowait acceptances
        if other is not None and other is not self.engine:
            other.dispose()


_APPEND = insert(cast(Table, LedgerEntry.__table__))
"""The ledger's insert, built once."""


_PG_EDGES = text(
    """
INSERT INTO edges (src_kind, src_id, dst_kind, dst_id, relation)
SELECT v.sk, v.si, v.dk, v.di, v.r
FROM unnest(CAST(:src_kind AS text[]), CAST(:src_id AS bigint[]), CAST(:dst_kind AS text[]),
            CAST(:dst_id AS bigint[]), CAST(:relation AS text[])) AS v(sk, si, dk, di, r)
WHERE NOT EXISTS (SELECT 1 FROM edges e WHERE e.src_kind = v.sk AND e.src_id = v.si
                  AND e.dst_kind = v.dk AND e.dst_id = v.di AND e.relation = v.r)
ON CONFLICT DO NOTHING
"""
)
"""PostgreSQL's edge insert: existing edges are filtered out before the insert, because ``ON CONFLICT``
alone draws an id from the sequence for each of them, and the lineage graph takes a missing id for an
insert still in flight (it looks for each for ten minutes, one query per refresh). Only a true race
with another writer reaches the conflict clause."""


def _sqlite_edges() -> Executable:
    """SQLite's edge insert: ``ON CONFLICT DO NOTHING`` draws no id for an existing edge there."""
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(cast(Table, Edge.__table__)).on_conflict_do_nothing()


_SQLITE_EDGES = _sqlite_edges()
