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
from PIL import Image, ImageDraw

SIZES = [(640, 480), (800, 600), (1024, 768), (1280, 960), (1600, 1200), (2048, 1536)]
SIZE_WEIGHTS = [40, 25, 15, 10, 6, 4]
"""Most photos a site keeps are resized for the web; fewer are large (and ``twelve_mp_share`` are
camera originals). JPEG encoding is most of the corpus's cost, so this also keeps ``make demo`` quick."""
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


DRAW = (240, 180)
"""Pictures are drawn this small, then enlarged by pixel repetition: drawing, blurring and bicubic
enlargement at full size cost five times the JPEG encoding, and add nothing PDQ (which sees 64x64) or a
person looking at the photo could use. The features are laid out on a 480x360 canvas and scaled."""


def face_image(subject_seed: int, photo_seed: int, size: tuple[int, int]) -> Image.Image:
    """Draw a face-like picture: the subject's features are fixed, pose, light and background vary."""
    srng = random.Random(subject_seed)
    prng = random.Random(photo_seed)
    w, h = DRAW
    k = w / 480
    c1 = np.array([prng.randint(0, 255) for _ in range(3)], dtype=np.float32)
    c2 = np.array([prng.randint(0, 255) for _ in range(3)], dtype=np.float32)
    t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    base = np.broadcast_to(c1 * (1 - t) + c2 * t, (h, w, 3)).copy()
    nrng = np.random.default_rng(photo_seed)
    cell = round(24 * k)
    blobs = nrng.normal(0, 40, (h // cell + 1, w // cell + 1, 3)).astype(np.float32)
    base += np.repeat(np.repeat(blobs, cell, axis=0), cell, axis=1)[:h, :w]
    im = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(prng.randint(3, 9)):
        x, y = prng.randint(0, 480) * k, prng.randint(0, 360) * k
        r = prng.randint(10, 80) * k
        d.ellipse((x - r, y - r, x + r, y + r), fill=tuple(prng.randint(0, 255) for _ in range(3)))
    skin = (srng.randint(90, 245), srng.randint(60, 200), srng.randint(40, 170))
    hair = tuple(srng.randint(0, 120) for _ in range(3))
    cx = (240 + prng.randint(-50, 50)) * k
    cy = (180 + prng.randint(-25, 25)) * k
    fw = srng.randint(70, 100) * prng.uniform(0.85, 1.15) * k
    fh = fw * srng.uniform(1.15, 1.45)
    d.ellipse((cx - fw * 1.1, cy - fh * 1.15, cx + fw * 1.1, cy + fh * 0.2), fill=hair)
    d.ellipse((cx - fw, cy - fh, cx + fw, cy + fh), fill=skin)
    eye_dx, eye_y = fw * srng.uniform(0.3, 0.5), cy - fh * srng.uniform(0.15, 0.35)
    iris = tuple(srng.randint(20, 160) for _ in range(3))
    for ex in (cx - eye_dx, cx + eye_dx):
        d.ellipse((ex - 14 * k, eye_y - 8 * k, ex + 14 * k, eye_y + 8 * k), fill=(245, 245, 245))
        d.ellipse((ex - 6 * k, eye_y - 6 * k, ex + 6 * k, eye_y + 6 * k), fill=iris)
    d.polygon(
        [(cx, eye_y + 10 * k), (cx - 10 * k, cy + fh * 0.25), (cx + 10 * k, cy + fh * 0.25)],
        fill=tuple(max(0, v - 40) for v in skin),
    )
    mw, my = fw * srng.uniform(0.3, 0.55), cy + fh * 0.55
    d.arc(
        (cx - mw, my - 15 * k, cx + mw, my + 15 * k), 10, 170, fill=(150, 40, 50), width=max(1, round(5 * k))
    )
    prng.uniform(0.3, 1.2)  # once a blur radius: still drawn, so the photo's later draws stay the same
    gain = prng.uniform(0.8, 1.2)
    im = im.point([min(255, int(v * gain)) for v in range(256)] * 3)
    if size[0] < w or size[1] < h:
        return im.resize(size, Image.Resampling.BILINEAR)
    return im.resize(size, Image.Resampling.NEAREST)


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
    twelve_mp_share: float = 0.01,
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
            size = TWELVE_MP if rng.random() < twelve_mp_share else rng.choices(SIZES, SIZE_WEIGHTS)[0]
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
