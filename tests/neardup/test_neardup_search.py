"""Exactness of range search: every planted copy within the radius is found, nothing beyond it is
reported, and every search path (brute force, both MIH layouts) agrees with a naive reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from neardup_helpers import flip_bits, naive_search, random_codes

from disgorge.errors import InputError, UsageError
from disgorge.neardup import HammingIndex, Matches, as_codes
from disgorge.neardup import _segment as segment_mod
from disgorge.neardup._codes import brute_range, popcount_rows
from disgorge.neardup._mih import LARGE, SMALL, Layout, Tables, build_tables, flip_masks, mih_range

codes_st = st.binary(min_size=32, max_size=32)
seeds = st.integers(0, 2**32 - 1)
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def planted(query: bytes, seed: int, distances: range) -> list[bytes]:
    """One copy of ``query`` at exactly each distance, flipping distinct random bits."""
    rng = np.random.default_rng(seed)
    return [flip_bits(query, rng.choice(256, size=d, replace=False).tolist()) for d in distances]


@pytest.fixture(scope="module")
def large_tables() -> tuple[Tables, np.ndarray, np.ndarray]:
    """The 11 x 23-bit layout (bits 253..255 unindexed) over a fixed random background, built once:
    its offsets take ~350 MB, so the property tests reuse it and add planted rows by brute force."""
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2**64 - 1, size=(3000, 4), dtype=np.uint64, endpoint=True)
    query = base[0].copy()
    rows = [
        flip_bits(as_codes(query).tobytes(), rng.choice(256, d, replace=False).tolist()) for d in range(40)
    ]
    codes = np.concatenate([base, as_codes(rows)])
    return build_tables(codes, LARGE), codes, query


def search_with(method: str, ids: np.ndarray, codes: np.ndarray, queries: object, radius: int) -> Matches:
    """Run one search path over a fresh in-memory index, bypassing the cost model."""
    index = HammingIndex(threads=2)
    index.add(ids, codes)
    if method == "brute":
        return index.range_search(queries, radius)
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(segment_mod, "MIN_TABLE_ROWS", 1)
        mp.setattr(segment_mod, "choose_layout", lambda rows: SMALL)
        mp.setattr(segment_mod.Segment, "method", lambda self, nq, r: SMALL.name)
        return index.range_search(queries, radius)
    finally:
        mp.undo()


@pytest.mark.parametrize("method", ["brute", "mih16x16"])
@SETTINGS
@given(query=codes_st, seed=seeds)
def test_planted_copies_at_every_distance_up_to_31_are_found(method: str, query: bytes, seed: int) -> None:
    near = planted(query, seed, range(32))
    far = planted(query, seed + 1, range(32, 48))
    background = random_codes(np.random.default_rng(seed), 200)
    codes = near + far + background
    ids = np.arange(len(codes), dtype=np.int64)
    got = search_with(method, ids, as_codes(codes), query, 31)
    assert got.to_list() == naive_search(ids.tolist(), codes, [query], 31)
    found = dict(zip(got.id.tolist(), got.distance.tolist(), strict=True))
    assert all(found.get(d) == d for d in range(32)), "a planted copy within 31 bits was missed"
    assert not set(found) & set(range(32, 48)), "a copy beyond the radius was reported"


@SETTINGS
@given(seed=seeds, radius=st.integers(0, 40))
def test_large_layout_finds_planted_copies_including_unindexed_bits(
    large_tables, seed: int, radius: int
) -> None:
    tables, codes, query = large_tables
    rng = np.random.default_rng(seed)
    q = query.reshape(1, 4).copy()
    # flips anywhere, including bits 253..255 that no piece covers
    extra = flip_bits(q.tobytes(), rng.choice(256, size=rng.integers(0, 8), replace=False).tolist())
    queries = as_codes([q.tobytes(), extra])
    qi, rows, d = mih_range(tables, codes, queries, radius)
    bq, brows, bd = brute_range(queries, codes, radius)
    got = sorted(zip(qi.tolist(), rows.tolist(), d.tolist(), strict=True))
    assert got == sorted(zip(bq.tolist(), brows.tolist(), bd.tolist(), strict=True))
    assert len({(a, b) for a, b, _ in got}) == len(got), "a pair was reported twice"
    assert all(x <= radius for _, _, x in got)


@pytest.mark.parametrize("method", ["brute", "mih16x16"])
@SETTINGS
@given(seed=seeds, radius=st.integers(0, 64))
def test_results_equal_naive_brute_force_on_clustered_random_data(
    method: str, seed: int, radius: int
) -> None:
    rng = np.random.default_rng(seed)
    centres = random_codes(rng, 6)
    codes = [
        flip_bits(centres[i % 6], rng.choice(256, size=rng.integers(0, 40), replace=False).tolist())
        for i in range(120)
    ]
    ids = rng.integers(0, 60, size=len(codes))  # ids repeat: several codes per id, the closest one counts
    queries = [
        flip_bits(c, rng.choice(256, size=rng.integers(0, 20), replace=False).tolist()) for c in centres
    ]
    queries.append(random_codes(rng, 1)[0])
    got = search_with(method, ids, as_codes(codes), queries, radius)
    assert got.to_list() == sorted(
        naive_search(ids.tolist(), codes, queries, radius), key=lambda t: (t[0], t[2], t[1])
    )


@given(width=st.integers(1, 23), flips=st.integers(0, 3))
def test_flip_masks_enumerate_each_mask_once(width: int, flips: int) -> None:
    masks = flip_masks(width, flips).tolist()
    assert len(masks) == len(set(masks))
    assert all(0 <= m < 1 << width and m.bit_count() <= flips for m in masks)
    from math import comb

    assert len(masks) == sum(comb(width, i) for i in range(min(flips, width) + 1))


def test_popcount_is_exact_at_256_where_a_byte_sum_would_wrap() -> None:
    zero = np.zeros((1, 4), dtype=np.uint64)
    ones = np.full((1, 4), np.iinfo(np.uint64).max, dtype=np.uint64)
    assert popcount_rows(zero ^ ones).tolist() == [256]
    index = HammingIndex()
    index.add([1], ones)
    assert index.range_search(zero, 255).to_list() == []
    assert index.range_search(zero, 256).to_list() == [(0, 1, 256)]


def test_custom_layout_keeps_the_pigeonhole_bound() -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 2**64 - 1, size=(500, 4), dtype=np.uint64, endpoint=True)
    layout = Layout(pieces=8, width=12)  # only 96 of 256 bits indexed
    tables = build_tables(codes, layout)
    q = codes[:20]
    for r in (0, 7, 15, 31):
        got = mih_range(tables, codes, q, r)
        want = brute_range(q, codes, r)
        assert sorted(zip(*(a.tolist() for a in got), strict=True)) == sorted(
            zip(*(a.tolist() for a in want), strict=True)
        )


def test_accepts_bytes_uint8_and_uint64_spellings_of_the_same_codes() -> None:
    rng = np.random.default_rng(0)
    raw = random_codes(rng, 5)
    as_u8 = np.frombuffer(b"".join(raw), dtype=np.uint8).reshape(5, 32)
    as_u64 = as_codes(raw)
    assert np.array_equal(as_codes(as_u8), as_u64)
    assert as_codes(raw[0]).tobytes() == raw[0]
    index = HammingIndex()
    index.add(np.arange(5), as_u8)
    assert index.range_search(raw[2], 0).to_list() == [(0, 2, 0)]
    assert index.range_search(as_u64[2], 0).to_list() == [(0, 2, 0)]
    assert len(index) == 5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ix: ix.add([1], b"short"), "expected 32 bytes, got 5"),
        (lambda ix: ix.add([1, 2], np.zeros((1, 32), np.uint8)), "expected 1 ids"),
        (lambda ix: ix.add([1], np.zeros((1, 8), np.uint32)), "dtype uint32"),
        (lambda ix: ix.add([1.5], np.zeros((1, 4), np.uint64)), "integer array"),
        (lambda ix: ix.range_search(np.zeros((1, 4), np.uint64), radius=300), "expected 0..256"),
        (lambda ix: ix.range_search(np.zeros((1, 4), np.uint64), radius=-1), "expected 0..256"),
        (lambda ix: ix.range_search("00" * 32), "expected bytes or an array"),
    ],
)
def test_bad_input_is_named_in_the_error(call, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call(HammingIndex())


def test_save_without_a_directory_says_how_to_persist() -> None:
    with pytest.raises(UsageError, match="memory only"):
        HammingIndex().save()


def test_join_splits_queries_into_blocks_without_changing_results() -> None:
    rng = np.random.default_rng(11)
    codes = rng.integers(0, 2**64 - 1, size=(2000, 4), dtype=np.uint64, endpoint=True)
    queries = codes[rng.integers(0, 2000, 300)]
    index = HammingIndex(threads=2)
    index.add(np.arange(2000), codes)
    whole = index.join(queries, 31, block=10_000)
    blocked = index.join(queries, 31, block=7)
    assert whole.to_list() == blocked.to_list()
    assert len(whole) >= 300


def test_public_api_is_curated() -> None:
    import disgorge.neardup as neardup

    assert sorted(neardup.__all__) == ["DEFAULT_RADIUS", "HammingIndex", "Matches", "as_codes"]
    assert neardup.DEFAULT_RADIUS == 31


def test_matches_iterate_as_plain_tuples_sorted_by_query_then_distance() -> None:
    m = Matches.collect(
        np.array([1, 0, 0, 0], np.int64), np.array([5, 9, 3, 9], np.int64), np.array([2, 7, 7, 4], np.uint32)
    )
    assert m.to_list() == [(0, 9, 4), (0, 3, 7), (1, 5, 2)]
    assert all(type(x) is int for row in m for x in row)
    assert len(Matches.empty()) == 0


@pytest.mark.parametrize("nq", [1, 3, 5, 70])
def test_both_brute_force_kernels_match_the_naive_reference(nq: int) -> None:
    rng = np.random.default_rng(nq)
    stored = random_codes(rng, 300)
    queries = [flip_bits(stored[i], rng.choice(256, size=i % 50, replace=False).tolist()) for i in range(nq)]
    stored.append(bytes(255 - b for b in queries[0]))  # distance 256 from the first query
    for radius in (0, 31, 255, 256):
        qi, rows, d = brute_range(as_codes(queries), as_codes(stored), radius)
        got = sorted(zip(qi.tolist(), rows.tolist(), d.tolist(), strict=True))
        assert got == naive_search(list(range(len(stored))), stored, queries, radius)
