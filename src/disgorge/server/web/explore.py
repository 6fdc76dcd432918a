"""The impact explorer: from a scope, the downstream graph one hop at a time, aggregated server-side.

A source of three million assets feeding ten thousand models is still one screen: the first hop lists
the datasets that hold the scope's assets, and each node opens on demand (a fragment fetched when its
``<details>`` opens, or a page of its own without JavaScript) to its next hop, grouped by kind and
relation with counts, the first :data:`PAGE` of each group shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from disgorge.api import Catalog
from disgorge.catalog.schema import Artifact, Dataset, Deployment, Edge, Run
from disgorge.errors import NotFoundError, UsageError
from disgorge.server.web.session import catalog_for, require
from disgorge.server.web.views import WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
PAGE = 20
KINDS = ("source", "dataset", "subject", "asset", "model")
NODE_KINDS = ("dataset", "run", "artifact")


@dataclass
class Node:
    ref: str
    """``kind:id``, what a hop request names."""
    label: str
    detail: str = ""
    expandable: bool = True


@dataclass
class Group:
    title: str
    total: int
    nodes: list[Node] = field(default_factory=list)
    more: str | None = None
    """The next page of this group, as a hop URL."""
    remaining: int = 0


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def parse_node(text: str) -> tuple[str, int]:
    kind, _, ident = text.partition(":")
    if kind not in NODE_KINDS or not ident.isdigit():
        raise UsageError(f"node {text!r} is not KIND:ID", hint="KIND is dataset, run or artifact")
    return kind, int(ident)


def _edge_groups(
    cat: Catalog, kind: str, ident: int, groups: dict[str, str], offset: int, only: str | None
) -> list[Group]:
    """Out-edges of one node, grouped by (target kind, relation); ``groups`` names each group."""
    out: list[Group] = []
    with cat.store.session() as s:
        counts = s.execute(
            select(Edge.dst_kind, Edge.relation, func.count())
            .where(Edge.src_kind == kind, Edge.src_id == ident, Edge.relation != "subset_of")
            .group_by(Edge.dst_kind, Edge.relation)
            .order_by(Edge.dst_kind, Edge.relation)
        ).all()
        for dst_kind, relation, total in counts:
            key = f"{dst_kind}/{relation}"
            if only is not None and key != only:
                continue
            start = offset if only == key else 0
            ids = list(
                s.scalars(
                    select(Edge.dst_id)
                    .where(
                        Edge.src_kind == kind,
                        Edge.src_id == ident,
                        Edge.dst_kind == dst_kind,
                        Edge.relation == relation,
                    )
                    .order_by(Edge.dst_id)
                    .offset(start)
                    .limit(PAGE)
                )
            )
            nodes = _describe(s, dst_kind, ids)
            title = groups.get(relation, relation.replace("_", " "))
            if dst_kind == "artifact":
                models = sum(1 for n in nodes if n.detail.startswith("model"))
                title = (
                    f"{title} ({_plural(int(total), 'artifact')}, {models} of the first {len(ids)} models)"
                )
                if models == len(ids):
                    title = f"{groups.get(relation, relation)} ({_plural(int(total), 'model')})"
            else:
                title = f"{title} ({_plural(int(total), dst_kind)})"
            nxt = start + len(ids)
            more = f"/impact/hop?node={kind}:{ident}&group={key}&offset={nxt}" if nxt < total else None
            out.append(Group(title, int(total), nodes, more, int(total) - nxt))
    return out


def _describe(s: Any, kind: str, ids: list[int]) -> list[Node]:
    if not ids:
        return []
    if kind == "run":
        rows = s.execute(select(Run.id, Run.name, Run.use, Run.party).where(Run.id.in_(ids))).all()
        return [Node(f"run:{i}", name, f"run for {use} by {party}") for i, name, use, party in rows]
    if kind == "artifact":
        rows = s.execute(
            select(Artifact.id, Artifact.kind, Artifact.name, Artifact.sha256, Artifact.state).where(
                Artifact.id.in_(ids)
            )
        ).all()
        return [
            Node(f"artifact:{i}", name or f"sha256:{sha[:12]}", f"{k}{'' if st == 'active' else ', ' + st}")
            for i, k, name, sha, st in rows
        ]
    rows = s.execute(
        select(Dataset.id, Dataset.name, Dataset.version, Dataset.member_count).where(Dataset.id.in_(ids))
    ).all()
    return [Node(f"dataset:{i}", f"{n}@{v}", f"dataset of {c:,} assets") for i, n, v, c in rows]


def hop(cat: Catalog, node: str, *, offset: int = 0, only: str | None = None) -> list[Group]:
    """The next hop downstream of one node."""
    kind, ident = parse_node(node)
    if kind == "dataset":
        groups = _edge_groups(cat, kind, ident, {"input": "Read by runs"}, offset, only)
        return groups or [Group("No run read this dataset", 0)]
    if kind == "run":
        groups = _edge_groups(cat, kind, ident, {"output": "Wrote"}, offset, only)
        return groups or [Group("This run recorded no output", 0)]
    groups = _edge_groups(cat, kind, ident, {"input": "Read by runs"}, offset, only)
    with cat.store.session() as s:
        deps = s.execute(
            select(Deployment.target, Deployment.state).where(Deployment.artifact_id == ident).limit(PAGE)
        ).all()
        total = int(s.scalar(select(func.count()).where(Deployment.artifact_id == ident)) or 0)
    if total and only is None:
        nodes = [Node("", target, f"deployment, {state}", expandable=False) for target, state in deps]
        groups.append(Group(f"Deployed to ({_plural(total, 'target')})", total, nodes))
    return groups or [Group("Nothing downstream of this artifact", 0)]


def root_summary(cat: Catalog, kind: str, value: str) -> dict[str, Any]:
    """The scope's whole downstream closure, as counts and the first hop (the datasets it is in)."""
    if kind == "model":
        art = cat.store.resolve_artifact(value)
        reached = _downstream(cat, art.id)
        return {
            "headline": f"{art.label}: {_plural(reached['models'], 'model')} and "
            f"{_plural(reached['runs'], 'run')} downstream",
            "groups": hop(cat, f"artifact:{art.id}"),
            "bom": cat.lineage(value).to_json(),
            "artifact": art,
        }
    imp = cat.impact(kind, value)
    c = imp.counts()
    what = "photo" if kind != "dataset" else "asset"
    headline = f"{_plural(c['assets'], what)}"
    if kind != "subject":
        headline += f" of {_plural(c['subjects'], 'person', 'people')}"
    headline += (
        f" → {_plural(c['datasets'], 'dataset')}, {_plural(c['runs'], 'run')}, "
        f"{_plural(c['models'], 'model')}, {_plural(c['artifacts'], 'other artifact')}, "
        f"{_plural(c['deployments'], 'deployment')}, {_plural(c['recipients'], 'recipient')}"
    )
    by_ref = {f"{d['name']}@{d['version']}": d for d in imp.datasets}
    with cat.store.session() as s:
        ids = {
            f"{name}@{version}": i
            for name, version, i in s.execute(
                select(Dataset.name, Dataset.version, Dataset.id).where(
                    Dataset.name.in_({d["name"] for d in imp.datasets})
                )
            )
        }
    nodes = [
        Node(f"dataset:{ids[ref]}", ref, f"loses {d['loses']:,} of {d['members']:,} members")
        for ref, d in sorted(by_ref.items())
        if ref in ids
    ]
    total = len(nodes)
    groups = [Group(f"In datasets ({_plural(total, 'dataset')})", total, nodes)]
    if imp.artifacts and not nodes:
        derived = [
            Node(f"artifact:{a['id']}", a["name"] or a["sha256"][:12], a["kind"]) for a in imp.artifacts
        ]
        groups.append(
            Group(f"Derived artifacts ({_plural(len(derived), 'artifact')})", len(derived), derived)
        )
    return {
        "headline": headline,
        "groups": groups,
        "recipients": imp.recipients,
        "unknown_subject_assets": sum(imp.unknown_subject_assets.values()),
    }


def _downstream(cat: Catalog, artifact_id: int) -> dict[str, int]:
    with cat.store.session() as s:
        reached = cat.store.lineage_graph(s).downstream([("artifact", artifact_id)])
        ids = reached["artifact"].tolist()
        models = 0
        for i in range(0, len(ids), 900):
            models += int(
                s.scalar(
                    select(func.count()).where(Artifact.id.in_(ids[i : i + 900]), Artifact.kind == "model")
                )
                or 0
            )
    return {"runs": len(reached["run"]), "artifacts": len(ids), "models": models}


@router.get("/impact")
def impact_page(request: Request, kind: str = "", value: str = "", node: str = "") -> Response:
    require(request, "read")
    cat = catalog_for(request)
    summary = None
    if node:
        parse_node(node)
        summary = {"headline": f"Next hop of {node}", "groups": hop(cat, node)}
    elif kind or value:
        if kind not in KINDS:
            raise UsageError(f"scope kind {kind!r} is unknown", hint="choose " + ", ".join(KINDS))
        if not value.strip():
            raise UsageError(f"give the {kind} to start from")
        summary = root_summary(cat, kind, value.strip())
    shown_value = "" if kind == "subject" else value
    return render(
        request, "impact.html", kinds=KINDS, kind=kind, value=shown_value, summary=summary, node=node
    )


@router.get("/impact/hop")
def hop_fragment(request: Request, node: str, group: str | None = None, offset: int = 0) -> Response:
    require(request, "read")
    if offset < 0:
        raise UsageError("offset must be 0 or more")
    groups = hop(catalog_for(request), node, offset=offset, only=group)
    if not groups:
        raise NotFoundError(f"no group {group!r} downstream of {node}")
    return render(request, "_hop.html", groups=groups, continued=group is not None)
