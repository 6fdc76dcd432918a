"""Registering assets whose metadata and hashes are already computed: ``CatalogStore.register`` against
the fastest plain insert into the same tables, side by side in one process run (issue 2, "Performance").

For each backend two catalogs are created by ``disgorge.open()`` (same schema, same home key, so the
same subject pseudonyms), then filled with the same synthetic rows in batches of ``--batch`` (the
ingest pipeline's batch size):

* SQLite: ``store.register(records)`` against ``sqlite3`` ``executemany`` of ready rows (explicit ids,
  one transaction per batch, the store's own pragmas: WAL, synchronous=NORMAL, foreign_keys=ON,
  cache_size=-200000);
* PostgreSQL: ``store.register(records)`` against psycopg 3 ``cursor.copy`` (COPY FROM STDIN) of the
  same rows, one transaction per batch.

Batches alternate between the two sides (and which side goes first), so background load on a shared
machine hits both alike. Only the insert calls are timed; building the records (for the store) and
the ready rows, pseudonyms and JSON (for the raw side) is not. Afterwards both catalogs are checked
to hold the same content (row counts, and every column of a random sample of assets and copies).

Each synthetic asset: random sha256 and 256-bit PDQ, a size, 0.3-12 MP dimensions, one ``file://``
copy, one subject per 30 consecutive assets (a folder per subject), categories and the demo's
demographic metadata.

    python benchmarks/bench_catalog.py                 # 3,000,000 assets on SQLite, 1,000,000 on PostgreSQL
    python benchmarks/bench_catalog.py --quick         # 100,000 each
    python benchmarks/bench_catalog.py --skip-sqlite --pg-n 3000000   # the issue's size on PostgreSQL

PostgreSQL's default is 1,000,000 because ``register`` runs there at a few thousand assets/s on a
2-core machine, so 3M alone would take ~15 minutes; the ratio against COPY is already stable at 1M.
    python benchmarks/bench_catalog.py --pg-n 1000000 --skip-sqlite
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import _common
import disgorge
from disgorge.model import AssetRecord

GENDERS = ["female", "male", "nonbinary"]
CITIES = ["Boston", "Austin", "Denver", "Portland", "Chicago", "Seattle", "Atlanta", "Phoenix"]
DIMS = [(640, 480), (800, 600), (1024, 768), (1280, 960), (1600, 1200), (2048, 1536), (4000, 3000)]
CATEGORIES = ("user.content.self_image", "user.demographic.age_range", "user.location.imprecise")
PER_SUBJECT = 30

ASSET_COLS = (
    "id, sha256, size, media_type, width, height, pdq, pdq_quality, source_id, notice_id, subject_id, "
    "categories, meta, state, created_at"
)
COPY_COLS = "asset_id, uri, size, mtime_ns, inode, state, created_at"


@dataclass(slots=True)
class Batch:
    """One batch of synthetic assets, as arrays; turned into records or raw rows on demand."""

    start: int
    sha: list[str]
    pdq: list[bytes]
    size: list[int]
    dims: list[tuple[int, int]]
    quality: list[int]
    mtime: list[int]

    def subject(self, k: int) -> int:
        return (self.start + k) // PER_SUBJECT

    def uri(self, k: int) -> str:
        i = self.start + k
        return f"file:///bench/photos/subject-{self.subject(k):06d}/{i:08d}.jpg"

    def meta(self, k: int) -> dict[str, Any]:
        subj = self.subject(k)
        return {"age": 18 + subj % 47, "gender": GENDERS[subj % 3], "location": CITIES[subj % 8]}

    def records(self) -> list[AssetRecord]:
        return [
            AssetRecord(
                sha256=self.sha[k],
                size=self.size[k],
                media_type="image/jpeg",
                uri=self.uri(k),
                mtime_ns=self.mtime[k],
                inode=self.start + k,
                width=self.dims[k][0],
                height=self.dims[k][1],
                pdq=self.pdq[k],
                pdq_quality=self.quality[k],
                subject=f"subject-{self.subject(k):06d}",
                categories=CATEGORIES,
                metadata=self.meta(k),
            )
            for k in range(len(self.sha))
        ]


def make_batch(seed: int, start: int, count: int) -> Batch:
    rng = np.random.default_rng([seed, start])
    shas = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
    pdqs = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
    dim_idx = rng.choice(len(DIMS), size=count, p=[0.16, 0.16, 0.16, 0.16, 0.13, 0.13, 0.10])
    return Batch(
        start=start,
        sha=[bytes(r).hex() for r in shas],
        pdq=[bytes(r) for r in pdqs],
        size=rng.integers(40_000, 6_000_000, size=count).tolist(),
        dims=[DIMS[i] for i in dim_idx.tolist()],
        quality=rng.integers(40, 101, size=count).tolist(),
        mtime=(1_400_000_000_000_000_000 + rng.integers(0, 10**17, size=count)).tolist(),
    )


def batches(seed: int, n: int, size: int) -> Iterator[Batch]:
    for start in range(0, n, size):
        yield make_batch(seed, start, min(size, n - start))


@dataclass(slots=True)
class RawRows:
    """The same rows as the store writes, ready for executemany / COPY (ids assigned up front)."""

    subjects: list[tuple[int, str]]
    assets: list[tuple[Any, ...]]
    copies: list[tuple[Any, ...]]


@dataclass(slots=True)
class RawBuilder:
    """Builds raw rows batch after batch: subject ids and pseudonyms, JSON text, timestamps."""

    pseudonym: Callable[[str], str]
    source_id: int
    notice_id: int
    stamp: Callable[[datetime], Any]
    next_subject: int = 0
    cats_json: str = field(default_factory=lambda: json.dumps(sorted(CATEGORIES)))

    def rows(self, b: Batch) -> RawRows:
        now = self.stamp(datetime.now(UTC))
        subjects = []
        assets = []
        copies = []
        for k in range(len(b.sha)):
            subj = b.subject(k)
            if subj >= self.next_subject:
                subjects.append((subj + 1, self.pseudonym(f"subject-{subj:06d}")))
                self.next_subject = subj + 1
            aid = b.start + k + 1
            w, h = b.dims[k]
            assets.append(
                (
                    aid,
                    b.sha[k],
                    b.size[k],
                    "image/jpeg",
                    w,
                    h,
                    b.pdq[k],
                    b.quality[k],
                    self.source_id,
                    self.notice_id,
                    subj + 1,
                    self.cats_json,
                    json.dumps(b.meta(k)),
                    "active",
                    now,
                )
            )
            copies.append((aid, b.uri(k), b.size[k], b.mtime[k], b.start + k, "present", now))
        return RawRows(subjects, assets, copies)


def sqlite_stamp(dt: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME storage format (naive UTC, microseconds)."""
    return dt.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteRaw:
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=60)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "cache_size=-200000"):
            self.conn.execute(f"PRAGMA {pragma}")

    def insert(self, r: RawRows) -> None:
        c = self.conn
        c.execute("BEGIN")
        c.executemany("INSERT INTO subjects (id, pseudonym) VALUES (?, ?)", r.subjects)
        c.executemany(f"INSERT INTO assets ({ASSET_COLS}) VALUES ({', '.join('?' * 15)})", r.assets)
        c.executemany(f"INSERT INTO copies ({COPY_COLS}) VALUES ({', '.join('?' * 7)})", r.copies)
        c.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


class PgRaw:
    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))

    def insert(self, r: RawRows) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            with cur.copy("COPY subjects (id, pseudonym) FROM STDIN") as cp:
                for row in r.subjects:
                    cp.write_row(row)
            with cur.copy(f"COPY assets ({ASSET_COLS}) FROM STDIN") as cp:
                for row in r.assets:
                    cp.write_row(row)
            with cur.copy(f"COPY copies ({COPY_COLS}) FROM STDIN") as cp:
                for row in r.copies:
                    cp.write_row(row)

    def finish(self) -> None:
        """Move the id sequences past the explicit ids, as a real bulk load would."""
        with self.conn.transaction():
            for t in ("subjects", "assets", "copies"):
                self.conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), coalesce(max(id), 1)) FROM {t}"
                )

    def close(self) -> None:
        self.conn.close()


SAMPLE_SQL = (
    "SELECT a.sha256, a.size, a.media_type, a.width, a.height, a.pdq, a.pdq_quality, s.pseudonym, "
    "a.categories, a.meta, a.state, c.uri, c.size, c.mtime_ns, c.inode, c.state "
    "FROM assets a JOIN copies c ON c.asset_id = a.id LEFT JOIN subjects s ON s.id = a.subject_id "
    "WHERE a.sha256 IN ({})"
)


def snapshot(query: Callable[[str, list[Any]], list[tuple[Any, ...]]], shas: list[str], ph: str) -> Any:
    """Table counts and the sampled rows (JSON parsed, bytes normalised) of one catalog."""
    counts = tuple(query(f"SELECT count(*) FROM {t}", [])[0][0] for t in ("assets", "copies", "subjects"))
    rows = query(SAMPLE_SQL.format(", ".join([ph] * len(shas))), shas)
    norm = sorted(
        tuple(
            json.loads(v) if k in (8, 9) and isinstance(v, str) else bytes(v) if k == 5 else v
            for k, v in enumerate(r)
        )
        for r in rows
    )
    return counts, norm


def run_side_by_side(
    label: str,
    n: int,
    batch: int,
    seed: int,
    cat: disgorge.Catalog,
    raw_insert: Callable[[RawRows], None],
    builder: RawBuilder,
) -> tuple[float, float]:
    """Fill both catalogs batch by batch (alternating which goes first); return (store s, raw s)."""
    src = cat.store.get_source("bench")
    t_store = t_raw = 0.0
    t0 = time.perf_counter()
    last = t0
    for i, b in enumerate(batches(seed, n, batch)):
        records = b.records()
        raw = builder.rows(b)
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for side in order:
            t = time.perf_counter()
            if side == 0:
                res = cat.store.register(records, source_id=src.id, notice_id=src.notice_id)
                t_store += time.perf_counter() - t
                assert res.new_assets == len(records), res
            else:
                raw_insert(raw)
                t_raw += time.perf_counter() - t
        now = time.perf_counter()
        if now - last > 30:
            done = b.start + len(b.sha)
            print(
                f"  [{label}] {done:,}/{n:,} after {now - t0:.0f} s: register {done / t_store:,.0f} rows/s, "
                f"raw {done / t_raw:,.0f} rows/s",
                flush=True,
            )
            last = now
    return t_store, t_raw


def bench_sqlite(args: argparse.Namespace, tmp: Path) -> list[tuple[Any, ...]]:
    n = args.n
    print(f"\n== SQLite: {n:,} assets, batches of {args.batch} ==", flush=True)
    home = tmp / "home"
    store_db, raw_db = tmp / "store.db", tmp / "raw.db"
    with (
        disgorge.open(home, catalog_url=f"sqlite:///{store_db}") as cat,
        disgorge.open(home, catalog_url=f"sqlite:///{raw_db}") as raw_cat,
    ):
        for c in (cat, raw_cat):
            c.add_source("bench", notice=b"notice", uses=["essential.service"], categories=list(CATEGORIES))
        src = raw_cat.store.get_source("bench")
        raw = SqliteRaw(raw_db)
        builder = RawBuilder(cat.store.hasher.subject, src.id, src.notice_id, sqlite_stamp)
        t_store, t_raw = run_side_by_side("sqlite", n, args.batch, args.seed, cat, raw.insert, builder)
        raw.close()
    shas = sample_shas(args.seed, n, args.batch, args.verify)
    snaps = []
    for db in (store_db, raw_db):
        conn = sqlite3.connect(db)
        snaps.append(snapshot(lambda q, p, conn=conn: conn.execute(q, p).fetchall(), shas, "?"))
        conn.close()
    same = snaps[0] == snaps[1]
    print(f"  content check: counts {snaps[0][0]} vs {snaps[1][0]}, {len(shas)} sampled rows equal: {same}")
    if not same:
        raise SystemExit("the two SQLite catalogs differ: the benchmark is not comparing like with like")
    size_mb = sum(p.stat().st_size for p in tmp.glob("store.db*")) / 1e6
    return [
        ("SQLite", "CatalogStore.register", n, t_store, n / t_store, (n / t_store) / (n / t_raw), size_mb),
        ("SQLite", "sqlite3 executemany (raw)", n, t_raw, n / t_raw, 1.0, None),
    ]


def bench_pg(args: argparse.Namespace, tmp: Path) -> list[tuple[Any, ...]]:
    n = args.pg_n
    print(f"\n== PostgreSQL: {n:,} assets, batches of {args.batch} ==", flush=True)
    with (
        _common.scratch_pg(args.pg_admin, "dg_bench_store") as store_url,
        _common.scratch_pg(args.pg_admin, "dg_bench_raw") as raw_url,
    ):
        home = tmp / "pghome"
        with (
            disgorge.open(home, catalog_url=store_url) as cat,
            disgorge.open(home, catalog_url=raw_url) as raw_cat,
        ):
            for c in (cat, raw_cat):
                c.add_source(
                    "bench", notice=b"notice", uses=["essential.service"], categories=list(CATEGORIES)
                )
            src = raw_cat.store.get_source("bench")
            raw = PgRaw(raw_url)
            builder = RawBuilder(cat.store.hasher.subject, src.id, src.notice_id, lambda d: d)
            t_store, t_raw = run_side_by_side(
                "postgresql", n, args.batch, args.seed, cat, raw.insert, builder
            )
            raw.finish()
            raw.close()
        import psycopg

        shas = sample_shas(args.seed, n, args.batch, args.verify)
        snaps = []
        for url in (store_url, raw_url):
            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
                snaps.append(
                    snapshot(
                        lambda q, p, conn=conn: conn.execute(q.replace("?", "%s"), p).fetchall(), shas, "%s"
                    )
                )
        same = snaps[0] == snaps[1]
        print(
            f"  content check: counts {snaps[0][0]} vs {snaps[1][0]}, {len(shas)} sampled rows equal: {same}"
        )
        if not same:
            raise SystemExit(
                "the two PostgreSQL catalogs differ: the benchmark is not comparing like with like"
            )
        with psycopg.connect(store_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            size_mb = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 1e6  # type: ignore[index]
    return [
        (
            "PostgreSQL",
            "CatalogStore.register",
            n,
            t_store,
            n / t_store,
            (n / t_store) / (n / t_raw),
            size_mb,
        ),
        ("PostgreSQL", "psycopg COPY (raw)", n, t_raw, n / t_raw, 1.0, None),
    ]


def sample_shas(seed: int, n: int, batch: int, k: int) -> list[str]:
    """sha256 values of k random assets, regenerated from the seed."""
    rng = random.Random(seed)
    out = []
    for i in sorted(rng.sample(range(n), min(k, n))):
        start = i - i % batch
        out.append(make_batch(seed, start, min(batch, n - start)).sha[i - start])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3_000_000, help="assets on SQLite")
    ap.add_argument("--pg-n", type=int, default=1_000_000, help="assets on PostgreSQL (see above)")
    ap.add_argument("--batch", type=int, default=500, help="records per register() call (ingest's BATCH)")
    ap.add_argument("--quick", action="store_true", help="100,000 assets per backend")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--pg-admin", default=_common.PG_ADMIN, help="server DSN; scratch databases go there")
    ap.add_argument("--verify", type=int, default=2000, help="assets compared column by column")
    ap.add_argument("--seed", type=int, default=2014)
    ap.add_argument(
        "--workdir", type=Path, default=None, help="where the SQLite files go (default: a temp dir)"
    )
    args = ap.parse_args()
    if args.quick:
        args.n = args.pg_n = 100_000
    print(f"# bench_catalog on {_common.machine()}")
    rows: list[tuple[Any, ...]] = []
    with tempfile.TemporaryDirectory(prefix="dg_bench_catalog_", dir=args.workdir) as d:
        tmp = Path(d)
        if not args.skip_sqlite:
            rows += bench_sqlite(args, tmp)
        if not args.skip_pg:
            if _common.pg_available(args.pg_admin):
                rows += bench_pg(args, tmp)
            else:
                print(f"PostgreSQL not reachable at {args.pg_admin}: skipped")
    print()
    print(
        _common.table(
            ["backend", "method", "assets", "time s", "assets/s", "vs raw", "catalog MB"],
            [
                (b, m, f"{n:,}", f"{t:.1f}", f"{r:,.0f}", f"{x:.2f}x", "" if mb is None else f"{mb:,.0f}")
                for b, m, n, t, r, x, mb in rows
            ],
            "llrrrrr",
        )
    )
    for b, m, _n, _t, _r, x, _mb in rows:
        if m == "CatalogStore.register":
            verdict = "met" if x >= 0.5 else "MISSED"
            print(f"{b}: register runs at {x:.0%} of the raw insert speed (target >= 50%): {verdict}")
    print(f"peak RSS {_common.rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
