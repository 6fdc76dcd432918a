"""Walking lineage edges upstream, for bills of materials (downstream closures use the in-memory
:mod:`disgorge.catalog.lineage_graph`)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from disgorge.catalog.schema import Edge

Node = tuple[str, int]


def upstream(s: Session, start: Iterable[Node]) -> list[tuple[Node, Node, str]]:
    """Every edge (parent, child, relation) on a path into the start nodes, for bills of materials."""
    frontier = set(start)
    seen = set(frontier)
    edges: list[tuple[Node, Node, str]] = []
    while frontier:
        preds = or_(*(and_(Edge.dst_kind == k, Edge.dst_id == i) for k, i in frontier))
        rows = s.execute(
            select(Edge.src_kind, Edge.src_id, Edge.dst_kind, Edge.dst_id, Edge.relation).where(preds)
        )
        nxt = set()
        for sk, si, dk, di, rel in rows:
            edges.append(((sk, si), (dk, di), rel))
            if (sk, si) not in seen and sk != "asset":
                seen.add((sk, si))
                nxt.add((sk, si))
        frontier = nxt
    return edges
