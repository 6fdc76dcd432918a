"""Exact Hamming range search at PDQ scale: disgorge.neardup against faiss-cpu, in one process run.

Measures (issue 4, "Performance"):
  1. build time and queries/s at r = 31 on N random 256-bit codes, for ``HammingIndex``, faiss
     ``IndexBinaryMultiHash(256, 11, 23)`` with nflip = 2 and faiss ``IndexBinaryFlat``; each checked
     for recall 1.0 (and nothing beyond r) against brute force on a sample of queries;
  2. the brute-force limit: 256-bit comparisons per second of a popcount kernel (numpy, faiss's
     ``hamming_count_thres``, and a C kernel compiled here with -march=native if gcc exists);
  3. a batch join: J query codes against the N indexed codes, total time against that limit.

Queries are near copies of stored codes (0..31 random bit flips), so every query has answers and
recall is not trivially 1.0. faiss keeps ``dis < r`` in range_search, so it is passed r + 1.

    python benchmarks/bench_neardup.py                       # full size: N = 10M, join 3M x 10M
    python benchmarks/bench_neardup.py --n 1000000 --join 300000 --skip-faiss-mh
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from disgorge.neardup import HammingIndex
from disgorge.neardup._codes import brute_range

Codes = npt.NDArray[np.uint64]
Pairs = set[tuple[int, int]]

C_KERNEL = r"""
#include <stdint.h>
#include <stddef.h>
/* Pairs within r between nq queries and n codes (both uint64[.,4]); codes are transposed per chunk
   so the inner loop over codes vectorises (vpopcntq with AVX-512 VPOPCNTDQ). */
size_t count_within(const uint64_t *q, size_t nq, const uint64_t *c, size_t n, int r) {
    enum { CH = 2048 };
    static __thread uint64_t t0[CH], t1[CH], t2[CH], t3[CH];
    size_t hits = 0;
    for (size_t j0 = 0; j0 < n; j0 += CH) {
        size_t m = n - j0 < CH ? n - j0 : CH;
        for (size_t j = 0; j < m; j++) {
            const uint64_t *b = c + 4 * (j0 + j);
            t0[j] = b[0]; t1[j] = b[1]; t2[j] = b[2]; t3[j] = b[3];
        }
        for (size_t i = 0; i < nq; i++) {
            const uint64_t a0 = q[4*i], a1 = q[4*i+1], a2 = q[4*i+2], a3 = q[4*i+3];
            size_t h = 0;
            for (size_t j = 0; j < m; j++) {
                int d = __builtin_popcountll(a0 ^ t0[j]) + __builtin_popcountll(a1 ^ t1[j])
                      + __builtin_popcountll(a2 ^ t2[j]) + __builtin_popcountll(a3 ^ t3[j]);
                h += d <= r;
            }
            hits += h;
        }
    }
    return hits;
}
"""


def random_codes(rng: np.random.Generator, n: int) -> Codes:
    return rng.integers(0, np.iinfo(np.uint64).max, size=(n, 4), dtype=np.uint64, endpoint=True)


def near_copies(rng: np.random.Generator, base: Codes, max_flips: int = 31) -> Codes:
    """Flip up to ``max_flips`` random bits of each row (k uniform in 0..max_flips; a repeated
    position flips back, so the distance is at most k)."""
    out = base.copy()
    k = rng.integers(0, max_flips + 1, size=base.shape[0])
    rows = np.arange(base.shape[0])
    for j in range(max_flips):
        sel = rows[k > j]
        bit = rng.integers(0, 256, size=sel.shape[0])
        out[sel, bit // 64] ^= np.left_shift(np.uint64(1), (bit % 64).astype(np.uint64))
    return out


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def load() -> str:
    """1-minute load average: above the thread count means another process shared the cores."""
    return f"load {os.getloadavg()[0]:.1f}"


def brute_pairs(queries: Codes, codes: Codes, radius: int, threads: int) -> Pairs:
    """Ground truth: every (query, row) within radius, by the exact numpy popcount kernel."""
    chunks = np.array_split(np.arange(codes.shape[0]), threads * 4)

    def run(rows: npt.NDArray[np.intp]) -> Pairs:
        qi, ri, _ = brute_range(queries, codes[rows[0] : rows[-1] + 1], radius)
        return set(zip(qi.tolist(), (ri + rows[0]).tolist(), strict=True))

    with ThreadPoolExecutor(threads) as pool:
        return set().union(*pool.map(run, chunks))


def check(name: str, got: Pairs, truth: Pairs) -> str:
    missing, extra = len(truth - got), len(got - truth)
    recall = 1.0 if not truth else (len(truth) - missing) / len(truth)
    print(f"  {name}: recall {recall:.4f} on {len(truth)} true pairs, {extra} beyond radius ({load()})")
    return f"{recall:.4f}" + ("" if not extra else f" (+{extra} wrong)")


def faiss_pairs(lims: Any, ids: Any, nq: int) -> Pairs:
    out: Pairs = set()
    for q in range(nq):
        out.update((q, int(i)) for i in ids[lims[q] : lims[q + 1]])
    return out


def compile_kernel(workdir: Path) -> Any | None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    src, lib = workdir / "popcount.c", workdir / "popcount.so"
    src.write_text(C_KERNEL)
    cmd = [cc, "-O3", "-march=native", "-shared", "-fPIC", "-o", str(lib), str(src)]
    if subprocess.run(cmd, capture_output=True, check=False).returncode != 0:
        return None
    dll = ctypes.CDLL(str(lib))
    dll.count_within.restype = ctypes.c_size_t
    p = ctypes.POINTER(ctypes.c_uint64)
    dll.count_within.argtypes = [p, ctypes.c_size_t, p, ctypes.c_size_t, ctypes.c_int]
    return dll


def kernel_rates(codes: Codes, queries: Codes, threads: int, radius: int) -> dict[str, float]:
    """256-bit comparisons per second, all threads, for each available popcount kernel."""
    rates: dict[str, float] = {}
    n = min(codes.shape[0], 2_000_000)
    parts = np.array_split(np.arange(n), threads)
    q = np.ascontiguousarray(queries[:256])

    def parallel(fn: Callable[[npt.NDArray[np.intp]], Any], nq: int) -> float:
        with ThreadPoolExecutor(threads) as pool:
            _, el = timed(lambda: list(pool.map(fn, parts)))
        return nq * n / el

    rates["numpy (bitwise_count, blocked)"] = parallel(
        lambda rows: brute_range(q[:64], codes[rows[0] : rows[-1] + 1], radius), 64
    )
    try:
        import faiss

        qb, cb = q.view(np.uint8), codes.view(np.uint8)
        nptr = faiss.swig_ptr(np.zeros(1, dtype=np.uint64))

        def fa(rows: npt.NDArray[np.intp]) -> Any:
            sub = np.ascontiguousarray(cb[rows[0] : rows[-1] + 1])
            return faiss.hamming_count_thres(
                faiss.swig_ptr(qb), faiss.swig_ptr(sub), 64, sub.shape[0], radius, 32, nptr
            )

        rates["faiss hamming_count_thres"] = parallel(fa, 64)
    except ImportError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        dll = compile_kernel(Path(tmp))
        if dll is not None:
            ptr = ctypes.POINTER(ctypes.c_uint64)
            qp = q.ctypes.data_as(ptr)

            def ck(rows: npt.NDArray[np.intp]) -> Any:
                sub = codes[rows[0] : rows[-1] + 1]
                return dll.count_within(qp, q.shape[0], sub.ctypes.data_as(ptr), sub.shape[0], radius)

            rates["C -O3 -march=native (vpopcntq)"] = parallel(ck, 256)
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000, help="indexed codes")
    ap.add_argument("--queries", type=int, default=20_000, help="range-search queries for HammingIndex")
    ap.add_argument("--faiss-queries", type=int, default=2_000, help="queries for IndexBinaryMultiHash")
    ap.add_argument("--flat-queries", type=int, default=500, help="queries for IndexBinaryFlat")
    ap.add_argument("--join", type=int, default=3_000_000, help="join queries (erased codes); 0 skips")
    ap.add_argument("--join-planted", type=float, default=0.1, help="fraction of join queries with copies")
    ap.add_argument("--radius", type=int, default=31)
    ap.add_argument("--sample", type=int, default=100, help="queries checked against brute force")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=20140)
    ap.add_argument("--skip-faiss-mh", action="store_true", help="skip the ~200 s MultiHash build")
    ap.add_argument("--save-dir", type=Path, default=None, help="also time save() and open() here")
    args = ap.parse_args()
    r, threads = args.radius, args.threads
    print(
        f"# bench_neardup: n={args.n:,} r={r} threads={threads} python {platform.python_version()}"
        f" numpy {np.__version__} cpus {os.cpu_count()}"
    )
    rng = np.random.default_rng(args.seed)
    codes, el = timed(lambda: random_codes(rng, args.n))
    nq = max(args.queries, args.faiss_queries, args.flat_queries, args.sample)
    queries = near_copies(rng, codes[rng.integers(0, args.n, nq)])
    print(f"generated {args.n:,} codes and {nq:,} queries in {el:.1f} s")
    sample = queries[: args.sample]
    truth, el = timed(lambda: brute_pairs(sample, codes, r, threads))
    print(f"brute-force truth for {args.sample} queries: {len(truth)} pairs in {el:.1f} s")
    rows: list[tuple[str, float, float, int, str]] = []

    index = HammingIndex(threads=threads)
    ids = np.arange(args.n, dtype=np.int64)
    _, build = timed(lambda: (index.add(ids, codes), index.range_search(codes[:1], r)))
    index.range_search(queries[:2048], r)  # warm page cache and code paths
    res, el = timed(lambda: index.range_search(queries[: args.queries], r))
    got = index.range_search(sample, r)
    rec = check("HammingIndex", set(zip(got.query.tolist(), got.id.tolist(), strict=True)), truth)
    rows.append(
        (
            "disgorge HammingIndex (" + index.stats()["segments"][0]["layout"] + ")",
            build,
            args.queries / el,
            args.queries,
            rec,
        )
    )
    print(f"  {len(res):,} matches for {args.queries:,} queries")
    one = HammingIndex(threads=1)
    one._segments = index._segments  # same tables, one worker: the per-core rate
    _, el1 = timed(lambda: one.range_search(queries[: args.queries], r))
    rows.append(("disgorge HammingIndex, 1 thread", build, args.queries / el1, args.queries, rec))
    lat = []
    for i in range(200):
        _, t1 = timed(lambda i=i: index.range_search(queries[i], r))
        lat.append(t1)
    print(
        f"  single-query latency: median {np.median(lat) * 1e3:.2f} ms, p99 {np.quantile(lat, 0.99) * 1e3:.2f} ms"
    )
    if args.save_dir is not None:
        args.save_dir.mkdir(parents=True, exist_ok=True)
        d = Path(tempfile.mkdtemp(dir=args.save_dir))
        idx2 = HammingIndex.open(d, threads=threads)
        idx2.add(ids, codes)
        _, el_s = timed(idx2.save)
        reopened, el_o = timed(lambda: HammingIndex.open(d, threads=threads))
        _, el_q = timed(lambda: reopened.range_search(queries[: args.queries], r))
        print(
            f"save (build + write + fsync) {el_s:.1f} s, open {el_o * 1000:.0f} ms, "
            f"queries/s after reopen {args.queries / el_q:,.0f}"
        )
        del idx2, reopened
        shutil.rmtree(d)

    try:
        import faiss
    except ImportError:
        faiss = None
        print("faiss not installed: skipping faiss rows")
    cb = codes.view(np.uint8)
    if faiss is not None:
        faiss.omp_set_num_threads(threads)
        if not args.skip_faiss_mh:
            mh = faiss.IndexBinaryMultiHash(256, 11, 23)
            mh.nflip = 2
            _, build_mh = timed(lambda: mh.add(cb))
            qn = args.faiss_queries
            (_lims, _d, _i), el = timed(lambda: mh.range_search(queries[:qn].view(np.uint8), r + 1))
            lims, _, fi = mh.range_search(sample.view(np.uint8), r + 1)
            rec = check("faiss MultiHash", faiss_pairs(lims, fi, args.sample), truth)
            rows.append(("faiss IndexBinaryMultiHash(256,11,23) nflip=2", build_mh, qn / el, qn, rec))
            del mh, _lims, _d, _i
            gc.collect()
        flat = faiss.IndexBinaryFlat(256)
        _, build_flat = timed(lambda: flat.add(cb))
        qn = args.flat_queries
        _, el = timed(lambda: flat.range_search(queries[:qn].view(np.uint8), r + 1))
        lims, _, fi = flat.range_search(sample.view(np.uint8), r + 1)
        rec = check("faiss Flat", faiss_pairs(lims, fi, args.sample), truth)
        rows.append(("faiss IndexBinaryFlat", build_flat, qn / el, qn, rec))
        del flat

    print("\nkernel throughput (256-bit comparisons/s, all threads):")
    rates = kernel_rates(codes, queries, threads, r)
    for k, v in rates.items():
        print(f"  {k:34s} {v:.3e}  ({v / threads:.2e} per core)")
    limit_name, limit = max(rates.items(), key=lambda kv: kv[1])

    base = rows[0][2]
    print(
        f"\n| index (n = {args.n:,}, r = {r}, {threads} threads) | build s | queries/s | queries | "
        "vs HammingIndex | recall |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, b, qps, qn, rec in rows:
        print(f"| {name} | {b:.1f} | {qps:,.0f} | {qn:,} | {qps / base:.3f}x | {rec} |")

    if args.join:
        nj = args.join
        planted = int(nj * args.join_planted)
        jq = np.concatenate(
            [near_copies(rng, codes[rng.integers(0, args.n, planted)]), random_codes(rng, nj - planted)]
        )
        res, el = timed(lambda: index.join(jq, r))
        jt = brute_pairs(jq[: args.sample], codes, r, threads)
        head = res.query < args.sample
        rec = check("join", set(zip(res.query[head].tolist(), res.id[head].tolist(), strict=True)), jt)
        comps = float(nj) * args.n
        print(f"\n| batch join: {nj:,} x {args.n:,} codes, r = {r} | value |\n|---|---:|")
        print(f"| HammingIndex.join time | {el:,.1f} s ({nj / el:,.0f} queries/s) |")
        print(f"| matches | {len(res):,} (planted {planted:,}) |")
        print(f"| recall on {args.sample} sampled queries | {rec} |")
        print(f"| comparisons for brute force | {comps:.2e} |")
        print(f"| brute-force limit ({limit_name}, {limit:.2e}/s) | {comps / limit:,.0f} s |")
        print(f"| join speed-up over the brute-force limit | {comps / limit / el:.1f}x |")
        ref = 4.5e9 * threads
        print(
            f"| brute-force limit at 4.5e9/s per core (issue's figure) | {comps / ref:,.0f} s "
            f"({comps / ref / el:.1f}x) |"
        )


if __name__ == "__main__":
    main()
