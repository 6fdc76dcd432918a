"""The impact explorer: from a scope, the downstream graph one hop at a time, aggregated server-side.

A source of three million assets feeding ten thousand models is still one screen: the first hop lists
the datasets that hold the scope's assets, and each node opens on demand (a fragment fetched when its
``<details>`` opens, or a page of its own without JavaScript) to its next hop, grouped by kind and
relation with counts, the first :data:`PAGE` of each group shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from disgorge.api import Catalog
from disgorge.catalog.schema import Artifact, Dataset, Deployment, Edge, Run
from disgorge.errors import NotFoundError, UsageError
from disgorge.server.web.session import catalog_for, check_csrf, require
from disgorge.server.web.views import WebRoute, redirect, render

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
            "model": art.name or art.sha256,
        }
    if kind not in ("source", "dataset", "subject", "asset"):
        raise UsageError(f"scope kind {kind!r} is unknown", hint="choose " + ", ".join(KINDS))
    from disgorge.lineage import Scope, closure
    from disgorge.server.web.overview import ledger_head

    cache_key = (cat.store.url, kind, value)
    head = ledger_head(cat)
    if kind in ("source", "dataset"):
        hit = _summary_cache.get(cache_key)
        if hit is not None and hit[0] == head:
            return hit[1]

    scope = Scope(kind, value)  # type: ignore[arg-type]
    ids = closure(cat.store, scope)
    facts = _facts(cat)
    models = sum(1 for a in ids.artifacts if facts["kinds"].get(a) == "model")
    recipients = sorted({facts["parties"][r] for r in ids.runs if r in facts["parties"]})
    deployments = sum(facts["deployed"].get(a, 0) for a in ids.artifacts)
    what = "photo" if kind != "dataset" else "asset"
    headline = _plural(len(ids.assets), what)
    if kind != "subject":
        headline += f" of {_plural(_subjects(cat, scope, ids.assets), 'person', 'people')}"
    headline += (
        f" → {_plural(len(ids.datasets), 'dataset')}, {_plural(len(ids.runs), 'run')}, "
        f"{_plural(models, 'model')}, {_plural(len(ids.artifacts) - models, 'other artifact')}, "
        f"{_plural(deployments, 'deployment')}, {_plural(len(recipients), 'recipient')}"
    )
    with cat.store.session() as s:
        rows = s.execute(
            select(Dataset.id, Dataset.name, Dataset.version, Dataset.member_count)
            .where(Dataset.id.in_(list(ids.datasets)[: PAGE * 10]))
            .order_by(Dataset.name, Dataset.version)
        ).all()
    nodes = [
        Node(f"dataset:{i}", f"{n}@{v}", f"loses {ids.datasets[i]:,} of {c:,} members") for i, n, v, c in rows
    ][:PAGE]
    total = len(ids.datasets)
    groups = [Group(f"In datasets ({_plural(total, 'dataset')})", total, nodes, remaining=total - len(nodes))]
    if not ids.datasets and ids.artifacts:
        with cat.store.session() as s:
            derived = _describe(s, "artifact", ids.artifacts[:PAGE])
        groups.append(
            Group(
                f"Derived artifacts ({_plural(len(ids.artifacts), 'artifact')})", len(ids.artifacts), derived
            )
        )
    unknown = _unknown_subjects(cat, ids.assets) if kind == "subject" else 0
    doc = {
        "headline": headline,
        "groups": groups,
        "recipients": recipients,
        "unknown_subject_assets": unknown,
    }
    if kind in ("source", "dataset"):  # a whole source's closure takes seconds at millions of assets
        if len(_summary_cache) > 1000:
            _summary_cache.clear()
        _summary_cache[cache_key] = (head, doc)
    return doc


def _unknown_subjects(cat: Catalog, assets: Any) -> int:
    """Assets with no known subject in the sources a subject's assets come from (an erasure by subject
    cannot find them), from the per-source aggregates rather than a scan per question."""
    from disgorge.catalog.members import member_rows
    from disgorge.catalog.schema import Asset
    from disgorge.server.web.overview import aggregates

    with cat.store.session() as s:
        sources = {r[1] for r in member_rows(s, assets, [Asset.source_id])}
    per_source = aggregates(cat)["per_source"]
    return sum(per_source.get(src, (0, 0, 0))[2] for src in sources)


_summary_cache: dict[tuple[str, str, str], tuple[int, dict[str, Any]]] = {}
_facts_cache: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}
_subjects_cache: dict[tuple[str, str, str], tuple[int, int]] = {}


def _facts(cat: Catalog) -> dict[str, Any]:
    """Artifact kinds, run parties and deployment counts: small tables, kept until one of them grows."""
    with cat.store.session() as s:
        key = (
            int(s.scalar(select(func.max(Artifact.id))) or 0),
            int(s.scalar(select(func.max(Run.id))) or 0),
            int(s.scalar(select(func.count()).select_from(Deployment)) or 0),
        )
        hit = _facts_cache.get(cat.store.url)
        if hit is not None and hit[0] == key:
            return hit[1]
        kinds = dict(s.execute(select(Artifact.id, Artifact.kind)).all())
        parties = dict(s.execute(select(Run.id, Run.party)).all())
        deployed = dict(
            s.execute(select(Deployment.artifact_id, func.count()).group_by(Deployment.artifact_id)).all()
        )
    doc = {"kinds": kinds, "parties": parties, "deployed": deployed}
    _facts_cache[cat.store.url] = (key, doc)
    return doc


def _subjects(cat: Catalog, scope: Any, assets: Any) -> int:
    """How many people the scope's assets are of, kept until the ledger grows (and, for a dataset
    version, forever: its members never change)."""
    from disgorge.catalog.members import member_rows
    from disgorge.server.web.overview import aggregates, ledger_head

    if scope.kind == "source":
        src = next((x for x in cat.sources() if x.name == scope.value), None)
        if src is not None:
            return int(aggregates(cat)["per_source"].get(src.id, (0, 0))[1])
    if scope.kind == "asset":
        return 1 if assets else 0
    key = (cat.store.url, scope.kind, scope.value)
    head = ledger_head(cat) if scope.kind != "dataset" else 0
    hit = _subjects_cache.get(key)
    if hit is not None and hit[0] == head:
        return hit[1]
    from disgorge.catalog.schema import Asset

    with cat.store.session() as s:
        n = len({r[1] for r in member_rows(s, assets, [Asset.subject_id]) if r[1] is not None})
    if len(_subjects_cache) > 10_000:
        _subjects_cache.clear()
    _subjects_cache[key] = (head, n)
    return n


def _downstream(cat: Catalog, artifact_id: int) -> dict[str, int]:
    with cat.store.session() as s:
        reached = cat.store.lineage_graph(s).downstream([("artifact", artifact_id)])
    kinds = _facts(cat)["kinds"]
    ids = reached["artifact"].tolist()
    return {
        "runs": len(reached["run"]),
        "artifacts": len(ids),
        "models": sum(kinds.get(i) == "model" for i in ids),
    }


_bom_cache: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}


def bill_of_materials(cat: Catalog, model: str) -> dict[str, Any]:
    """A model's upstream, kept until the ledger grows (an erasure or a new run changes it)."""
    from disgorge.server.web.overview import ledger_head

    head = ledger_head(cat)
    key = (cat.store.url, model)
    hit = _bom_cache.get(key)
    if hit is not None and hit[0] == head:
        return hit[1]
    doc = cat.lineage(model).to_json()
    if len(_bom_cache) > 1000:
        _bom_cache.clear()
    _bom_cache[key] = (head, doc)
    return doc


@router.get("/impact/bom")
def bom_page(request: Request, model: str, fragment: bool = False) -> Response:
    """The bill of materials on demand: it reads every member of every upstream dataset."""
    require(request, "read")
    doc = bill_of_materials(catalog_for(request), model)
    return render(request, "_bom.html" if fragment else "bom.html", b=doc, model=model)


@router.get("/impact")
def impact_page(request: Request, kind: str = "", value: str = "", node: str = "") -> Response:
    require(request, "read")
    if kind == "subject" and value:
        raise UsageError(
            "a subject's id is never put in a URL (history, proxies and logs keep URLs)",
            hint="enter it in the impact form, which posts it",
        )
    return _impact(request, kind, value, node)


@router.post("/impact")
async def impact_posted(request: Request) -> Response:
    """The form posts, so that a subject's id stays out of every URL; other scopes get their bookmarkable
    page by redirect."""
    require(request, "read")
    form = await check_csrf(request)
    kind, value = str(form.get("kind") or ""), str(form.get("value") or "")
    if kind != "subject":
        return redirect(request, "/impact?" + urlencode({"kind": kind, "value": value}))
    return _impact(request, kind, value, "")


def _impact(request: Request, kind: str, value: str, node: str) -> Response:
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
