"""A synthetic, realistic-enough photo corpus: face-like drawings per subject, JPEGs from 0.3 to 12 MP,
with the demographic manifest a dating site would hold. Deterministic for a given seed."""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZES = [(640, 480), (800, 600), (1024, 768), (1280, 960), (1600, 1200), (2048, 1536)]
TWELVE_MP = (4000, 3000)
CITIES = ["Boston", "Austin", "Denver", "Portland", "Chicago", "Seattle", "Atlanta", "Phoenix"]
ETHNICITIES = ["asian", "black", "hispanic", "white", "mixed", "other"]
GENDERS = ["female", "male", "nonbinary"]
CATEGORIES = (
    "user.content.self_image",
    "user.demographic.age_range",
    "user.demographic.gender",
    "user.demographic.race_ethnicity",
    "user.location.imprecise",
)


@dataclass(frozen=True, slots=True)
class PhotoSpec:
    path: Path
    subject: str
    index: int
    size: tuple[int, int]
    seed: int


def face_image(subject_seed: int, photo_seed: int, size: tuple[int, int]) -> Image.Image:
    """Draw a face-like picture: the subject's features are fixed, pose, light and background vary."""
    srng = random.Random(subject_seed)
    prng = random.Random(photo_seed)
    w, h = 480, 360
    base = np.zeros((h, w, 3), dtype=np.float32)
    c1 = np.array([prng.randint(0, 255) for _ in range(3)], dtype=np.float32)
    c2 = np.array([prng.randint(0, 255) for _ in range(3)], dtype=np.float32)
    t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    base[:] = c1 * (1 - t) + c2 * t
    nrng = np.random.default_rng(photo_seed)
    blobs = nrng.normal(0, 40, (h // 24 + 1, w // 24 + 1, 3)).astype(np.float32)
    base += np.kron(blobs, np.ones((24, 24, 1), dtype=np.float32))[:h, :w]
    im = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(prng.randint(3, 9)):
        x, y = prng.randint(0, w), prng.randint(0, h)
        r = prng.randint(10, 80)
        d.ellipse((x - r, y - r, x + r, y + r), fill=tuple(prng.randint(0, 255) for _ in range(3)))
    skin = (srng.randint(90, 245), srng.randint(60, 200), srng.randint(40, 170))
    hair = tuple(srng.randint(0, 120) for _ in range(3))
    cx = w // 2 + prng.randint(-50, 50)
    cy = h // 2 + prng.randint(-25, 25)
    fw = srng.randint(70, 100) * prng.uniform(0.85, 1.15)
    fh = fw * srng.uniform(1.15, 1.45)
    d.ellipse((cx - fw * 1.1, cy - fh * 1.15, cx + fw * 1.1, cy + fh * 0.2), fill=hair)
    d.ellipse((cx - fw, cy - fh, cx + fw, cy + fh), fill=skin)
    eye_dx, eye_y = fw * srng.uniform(0.3, 0.5), cy - fh * srng.uniform(0.15, 0.35)
    iris = tuple(srng.randint(20, 160) for _ in range(3))
    for ex in (cx - eye_dx, cx + eye_dx):
        d.ellipse((ex - 14, eye_y - 8, ex + 14, eye_y + 8), fill=(245, 245, 245))
        d.ellipse((ex - 6, eye_y - 6, ex + 6, eye_y + 6), fill=iris)
    d.polygon(
        [(cx, eye_y + 10), (cx - 10, cy + fh * 0.25), (cx + 10, cy + fh * 0.25)],
        fill=tuple(max(0, v - 40) for v in skin),
    )
    mw, my = fw * srng.uniform(0.3, 0.55), cy + fh * 0.55
    d.arc((cx - mw, my - 15, cx + mw, my + 15), 10, 170, fill=(150, 40, 50), width=5)
    im = im.filter(ImageFilter.GaussianBlur(prng.uniform(0.3, 1.2)))
    gain = prng.uniform(0.8, 1.2)
    im = im.point(lambda v: min(255, int(v * gain)))
    return im.resize(size, Image.Resampling.BICUBIC)


def _write(spec: PhotoSpec) -> int:
    im = face_image(hash_seed(spec.subject), spec.seed, spec.size)
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    im.save(spec.path, "JPEG", quality=88)
    return spec.path.stat().st_size


def hash_seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def subjects(prefix: str, n: int) -> Iterator[str]:
    for i in range(n):
        yield f"{prefix}-{i:05d}"


def generate(
    root: Path,
    *,
    prefix: str,
    n_subjects: int,
    photos_per_subject: int,
    seed: int = 2014,
    twelve_mp_share: float = 0.02,
    workers: int = 2,
) -> Path:
    """Write one folder per subject of JPEGs and a CSV manifest; return the manifest's path."""
    rng = random.Random(seed)
    specs: list[PhotoSpec] = []
    rows: list[dict[str, object]] = []
    for subject in subjects(prefix, n_subjects):
        age = rng.randint(18, 64)
        gender, ethnicity, city = rng.choice(GENDERS), rng.choice(ETHNICITIES), rng.choice(CITIES)
        for k in range(rng.randint(max(1, photos_per_subject - 2), photos_per_subject + 2)):
            size = TWELVE_MP if rng.random() < twelve_mp_share else rng.choice(SIZES)
            path = root / subject / f"photo-{k:02d}.jpg"
            specs.append(PhotoSpec(path, subject, k, size, rng.getrandbits(48)))
            rows.append(
                {
                    "path": f"{subject}/photo-{k:02d}.jpg",
                    "subject_id": subject,
                    "categories": ";".join(CATEGORIES),
                    "age": age,
                    "gender": gender,
                    "ethnicity": ethnicity,
                    "location": city,
                }
            )
    root.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write, specs, chunksize=8))
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return manifest
