"""Image identity for photos: decode cheaply (JPEG draft mode), refuse bombs, compute PDQ.

PDQ (Meta's 256-bit perceptual hash) only needs a small image, so a 12 MP JPEG is decoded at 1/2, 1/4
or 1/8 scale by libjpeg's DCT scaling before hashing, which is several times faster than a full decode.

Every byte string is somebody's file, and hostile files exist: whatever a decoder raises for one input
(Pillow raises OSError, ValueError, SyntaxError, struct.error, IndexError, ... from its plugins) becomes
an :class:`ImageProblem` of that input, never an exception that could end a run of many files. Only the
photo formats in :data:`PHOTO_FORMATS` are opened at all, so Pillow's rarer plugins (IPTC, EPS, which
calls Ghostscript, PCX, SGI, ...) never see our inputs.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from disgorge.hashing.pdq import Plane
from disgorge.hashing.pdq import pack_bits as pack_bits  # re-exported (benchmarks use it)

MAX_PIXELS = 64_000_000
"""Larger than any camera photo we expect (8000 x 8000); above it a file is treated as a decompression bomb."""

HASH_SIDE = 256
"""PDQ downsamples to 64x64 itself; hashing at 256 px is 4x cheaper than 512 and measured no less robust."""
LOW_QUALITY = 50
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "AVIF")
"""The formats a photo arrives in; anything else is ``not_an_image`` (smaller attack surface)."""


class ImageProblem(Exception):
    """A file that cannot be registered as an image; ``code`` names the kind of problem."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ImageHash:
    media_type: str
    width: int
    height: int
    pdq: bytes
    quality: int


def hash_image_bytes(data: bytes, *, max_pixels: int = MAX_PIXELS) -> ImageHash:
    """Decode an image (at reduced scale where the codec allows) and compute its PDQ hash.

    Raises ImageProblem with code ``not_an_image``, ``decompression_bomb`` or ``corrupt_image``.
    """
    return _decode_plane(data, max_pixels)[0]


CROPS = (0.9, 0.8)
"""Centre crops hashed besides the whole image (keeping 90% and 80% of each side): a 5% or 10% crop per
side moves a whole-image PDQ by ~86 bits, but lands near the stored crop of the same fraction."""


@dataclass(frozen=True, slots=True)
class ImageVariants:
    """Every hash an image is stored or searched under: whole, its 8 dihedral forms, centre crops."""

    whole: ImageHash
    dihedral: tuple[bytes, ...]
    crops: tuple[tuple[bytes, int], ...]


def _decode_small(data: bytes, max_pixels: int) -> tuple[ImageHash, Image.Image]:
    """The whole-image hash and the small RGB image it was computed from."""
    whole, plane = _decode_plane(data, max_pixels)
    return whole, Image.fromarray(plane.pixels)


def _decode_plane(data: bytes, max_pixels: int) -> tuple[ImageHash, Plane]:
    try:
        return _decode(data, max_pixels)
    except ImageProblem:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageProblem("decompression_bomb", f"declared size exceeds {max_pixels} pixels") from exc
    except UnidentifiedImageError as exc:
        raise ImageProblem("not_an_image", "not a recognised image format") from exc
    except Exception as exc:  # any decoder failure on this input is this input's problem
        raise ImageProblem("corrupt_image", f"cannot decode: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _decode(data: bytes, max_pixels: int) -> tuple[ImageHash, Plane]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "possibly corrupt EXIF", palette transparency, ...: not ours
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=PHOTO_FORMATS) as im:
            width, height = im.size
            if width <= 0 or height <= 0:
                raise ImageProblem("corrupt_image", f"declared size {width}x{height} is empty")
            if width * height > max_pixels:
                raise ImageProblem(
                    "decompression_bomb", f"declared size {width}x{height} exceeds {max_pixels} pixels"
                )
            media_type = Image.MIME.get(im.format or "", "application/octet-stream")
            if im.format == "JPEG":
                # ask for the hashing size itself, not a square: draft keeps both sides at least as large
                # as asked, so (256, 256) left a 640x480 photo at full scale
                scale = HASH_SIDE / max(width, height)
                im.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
            small = im.convert("RGB")
            if max(small.size) > HASH_SIDE:
                small.thumbnail((HASH_SIDE, HASH_SIDE), Image.Resampling.BILINEAR)
    plane = Plane(np.asarray(small))
    pdq, quality = plane.hash()
    return ImageHash(media_type, width, height, pdq, quality), plane


def hash_variants(data: bytes, *, dihedral: bool = True, max_pixels: int = MAX_PIXELS) -> ImageVariants:
    """Whole-image PDQ (identical to :func:`hash_image_bytes`), its dihedral forms (for queries: mirrors
    and rotations come free) and centre crops (stored, so cropped copies are found).

    Raises ImageProblem, and nothing else, for any input."""
    whole, plane = _decode_plane(data, max_pixels)
    try:
        return _variants(whole, plane, dihedral)
    except Exception as exc:
        raise ImageProblem("corrupt_image", f"cannot hash: {_describe(exc)}") from exc


def _variants(whole: ImageHash, plane: Plane, dihedral: bool) -> ImageVariants:
    # Dihedral forms hash the eight transformed images themselves: pdqhash.compute_dihedral derives them
    # from one DCT, and its flips land 26-44 bits from a mirrored photo's own hash (ThreatExchange
    # issue 1676). Crops and forms reuse the luma of the decoded image (see disgorge.hashing.pdq).
    forms = plane.dihedral(whole.pdq) if dihedral else (whole.pdq,)
    crops = []
    w, h = plane.size
    for keep in CROPS:
        dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
        crops.append(plane.crop(dx, dy, w - dx, h - dy))
    return ImageVariants(whole, forms, tuple(crops))
