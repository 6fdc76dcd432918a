"""Batching erasures of one SISA ensemble (issue 14, item 4): K subjects forgotten in one retrain (what
the erasure executor does for K approved plans that chose to retrain the same model) against K retrains
one after another (each plan on its own, each on the generation the previous one made), on scikit-learn's
bundled digits ingested as PNGs. Both sides run the same code (plan_forget + execute_forget, catalog
records included); the ratio printed is sequential / batched wall time, with the shard-slices each
retrained. Subjects are drawn at random, so two of them may share a shard: that is where batching saves.

    python benchmarks/bench_retrain_batching.py [--quick] [--subjects K]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import disgorge
from _common import machine, table
from bench_unlearning import PER_SUBJECT, recipe, write_digits
from disgorge.ingest import IngestOptions
from disgorge.unlearning import SisaConfig, SisaTrainer, execute_forget, plan_forget


def _ids(cat: disgorge.Catalog, subject: str) -> list[int]:
    from sqlalchemy import select

    from disgorge.catalog.schema import Asset

    sid = cat.store.subject_id(subject)
    with cat.store.session() as s:
        return sorted(s.scalars(select(Asset.id).where(Asset.subject_id == sid)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="600 digits, S=5, R=2, 4 subjects")
    ap.add_argument("--subjects", type=int, default=None)
    args = ap.parse_args()
    count, shards, slices, k = (600, 5, 2, 4) if args.quick else (1797, 20, 5, 8)
    k = args.subjects or k
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = write_digits(root / "digits", count)
        with disgorge.open(root / "home") as cat:
            cat.add_source("digits", notice=b"digits", uses=["train_ai_system"], recipients=["lab"])
            cat.ingest(root / "digits", IngestOptions(source="digits", manifest=manifest, workers=1))
            cat.create_dataset("digits", source="digits")
            subjects = random.Random(7).sample(range(count // PER_SUBJECT), k)
            ids = [_ids(cat, f"writer-{s:04d}") for s in subjects]
            for side in ("batched", "sequential"):
                name = f"bench-{side}"
                SisaTrainer(
                    cat,
                    "digits",
                    name=name,
                    recipe=recipe("mlp"),
                    config=SisaConfig(shards=shards, slices=slices, seed=1, epochs=4),
                    party="lab",
                ).train()
                t0 = time.perf_counter()
                retrained = 0
                if side == "batched":
                    plan = plan_forget(cat, name, [i for group in ids for i in group])
                    retrained = plan.cost["slices"]
                    execute_forget(cat, plan)
                else:
                    model = name
                    for group in ids:
                        plan = plan_forget(cat, model, group)
                        retrained += plan.cost["slices"]
                        model = execute_forget(cat, plan).model
                rows.append((side, k, retrained, time.perf_counter() - t0))
    print(f"machine: {machine()} (shared with other agents' work: absolute times are noisy)")
    print(f"{count} digits, S={shards}, R={slices}, {k} subjects forgotten")
    print(
        table(
            ["side", "subjects", "shard-slices retrained", "wall s"],
            [(s, str(n), str(r), f"{w:.2f}") for s, n, r, w in rows],
        )
    )
    print(f"sequential / batched: {rows[1][3] / rows[0][3]:.2f}x wall, {rows[1][2] / rows[0][2]:.2f}x slices")


if __name__ == "__main__":
    main()
