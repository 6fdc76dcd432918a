"""PDQ of an RGB pixel array and of its centre crops and dihedral forms, computing the luma once.

``pdqhash.compute`` turns its RGB argument into float32 luma with numpy, then calls the C++
``pdqHash256FromFloatLuma``, then unpacks the 16 words of the hash bit by bit in Python. Luma is a
per-pixel function, so the luma of a crop (or of a rotated or flipped image) is the crop (rotation,
flip) of the luma: this module computes the luma of a photo once, with the very numpy expression
pdqhash uses, and hands slices of it to the same C++ function, whose symbol the pdqhash extension
exports. The hashes are bit for bit those of ``pdqhash.compute``: the luma floats are the same and the
C++ code is the same; a check at import hashes test arrays both ways and falls back to
``pdqhash.compute`` for everything (``CORE`` is then None) if the symbol is missing or anything differs.
"""

from __future__ import annotations

import ctypes
import importlib
from typing import Any

import numpy as np
import numpy.typing as npt
import pdqhash

Pixels = npt.NDArray[np.uint8]
Luma = npt.NDArray[np.float32]

_SYMBOL = "_ZN8facebook3pdq7hashing23pdqHash256FromFloatLumaEPfS2_iiPA64_fS4_PA16_fRNS1_7Hash256ERi"
"""facebook::pdq::hashing::pdqHash256FromFloatLuma(float*, float*, int, int, float[64][64],
float[16][64], float[16][16], Hash256&, int&), returning void (ThreatExchange pdq/cpp/hashing)."""


def pack_bits(bits: np.ndarray) -> bytes:
    """The 32 bytes of a PDQ bit vector as ``pdqhash.compute`` returns it (most significant first)."""
    return np.packbits(bits.astype(np.uint8)).tobytes()


def luma(pixels: Pixels) -> Luma:
    """Float32 luma exactly as ``pdqhash.compute`` computes it (float64 sums, then float32)."""
    out: Luma = (pixels[:, :, 0] * 0.299 + pixels[:, :, 1] * 0.587 + pixels[:, :, 2] * 0.114).astype(
        "float32"
    )
    return out


CORE_VERSION = "0.2.8"
"""The pdqhash release whose C++ signature ``_SYMBOL`` was read from; any other gets the reference path,
since calling a function of another signature could crash before the self-check could tell."""


def _load_core() -> Any:
    from importlib.metadata import PackageNotFoundError, version

    try:
        if version("pdqhash") != CORE_VERSION:
            return None
    except PackageNotFoundError:
        return None
    try:
        lib = ctypes.CDLL(importlib.import_module("pdqhash.bindings").__file__)
        fn = getattr(lib, _SYMBOL)
    except (OSError, AttributeError, ImportError, TypeError):
        return None
    fn.restype = None  # the C++ function returns void
    p = ctypes.c_void_p
    fn.argtypes = [p, p, ctypes.c_int, ctypes.c_int, p, p, p, p, p]
    return fn


CORE = _load_core()


def _core_hash(lum: Luma) -> tuple[bytes, int]:
    """PDQ of a luma plane (any layout: the C++ code gets a row-major copy, which it overwrites)."""
    assert CORE is not None
    buf1 = np.array(lum, dtype=np.float32, order="C", copy=True)
    buf2 = np.empty_like(buf1)
    b64x64 = np.empty((64, 64), np.float32)
    b16x64 = np.empty((16, 64), np.float32)
    b16x16 = np.empty((16, 16), np.float32)
    words = np.zeros(16, np.uint16)
    quality = np.zeros(1, np.intc)
    rows, cols = buf1.shape
    CORE(
        buf1.ctypes.data,
        buf2.ctypes.data,
        rows,
        cols,
        b64x64.ctypes.data,
        b16x64.ctypes.data,
        b16x16.ctypes.data,
        words.ctypes.data,
        quality.ctypes.data,
    )
    # pdqhash's bit k is bit k % 16 of word k // 16, and it returns the 256 bits last first
    bits = np.unpackbits(words.astype("<u2").view(np.uint8), bitorder="little")
    return np.packbits(bits[::-1]).tobytes(), int(quality[0])


def _reference(pixels: Pixels) -> tuple[bytes, int]:
    bits, quality = pdqhash.compute(np.ascontiguousarray(pixels))
    return pack_bits(bits), int(quality)


class Plane:
    """One decoded image (RGB, ``height x width x 3``) and, when the C++ core is in use, its luma."""

    __slots__ = ("luma", "pixels")

    def __init__(self, pixels: Pixels) -> None:
        self.pixels = pixels
        self.luma = luma(pixels) if CORE is not None else None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow gives an image's size."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    def hash(self) -> tuple[bytes, int]:
        """PDQ and quality of the whole image: ``pdqhash.compute(pixels)``."""
        return self._hash(np.s_[:, :], 0, False)

    def crop(self, left: int, top: int, right: int, bottom: int) -> tuple[bytes, int]:
        """PDQ of ``image.crop((left, top, right, bottom))``, a box inside the image."""
        return self._hash(np.s_[top:bottom, left:right], 0, False)

    def dihedral(self, whole: bytes | None = None) -> tuple[bytes, ...]:
        """PDQs of ``np.rot90(pixels, k)`` and then of ``np.rot90(np.fliplr(pixels), k)``, k = 0..3;
        ``whole``, when given, is the first (``hash()``'s, not computed again)."""
        first = whole if whole is not None else self.hash()[0]
        forms = [(flip, k) for flip in (False, True) for k in range(4)][1:]
        rest = [self._hash(np.s_[:, :], k, flip)[0] for flip, k in forms]
        return (first, *rest)

    def _hash(self, box: tuple[slice, slice], turns: int, flip: bool) -> tuple[bytes, int]:
        if self.luma is None:
            px = self.pixels[box]
            return _reference(np.rot90(np.fliplr(px) if flip else px, turns))
        lum = self.luma[box]
        return _core_hash(np.rot90(np.fliplr(lum) if flip else lum, turns))


def _self_check() -> bool:
    """Whether the C++ core gives ``pdqhash.compute``'s hashes on a few arrays of awkward sizes."""
    rng = np.random.default_rng(15)
    for h, w in ((192, 256), (61, 47), (5, 300), (2, 3)):
        y, x = np.mgrid[0:h, 0:w]
        px = np.stack([(x * 7 + y) % 256, (y * 5) % 256, (x * y) % 256], axis=2).astype(np.uint8)
        px = (px ^ rng.integers(0, 32, px.shape, dtype=np.uint8)).astype(np.uint8)
        plane = Plane(px)
        if plane.hash() != _reference(px) or plane.crop(1, 0, w, h) != _reference(px[:, 1:]):
            return False
        if plane.dihedral()[5] != _reference(np.rot90(np.fliplr(px), 1))[0]:
            return False
    return True


if CORE is not None:
    try:
        _ok = _self_check()
    except Exception:  # a core that cannot even be called is no core
        _ok = False
    if not _ok:
        CORE = None
