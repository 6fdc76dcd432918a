"""Every stored and searched hash is bit for bit what it was before the luma reuse (issue 15): the
reference below is the hashing code as it stood (``pdqhash.compute`` on the decoded image, on its
``Image.crop`` crops and on its rotated / flipped pixel arrays), run on images of several sizes, modes
and formats, with the C++ core and with the ``pdqhash.compute`` fallback."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import numpy as np
import pdqhash
import pytest
from PIL import Image

from disgorge.demo.corpus import face_image
from disgorge.hashing import pdq
from disgorge.hashing.image import (
    CROPS,
    HASH_SIDE,
    PHOTO_FORMATS,
    ImageVariants,
    _decode_small,
    hash_image_bytes,
    hash_variants,
)


def _bits(a: np.ndarray) -> tuple[bytes, int]:
    bits, q = pdqhash.compute(a)
    return np.packbits(bits.astype(np.uint8)).tobytes(), int(q)


def reference(data: bytes) -> tuple[tuple[bytes, int], tuple[bytes, ...], tuple[tuple[bytes, int], ...]]:
    """Whole PDQ and quality, the 8 dihedral forms, the crops: the code of 2026-12-02, verbatim."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data), formats=PHOTO_FORMATS) as im:
            width, height = im.size
            if im.format == "JPEG":
                scale = HASH_SIDE / max(width, height)
                im.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
            small = im.convert("RGB")
            if max(small.size) > HASH_SIDE:
                small.thumbnail((HASH_SIDE, HASH_SIDE), Image.Resampling.BILINEAR)
    whole = _bits(np.asarray(small))
    pixels = np.asarray(small)
    variants = [np.rot90(pixels, k) for k in range(4)]
    variants += [np.rot90(np.fliplr(pixels), k) for k in range(4)]
    forms = tuple(_bits(np.ascontiguousarray(v))[0] for v in variants)
    crops = []
    w, h = small.size
    for keep in CROPS:
        dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
        crops.append(_bits(np.asarray(small.crop((dx, dy, w - dx, h - dy)))))
    return whole, forms, tuple(crops)


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _exif_rotated(im: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    return _save(im, "JPEG", quality=85, exif=exif.tobytes())


def _cases() -> list[tuple[str, bytes]]:
    face = face_image(7, 11, (960, 720))
    rng = np.random.default_rng(2026)
    noise = Image.fromarray(rng.integers(0, 256, (301, 389, 3), dtype=np.uint8))
    rgba = face.resize((500, 333)).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    cases: list[tuple[str, bytes]] = []
    for w, h in (
        (640, 480),
        (480, 640),
        (4000, 3000),
        (1600, 1200),
        (257, 193),
        (256, 256),
        (100, 70),
        (31, 17),
    ):
        cases.append((f"jpeg {w}x{h}", _save(face.resize((w, h)), "JPEG", quality=88)))
    cases += [
        ("jpeg 3x2", _save(noise.resize((3, 2)), "JPEG")),
        ("jpeg 1x1", _save(noise.resize((1, 1)), "JPEG")),
        ("jpeg noise 389x301", _save(noise, "JPEG", quality=95)),
        ("jpeg 4:4:4 1023x767", _save(face.resize((1023, 767)), "JPEG", subsampling=0, quality=92)),
        ("jpeg grayscale 800x600", _save(face.resize((800, 600)).convert("L"), "JPEG")),
        ("jpeg grayscale 300x200", _save(face.resize((300, 200)).convert("L"), "JPEG")),
        ("jpeg CMYK 640x480", _save(face.resize((640, 480)).convert("CMYK"), "JPEG")),
        ("jpeg CMYK 2000x1500", _save(face.resize((2000, 1500)).convert("CMYK"), "JPEG")),
        ("jpeg EXIF-rotated 640x480", _exif_rotated(face.resize((640, 480)))),
        ("jpeg progressive 1200x900", _save(face.resize((1200, 900)), "JPEG", progressive=True)),
        ("png RGBA 500x333", _save(rgba, "PNG")),
        ("png RGB 200x150", _save(face.resize((200, 150)), "PNG")),
        ("png palette", _save(face.resize((320, 240)).convert("P"), "PNG")),
        ("png 16-bit grey", _save(face.resize((300, 300)).convert("I;16"), "PNG")),
        ("png 1-bit", _save(face.resize((640, 480)).convert("1"), "PNG")),
        ("webp 700x500", _save(face.resize((700, 500)), "WEBP", quality=80)),
        ("gif 400x300", _save(face.resize((400, 300)), "GIF")),
        ("tiff 256x192", _save(face.resize((256, 192)), "TIFF")),
        ("bmp 333x222", _save(face.resize((333, 222)), "BMP")),
    ]
    return cases


CASES = _cases()


def _check(data: bytes) -> None:
    whole, forms, crops = reference(data)
    v: ImageVariants = hash_variants(data)
    assert (v.whole.pdq, v.whole.quality) == whole
    assert v.dihedral == forms
    assert v.crops == crops
    stored = hash_variants(data, dihedral=False)
    assert stored.dihedral == (whole[0],)
    assert stored.crops == crops
    assert (hash_image_bytes(data).pdq, hash_image_bytes(data).quality) == whole
    assert _bits(np.asarray(_decode_small(data, 64_000_000)[1])) == whole


@pytest.mark.parametrize(("name", "data"), CASES, ids=[n for n, _ in CASES])
def test_hashes_are_those_of_pdqhash_compute(name: str, data: bytes) -> None:
    assert pdq.CORE is not None, "the pdqhash extension no longer exports pdqHash256FromFloatLuma"
    _check(data)


@pytest.mark.parametrize(("name", "data"), CASES[:4] + CASES[-8:], ids=[n for n, _ in CASES[:4] + CASES[-8:]])
def test_fallback_without_the_core_gives_the_same_hashes(
    name: str, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdq, "CORE", None)
    _check(data)


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: rng.integers(0, 256, (192, 256, 3), dtype=np.uint8),
        lambda rng: np.full((64, 64, 3), 200, dtype=np.uint8),  # flat: quality 0 territory
        lambda rng: rng.integers(0, 2, (50, 257, 3), dtype=np.uint8) * 255,
        lambda rng: np.ascontiguousarray(rng.integers(0, 256, (256, 140, 3), dtype=np.uint8)[::-1]),
    ],
)
def test_plane_matches_pdqhash_on_arrays(make: Callable[[np.random.Generator], np.ndarray]) -> None:
    px = make(np.random.default_rng(3))
    plane = pdq.Plane(px)
    assert plane.hash() == _bits(px)
    h, w = px.shape[:2]
    assert plane.crop(3, 2, w - 5, h - 1) == _bits(np.ascontiguousarray(px[2 : h - 1, 3 : w - 5]))
    forms = [np.rot90(px, k) for k in range(4)] + [np.rot90(np.fliplr(px), k) for k in range(4)]
    assert plane.dihedral() == tuple(_bits(np.ascontiguousarray(f))[0] for f in forms)
