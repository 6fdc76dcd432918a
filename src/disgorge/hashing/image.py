"""Image identity for photos: decode cheaply (JPEG draft mode), refuse bombs, compute PDQ.

PDQ (Meta's 256-bit perceptual hash) only needs a small image, so a 12 MP JPEG is decoded at 1/2, 1/4
or 1/8 scale by libjpeg's DCT scaling before hashing, which is several times faster than a full decode.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 64_000_000
"""Larger than any camera photo we expect (8000 x 8000); above it a file is treated as a decompression bomb."""

HASH_SIDE = 256
"""PDQ downsamples to 64x64 itself; hashing at 256 px is 4x cheaper than 512 and measured no less robust."""
LOW_QUALITY = 50


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


def pack_bits(bits: np.ndarray) -> bytes:
    return np.packbits(bits.astype(np.uint8)).tobytes()


def hash_image_bytes(data: bytes, *, max_pixels: int = MAX_PIXELS) -> ImageHash:
    """Decode an image (at reduced scale where the codec allows) and compute its PDQ hash.

    Raises ImageProblem with code ``not_an_image``, ``decompression_bomb`` or ``corrupt_image``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageProblem("not_an_image", "not a recognised image format") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageProblem("decompression_bomb", f"declared size exceeds {max_pixels} pixels") from exc
    with im:
        width, height = im.size
        if width * height > max_pixels:
            raise ImageProblem(
                "decompression_bomb", f"declared size {width}x{height} exceeds {max_pixels} pixels"
            )
        media_type = Image.MIME.get(im.format or "", "application/octet-stream")
        try:
            if im.format == "JPEG":
                im.draft("RGB", (HASH_SIDE, HASH_SIDE))
            rgb = im.convert("RGB")
            if max(rgb.size) > HASH_SIDE:
                rgb.thumbnail((HASH_SIDE, HASH_SIDE), Image.Resampling.BILINEAR)
            pixels = np.asarray(rgb)
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageProblem("corrupt_image", f"cannot decode: {exc}") from exc
    bits, quality = pdqhash.compute(pixels)
    return ImageHash(media_type, width, height, pack_bits(bits), int(quality))
