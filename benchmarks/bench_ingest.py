"""Ingest throughput on generated photos: ``disgorge.ingest.ingest`` (sha256, PDQ of the image and of
its centre crops with JPEG draft decoding, atomic batches into a fresh SQLite catalog, both cores)
against a Pillow full-decode-only pass over the same files, in one process run (issue 2, "Performance").

The corpus: ``--files`` JPEGs drawn by ``disgorge.demo.corpus.face_image`` (quality 88, as the demo),
a share ``--share-12mp`` of them 4000x3000 (12 MP) and the rest 640x480 (0.3 MP), 20 per subject
folder, spread over ``--rounds`` parts. Every pass reads the files from a warm page cache (a read pass
runs first), so the passes compare CPU work, not the disk. The drawings are flat (drawn at 240x180 and
enlarged by pixel repetition since issue 9; the figures in docs/benchmarks.md before that used bicubic
enlargement from 480x360), so a 12 MP file is ~0.4 MB where a camera's is 3-6 MB: real photos cost more to entropy-
decode in every pass, and draft decoding saves relatively less on them.

Passes, each over every file:

* ``ingest``: the real pipeline (``Catalog.ingest``, ``workers`` = both cores), into one fresh catalog;
* ``ingest, tombstones``: the same into a second catalog where one photo was erased first, so the
  re-ingestion guard is active: each image is also hashed in its 8 dihedral forms and they are matched
  against the erased index (issue 10, item 8): what the guard costs;
* ``hash_one only``: ``disgorge.ingest.pipeline.hash_one`` (read, sha256, draft decode, PDQ and crop
  PDQs) in 2 processes, no catalog: what registration costs on top; and ``hash_one`` with the
  dihedral forms (as ingest hashes when the catalog has tombstones);
* Pillow full decode (``Image.open(p).load()``: decode only, no read into Python, no hashing) in one
  process and in 2 processes, with the same pool kind and chunk size as ingest.

The machine may be shared, so the passes are interleaved: each part of the corpus goes through every
pass in turn (the order rotating), and a pass's time is the sum over parts. Per size class, a
single-core sample also compares ``hash_one`` with a full decode, file by file.

    python benchmarks/bench_ingest.py                    # 10,000 files, 10% at 12 MP
    python benchmarks/bench_ingest.py --quick            # 1,000 files
    python benchmarks/bench_ingest.py --corpus /tmp/c    # keep (and reuse) the generated corpus
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

import _common
import disgorge
from disgorge.demo.corpus import face_image, hash_seed
from disgorge.ingest import IngestOptions
from disgorge.ingest.pipeline import hash_one

SMALL = (640, 480)
LARGE = (4000, 3000)
PER_SUBJECT = 20


def _write(spec: tuple[str, str, int, tuple[int, int]]) -> int:
    path, subject, seed, size = spec
    im = face_image(hash_seed(subject), seed, size)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "JPEG", quality=88)
    return os.path.getsize(path)


def plan(
    root: Path, n: int, share: float, rounds: int, seed: int
) -> list[tuple[str, str, int, tuple[int, int]]]:
    """(path, subject, seed, size) of every file; part k holds every rounds-th subject folder."""
    rng = random.Random(seed)
    large = set(rng.sample(range(n), round(n * share)))
    specs = []
    for i in range(n):
        subj = i // PER_SUBJECT
        path = root / f"part-{subj % rounds:02d}" / f"subject-{subj:05d}" / f"photo-{i % PER_SUBJECT:02d}.jpg"
        specs.append((str(path), f"subject-{subj:05d}", rng.getrandbits(48), LARGE if i in large else SMALL))
    return specs


def generate(
    root: Path, args: argparse.Namespace
) -> tuple[list[tuple[str, str, int, tuple[int, int]]], float]:
    """Write the corpus unless ``root`` already holds this exact one; return its specs and seconds spent."""
    specs = plan(root, args.files, args.share_12mp, args.rounds, args.seed)
    stamp = root / "corpus.json"
    want = {"files": args.files, "share": args.share_12mp, "rounds": args.rounds, "seed": args.seed}
    if stamp.exists() and json.loads(stamp.read_text()) == want and all(os.path.exists(s[0]) for s in specs):
        return specs, 0.0
    t = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        list(pool.map(_write, specs, chunksize=8))
    stamp.write_text(json.dumps(want))
    return specs, time.perf_counter() - t


def decode(path: str) -> int:
    """The baseline: a full decode of the image, nothing else."""
    with Image.open(path) as im:
        im.load()
        return im.width * im.height


def hash_task(path: str) -> Any:
    return hash_one((path, None, (), {}))


def hash_dihedral_task(path: str) -> Any:
    return hash_one((path, None, (), {}), dihedral=True)


def erased_home(home: Path, scratch: Path) -> disgorge.Catalog:
    """A catalog in which one generated photo was erased through the signed workflow (tombstones exist)."""
    from disgorge.trust import Identity

    ann, bea = Identity.generate("ann"), Identity.generate("bea")
    _write((str(scratch / "gone" / "p.jpg"), "gone", 1, SMALL))
    cat = disgorge.open(home, identity=ann)
    cat.init()
    cat.change_roster("roster.add", "bea", key=bea.public_key, roles=["approver"])
    cat.add_source("bench", notice=b"notice", uses=["essential.service"])
    cat.ingest(scratch / "gone", IngestOptions(source="bench", subject_from="parent-dir", workers=1))
    cat.add_storage_root(scratch / "gone")
    plan, _ = cat.erasures.plan(scope=("subject", "gone"), withdrawn=False, reason="bench", legal_basis="b")
    with disgorge.open(home, identity=bea) as theirs:
        theirs.erasures.approve(plan.id)
    if cat.erasures.run(plan.id, dry_run=False).status != "done" or not cat.store.has_tombstones():
        raise SystemExit("could not erase the photo that gives the second catalog its tombstones")
    return cat


def pool_pass(fn: Callable[[str], Any], paths: list[str], workers: int) -> float:
    t = time.perf_counter()
    if workers == 1:
        for p in paths:
            fn(p)
    else:
        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(fn, paths, chunksize=8):
                pass
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--share-12mp", type=float, default=0.10)
    ap.add_argument("--workers", type=int, default=2, help="processes for ingest and the 2-process passes")
    ap.add_argument("--rounds", type=int, default=10, help="corpus parts; every pass runs on each in turn")
    ap.add_argument("--sample", type=int, default=100, help="files per size class in the per-file comparison")
    ap.add_argument("--quick", action="store_true", help="1,000 files")
    ap.add_argument("--seed", type=int, default=2014)
    ap.add_argument("--corpus", type=Path, default=None, help="generate into (or reuse) this folder")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    if args.quick:
        args.files = 1000
    print(f"# bench_ingest on {_common.machine()}")
    with tempfile.TemporaryDirectory(prefix="dg_bench_ingest_", dir=args.workdir) as d:
        run(args, Path(d), args.corpus or Path(d) / "photos")


def run(args: argparse.Namespace, tmp: Path, corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    specs, el = generate(corpus, args)
    paths = [s[0] for s in specs]
    total = sum(os.path.getsize(p) for p in paths)
    n_large = sum(1 for s in specs if s[3] == LARGE)
    print(
        f"{'generated' if el else 'reused'} {len(paths):,} JPEGs ({n_large:,} at 12 MP, "
        f"{len(paths) - n_large:,} at 0.3 MP), {total / 1e6:,.0f} MB" + (f", in {el:.0f} s" if el else ""),
        flush=True,
    )
    _, el = _common.timed(lambda: [Path(p).read_bytes() for p in paths])
    print(f"warm read of every file: {el:.1f} s", flush=True)

    w = args.workers
    names = [
        f"disgorge ingest ({w} workers, catalog included)",
        f"disgorge ingest, tombstones ({w} workers, guard with dihedral forms)",
        f"disgorge hash_one only, {w} processes (no catalog)",
        f"disgorge hash_one + dihedral forms, {w} processes (no catalog)",
        f"Pillow full decode, {w} processes",
        "Pillow full decode, 1 process",
    ]
    times = dict.fromkeys(names, 0.0)
    registered = {0: 0, 1: 0}
    with disgorge.open(tmp / "home") as cat, erased_home(tmp / "home-erased", tmp) as guarded:
        cat.add_source("bench", notice=b"notice", uses=["essential.service"])
        opts = IngestOptions(source="bench", subject_from="parent-dir", workers=w)
        for k in range(args.rounds):
            part = corpus / f"part-{k:02d}"
            part_paths = [p for p in paths if p.startswith(str(part) + os.sep)]
            passes: list[Callable[[], Any]] = [
                lambda part=part: cat.ingest(part, opts),
                lambda part=part: guarded.ingest(part, opts),
                lambda pp=part_paths: pool_pass(hash_task, pp, w),
                lambda pp=part_paths: pool_pass(hash_dihedral_task, pp, w),
                lambda pp=part_paths: pool_pass(decode, pp, w),
                lambda pp=part_paths: pool_pass(decode, pp, 1),
            ]
            order = [(k + j) % len(passes) for j in range(len(passes))]
            for j in order:
                out, el = _common.timed(passes[j])
                times[names[j]] += el
                if j in registered:
                    if out.problems or out.new_assets != len(part_paths):
                        raise SystemExit(
                            f"ingest registered {out.new_assets} of {len(part_paths)}: {out.problems[:3]}"
                        )
                    registered[j] += out.new_assets
            print(
                f"  part {k + 1}/{args.rounds}: " + ", ".join(f"{times[n]:.1f}" for n in names) + " s so far",
                flush=True,
            )
    assert registered == {0: len(paths), 1: len(paths)}

    n = len(paths)
    ingest_s = times[names[0]]
    print()
    print(
        _common.table(
            ["pass", "time s", "files/s", "MB/s", "vs ingest (time / ingest time)"],
            [
                (name, f"{t:.1f}", f"{n / t:,.0f}", f"{total / 1e6 / t:,.1f}", f"{t / ingest_s:.2f}x")
                for name, t in times.items()
            ],
        )
    )

    rng = random.Random(args.seed)
    per_class = []
    for label, size in (("12 MP", LARGE), ("0.3 MP", SMALL)):
        sample = [s[0] for s in specs if s[3] == size]
        sample = rng.sample(sample, min(args.sample, len(sample)))
        if not sample:
            continue
        t_hash = t_dec = 0.0
        for p in sample:  # interleaved file by file
            t_hash += pool_pass(hash_task, [p], 1)
            t_dec += pool_pass(decode, [p], 1)
        mb = sum(os.path.getsize(p) for p in sample) / len(sample) / 1e6
        per_class.append(
            (
                label,
                f"{mb:.2f}",
                f"{t_hash / len(sample) * 1000:.1f}",
                f"{t_dec / len(sample) * 1000:.1f}",
                f"{t_dec / t_hash:.2f}x",
            )
        )
    print()
    print(
        _common.table(
            [
                "size class (1 core, per file)",
                "file MB",
                "hash_one ms",
                "full decode ms",
                "decode / hash_one",
            ],
            per_class,
        )
    )
    base = times[names[4]]
    verdict = "met" if ingest_s < base else "MISSED"
    print(
        f"ingest {n / ingest_s:,.0f} files/s vs full decode on {w} processes {n / base:,.0f} files/s: "
        f"ingest at {base / ingest_s:.2f}x the baseline's speed (target: faster, > 1): {verdict}; "
        f"peak RSS {_common.rss_mib():,.0f} MiB"
    )
    print(
        f"the re-ingestion guard's dihedral forms: ingest with tombstones takes "
        f"{times[names[1]] / ingest_s:.2f}x the time of ingest without; hash_one with the forms "
        f"{times[names[3]] / times[names[2]]:.2f}x hash_one without"
    )


if __name__ == "__main__":
    main()
