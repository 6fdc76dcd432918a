"""The input files of the README's story: photos with a manifest, a notice, a forgotten backup holding
a re-encoded copy of one photo, a model file a partner trained, and a stranger's photo that is in no
catalog (for ``lookup``). Deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from disgorge.demo.corpus import generate

NOTICE_2014 = """DatingSite Privacy Notice (2014-03-01)
We use the photos and profile details you give us to operate the DatingSite service: to show your
profile to other members and to match you with them. We do not sell your information or share it
with third parties except service providers acting on our behalf.
"""
BACKUP = Path("backups/2019/IMG_0042.jpg")
"""Where the story's forgotten backup keeps a half-size, re-encoded copy of one member's photo."""


def write_story_files(root: Path, *, subjects: int = 12, photos_per_subject: int = 3) -> list[Path]:
    """Write the story's files under ``root`` (created); returns the top-level entries written."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "notice-2014.txt").write_text(NOTICE_2014)
    generate(
        root / "photos",
        prefix="member",
        n_subjects=subjects,
        photos_per_subject=photos_per_subject,
        twelve_mp_share=0.0,
    )
    first = sorted((root / "photos").rglob("*.jpg"))[0]
    backup = root / BACKUP
    backup.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(first) as im:
        im.convert("RGB").resize((im.width // 2, im.height // 2)).save(backup, "JPEG", quality=70)
    from disgorge.demo.corpus import face_image, hash_seed

    face_image(hash_seed("a stranger"), 7, (480, 360)).save(root / "stranger.jpg", "JPEG", quality=88)
    weights = root / "out" / "face-v1.bin"
    weights.parent.mkdir(exist_ok=True)
    weights.write_bytes(np.random.default_rng(2014).standard_normal(65_536).astype(np.float32).tobytes())
    return [root / n for n in ("notice-2014.txt", "photos", "backups", "out", "stranger.jpg")]
