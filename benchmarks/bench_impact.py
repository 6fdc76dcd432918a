"""Impact queries at catalog scale: ``disgorge.lineage.impact`` against a naive per-member-edge schema
walked by one recursive CTE, on the same data in one process run (issue 2, "Performance").

The catalog (SQLite, created by ``disgorge.open()``) is bulk-loaded for speed with ``sqlite3`` directly
into the ORM tables, holding what the store itself would write:

* ``--assets`` assets of one source, ``--subjects`` subjects as keyed pseudonyms of this home's key;
  a subject's assets have consecutive ids (one folder per subject, ~30 photos each); one copy each;
* ``--datasets`` dataset versions whose sizes are log-uniform in [``--min-members``, ``--max-members``],
  members serialized with ``disgorge.catalog.members.to_blob``. A share ``--asset-level`` of them are
  uniform random samples of assets (train/validation splits); the others take all assets of random
  subjects (what a ``--where`` on a subject's demographics selects). ``digest`` is a placeholder
  (sha256 of the bitmap): the Merkle root over ~200M member hashes would take longer than the
  benchmark and impact never reads it; ``stats`` are exact;
* ``--chains`` fine-tune chains ``--depth`` deep: one run per model (``--chains x --depth`` runs and
  models). A chain's first run reads 1..``--root-inputs`` random datasets; every later run reads the
  parent model and, with probability ``--ft-data``, one more dataset. Edges are those ``catalog/runs.py``
  writes: dataset -> run and artifact -> run ``input``, run -> artifact ``output``, artifact ->
  artifact ``fine_tuned_from``; 30% of chain tips are deployed.

Measured: a subject's closure (the first query is cold: it loads every dataset bitmap; then
``--queries`` random subjects, warm) and a whole source (every asset), each against the naive
baseline: a ``dataset_members(dataset_id, asset_id)`` table with one row per member per dataset
(WITHOUT ROWID, primary key (asset_id, dataset_id), in a second SQLite file attached to the catalog)
and one recursive CTE from the scope's assets through dataset_members and the same ``edges`` to runs,
models and child models; the baseline then fetches the same run, model, deployment and copy rows.
Both answers are compared (datasets with their loss counts, runs, models) for a few subjects and the
source. The naive table at full size is ~200M rows; ``--naive-max-rows`` caps it (the benchmark then
stops with a message rather than compare different data), ``--skip-naive`` drops the baseline.

    python benchmarks/bench_impact.py                  # 3M assets, 100k subjects, 1,000 datasets, 10k runs
    python benchmarks/bench_impact.py --quick          # 300k assets, 10k subjects, 100 datasets, 1k runs
"""

from __future__ import annotations

import argparse
import array
import hashlib
import json
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pyroaring import BitMap

import _common
import disgorge
from disgorge.catalog.members import to_blob
from disgorge.lineage import Scope, impact
from disgorge.lineage import closure as closure_ids

CATEGORIES = ["user.content.self_image", "user.demographic.age_range", "user.location.imprecise"]
PARTIES = [f"lab-{k:02d}" for k in range(20)]
DS_BITS = 11  # pairs are packed as asset_id << DS_BITS | dataset_id for the naive table's bulk load
IN_CHUNK = 900


def stamp(dt: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME storage format (naive UTC, microseconds)."""
    return dt.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(slots=True)
class Corpus:
    """What was loaded, kept for the naive table and for choosing queries."""

    subject_names: list[str]
    subject_sizes: np.ndarray
    pairs: np.ndarray | None  # packed (asset_id, dataset_id), for the naive table
    member_total: int = 0
    bitmap_bytes: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for lo in range(0, n, size):
        yield lo, min(n, lo + size)


def load_catalog(args: argparse.Namespace, db: Path, hasher: Any, source_id: int, notice_id: int) -> Corpus:
    rng = np.random.default_rng(args.seed)
    n, n_subj = args.assets, args.subjects
    now = stamp(datetime.now(UTC))
    conn = sqlite3.connect(db, isolation_level=None)
    for p in ("synchronous=OFF", "foreign_keys=OFF", "cache_size=-1000000"):
        conn.execute(f"PRAGMA {p}")
    timings: dict[str, float] = {}

    t = time.perf_counter()
    sizes = 1 + rng.multinomial(n - n_subj, np.full(n_subj, 1 / n_subj))
    subject_of = np.repeat(np.arange(n_subj, dtype=np.int32), sizes)
    names = [f"subject-{i:06d}" for i in range(n_subj)]
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO subjects (id, pseudonym) VALUES (?, ?)",
        ((i + 1, hasher.subject(name)) for i, name in enumerate(names)),
    )
    byte_size = rng.integers(40_000, 6_000_000, size=n)
    cats = json.dumps(CATEGORIES)
    for lo, hi in chunks(n, 200_000):
        shas = rng.integers(0, 256, size=(hi - lo, 32), dtype=np.uint8)
        pdqs = rng.integers(0, 256, size=(hi - lo, 32), dtype=np.uint8)
        conn.executemany(
            "INSERT INTO assets (id, sha256, size, media_type, width, height, pdq, pdq_quality, source_id, "
            "notice_id, subject_id, categories, meta, state, created_at) "
            "VALUES (?, ?, ?, 'image/jpeg', 1024, 768, ?, 90, ?, ?, ?, ?, ?, 'active', ?)",
            (
                (
                    i + 1,
                    bytes(shas[i - lo]).hex(),
                    int(byte_size[i]),
                    bytes(pdqs[i - lo]),
                    source_id,
                    notice_id,
                    int(subject_of[i]) + 1,
                    cats,
                    f'{{"age": {18 + subject_of[i] % 47}}}',
                    now,
                )
                for i in range(lo, hi)
            ),
        )
        conn.executemany(
            "INSERT INTO copies (id, asset_id, uri, size, mtime_ns, inode, state, created_at) "
            "VALUES (?, ?, ?, ?, 1400000000000000000, ?, 'present', ?)",
            (
                (
                    i + 1,
                    i + 1,
                    f"file:///corpus/{names[subject_of[i]]}/{i:08d}.jpg",
                    int(byte_size[i]),
                    i,
                    now,
                )
                for i in range(lo, hi)
            ),
        )
    conn.execute("COMMIT")
    timings["assets, copies, subjects"] = time.perf_counter() - t

    t = time.perf_counter()
    lo_exp, hi_exp = np.log(args.min_members), np.log(args.max_members)
    targets = np.exp(rng.uniform(lo_exp, hi_exp, size=args.datasets)).astype(np.int64)
    asset_level = rng.random(args.datasets) < args.asset_level
    member_arrays: list[np.ndarray] = []
    rows = []
    bitmap_bytes = 0
    for d in range(args.datasets):
        if asset_level[d]:
            members = np.flatnonzero(rng.random(n) < targets[d] / n)
            subject_count = len(np.unique(subject_of[members]))
        else:
            chosen = rng.choice(n_subj, size=max(1, int(targets[d] / (n / n_subj))), replace=False)
            mask = np.zeros(n_subj, dtype=bool)
            mask[chosen] = True
            members = np.flatnonzero(mask[subject_of])
            subject_count = len(chosen)
        ids = (members + 1).astype(np.uint32)
        bm = BitMap(array.array("I", ids.tobytes()))
        blob = to_blob(bm)
        bitmap_bytes += len(blob)
        stats = {
            "sources": {"main": len(ids)},
            "subject_count": subject_count,
            "categories": CATEGORIES,
            "bytes": int(byte_size[members].sum()),
        }
        rows.append(
            (
                d + 1,
                f"ds-{d:04d}",
                1,
                hashlib.sha256(blob).hexdigest(),
                len(ids),
                blob,
                json.dumps(stats),
                now,
            )
        )
        if not args.skip_naive:
            member_arrays.append(ids)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO datasets (id, name, version, digest, member_count, members, derived_from_id, query, "
        "declared_use, stats, state, created_at) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, 'active', ?)",
        rows,
    )
    conn.execute("COMMIT")
    del rows
    member_total = (
        int(sum(int(t) for t in targets)) if args.skip_naive else sum(len(a) for a in member_arrays)
    )
    pairs = None
    if not args.skip_naive:
        pairs = np.empty(member_total, dtype=np.int64)
        pos = 0
        for d, ids in enumerate(member_arrays):
            pairs[pos : pos + len(ids)] = (ids.astype(np.int64) << DS_BITS) | (d + 1)
            pos += len(ids)
        member_arrays.clear()
    timings["datasets (bitmaps)"] = time.perf_counter() - t

    t = time.perf_counter()
    load_lineage(args, conn, rng, now)
    timings["runs, models, edges"] = time.perf_counter() - t
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return Corpus(names, sizes, pairs, member_total, bitmap_bytes, timings)


def load_lineage(
    args: argparse.Namespace, conn: sqlite3.Connection, rng: np.random.Generator, now: str
) -> None:
    runs, arts, art_copies, edges, deps = [], [], [], [], []
    for c in range(args.chains):
        for depth in range(args.depth):
            k = c * args.depth + depth + 1  # run id == model id
            name = f"chain-{c:04d}-ft{depth}"
            party = PARTIES[c % len(PARTIES)]
            runs.append(
                (
                    k,
                    str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                    f"train-{name}",
                    "train_ai_system",
                    party,
                    now,
                    now,
                )
            )
            arts.append((k, f"model-{name}", rng.bytes(32).hex(), int(rng.integers(10**8, 10**10)), k, now))
            art_copies.append((k, f"file:///models/{name}.safetensors", 10**9))
            if depth == 0:
                for ds in rng.choice(
                    args.datasets, size=int(rng.integers(1, args.root_inputs + 1)), replace=False
                ):
                    edges.append(("dataset", int(ds) + 1, "run", k, "input"))
            else:
                edges.append(("artifact", k - 1, "run", k, "input"))
                edges.append(("artifact", k - 1, "artifact", k, "fine_tuned_from"))
                if rng.random() < args.ft_data:
                    edges.append(("dataset", int(rng.integers(0, args.datasets)) + 1, "run", k, "input"))
            edges.append(("run", k, "artifact", k, "output"))
        if rng.random() < 0.3:
            tip = c * args.depth + args.depth
            deps.append((tip, f"https://api.{PARTIES[c % len(PARTIES)]}.example/chain-{c:04d}", now))
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO runs (id, uid, name, use, party, code_version, status, started_at, ended_at) "
        "VALUES (?, ?, ?, ?, ?, NULL, 'finished', ?, ?)",
        runs,
    )
    conn.executemany(
        "INSERT INTO artifacts (id, kind, name, sha256, size, run_id, transform, state, created_at) "
        "VALUES (?, 'model', ?, ?, ?, ?, NULL, 'active', ?)",
        arts,
    )
    conn.executemany(
        "INSERT INTO artifact_copies (artifact_id, uri, size, mtime_ns, inode, state) "
        "VALUES (?, ?, ?, NULL, NULL, 'present')",
        art_copies,
    )
    conn.executemany(
        "INSERT INTO edges (src_kind, src_id, dst_kind, dst_id, relation) VALUES (?, ?, ?, ?, ?)", edges
    )
    conn.executemany(
        "INSERT INTO deployments (artifact_id, target, hook, state, created_at) VALUES (?, ?, NULL, 'live', ?)",
        deps,
    )
    conn.execute("COMMIT")


def build_naive(path: Path, pairs: np.ndarray) -> float:
    """The per-member-edge table, loaded in key order through json_each (fast, all in C)."""
    t = time.perf_counter()
    pairs.sort()
    conn = sqlite3.connect(path, isolation_level=None)
    for p in ("journal_mode=WAL", "synchronous=OFF", "cache_size=-1000000"):
        conn.execute(f"PRAGMA {p}")
    conn.execute(
        "CREATE TABLE dataset_members (dataset_id INTEGER NOT NULL, asset_id INTEGER NOT NULL, "
        "PRIMARY KEY (asset_id, dataset_id)) WITHOUT ROWID"
    )
    conn.execute("BEGIN")
    mask = (1 << DS_BITS) - 1
    for lo, hi in chunks(len(pairs), 2_000_000):
        conn.execute(
            f"INSERT INTO dataset_members (asset_id, dataset_id) SELECT value >> {DS_BITS}, value & {mask} "
            "FROM json_each(?)",
            ("[" + ",".join(map(str, pairs[lo:hi].tolist())) + "]",),
        )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - t


@dataclass(slots=True)
class Answer:
    """What both implementations must agree on."""

    datasets: dict[str, int]  # ref -> members lost
    runs: set[str]  # uids
    models: set[int]
    copies: int
    deployments: int
    cte_s: float = 0.0  # naive only: the recursive CTE alone, before fetching rows


def naive_impact(conn: sqlite3.Connection, pred: str, arg: int, copy_limit: int = 1000) -> Answer:
    """The per-member-edge baseline: one recursive CTE from the scope's assets through dataset_members
    and the lineage edges, then the same rows disgorge's impact returns."""
    t0 = time.perf_counter()
    reached = conn.execute(
        f"""
        WITH RECURSIVE
          hit(dataset_id, loses) AS (
            SELECT dm.dataset_id, count(*) FROM cat.assets a JOIN dataset_members dm ON dm.asset_id = a.id
            WHERE {pred} GROUP BY dm.dataset_id),
          reach(kind, id, loses) AS (
            SELECT 'dataset', dataset_id, loses FROM hit
            UNION
            SELECT e.dst_kind, e.dst_id, 0 FROM reach r JOIN cat.edges e ON e.src_kind = r.kind AND e.src_id = r.id
            WHERE e.relation != 'subset_of')
        SELECT kind, id, loses FROM reach""",
        (arg,),
    ).fetchall()
    cte_s = time.perf_counter() - t0
    by_kind: dict[str, list[int]] = {}
    loses: dict[int, int] = {}
    for kind, node, lost in reached:
        by_kind.setdefault(kind, []).append(node)
        if kind == "dataset":
            loses[node] = lost

    def rows(sql: str, ids: Sequence[int]) -> list[Any]:
        out: list[Any] = []
        for i in range(0, len(ids), IN_CHUNK):
            chunk = ids[i : i + IN_CHUNK]
            out += conn.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall()
        return out

    ds_rows = rows(
        "SELECT id, name, version, member_count, digest FROM cat.datasets WHERE id IN ({})",
        by_kind.get("dataset", []),
    )
    run_rows = rows("SELECT id, uid, name, use, party FROM cat.runs WHERE id IN ({})", by_kind.get("run", []))
    art_ids = by_kind.get("artifact", [])
    arts = rows("SELECT id, kind, name, sha256 FROM cat.artifacts WHERE id IN ({})", art_ids)
    rows("SELECT artifact_id, uri FROM cat.artifact_copies WHERE artifact_id IN ({})", art_ids)
    rows(
        "SELECT src_id, dst_id, relation FROM cat.edges WHERE src_kind = 'artifact' AND dst_kind = 'artifact' "
        "AND dst_id IN ({})",
        art_ids,
    )
    deps = rows("SELECT artifact_id, target, state FROM cat.deployments WHERE artifact_id IN ({})", art_ids)
    copies = conn.execute(
        f"SELECT count(*) FROM cat.copies c JOIN cat.assets a ON c.asset_id = a.id WHERE {pred}", (arg,)
    ).fetchone()[0]
    conn.execute(
        f"SELECT c.uri FROM cat.copies c JOIN cat.assets a ON c.asset_id = a.id WHERE {pred} ORDER BY c.uri LIMIT ?",
        (arg, copy_limit),
    ).fetchall()
    conn.execute(f"SELECT count(DISTINCT a.subject_id) FROM cat.assets a WHERE {pred}", (arg,)).fetchone()
    return Answer(
        {f"{r[1]}@{r[2]}": loses[r[0]] for r in ds_rows},
        {r[1] for r in run_rows},
        {r[0] for r in arts if r[1] == "model"},
        copies,
        len(deps),
        cte_s,
    )


def store_answer(res: Any) -> Answer:
    return Answer(
        {d["ref"]: d["loses"] for d in res.datasets},
        {r["uid"] for r in res.runs},
        {m["id"] for m in res.models},
        res.copy_count,
        len(res.deployments),
    )


def compare(label: str, a: Answer, b: Answer) -> bool:
    same = (a.datasets, a.runs, a.models, a.copies, a.deployments) == (
        b.datasets,
        b.runs,
        b.models,
        b.copies,
        b.deployments,
    )
    print(
        f"  check {label}: disgorge {len(a.datasets)} datasets / {len(a.runs)} runs / {len(a.models)} models / "
        f"{a.copies} copies; naive {len(b.datasets)} / {len(b.runs)} / {len(b.models)} / {b.copies}: "
        f"{'same' if same else 'DIFFERENT'}"
    )
    return same


def profile(label: str, fn: Any) -> None:
    """cProfile one warm query; print disgorge's functions by cumulative time, then the top callees."""
    import cProfile
    import io
    import pstats

    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    out = io.StringIO()
    st = pstats.Stats(pr, stream=out)
    st.sort_stats("cumulative").print_stats("disgorge/", 14)
    st.sort_stats("tottime").print_stats(12)
    print(f"\n--- profile of one warm {label} query ---")
    print("\n".join(ln for ln in out.getvalue().splitlines() if ln.strip() and "function calls" not in ln))


def ms(x: float) -> str:
    return f"{x * 1000:,.1f}" if x == x else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=3_000_000)
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--datasets", type=int, default=1000)
    ap.add_argument("--min-members", type=int, default=10_000)
    ap.add_argument("--max-members", type=int, default=1_000_000)
    ap.add_argument("--asset-level", type=float, default=0.3, help="share of datasets sampled per asset")
    ap.add_argument(
        "--chains", type=int, default=1000, help="fine-tune chains (runs = models = chains x depth)"
    )
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--root-inputs", type=int, default=3, help="a chain's first run reads 1..N datasets")
    ap.add_argument("--ft-data", type=float, default=0.2, help="chance a fine-tune run reads a dataset too")
    ap.add_argument("--queries", type=int, default=200, help="random subjects queried (warm)")
    ap.add_argument("--source-reps", type=int, default=3)
    ap.add_argument("--naive-source-reps", type=int, default=1)
    ap.add_argument("--naive-max-rows", type=int, default=400_000_000, help="refuse a bigger naive table")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--check", type=int, default=5, help="subjects whose answers are compared")
    ap.add_argument(
        "--profile", action="store_true", help="print where one subject and one source query spend time"
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=2014)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    if args.quick:
        args.assets, args.subjects, args.datasets = 300_000, 10_000, 100
        args.min_members, args.max_members, args.chains = 1_000, 100_000, 100
    if args.datasets >= 1 << DS_BITS:
        raise SystemExit(f"--datasets must be below {1 << DS_BITS}")
    print(f"# bench_impact on {_common.machine()}")
    print(
        f"# {args.assets:,} assets, {args.subjects:,} subjects, {args.datasets:,} datasets of "
        f"{args.min_members:,}..{args.max_members:,} members (log-uniform, {args.asset_level:.0%} asset-level), "
        f"{args.chains * args.depth:,} runs and models in {args.chains:,} chains {args.depth} deep",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="dg_bench_impact_", dir=args.workdir) as d:
        run(args, Path(d))


def run(args: argparse.Namespace, tmp: Path) -> None:
    home, db, naive_db = tmp / "home", tmp / "catalog.db", tmp / "naive.db"
    url = f"sqlite:///{db}"
    with disgorge.open(home, catalog_url=url) as cat:
        src, _ = cat.add_source(
            "main", notice=b"2014 notice", uses=["essential.service"], categories=CATEGORIES
        )
        hasher = cat.store.hasher
    corpus = load_catalog(args, db, hasher, src.id, src.notice_id)
    for k, v in corpus.timings.items():
        print(f"  loaded {k} in {v:.1f} s", flush=True)
    print(
        f"  {corpus.member_total:,} dataset memberships in {corpus.bitmap_bytes / 1e6:,.1f} MB of bitmaps; "
        f"catalog {db.stat().st_size / 1e6:,.0f} MB",
        flush=True,
    )
    naive = None
    if corpus.pairs is not None:
        if corpus.member_total > args.naive_max_rows:
            raise SystemExit(
                f"the naive table would hold {corpus.member_total:,} rows (> --naive-max-rows); "
                "rerun at a smaller scale or with --skip-naive"
            )
        el = build_naive(naive_db, corpus.pairs)
        corpus.pairs = None
        print(
            f"  naive dataset_members: {corpus.member_total:,} rows built in {el:.1f} s, "
            f"{naive_db.stat().st_size / 1e6:,.0f} MB",
            flush=True,
        )
        naive = sqlite3.connect(naive_db)
        naive.execute(f"ATTACH DATABASE '{db}' AS cat")
        for schema in ("main", "cat"):
            naive.execute(f"PRAGMA {schema}.cache_size=-200000")

    rng = np.random.default_rng(args.seed + 1)
    picks = rng.choice(args.subjects, size=args.queries + 1, replace=False)
    names = [corpus.subject_names[i] for i in picks]
    sizes_picked = [int(corpus.subject_sizes[i]) for i in picks]
    ok = True
    with disgorge.open(home, catalog_url=url) as cat:
        store = cat.store
        res, cold = _common.timed(lambda: impact(store, Scope("subject", names[0])))
        print(f"  cold subject query (loads {args.datasets:,} bitmaps): {cold * 1000:,.0f} ms", flush=True)
        cold_naive = float("nan")
        if naive is not None:
            sid = store.subject_id(names[0])
            _, cold_naive = _common.timed(lambda: naive_impact(naive, "a.subject_id = ?", sid))
        t_store: list[float] = []
        t_naive: list[float] = []
        t_cte: list[float] = []
        closure: list[tuple[int, int, int]] = []
        t_closure: list[float] = []
        for q, name in enumerate(names[1:]):
            ids, el = _common.timed(lambda name=name: closure_ids(store, Scope("subject", name)))
            t_closure.append(el)
            res, el = _common.timed(lambda name=name: impact(store, Scope("subject", name)))
            t_store.append(el)
            assert len(ids.runs) == len(res.runs)
            assert len(ids.datasets) == len(res.datasets)
            closure.append((len(res.datasets), len(res.runs), len(res.models)))
            if naive is not None:
                ans, el2 = _common.timed(
                    lambda name=name: naive_impact(naive, "a.subject_id = ?", store.subject_id(name))
                )
                t_naive.append(el2)
                t_cte.append(ans.cte_s)
                if q < args.check:
                    ok &= compare(f"subject #{q + 1}", store_answer(res), ans)
        print(
            f"  subjects queried: {np.mean(sizes_picked):.1f} assets each; closure per subject: datasets "
            f"p50 {np.median([c[0] for c in closure]):.0f}, runs p50 {np.median([c[1] for c in closure]):.0f}, "
            f"models p50 {np.median([c[2] for c in closure]):.0f} (max {max(c[2] for c in closure)})",
            flush=True,
        )
        src_times: list[float] = []
        for _ in range(args.source_reps):
            res, el = _common.timed(lambda: impact(store, Scope("source", "main")))
            src_times.append(el)
            print(
                f"  source query: {el:.2f} s ({len(res.assets):,} assets, {len(res.models):,} models)",
                flush=True,
            )
        src_naive: list[float] = []
        src_cte = float("nan")
        if naive is not None:
            for _ in range(args.naive_source_reps):
                ans, el = _common.timed(lambda: naive_impact(naive, "a.source_id = ?", 1))
                src_naive.append(el)
                src_cte = ans.cte_s
                print(f"  naive source query: {el:.2f} s", flush=True)
            ok &= compare("source", store_answer(res), ans)
        if args.profile:
            profile("subject", lambda: impact(store, Scope("subject", names[1])))
            profile("source", lambda: impact(store, Scope("source", "main")))
    if naive is not None:
        naive.close()

    def ratio(a: float, b: float) -> str:
        return f"{b / a:,.1f}x" if a == a and b == b else "-"

    p50, p95 = _common.pct(t_store, 50), _common.pct(t_store, 95)
    n50, n95 = _common.pct(t_naive, 50), _common.pct(t_naive, 95)
    s_med, n_med = _common.median(src_times), _common.median(src_naive)
    rows = [
        ("subject, cold (first query)", ms(cold), ms(cold_naive), ratio(cold, cold_naive), "", ""),
        (
            f"subject p50 ({args.queries} warm)",
            ms(p50),
            ms(n50),
            ratio(p50, n50),
            "<= 10 ms",
            "met" if p50 <= 0.010 else "MISSED",
        ),
        (f"subject p95 ({args.queries} warm)", ms(p95), ms(n95), ratio(p95, n95), "", ""),
        (
            "subject p50, closure only (ids and loss counts; naive: its recursive CTE alone)",
            ms(_common.pct(t_closure, 50)),
            ms(_common.pct(t_cte, 50)),
            ratio(_common.pct(t_closure, 50), _common.pct(t_cte, 50)),
            "<= 10 ms",
            "met" if _common.pct(t_closure, 50) <= 0.010 else "MISSED",
        ),
        ("subject p95, closure only", ms(_common.pct(t_closure, 95)), "", "", "", ""),
        ("subject max", ms(max(t_store)), ms(max(t_naive)) if t_naive else "-", "", "", ""),
        (
            f"source, {args.assets:,} assets, first query (its counts read and kept)",
            ms(src_times[0]),
            ms(src_naive[0]) if src_naive else "-",
            ratio(src_times[0], src_naive[0]) if src_naive else "-",
            "",
            "",
        ),
        (
            f"source, {args.assets:,} assets (median of {len(src_times)} / {len(src_naive)})",
            ms(s_med),
            ms(n_med),
            ratio(s_med, n_med),
            "<= 2000 ms",
            "met" if s_med <= 2.0 else "MISSED",
        ),
        ("source, naive: recursive CTE alone", "", ms(src_cte), "", "", ""),
    ]
    print()
    print(
        _common.table(
            ["query", "disgorge ms", "naive CTE ms", "naive / disgorge", "target", "verdict"], rows, "lrrrrl"
        )
    )
    print(f"answers equal on every checked scope: {ok}; peak RSS {_common.rss_mib():,.0f} MiB")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
