"""A scale model of the catalog on PostgreSQL: "which models did this photo train?" at two sizes, and
how each part grows, to project the answer at 3 billion assets (issue 15, item 4; docs/scale.md).

The model holds what that question needs, in the layout docs/scale.md proposes for internet scale:

* ``assets(id bigint, sha256 bytea)``: the binary digest (32 bytes, not 64 hex characters), a primary
  key on id and a unique b-tree on sha256, generated server-side (``generate_series``);
* ``dataset_chunks(chunk bigint, dataset_id int, bits bytea)``, primary key (chunk, dataset_id): each
  dataset version's member bitmap cut into its roaring containers, one row per 2^16 asset ids that the
  dataset touches (the low 16 bits serialized as a pyroaring ``BitMap``). Which datasets hold asset
  ``a`` is then one index range scan of ``chunk = a >> 16``, reading at most one row per dataset,
  whatever the catalog's size; no process holds every dataset's bitmap in memory;
* the run/model lineage in :class:`disgorge.catalog.lineage_graph.LineageGraph` (the catalog's own
  in-memory CSR graph): ``--runs`` runs in fine-tune chains up to 10 deep, each chain's first run
  reading 1-3 datasets.

``--datasets`` versions are, half each, uniform samples of all assets (density log-uniform in
[0.1%, 30%]: splits) and whole blocks of consecutive subjects (30 photos each: a ``--where`` on people).
Measured at each size: the query's p50 and p95 over ``--queries`` random photos (warm: after one pass),
with its three steps apart (sha256 -> id, id -> datasets, datasets -> models); the tables' and indexes'
sizes per asset; and the lineage graph's memory per edge (tracemalloc). The projection to 3B fits each
step to its growth between the two sizes (log N for the b-tree lookups, flat for the container read).

    python benchmarks/bench_scale.py                 # 3M and 30M assets, 200 datasets, 10k runs
    python benchmarks/bench_scale.py --quick         # 100k and 1M assets, 50 datasets, 1k runs
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import time
import tracemalloc
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from pyroaring import BitMap

import _common
from disgorge.catalog.lineage_graph import LineageGraph

CHUNK_BITS = 16


def load_assets(conn: psycopg.Connection[Any], n: int) -> float:
    t = time.perf_counter()
    conn.execute("CREATE TABLE assets (id bigint NOT NULL, sha256 bytea NOT NULL)")
    step = 5_000_000
    for lo in range(1, n + 1, step):
        hi = min(n, lo + step - 1)
        conn.execute(
            "INSERT INTO assets SELECT g, sha256(int8send(g)) FROM generate_series(%s::bigint, %s::bigint) g",
            (lo, hi),
        )
    conn.execute("ALTER TABLE assets ADD PRIMARY KEY (id)")
    conn.execute("CREATE UNIQUE INDEX assets_sha256 ON assets (sha256)")
    conn.execute("VACUUM ANALYZE assets")
    return time.perf_counter() - t


def dataset_members(rng: np.random.Generator, n: int, k: int) -> BitMap:
    """Dataset k's members: a uniform sample (even k) or blocks of consecutive subjects (odd k)."""
    if k % 2 == 0:
        density = math.exp(rng.uniform(math.log(0.001), math.log(0.3)))
        ids = np.flatnonzero(rng.random(n) < density).astype(np.uint32) + 1
        return BitMap(ids)
    subjects = n // 30
    share = math.exp(rng.uniform(math.log(0.001), math.log(0.2)))
    chosen = rng.choice(subjects, size=max(1, int(subjects * share)), replace=False)
    bm = BitMap()
    for s in np.sort(chosen):
        bm.add_range(int(s) * 30 + 1, int(s) * 30 + 31)
    return bm


def load_chunks(conn: psycopg.Connection[Any], n: int, datasets: int, seed: int) -> tuple[float, int, int]:
    """Every dataset's containers as rows; returns (seconds, rows, members)."""
    t = time.perf_counter()
    rng = np.random.default_rng(seed)
    conn.execute(
        "CREATE TABLE dataset_chunks (chunk bigint NOT NULL, dataset_id int NOT NULL, bits bytea NOT NULL)"
    )
    rows = members = 0
    with conn.cursor().copy("COPY dataset_chunks (chunk, dataset_id, bits) FROM STDIN") as copy:
        for k in range(datasets):
            bm = dataset_members(rng, n, k)
            members += len(bm)
            arr = np.array(bm, dtype=np.uint32)
            keys = arr >> CHUNK_BITS
            cuts = np.flatnonzero(np.diff(keys)) + 1
            for part in np.split(arr, cuts):
                low = BitMap((part & 0xFFFF).astype(np.uint32))
                copy.write_row((int(part[0]) >> CHUNK_BITS, k + 1, low.serialize()))
                rows += 1
    conn.execute("ALTER TABLE dataset_chunks ADD PRIMARY KEY (chunk, dataset_id)")
    conn.execute("VACUUM ANALYZE dataset_chunks")
    return time.perf_counter() - t, rows, members


def lineage(datasets: int, runs: int, seed: int) -> tuple[LineageGraph, int, float, dict[int, str]]:
    """Fine-tune chains (depth 1-10) as LineageGraph edges; returns (graph, edges, MiB, model names)."""
    rng = random.Random(seed)
    tracemalloc.start()
    g = LineageGraph()
    names: dict[int, str] = {}
    run = art = edges = 0

    def edge(sk: str, si: int, dk: str, di: int) -> None:
        nonlocal edges
        g.src.append(g._node(sk, si))
        g.dst.append(g._node(dk, di))
        edges += 1

    while run < runs:
        parent = None
        for _ in range(rng.randint(1, 10)):
            run += 1
            if parent is None:
                for d in rng.sample(range(1, datasets + 1), rng.randint(1, 3)):
                    edge("dataset", d, "run", run)
            else:
                edge("artifact", parent, "run", run)
                if rng.random() < 0.3:
                    edge("dataset", rng.randint(1, datasets), "run", run)
            art += 1
            edge("run", run, "artifact", art)
            if parent is not None:
                edge("artifact", parent, "artifact", art)
            names[art] = f"model-{art:06d}"
            parent = art
            if run >= runs:
                break
    g._arrays()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return g, edges, size / 2**20, names


def relsize(conn: psycopg.Connection[Any], name: str) -> int:
    return int(conn.execute("SELECT pg_relation_size(%s)", (name,)).fetchone()[0])  # type: ignore[index]


def which_models(
    conn: psycopg.Connection[Any], g: LineageGraph, names: dict[int, str], sha: bytes
) -> tuple[list[str], float, float, float]:
    t0 = time.perf_counter()
    row = conn.execute("SELECT id FROM assets WHERE sha256 = %s", (sha,)).fetchone()
    t1 = time.perf_counter()
    assert row is not None
    aid = int(row[0])
    low = aid & 0xFFFF
    found = [
        d
        for d, bits in conn.execute(
            "SELECT dataset_id, bits FROM dataset_chunks WHERE chunk = %s", (aid >> CHUNK_BITS,)
        ).fetchall()
        if low in BitMap.deserialize(bits)
    ]
    t2 = time.perf_counter()
    models = sorted(names[int(a)] for a in g.downstream(("dataset", d) for d in found)["artifact"])
    t3 = time.perf_counter()
    return models, t1 - t0, t2 - t1, t3 - t2


@dataclass
class Model:
    n: int
    conn: psycopg.Connection[Any]
    graph: LineageGraph
    names: dict[int, str]
    info: dict[str, Any] = field(default_factory=dict)
    totals: list[float] = field(default_factory=list)
    steps: list[list[float]] = field(default_factory=lambda: [[], [], []])
    hits: int = 0


def build(stack: ExitStack, admin: str, n: int, datasets: int, runs: int, seed: int) -> Model:
    url = stack.enter_context(_common.scratch_pg(admin, "dg_scale"))
    conn = stack.enter_context(
        psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    )
    load_s = load_assets(conn, n)
    chunk_s, chunk_rows, members = load_chunks(conn, n, datasets, seed)
    g, edges, graph_mib, names = lineage(datasets, runs, seed)
    sizes = {
        "assets heap": relsize(conn, "assets"),
        "assets id index": relsize(conn, "assets_pkey"),
        "assets sha256 index": relsize(conn, "assets_sha256"),
        "dataset_chunks heap+toast": int(
            conn.execute("SELECT pg_table_size('dataset_chunks')").fetchone()[0]  # type: ignore[index]
        ),
        "dataset_chunks index": relsize(conn, "dataset_chunks_pkey"),
    }
    info = {
        "load_s": load_s + chunk_s,
        "chunk_rows": chunk_rows,
        "members": members,
        "edges": edges,
        "graph_mib": graph_mib,
        "sizes": sizes,
    }
    print(
        f"built {n:,} assets: {info['load_s']:.0f} s, {chunk_rows:,} container rows, {members:,} memberships",
        flush=True,
    )
    return Model(n, conn, g, names, info)


def query(m: Model, sha: bytes) -> None:
    t = time.perf_counter()
    models, a, b, c = which_models(m.conn, m.graph, m.names, sha)
    m.totals.append((time.perf_counter() - t) * 1000)
    for lst, v in zip(m.steps, (a, b, c), strict=True):
        lst.append(v * 1000)
    m.hits += bool(models)


def picks(n: int, queries: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [
        hashlib.sha256(rng.randint(1, n).to_bytes(8, "big", signed=True)).digest() for _ in range(queries)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="100k and 1M assets, 50 datasets, 1k runs")
    ap.add_argument("--sizes", default="3000000,30000000")
    ap.add_argument("--datasets", type=int, default=200)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--graph-runs", default="10000,100000,1000000", help="lineage graph sizes (runs)")
    ap.add_argument("--pg", default=_common.PG_ADMIN, help="admin DSN of a PostgreSQL server")
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.datasets, args.runs, args.queries = "100000,1000000", 50, 1000, 100
        args.graph_runs = "1000,10000,100000"
    if not _common.pg_available(args.pg):
        raise SystemExit(f"no PostgreSQL at {args.pg}")
    print(f"machine: {_common.machine()} (shared with other agents: numbers are indicative only)")
    with ExitStack() as stack:
        models = [
            build(stack, args.pg, int(n), args.datasets, args.runs, args.seed) for n in args.sizes.split(",")
        ]
        shas = [picks(m.n, args.queries, args.seed) for m in models]
        for m, ps in zip(models, shas, strict=True):  # warm each model's pages
            for sha in ps:
                which_models(m.conn, m.graph, m.names, sha)
        # interleaved, so the shared machine's load falls on every size alike
        for q in range(args.queries):
            for m, ps in zip(models, shas, strict=True):
                query(m, ps[q])
    results = [
        {
            "n": m.n,
            **m.info,
            "p50": _common.pct(m.totals, 50),
            "p95": _common.pct(m.totals, 95),
            "steps": [_common.pct(s, 50) for s in m.steps],
            "hits": m.hits,
            "queries": args.queries,
        }
        for m in models
    ]
    rows = []
    for r in results:
        s = r["steps"]
        rows.append(
            [
                f"{r['n']:,}",
                f"{r['load_s']:.0f}",
                f"{r['chunk_rows']:,}",
                f"{r['p50']:.2f}",
                f"{r['p95']:.2f}",
                f"{s[0]:.2f} / {s[1]:.2f} / {s[2]:.2f}",
                f"{r['hits']}/{r['queries']}",
            ]
        )
    print(
        _common.table(
            [
                "assets",
                "load s",
                "container rows",
                "p50 ms",
                "p95 ms",
                "p50 steps ms (sha->id / id->datasets / ->models)",
                "photos in a model",
            ],
            rows,
        )
    )
    size_rows = [
        [
            name,
            *(f"{r['sizes'][name] / r['n']:.1f}" for r in results),
            f"{results[-1]['sizes'][name] / results[-1]['n'] * 3e9 / 2**30:,.0f}",
        ]
        for name in results[0]["sizes"]
    ]
    print(
        _common.table(
            ["relation", *(f"bytes/asset at {r['n']:,}" for r in results), "GiB at 3B (linear)"], size_rows
        )
    )
    for r in results:
        print(
            f"lineage graph at {r['n']:,}: {r['edges']:,} edges, {r['graph_mib']:.1f} MiB ({r['graph_mib'] * 2**20 / r['edges']:.0f} B/edge)"
        )
    graph_rows = []
    for runs in map(int, args.graph_runs.split(",")):
        datasets = max(args.datasets, runs // 10)
        g, edges, mib, _ = lineage(datasets, runs, args.seed)
        rng = random.Random(args.seed)
        times = []
        g.downstream([("dataset", 1)])  # the first closure after a refresh builds the node arrays
        for _ in range(50):
            seeds = [("dataset", rng.randint(1, datasets)) for _ in range(rng.randint(1, 5))]
            t = time.perf_counter()
            g.downstream(seeds)
            times.append((time.perf_counter() - t) * 1000)
        graph_rows.append(
            [
                f"{runs:,}",
                f"{datasets:,}",
                f"{edges:,}",
                f"{mib:.1f}",
                f"{mib * 2**20 / edges:.0f}",
                f"{_common.pct(times, 50):.2f}",
            ]
        )
        del g
    print(
        _common.table(["runs", "datasets", "edges", "graph MiB", "B/edge", "downstream p50 ms"], graph_rows)
    )
    a, b = results[0], results[-1]
    grow = math.log(3e9) / math.log(b["n"])
    # the b-tree lookup grows with its depth (log N); the container read is flat in N (one row per
    # dataset touching the chunk); the graph step depends on runs, not assets
    s1 = b["steps"][0] * grow
    projected = s1 + b["steps"][1] + b["steps"][2]
    print(
        f"steps {a['n']:,} -> {b['n']:,}: sha->id x{b['steps'][0] / a['steps'][0]:.2f}, "
        f"id->datasets x{b['steps'][1] / a['steps'][1]:.2f}, ->models x{b['steps'][2] / a['steps'][2]:.2f}"
    )
    print(
        f"projected p50 at 3,000,000,000 assets (warm cache, same datasets and runs): {projected:.2f} ms "
        f"(goal <= 100 ms); add ~4 random reads (~0.1-1 ms each on SSD) when the sha256 index "
        f"({b['sizes']['assets sha256 index'] / b['n'] * 3e9 / 2**30:,.0f} GiB at 3B) is not in memory"
    )


if __name__ == "__main__":
    main()
