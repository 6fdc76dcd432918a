"""Closure over the run/artifact graph with one recursive CTE, seeded only by affected nodes.

Cost grows with the size of the closure, not of the catalog. Edges of relation ``subset_of``
(dataset -> derived dataset) are not followed: a derived dataset is affected only if its own
member bitmap intersects the erased assets, which the bitmaps answer exactly.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from disgorge.catalog.schema import Edge

Node = tuple[str, int]


def downstream(s: Session, seeds: Iterable[Node]) -> set[Node]:
    """Every (kind, id) reachable from the seeds along lineage edges, seeds excluded."""
    by_kind: dict[str, list[int]] = {}
    for kind, node_id in seeds:
        by_kind.setdefault(kind, []).append(node_id)
    if not by_kind:
        return set()
    anchor_pred = or_(*(and_(Edge.src_kind == k, Edge.src_id.in_(ids)) for k, ids in by_kind.items()))
    anchor = select(Edge.dst_kind.label("kind"), Edge.dst_id.label("id")).where(
        anchor_pred, Edge.relation != "subset_of"
    )
    reach = anchor.cte("reach", recursive=True)
    step = (
        select(Edge.dst_kind, Edge.dst_id)
        .join(reach, and_(Edge.src_kind == reach.c.kind, Edge.src_id == reach.c.id))
        .where(Edge.relation != "subset_of")
    )
    reach = reach.union(step)
    seeds_set = {(k, i) for k, ids in by_kind.items() for i in ids}
    return {(k, int(i)) for k, i in s.execute(select(reach.c.kind, reach.c.id))} - seeds_set


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
