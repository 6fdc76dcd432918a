"""scikit-learn's bundled handwritten digits (1,797 8x8 images, shipped in the package, never
downloaded) written as real PNG files with an ingest manifest: one subject per group of images."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def write_digits(root: Path, *, count: int | None = None, per_subject: int = 4) -> Path:
    """Write PNGs under ``root`` and ``root/manifest.csv`` (path, subject_id, label); returns the manifest."""
    digits = load_digits()
    images, labels = digits.images, digits.target
    n = len(labels) if count is None else count
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "subject_id", "label"])
        for i in range(n):
            pixels = np.rint(images[i] * (255 / 16)).astype(np.uint8)
            name = f"{i:04d}.png"
            Image.fromarray(pixels, mode="L").save(root / name)
            w.writerow([name, f"writer-{i // per_subject:04d}", int(labels[i])])
    return manifest


def subject_of(index: int, per_subject: int = 4) -> str:
    return f"writer-{index // per_subject:04d}"


def load_digits_tensors(indices: range | list[int]) -> tuple[object, object]:
    """Features as the built-in recipe computes them (PNG pixels / 255), for held-out evaluation."""
    import torch

    digits = load_digits()
    idx = list(indices)
    pixels = np.rint(digits.images[idx] * (255 / 16)).astype(np.uint8).reshape(len(idx), -1)
    return torch.from_numpy(pixels.astype(np.float32) / 255.0), torch.from_numpy(digits.target[idx])
