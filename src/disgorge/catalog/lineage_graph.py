"""The run/artifact lineage graph held in memory as CSR arrays, for closures in about a millisecond.

Edges only ever get added, except asset edges, which the catalog forgets; so the graph is kept per
store and brought up to date by loading the edges newer than the last one it holds. Asset -> artifact edges are not held (a source has millions of assets):
the caller seeds the closure with the artifacts they lead to. ``subset_of`` edges are not followed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from disgorge.catalog.schema import Edge

KINDS = ("dataset", "run", "artifact")
GAP_WINDOW = 10_000
"""How far below the newest edge id a missing id is taken for an insert still in flight."""
GAP_SECONDS = 600.0
"""How long a missing edge id is looked for (a transaction open longer, or rolled back, is not)."""
Ids = npt.NDArray[np.int64]


class LineageGraph:
    def __init__(self) -> None:
        self.max_edge = 0
        self.src: list[int] = []
        self.dst: list[int] = []
        self.index: dict[tuple[int, int], int] = {}
        self.kind_of: list[int] = []
        self.id_of: list[int] = []
        self._csr: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None
        self._nodes: tuple[npt.NDArray[np.int8], npt.NDArray[np.int64]] | None = None
        self.producers: dict[int, list[int]] = {}
        """artifact id -> the runs with an ``output`` edge to it"""
        self.parents: dict[int, list[tuple[int, str]]] = {}
        """artifact id -> (parent artifact id, relation) of the edges into it"""
        self._parent_rows: dict[int, list[dict[str, int | str]]] = {}
        """artifact id -> its parents as report rows, dropped when an edge into the artifact is added"""
        self.parents_version = 0
        """Moves whenever an artifact gains a parent: a holder of parent rows knows when to look again."""
        self._producers: tuple[Ids, Ids] | None = None
        self.gaps: dict[int, float] = {}
        """Edge ids below ``max_edge`` not seen yet (an insert not committed when the range was read)."""
        self._lock = threading.RLock()
        """The server's worker threads share one graph: a refresh and a walk never interleave."""

    def _node(self, kind: str, node_id: int) -> int:
        key = (KINDS.index(kind), node_id)
        n = self.index.get(key)
        if n is None:
            n = self.index[key] = len(self.kind_of)
            self.kind_of.append(key[0])
            self.id_of.append(node_id)
        return n

    def refresh(self, s: Session, *, top: int | None = None) -> LineageGraph:
        """Load the edges added since the last refresh (one primary-key lookup when nothing changed).

        Only asset edges are ever deleted (when the catalog forgets erased assets), and they are not
        held here, so the held edges are append-only."""
        if top is None:
            top = int(s.scalar(select(func.max(Edge.id))) or 0)
        if top <= self.max_edge and not self.gaps:
            return self
        with self._lock:
            return self._load(s, top)

    def _load(self, s: Session, top: int) -> LineageGraph:
        """Edges up to ``top``, and any missing id below it that has committed since.

        Ids come from a sequence: a transaction holding a lower id may commit after one holding a
        higher id was seen (two run starts at once, in one process or two). Ids missing from the
        recent range are remembered for :data:`GAP_SECONDS` and looked up on each refresh, so such an
        edge is never skipped for good."""
        changed = self._fill_gaps(s)
        if top > self.max_edge:
            lo = self.max_edge
            rows = s.execute(
                select(Edge.src_kind, Edge.src_id, Edge.dst_kind, Edge.dst_id, Edge.relation)
                .where(
                    Edge.id > lo,
                    Edge.id <= top,
                    Edge.src_kind != "asset",
                    Edge.relation != "subset_of",
                )
                .order_by(Edge.id)
            ).all()
            for sk, si, dk, di, rel in rows:
                self._add(sk, si, dk, di, rel)
            recent = max(lo, top - GAP_WINDOW)
            present = set(s.scalars(select(Edge.id).where(Edge.id > recent, Edge.id <= top)))
            now = time.monotonic()
            for missing in set(range(recent + 1, top + 1)) - present:
                self.gaps[missing] = now
            self.max_edge, changed = top, True
        if changed:
            self._csr, self._nodes, self._producers = None, None, None
        return self

    def _fill_gaps(self, s: Session) -> bool:
        if not self.gaps:
            return False
        now = time.monotonic()
        for gap, since in list(self.gaps.items()):
            if now - since > GAP_SECONDS:  # a rolled-back insert: that id never commits
                del self.gaps[gap]
        found = s.execute(
            select(Edge.id, Edge.src_kind, Edge.src_id, Edge.dst_kind, Edge.dst_id, Edge.relation).where(
                Edge.id.in_(sorted(self.gaps)[:900])
            )
        ).all()
        for edge_id, sk, si, dk, di, rel in found:
            del self.gaps[edge_id]
            if sk != "asset" and rel != "subset_of":
                self._add(sk, si, dk, di, rel)
        return bool(found)

    def _add(self, sk: str, si: int, dk: str, di: int, rel: str) -> None:
        self.src.append(self._node(sk, si))
        self.dst.append(self._node(dk, di))
        if dk == "artifact" and sk == "run" and rel == "output":
            self.producers.setdefault(di, []).append(si)
        elif dk == "artifact" and sk == "artifact":
            self.parents.setdefault(di, []).append((si, rel))
            self._parent_rows.pop(di, None)
            self.parents_version += 1

    def producer_ids(self, artifacts: Ids) -> Ids:
        """The runs that wrote these artifacts (their ``output`` edges), as a sorted array of run ids."""
        with self._lock:
            if self._producers is None:
                pairs = [(a, r) for a, runs in self.producers.items() for r in runs]
                arts = np.array([a for a, _ in pairs], dtype=np.int64)
                runs = np.array([r for _, r in pairs], dtype=np.int64)
                self._producers = (arts, runs)
            arts, runs = self._producers
        return np.unique(runs[np.isin(arts, artifacts)])

    def parent_rows(self, artifacts: Iterable[int]) -> list[list[dict[str, int | str]]]:
        """Each artifact's parents as ``{"artifact_id", "relation"}`` rows, in one hold of the lock; the
        rows are shared between calls: read them, never change them."""
        with self._lock:
            rows, parents = self._parent_rows, self.parents
            out = []
            for a in artifacts:
                found = rows.get(a)
                if found is None:
                    found = rows[a] = [{"artifact_id": p, "relation": r} for p, r in parents.get(a, ())]
                out.append(found)
            return out

    def _arrays(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        if self._csr is None:
            src, dst = np.array(self.src, dtype=np.int64), np.array(self.dst, dtype=np.int64)
            order = np.argsort(src, kind="stable")
            indptr = np.zeros(len(self.kind_of) + 1, dtype=np.int64)
            np.cumsum(np.bincount(src, minlength=len(self.kind_of)), out=indptr[1:])
            self._csr = (indptr, dst[order])
        return self._csr

    def downstream(self, seeds: Iterable[tuple[str, int]]) -> dict[str, Ids]:
        """Ids of every run and artifact reachable from the seeds (dataset or artifact nodes)."""
        with self._lock:
            return self._downstream(seeds)

    def _downstream(self, seeds: Iterable[tuple[str, int]]) -> dict[str, Ids]:
        indptr, indices = self._arrays()
        start = [self.index[k] for kind, i in seeds if (k := (KINDS.index(kind), i)) in self.index]
        seen = np.zeros(len(self.kind_of), dtype=bool)
        frontier = np.array(sorted(set(start)), dtype=np.int64)
        seen[frontier] = True
        fresh = np.zeros_like(seen)
        while frontier.size:
            lo, hi = indptr[frontier], indptr[frontier + 1]
            lengths = hi - lo
            total = int(lengths.sum())
            if total == 0:
                break
            offsets = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
            # a mask over the nodes, not np.unique: a pass over 20k booleans costs less than hashing
            fresh[:] = False
            fresh[indices[offsets]] = True
            fresh &= ~seen
            seen |= fresh
            frontier = np.flatnonzero(fresh)
        seen[np.array(start, dtype=np.int64)] = False
        reached = np.flatnonzero(seen)
        if self._nodes is None:  # built once per refresh, not per closure (it costs O(nodes))
            self._nodes = (np.array(self.kind_of, dtype=np.int8), np.array(self.id_of, dtype=np.int64))
        kinds = self._nodes[0][reached]
        ids = self._nodes[1][reached]
        return {kind: np.sort(ids[kinds == k]) for k, kind in enumerate(KINDS)}
