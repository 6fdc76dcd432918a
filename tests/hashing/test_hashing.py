from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from disgorge.demo.corpus import face_image
from disgorge.errors import InputError
from disgorge.hashing import KeyedHasher, canonical_json, load_or_create_key, sha256_file
from disgorge.hashing.image import ImageProblem, hash_image_bytes


def _jpeg(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _distance(a: bytes, b: bytes) -> int:
    return bin(int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).count("1")


def test_pdq_survives_reencoding_and_resizing() -> None:
    im = face_image(1, 2, (1600, 1200))
    original = hash_image_bytes(_jpeg(im))
    assert original.quality >= 50 and (original.width, original.height) == (1600, 1200)
    smaller = hash_image_bytes(_jpeg(im.resize((400, 300)), quality=60))
    other = hash_image_bytes(_jpeg(face_image(3, 4, (1600, 1200))))
    assert _distance(original.pdq, smaller.pdq) <= 31
    assert _distance(original.pdq, other.pdq) > 31


def test_large_jpeg_uses_draft_decoding_and_matches_small() -> None:
    im = face_image(5, 6, (4000, 3000))
    big = hash_image_bytes(_jpeg(im))
    assert (big.width, big.height) == (4000, 3000)
    assert _distance(big.pdq, hash_image_bytes(_jpeg(im.resize((800, 600)))).pdq) <= 31


def test_bomb_declared_size_is_refused() -> None:
    with pytest.raises(ImageProblem, match="exceeds"):
        hash_image_bytes(_jpeg(Image.new("RGB", (100, 100))), max_pixels=5000)


def test_keyed_hasher_is_keyed_and_domain_separated() -> None:
    a, b = KeyedHasher(b"k" * 32), KeyedHasher(b"j" * 32)
    assert a.subject("alice") == a.subject(" alice ") != b.subject("alice")
    assert a.tag("subject", "x") != a.tag("content", "x")


def test_key_file_mode_is_enforced(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "keys" / "k")
    assert len(key) == 32 and load_or_create_key(tmp_path / "keys" / "k") == key
    os.chmod(tmp_path / "keys" / "k", 0o644)
    with pytest.raises(InputError, match="must be readable by its owner only"):
        load_or_create_key(tmp_path / "keys" / "k")


def test_sha256_file(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    assert sha256_file(p) == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_round_trips_and_is_stable(value: object) -> None:
    import json

    data = canonical_json(value)
    assert json.loads(data) == value
    assert canonical_json(json.loads(data)) == data


@given(json_values | st.text(alphabet=st.characters(max_codepoint=0x7F)))
def test_canonical_fast_path_equals_rfc8785(value: object) -> None:
    import rfc8785

    assert canonical_json(value) == bytes(rfc8785.dumps(value))


flat_values = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text()
    | st.text(alphabet=st.characters(max_codepoint=0x7F))
    | st.lists(st.text(), max_size=3)
)


@given(
    st.lists(st.text() | st.text(alphabet=st.characters(max_codepoint=0x7F)), max_size=4),
    st.dictionaries(st.text() | st.text(alphabet=st.characters(max_codepoint=0x7F)), flat_values, max_size=6),
)
def test_canonical_row_equals_canonical_json(head: list[str], fields: dict[str, object]) -> None:
    """The plan targets' fast path: the same bytes as the general one (and so as RFC 8785) for any
    strings, control characters, DEL, non-ASCII and escapes included, and any value type."""
    import rfc8785

    from disgorge.hashing import canonical_row

    assert (
        canonical_row(head, fields)
        == canonical_json([*head, fields])
        == bytes(rfc8785.dumps([*head, fields]))
    )


def test_canonical_row_routes_what_it_cannot_vouch_for() -> None:
    from disgorge.hashing import canonical_row

    for head, fields in [
        (["copy", "delete", "file:///caf\u00e9.jpg"], {"size": 1}),
        (["copy", "delete", "file:///a\x7fb"], {"size": 1}),
        (["copy", "delete", "C:\\users\\x"], {"seen": "absent"}),
        (["copy", "delete", "u"], {"sha256": "\x01", "inode": None}),
        (["copy", "delete", "u"], {"values": ["a", "b"], "size": 2**40}),
        ([1, "delete", "u"], {}),
    ]:
        assert canonical_row(head, fields) == bytes(rfc8785.dumps([*head, fields]))
