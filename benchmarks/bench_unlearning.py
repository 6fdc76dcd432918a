"""Exact unlearning with SISA: time to forget one subject against retraining from scratch, and the
aggregate's accuracy against a monolithic model, on scikit-learn's bundled digits (1,797 real 8x8
handwritten images, written as PNGs and ingested through the catalog; one subject per 4 images).

For S shards x R slices, each row: the ensemble's held-out accuracy; the wall time to forget one
subject (plan_forget + execute_forget: retraining, new datasets, checkpoints, runs, manifest and
aggregate recorded in the catalog; median over several subjects) and the training part of it; and,
measured in the same run, a full retrain from scratch: the monolithic model (S = R = 1, same recipe,
same code path, same catalog work) and the whole S x R ensemble. Epochs per slice are
round(2E / (R + 1)), so every shard makes about E passes over its data whatever R is.

Recipes: ``cnn`` (default) a small CNN, each image seen with its four 1-pixel shifts (computed while
training, from the real images; nothing derived is stored); ``mlp`` the MLP 64-128-10 on the pixels.
Both the ensembles and the monolithic baseline use the same recipe, E and batch size. ``--splits K``
repeats the accuracy comparison (monolithic vs S = 20) on K train/held-out splits, since 360 held-out
digits move a gap by a point from one split to the next.

    python benchmarks/bench_unlearning.py [--quick] [--recipe cnn|mlp] [--epochs E] [--forgets K] [--splits K]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
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
RECIPES = {
    "cnn": "CNN conv3x3(16)-maxpool-64-10, each image with its 4 one-pixel shifts, fused Adam",
    "mlp": "MLP 64-128-10 on the pixels",
}


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


def recipe(kind: str, lr: float = 0.01) -> Recipe:
    if kind == "mlp":  # as measured in phase 1
        model = Ref("disgorge.unlearning.recipes:mlp", {"inputs": 64, "classes": 10, "hidden": [128]})
        return Recipe(model, Ref("disgorge.unlearning.recipes:adam", {"lr": lr}))
    optimizer = Ref("disgorge.unlearning.recipes:adam", {"lr": lr, "fused": True})
    model = Ref(
        "disgorge.unlearning.recipes:cnn", {"size": [8, 8], "classes": 10, "channels": [16], "hidden": 64}
    )
    return Recipe(model, optimizer, features=Ref("disgorge.unlearning.recipes:shifted_pixels"))


class Bench:
    def __init__(self, cat: disgorge.Catalog, root: Path, count: int, kind: str, epochs: int) -> None:
        self.cat, self.root, self.count, self.kind, self.epochs = cat, root, count, kind, epochs
        self.labels = load_digits().target[:count]

    def split(self, k: int) -> tuple[str, torch.Tensor, torch.Tensor, list[int]]:
        """Dataset ``digits-train-K`` (80 %, stratified) and the held-out 20 % as tensors."""
        train_idx, test_idx = train_test_split(
            np.arange(self.count), test_size=0.2, random_state=k, stratify=self.labels
        )
        keep = self.root / f"train-{k}.txt"
        keep.write_text("\n".join(str(self.root / "digits" / f"{i:04d}.png") for i in sorted(train_idx)))
        ds, _ = self.cat.create_dataset(f"digits-train-{k}", manifest=keep)
        xs, ys = zip(
            *(
                image_pixels(
                    (self.root / "digits" / f"{i:04d}.png").read_bytes(), {"label": int(self.labels[i])}
                )
                for i in test_idx
            ),
            strict=True,
        )
        return (
            ds.ref,
            torch.stack(list(xs)),
            torch.stack(list(ys)),
            sorted({int(i) // PER_SUBJECT for i in train_idx}),
        )

    def train(
        self, dataset: str, name: str, shards: int, slices: int, lr: float = 0.01
    ) -> tuple[Any, float, float]:
        """(ensemble, wall seconds, training seconds)."""
        e_slice = max(1, round(2 * self.epochs / (slices + 1)))
        trainer = SisaTrainer(
            self.cat,
            dataset,
            name=name,
            recipe=recipe(self.kind, lr),
            config=SisaConfig(shards=shards, slices=slices, seed=1, epochs=e_slice),
            party="lab",
        )
        t0 = time.perf_counter()
        ens = trainer.train()
        wall = time.perf_counter() - t0
        return ens, wall, sum(sl.seconds for sh in ens.manifest.shards for sl in sh.slices)

    def accuracy(self, model: str, x: torch.Tensor, y: torch.Tensor) -> float:
        return float((SisaEnsemble.load(self.cat, model).predict(x) == y).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="600 digits, S in {1, 5}, R in {1, 2}, few epochs")
    ap.add_argument("--recipe", choices=sorted(RECIPES), default="cnn")
    ap.add_argument(
        "--epochs", type=int, default=None, help="E: passes over the data (default cnn 15, mlp 30; quick 4)"
    )
    ap.add_argument(
        "--forgets", type=int, default=None, help="subjects forgotten per configuration (default 3)"
    )
    ap.add_argument(
        "--splits", type=int, default=None, help="splits for the accuracy comparison (default 3; quick 1)"
    )
    args = ap.parse_args()
    count = 600 if args.quick else 1797
    epochs = args.epochs or (4 if args.quick else 15 if args.recipe == "cnn" else 30)
    forgets = args.forgets or (1 if args.quick else 3)
    splits = args.splits or (1 if args.quick else 3)
    grid = [
        (s, r) for s in ((1, 5) if args.quick else (1, 5, 10, 20)) for r in ((1, 2) if args.quick else (1, 5))
    ]
    big = max(s for s, _ in grid)
    print(machine(), file=sys.stderr)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-unlearning-") as tmp:
        root = Path(tmp)
        manifest = write_digits(root / "digits", count)
        with disgorge.open(root / "home") as cat:
            cat.add_source(
                "digits",
                notice=b"handwriting to train recognisers",
                uses=["train_ai_system"],
                recipients=["lab"],
            )
            cat.ingest(root / "digits", IngestOptions(source="digits", manifest=manifest, workers=1))
            bench = Bench(cat, root, count, args.recipe, epochs)
            dataset, x_test, y_test, train_subjects = bench.split(0)
            from disgorge.unlearning.determinism import deterministic

            with deterministic(1):  # the first call loads torch's compiler stack (~3 s): not a training cost
                pass
            rng = np.random.default_rng(7)
            rows = []
            for shards, slices in grid:
                name = f"s{shards}r{slices}"
                ens, train_s, train_compute = bench.train(dataset, name, shards, slices)
                acc = bench.accuracy(ens.model, x_test, y_test)
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
                        "e": max(1, round(2 * epochs / (slices + 1))),
                        "acc": acc,
                        "train_s": train_s,
                        "train_compute": train_compute,
                        "forget_s": statistics.median(forget_s),
                        "forget_all": forget_s,
                        "compute_all": compute_s,
                        "forget_train_s": statistics.median(compute_s),
                        "slices": statistics.median(touched),
                    }
                )
                print(
                    f"S={shards} R={slices}: acc {acc:.4f}, train {train_s:.2f} s, forget {rows[-1]['forget_s']:.3f} s"
                    f" (training {rows[-1]['forget_train_s']:.3f} s)",
                    file=sys.stderr,
                )
            mono = next(r for r in rows if r["S"] == 1 and r["R"] == 1)
            # at S = R = 1 a forget is a from-scratch retrain of the monolithic model on the remaining
            # data, with the same catalog work: that is the baseline, measured in this run
            mono_s = statistics.median([mono["train_s"], *mono["forget_all"]])
            mono_train = statistics.median([mono["train_compute"], *mono["compute_all"]])
            out = [
                [
                    r["S"],
                    r["R"],
                    r["e"],
                    f"{100 * r['acc']:.1f}",
                    f"{100 * (r['acc'] - mono['acc']):+.1f}",
                    f"{r['forget_s']:.3f}",
                    f"{r['forget_train_s']:.3f}",
                    f"{r['forget_s'] - r['forget_train_s']:.3f}",
                    f"{r['slices']:.0f}",
                    f"{r['train_s']:.2f}",
                    f"{mono_s / r['forget_s']:.1f}x",
                    f"{mono_train / r['forget_train_s']:.1f}x",
                    f"{r['train_s'] / r['forget_s']:.1f}x",
                ]
                for r in rows
            ]
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
                        "rest (s)",
                        "slices retrained",
                        "full S x R retrain (s)",
                        "speed-up vs monolithic, whole forget",
                        "speed-up vs monolithic, training only",
                        "speed-up vs full ensemble",
                    ],
                    out,
                )
            )
            print(
                f"\nmonolithic retrain {mono_s:.2f} s (training {mono_train:.2f} s); {count} digits, held out 20 %;"
                f" {RECIPES[args.recipe]}; Adam 0.01, batch 32, E = {epochs}, 1 thread"
            )
            acc_rows = _splits(bench, splits, big, first=(x_test, y_test, rows))
            print(
                "\n"
                + table(
                    [
                        "split",
                        "monolithic %",
                        f"S = {big}, R = 1 %",
                        f"S = {big}, R = 5 %" if not args.quick else f"S = {big}, R = 2 %",
                        "gap R = 1 (points)",
                        "gap R = 5 (points)" if not args.quick else "gap R = 2 (points)",
                        "monolithic, Adam 0.003 %",
                    ],
                    acc_rows,
                )
            )
    print(f"\n{time.perf_counter() - started:.0f} s in all", file=sys.stderr)


def _splits(
    bench: Bench, splits: int, big: int, *, first: tuple[Any, Any, list[dict[str, Any]]]
) -> list[list[str]]:
    """Accuracy of monolithic vs S = big on each split (split 0 reuses the grid's models); the
    monolithic model also with a lower learning rate, which suits it better than the shards."""
    x0, y0, rows = first
    r_hi = max(r["R"] for r in rows)
    out: list[list[str]] = []
    gaps: list[tuple[float, float]] = []
    for k in range(splits):
        if k == 0:
            x, y = x0, y0
            acc = {(r["S"], r["R"]): r["acc"] for r in rows}
            mono, a1, a5 = acc[(1, 1)], acc[(big, 1)], acc[(big, r_hi)]
            dataset = "digits-train-0"
        else:
            dataset, x, y, _ = bench.split(k)
            mono = bench.accuracy(bench.train(dataset, f"k{k}-mono", 1, 1)[0].model, x, y)
            a1 = bench.accuracy(bench.train(dataset, f"k{k}-s{big}r1", big, 1)[0].model, x, y)
            a5 = bench.accuracy(bench.train(dataset, f"k{k}-s{big}r{r_hi}", big, r_hi)[0].model, x, y)
        slow = bench.accuracy(bench.train(dataset, f"k{k}-mono-lr", 1, 1, lr=0.003)[0].model, x, y)
        gaps.append((a1 - mono, a5 - mono))
        out.append(
            [
                str(k),
                f"{100 * mono:.1f}",
                f"{100 * a1:.1f}",
                f"{100 * a5:.1f}",
                f"{100 * (a1 - mono):+.1f}",
                f"{100 * (a5 - mono):+.1f}",
                f"{100 * slow:.1f}",
            ]
        )
        print(f"split {k}: " + ", ".join(out[-1][1:]), file=sys.stderr)
    g1, g5 = statistics.mean(g for g, _ in gaps), statistics.mean(g for _, g in gaps)
    out.append(["mean", "", "", "", f"{100 * g1:+.1f}", f"{100 * g5:+.1f}", ""])
    return out


def _subject_ids(cat: disgorge.Catalog, subject: str) -> list[int]:
    from sqlalchemy import select

    from disgorge.catalog.schema import Asset

    sid = cat.store.subject_id(subject)
    with cat.store.session() as s:
        return sorted(s.scalars(select(Asset.id).where(Asset.subject_id == sid)))


if __name__ == "__main__":
    main()
