"""How long ``make demo`` spends generating its corpus (issue 9, item 11: goal <= 10 s on 2 cores), beside
the floor it cannot beat: JPEG-encoding the same number of photos of the same sizes, from one image
drawn once, on the same 2 processes, in the same process run.

``disgorge.demo.corpus.generate`` with the demo's arguments (300 members with about 8 photos each, 40
volunteers with about 6), then the floor over the same sizes. Wall time and the workers' CPU time are
both printed: on a shared machine the wall time includes other people's work, the CPU time does not.

    python benchmarks/bench_demo_corpus.py            # the demo's corpus (about 2,600 photos)
    python benchmarks/bench_demo_corpus.py --quick    # a fifth of it
"""

from __future__ import annotations

import argparse
import io
import random
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

import _common
from disgorge.demo.corpus import SIZE_WEIGHTS, SIZES, TWELVE_MP, face_image, generate

_IMAGE = face_image(1, 2, (480, 360))


def _encode(size: tuple[int, int]) -> int:
    buf = io.BytesIO()
    _IMAGE.resize(size, Image.Resampling.NEAREST).save(buf, "JPEG", quality=88)
    return buf.tell()


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    members, volunteers = (60, 8) if args.quick else (300, 40)
    print(_common.machine())
    root = Path(tempfile.mkdtemp(prefix="bench-demo-corpus-"))
    try:
        cpu0, t0 = _children_cpu(), time.perf_counter()
        generate(root / "datingsite", prefix="member", n_subjects=members, photos_per_subject=8)
        generate(
            root / "research", prefix="volunteer", n_subjects=volunteers, photos_per_subject=6, seed=2025
        )
        wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
        photos = sorted(root.rglob("*.jpg"))
        mb = sum(p.stat().st_size for p in photos) / 1e6
    finally:
        shutil.rmtree(root)
    rng = random.Random(7)
    sizes = [TWELVE_MP if rng.random() < 0.01 else rng.choices(SIZES, SIZE_WEIGHTS)[0] for _ in photos]
    cpu1, t1 = _children_cpu(), time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_encode, sizes, chunksize=8))
    floor_wall, floor_cpu = time.perf_counter() - t1, _children_cpu() - cpu1
    print(
        _common.table(
            ["pass", "photos", "wall s", "worker CPU s", "ms CPU per photo"],
            [
                [
                    "demo corpus (generate)",
                    len(photos),
                    f"{wall:.1f}",
                    f"{cpu:.1f}",
                    f"{cpu / len(photos) * 1e3:.2f}",
                ],
                [
                    "floor: JPEG encode only",
                    len(sizes),
                    f"{floor_wall:.1f}",
                    f"{floor_cpu:.1f}",
                    f"{floor_cpu / len(sizes) * 1e3:.2f}",
                ],
            ],
        )
    )
    print(f"{mb:.0f} MB written; generate / floor: {wall / floor_wall:.2f}x wall, {cpu / floor_cpu:.2f}x CPU")


if __name__ == "__main__":
    main()
