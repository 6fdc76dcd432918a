"""Exact unlearning with SISA: time to forget one subject against retraining from scratch, and the
aggregate's accuracy against a monolithic model, on scikit-learn's bundled digits (1,797 real 8x8
handwritten images, written as PNGs and ingested through the catalog; one subject per 4 images).

For S shards x R slices, each row: the ensemble's held-out accuracy; the wall time to forget one
subject (plan_forget + execute_forget: retraining, new datasets, checkpoints, runs, manifest and
aggregate recorded in the catalog; median over several subjects); and, measured in the same run,
a full retrain from scratch: the monolithic model (S = R = 1, same code path, same catalog work)
and the whole S x R ensemble. Epochs per slice are round(2E / (R + 1)), so every shard makes about
E passes over its data whatever R is (slice r trains on slices 0..r).

    python benchmarks/bench_unlearning.py [--quick] [--epochs E] [--forgets K]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import disgorge
from _common import machine, table
from disgorge.ingest import IngestOptions
from disgorge.unlearning import (
    Recipe,
    Ref,
    SisaConfig,
    SisaEnsemble,
    SisaTrainer,
    execute_forget,
    plan_forget,
)
from disgorge.unlearning.recipes import image_pixels

PER_SUBJECT = 4


def write_digits(root: Path, count: int) -> Path:
    digits = load_digits()
    root.mkdir(parents=True)
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "subject_id", "label"])
        for i in range(count):
            pixels = np.rint(digits.images[i] * (255 / 16)).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / f"{i:04d}.png")
            w.writerow([f"{i:04d}.png", f"writer-{i // PER_SUBJECT:04d}", int(digits.target[i])])
    return manifest


def recipe(hidden: int) -> Recipe:
    return Recipe(Ref("disgorge.unlearning.recipes:mlp", {"inputs": 64, "classes": 10, "hidden": [hidden]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="600 digits, S in {1, 5}, R in {1, 2}, few epochs")
    ap.add_argument("--epochs", type=int, default=None, help="E: passes over the data (default 30, quick 4)")
    ap.add_argument(
        "--forgets", type=int, default=None, help="subjects forgotten per configuration (default 3)"
    )
    ap.add_argument("--hidden", type=int, default=128)
    args = ap.parse_args()
    count = 600 if args.quick else 1797
    epochs = args.epochs or (4 if args.quick else 30)
    forgets = args.forgets or (1 if args.quick else 3)
    grid = [
        (s, r) for s in ((1, 5) if args.quick else (1, 5, 10, 20)) for r in ((1, 2) if args.quick else (1, 5))
    ]
    print(machine(), file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-unlearning-") as tmp:
        root = Path(tmp)
        manifest = write_digits(root / "digits", count)
        labels = load_digits().target[:count]
        train_idx, test_idx = train_test_split(
            np.arange(count), test_size=0.2, random_state=0, stratify=labels
        )
        with disgorge.open(root / "home") as cat:
            cat.add_source(
                "digits",
                notice=b"handwriting to train recognisers",
                uses=["train_ai_system"],
                recipients=["lab"],
            )
            cat.ingest(root / "digits", IngestOptions(source="digits", manifest=manifest, workers=1))
            keep = root / "train.txt"
            keep.write_text("\n".join(str(root / "digits" / f"{i:04d}.png") for i in sorted(train_idx)))
            cat.create_dataset("digits-train", manifest=keep)
            xs, ys = zip(
                *(
                    image_pixels((root / "digits" / f"{i:04d}.png").read_bytes(), {"label": int(labels[i])})
                    for i in test_idx
                ),
                strict=True,
            )
            import torch

            x_test, y_test = torch.stack(list(xs)), torch.stack(list(ys))
            train_subjects = sorted({int(i) // PER_SUBJECT for i in train_idx})
            rng = np.random.default_rng(7)
            from disgorge.unlearning.determinism import deterministic

            with deterministic(1):  # the first call loads torch's compiler stack (~3 s): not a training cost
                pass
            rows = []
            for shards, slices in grid:
                e_slice = max(1, round(2 * epochs / (slices + 1)))
                name = f"s{shards}r{slices}"
                trainer = SisaTrainer(
                    cat,
                    "digits-train",
                    name=name,
                    recipe=recipe(args.hidden),
                    config=SisaConfig(shards=shards, slices=slices, seed=1, epochs=e_slice),
                    party="lab",
                )
                t0 = time.perf_counter()
                ens = trainer.train()
                train_s = time.perf_counter() - t0
                acc = float((SisaEnsemble.load(cat, ens.model).predict(x_test) == y_test).float().mean())
                model = ens.model
                forget_s, compute_s, touched = [], [], []
                for subj in rng.choice(train_subjects, size=forgets, replace=False):
                    ids = _subject_ids(cat, f"writer-{int(subj):04d}")
                    t0 = time.perf_counter()
                    plan = plan_forget(cat, model, ids)
                    result = execute_forget(cat, plan)
                    forget_s.append(time.perf_counter() - t0)
                    by = {sh.shard: sh for sh in result.manifest.shards}
                    compute_s.append(
                        sum(by[s.shard].slices[r].seconds for s in plan.shards for r in s.slices)
                    )
                    touched.append(plan.cost["slices"])
                    model = result.model
                rows.append(
                    {
                        "S": shards,
                        "R": slices,
                        "epochs/slice": e_slice,
                        "accuracy": acc,
                        "train_s": train_s,
                        "forget_s": statistics.median(forget_s),
                        "forget_all": forget_s,
                        "forget_train_s": statistics.median(compute_s),
                        "slices": statistics.median(touched),
                    }
                )
                print(
                    f"S={shards} R={slices}: acc {acc:.4f}, train {train_s:.2f} s, forget {rows[-1]['forget_s']:.3f} s",
                    file=sys.stderr,
                )
            mono = next(r for r in rows if r["S"] == 1 and r["R"] == 1)
            # at S = R = 1 a forget is a from-scratch retrain of the monolithic model on the remaining data,
            # with the same catalog work: that is the baseline, measured in this run
            mono_s = statistics.median([mono["train_s"], *mono["forget_all"]])
            out = []
            for r in rows:
                out.append(
                    [
                        r["S"],
                        r["R"],
                        r["epochs/slice"],
                        f"{100 * r['accuracy']:.1f}",
                        f"{100 * (r['accuracy'] - mono['accuracy']):+.1f}",
                        f"{r['forget_s']:.3f}",
                        f"{r['forget_train_s']:.3f}",
                        f"{r['slices']:.0f}",
                        f"{mono_s:.2f}",
                        f"{r['train_s']:.2f}",
                        f"{mono_s / r['forget_s']:.1f}x",
                        f"{r['train_s'] / r['forget_s']:.1f}x",
                    ]
                )
            print(
                table(
                    [
                        "S",
                        "R",
                        "epochs/slice",
                        "accuracy %",
                        "vs monolithic (points)",
                        "forget one subject (s)",
                        "of which training (s)",
                        "slices retrained",
                        "monolithic retrain (s)",
                        "full S x R retrain (s)",
                        "speed-up vs monolithic",
                        "speed-up vs full ensemble",
                    ],
                    out,
                )
            )
            print(
                f"\n{count} digits ({len(train_idx)} train, {len(test_idx)} held out), E = {epochs}, MLP 64-{args.hidden}-10, Adam 0.01, batch 32, 1 thread"
            )


def _subject_ids(cat: disgorge.Catalog, subject: str) -> list[int]:
    from sqlalchemy import select

    from disgorge.catalog.schema import Asset

    sid = cat.store.subject_id(subject)
    with cat.store.session() as s:
        return sorted(s.scalars(select(Asset.id).where(Asset.subject_id == sid)))


if __name__ == "__main__":
    main()
