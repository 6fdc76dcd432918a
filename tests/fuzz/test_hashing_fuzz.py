"""Fuzzing the hashing path (ingest, scan, lookup and the guard all hash through it): whatever the
bytes, :func:`hash_variants` raises ImageProblem and nothing else, ``hash_object`` returns a result,
and an ingest worker's ``hash_one`` returns a record or a problem."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disgorge.hashing.image import ImageProblem, hash_variants
from disgorge.ingest.pipeline import hash_one
from disgorge.model import AssetRecord, IngestProblem
from disgorge.scan.scan import Hashed, hash_object
from tests.fuzz.seeds import huge_declared_size, insert_container, iptc_record, seeds

EXAMPLES = int(os.environ.get("DISGORGE_FUZZ_EXAMPLES", "120"))
"""Examples per property; CI keeps it small, a deeper local run sets e.g. DISGORGE_FUZZ_EXAMPLES=20000."""
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODES = {"not_an_image", "corrupt_image", "decompression_bomb"}


def only_image_problems(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning escapes either (pytest runs with -W error)
        try:
            v = hash_variants(data)
        except ImageProblem as exc:
            code = exc.code
        else:
            assert len(v.whole.pdq) == 32 and len(v.dihedral) == 8
            return
    assert code in CODES


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(seeds())))
    data = bytearray(seeds()[name])
    op = draw(st.sampled_from(["flip", "truncate", "insert", "container", "size", "splice"]))
    if op == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
    elif op == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif op == "insert":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(min_size=1, max_size=64))
    elif op == "container":
        payload = draw(
            st.binary(max_size=96)
            | st.builds(iptc_record, st.integers(0, 255), st.binary(max_size=40))
            | st.just(b"\x1c\x02\x05\xff\xff")  # an IPTC record claiming 65535 bytes
        )
        data = bytearray(
            insert_container(
                name, bytes(data), draw(st.integers(0, len(data))), payload, draw(st.integers(0, 8))
            )
        )
    elif op == "size":
        sizes = st.sampled_from([0, 1, 65535, 40_000, 2**31 - 1, 2**32 - 1])
        data = bytearray(huge_declared_size(name, bytes(data), draw(sizes), draw(sizes)))
    else:
        other = seeds()[draw(st.sampled_from(sorted(seeds())))]
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + other[draw(st.integers(0, len(other))) :]
    return bytes(data)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_never_raise_anything_but_image_problem(data: bytes) -> None:
    only_image_problems(data)


@FUZZ
@given(st.binary(max_size=300).map(lambda b: b"\x1c\x02" + b))
def test_iptc_looking_bytes_are_not_an_image(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageProblem, match="not a recognised image format"):
            hash_variants(data)


@FUZZ
@given(mutated())
def test_mutated_real_images_never_raise_anything_but_image_problem(data: bytes) -> None:
    only_image_problems(data)


@FUZZ
@given(mutated() | st.binary(max_size=300))
def test_scan_and_lookup_hashing_never_raises(data: bytes) -> None:
    item = hash_object("file:///x", data)
    assert isinstance(item, Hashed) and item.size == len(data)
    assert item.problem in (None, "corrupt_image", "decompression_bomb")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated() | st.binary(max_size=300), st.booleans())
def test_an_ingest_worker_never_raises(data: bytes, allow_non_images: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f.jpg"
        path.write_bytes(data)
        out = hash_one((str(path), "alice", (), {}), allow_non_images)
    assert isinstance(out, AssetRecord | IngestProblem)


def test_every_seed_is_a_good_image() -> None:
    """The fuzzers mutate real images: each seed decodes as itself."""
    for name, data in seeds().items():
        v = hash_variants(data)
        assert (v.whole.width, v.whole.height) in ((96, 72), (72, 96)), name  # TIFF honours Orientation


def test_a_path_with_a_nul_byte_is_a_problem_not_a_crash() -> None:
    out = hash_one(("a\0b.jpg", None, (), {}))
    assert isinstance(out, IngestProblem) and out.code == "unreadable" and "ValueError" in out.reason
