"""Regenerate the known-bad ingest inputs in this folder (each named after what it attacks).

Run: python tests/assets/make_bad_inputs.py. The files are committed; tests never download anything.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image

HERE = Path(__file__).parent / "ingest"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def main() -> None:
    HERE.mkdir(exist_ok=True)
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 120, 40)).save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()
    (HERE / "jpeg-truncated-at-half.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (HERE / "jpeg-garbage-after-magic.jpg").write_bytes(jpeg[:4] + bytes(range(256)) * 8)
    (HERE / "text-file-named-as-jpeg.jpg").write_bytes(b"this is a text file pretending to be a photo\n")
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
    (HERE / "png-decompression-bomb-100000x100000.png").write_bytes(bomb)
    (HERE / "manifest-malformed-json-line-2.jsonl").write_text(
        '{"path": "a.jpg", "subject_id": "alice"}\n{"path": "b.jpg", "subject_id": \n'
    )
    (HERE / "manifest-row-pointing-nowhere.csv").write_text("path,subject_id\nno-such-photo.jpg,bob\n")
    (HERE / "manifest-path-traversal.csv").write_text("path,subject_id\n../../../../etc/hostname,mallory\n")
    (HERE / "manifest-without-path-column.csv").write_text("file,subject_id\na.jpg,alice\n")


if __name__ == "__main__":
    main()
