"""The dashboard's pages at catalog scale (issue 13, "Performance"): each page's response time p95
through a real ``disgorge serve``, and the impact explorer's first paint in Debian's Chromium.

The catalog is bulk-loaded by ``bench_impact.load_catalog`` and ``load_lineage`` (assets, subjects,
dataset bitmaps, fine-tune chains of models, deployments), then claimed by an admin who holds an API
token; the browser signs in with it. Each page is fetched ``--reps`` times after one warm-up over
loopback with the session cookie (the time includes HTTP on loopback: it bounds the server's time from
above). The baseline, side by side: the REST API's ``/api/v1/impact`` of the same scope, which returns
the whole downstream closure in one body (what explorers that draw everything at once fetch).

    python benchmarks/bench_dashboard.py            # 3M assets, 100k subjects, 1,000 datasets, 10,000 models
    python benchmarks/bench_dashboard.py --quick    # 30k assets, 1k subjects, 20 datasets, 1,000 models
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

import _common
import bench_impact
import disgorge
from disgorge.access.tokens import TokenService
from disgorge.trust import Identity

ROOT = Path(__file__).resolve().parents[1]
DISGORGE = Path(sys.executable).parent / "disgorge"
CHROMIUM = os.environ.get("DISGORGE_CHROMIUM", "/usr/bin/chromium")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(args: argparse.Namespace, tmp: Path) -> tuple[Path, str, str]:
    home, db = tmp / "home", tmp / "catalog.db"
    url = f"sqlite:///{db}"
    admin = Identity.generate("ann")
    with disgorge.open(home, catalog_url=url, identity=admin) as cat:
        cat.init()
        src, _ = cat.add_source(
            "main", notice=b"2014 notice", uses=["essential.service"], categories=bench_impact.CATEGORIES
        )
        hasher = cat.store.hasher
    t = time.perf_counter()
    corpus = bench_impact.load_catalog(args, db, hasher, src.id, src.notice_id)
    print(f"  loaded the catalog in {time.perf_counter() - t:.1f} s ({db.stat().st_size / 1e6:,.0f} MB)")
    with disgorge.open(home, catalog_url=url, identity=admin) as cat:
        cat.proofs.checkpoint()
        _, token = TokenService(cat.store).issue(cat.principal, "bench")
    del corpus
    return home, url, token


def serve(home: Path, url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "DISGORGE_HOME": str(home), "DISGORGE_CATALOG": url}
    proc = subprocess.Popen(
        [str(DISGORGE), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(base + "/healthz", timeout=1).raise_for_status()
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("disgorge serve did not start")


def sign_in(base: str, token: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=120)
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/signin").text)
    assert csrf is not None
    r = c.post("/signin", data={"csrf": csrf.group(1), "token": token})
    assert r.status_code == 303, r.text
    return c


def timings(
    c: httpx.Client, path: str, reps: int, headers: dict[str, str] | None = None
) -> tuple[list[float], int, float]:
    """``reps`` timed requests after a first one (whose time is returned too: it fills the caches)."""
    t = time.perf_counter()
    r = c.get(path, headers=headers)
    first = (time.perf_counter() - t) * 1000
    assert r.status_code == 200, (path, r.status_code, r.text[:500])
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        r = c.get(path, headers=headers)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    return out, len(r.content), first


def first_paint(base: str, token: str, path: str, reps: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_context().new_page()
        page.goto(base + "/signin")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        for _ in range(reps + 1):
            page.goto(base + path)
            fcp = page.evaluate(
                "() => new Promise(r => { const f = () => { const e = performance.getEntriesByName"
                "('first-contentful-paint')[0]; e ? r(e.startTime) : setTimeout(f, 20); }; f(); })"
            )
            out.append(float(fcp))
        browser.close()
    return out[1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=3_000_000)
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--datasets", type=int, default=1000)
    ap.add_argument("--min-members", type=int, default=10_000)
    ap.add_argument("--max-members", type=int, default=1_000_000)
    ap.add_argument("--asset-level", type=float, default=0.3)
    ap.add_argument("--chains", type=int, default=1000)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--root-inputs", type=int, default=3)
    ap.add_argument("--ft-data", type=float, default=0.2)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--paints", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=2014)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    if args.quick:
        args.assets, args.subjects, args.datasets = 30_000, 1_000, 20
        args.min_members, args.max_members, args.chains, args.reps = 1_000, 20_000, 100, 10
    args.skip_naive = True
    print(f"# bench_dashboard on {_common.machine()}")
    print(
        f"# {args.assets:,} assets, {args.subjects:,} subjects, {args.datasets:,} datasets, "
        f"{args.chains * args.depth:,} models; {args.reps} timed requests per page",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="dg_bench_dashboard_", dir=args.workdir) as d:
        home, url, token = build(args, Path(d))
        proc, base = serve(home, url)
        try:
            run(args, base, token)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def run(args: argparse.Namespace, base: str, token: str) -> None:
    c = sign_in(base, token)
    tip = f"model-chain-0000-ft{args.depth - 1}"
    root = "model-chain-0000-ft0"
    pages = [
        ("overview", "/"),
        ("impact: form", "/impact"),
        ("impact: source (all assets)", "/impact?kind=source&value=main"),
        ("impact: subject", "/impact?kind=subject&value=subject-000123"),
        ("impact: dataset", "/impact?kind=dataset&value=ds-0000@1"),
        ("impact: next hop of a dataset", "/impact/hop?node=dataset:1"),
        ("impact: next hop of a run", "/impact/hop?node=run:1"),
        ("impact: a fine-tuned model", f"/impact?kind=model&value={tip}"),
        ("impact: a root model's downstream", f"/impact?kind=model&value={root}"),
        ("bill of materials (on demand)", f"/impact/bom?fragment=true&model={tip}"),
        ("erasures", "/erasures"),
        ("ledger and audit", "/ledger"),
        ("lookup (public)", "/lookup"),
    ]
    rows = []
    budget_ok = True
    for label, path in pages:
        ms, size, first = timings(c, path, args.reps)
        p95 = _common.pct(ms, 95)
        budget_ok &= p95 <= 200
        rows.append(
            [
                label,
                f"{first:,.1f}",
                f"{_common.median(ms):,.1f}",
                f"{p95:,.1f}",
                f"{size / 1024:,.1f}",
                "yes" if p95 <= 200 else "NO",
            ]
        )
    print(_common.table(["page", "first ms", "median ms", "p95 ms", "KiB", "≤ 200 ms p95"], rows, "lrrrrl"))

    api = httpx.Client(base_url=base, timeout=300, headers={"Authorization": f"Bearer {token}"})
    rows = []
    for label, page, rest in [
        ("source", "/impact?kind=source&value=main", "/api/v1/impact?kind=source&value=main"),
        (
            "subject",
            "/impact?kind=subject&value=subject-000123",
            "/api/v1/impact?kind=subject&value=subject-000123",
        ),
    ]:
        ms_page, size_page, _ = timings(c, page, args.reps)
        ms_api, size_api, _ = timings(api, rest, args.reps)
        rows.append(
            [
                label,
                f"{_common.pct(ms_page, 95):,.1f}",
                f"{size_page / 1024:,.1f}",
                f"{_common.pct(ms_api, 95):,.1f}",
                f"{size_api / 1024:,.1f}",
                f"{_common.pct(ms_api, 95) / _common.pct(ms_page, 95):.2f}x",
            ]
        )
    print("\nbaseline: the whole closure in one body (REST /api/v1/impact), same scope")
    print(
        _common.table(
            ["scope", "explorer p95 ms", "KiB", "whole closure p95 ms", "KiB", "closure/explorer"],
            rows,
            "lrrrrr",
        )
    )

    paints = first_paint(base, token, "/impact?kind=source&value=main", args.paints)
    worst = max(paints)
    print(
        f"\nimpact explorer first contentful paint in Chromium (source scope, {args.paints} loads): "
        f"median {_common.median(paints):,.0f} ms, max {worst:,.0f} ms ({'≤' if worst <= 1000 else '>'} 1 s)"
    )
    print(f"budget: every page ≤ 200 ms p95: {'met' if budget_ok else 'NOT met'}")


if __name__ == "__main__":
    main()
