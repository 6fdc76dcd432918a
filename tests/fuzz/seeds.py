"""Real images to mutate: small JPEG (baseline, progressive, with EXIF, ICC and an IPTC APP13 block),
PNG (RGB with iCCP/tEXt/eXIf, palette with transparency, 16-bit), WebP (lossy, lossless), GIF (animated),
TIFF (LZW, raw, with EXIF) and BMP, made here, deterministic; and the mutations the fuzzers apply.

Mutations are what breaks parsers in practice: byte flips, truncation, inserted bytes, inserted
well-formed containers with hostile payloads (JPEG APPn/APP13 IPTC segments, PNG chunks with a valid
CRC), and headers whose declared sizes are huge or zero.
"""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache

from PIL import Image, ImageCms

from disgorge.demo.corpus import face_image


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "FuzzCam"  # Make
    exif[0x0112] = 6  # Orientation
    exif[0x9003] = "2014:05:01 12:00:00"  # DateTimeOriginal (in the IFD0 here; Pillow accepts it)
    return exif


def iptc_app13(records: bytes) -> bytes:
    """A JPEG APP13 segment holding a Photoshop IRB 0x0404 (IPTC-NAA) resource."""
    irb = b"8BIM" + struct.pack(">H", 0x0404) + b"\0\0" + struct.pack(">I", len(records)) + records
    if len(records) % 2:
        irb += b"\0"
    payload = b"Photoshop 3.0\0" + irb
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def iptc_record(dataset: int, value: bytes) -> bytes:
    return b"\x1c\x02" + bytes([dataset]) + struct.pack(">H", len(value)) + value


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@cache
def seeds() -> dict[str, bytes]:
    """Name -> bytes of every seed image (``name`` ends with the format's usual extension)."""
    im = face_image(11, 12, (96, 72))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    jpeg = _save(im, "JPEG", quality=85, exif=_exif().tobytes(), icc_profile=icc)
    iptc = iptc_app13(iptc_record(5, b"fuzz title") + iptc_record(120, b"a caption"))
    return {
        "baseline.jpg": _save(im, "JPEG", quality=80),
        "progressive-exif-icc.jpg": _save(im, "JPEG", quality=80, progressive=True, exif=_exif().tobytes()),
        "exif-icc.jpg": jpeg,
        "iptc.jpg": jpeg[:2] + iptc + jpeg[2:],
        "rgb-itxt-exif.png": _save(im, "PNG", exif=_exif().tobytes(), icc_profile=icc),
        "palette-transparency.png": _save(im.convert("P", colors=16), "PNG", transparency=0),
        "gray16.png": _save(im.convert("I;16"), "PNG"),
        "lossy.webp": _save(im, "WEBP", quality=60, exif=_exif().tobytes()),
        "lossless.webp": _save(im, "WEBP", lossless=True, icc_profile=icc),
        "animated.gif": _save(
            im.convert("P"), "GIF", save_all=True, append_images=[im.rotate(90).convert("P")], loop=0
        ),
        "lzw-exif.tif": _save(im, "TIFF", compression="tiff_lzw", exif=_exif().tobytes()),
        "raw.tif": _save(im, "TIFF"),
        "plain.bmp": _save(im, "BMP"),
    }


def _find(data: bytes, marker: bytes) -> int:
    return data.find(marker)


def huge_declared_size(name: str, data: bytes, width: int, height: int) -> bytes:
    """The image with its header's declared width and height replaced (CRC fixed for PNG)."""
    buf = bytearray(data)
    if name.endswith(".jpg"):
        for sof in (b"\xff\xc0", b"\xff\xc2"):
            i = _find(data, sof)
            if i >= 0:
                buf[i + 5 : i + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
                break
    elif name.endswith(".png"):
        buf[16:24] = struct.pack(">II", width & 0xFFFFFFFF, height & 0xFFFFFFFF)
        buf[29:33] = struct.pack(">I", zlib.crc32(bytes(buf[12:29])))
    elif name.endswith(".gif"):
        buf[6:10] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
    elif name.endswith(".bmp"):
        buf[18:26] = struct.pack("<ii", width & 0x7FFFFFFF, height & 0x7FFFFFFF)
    elif name.endswith(".webp"):
        i = _find(data, b"VP8X")
        if i >= 0:
            buf[i + 12 : i + 18] = ((width - 1) & 0xFFFFFF).to_bytes(3, "little") + (
                (height - 1) & 0xFFFFFF
            ).to_bytes(3, "little")
    elif name.endswith(".tif"):
        for tag, value in ((256, width), (257, height)):
            i = _find(data, struct.pack("<HH", tag, 3))
            if i < 0:
                i = _find(data, struct.pack("<HH", tag, 4))
            if i >= 0:
                buf[i + 2 : i + 12] = struct.pack("<HII", 4, 1, value & 0xFFFFFFFF)
    return bytes(buf)


def insert_container(name: str, data: bytes, at: int, payload: bytes, kind: int) -> bytes:
    """Insert a well-formed container with ``payload`` where the format's parser will read it."""
    if name.endswith(".jpg"):
        at = 2  # right after SOI, where APPn segments live
        if kind % 3 == 0:
            seg = iptc_app13(payload)
        elif kind % 3 == 1:
            seg = b"\xff\xe1" + struct.pack(">H", min(len(payload) + 8, 0xFFFF)) + b"Exif\0\0" + payload
        else:
            seg = (
                b"\xff\xe2"
                + struct.pack(">H", min(len(payload) + 16, 0xFFFF))
                + b"ICC_PROFILE\0\x01\x01"
                + payload
            )
        return data[:at] + seg + data[at:]
    if name.endswith(".png"):
        kinds = (b"iCCP", b"eXIf", b"zTXt", b"iTXt", b"tRNS", b"PLTE", b"sBIT", b"acTL")
        return data[:33] + png_chunk(kinds[kind % len(kinds)], payload) + data[33:]
    at = max(0, min(at, len(data)))
    return data[:at] + payload + data[at:]
