"""Property tests for disgorge.ledger.merkle against a literal reading of RFC 9162 §2.1.

The reference functions below transcribe MTH, PATH and PROOF/SUBPROOF recursively, as the RFC writes
them; the module under test is iterative and cached, so agreement between the two is the point.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disgorge.errors import InputError, VerificationFailed
from disgorge.ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    root_hash,
    subtree_consistency_proof,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)
from disgorge.ledger.tree import CompactRange, MerkleTreeStore

MAX_LEAVES = 70
# Draw the size first, uniformly: plain st.lists would mostly try logs of a handful of leaves.
entries_st = st.integers(1, MAX_LEAVES).flatmap(
    lambda n: st.lists(st.binary(max_size=6), min_size=n, max_size=n)
)
unique_entries_st = st.integers(1, MAX_LEAVES).flatmap(
    lambda n: st.lists(st.binary(max_size=6), min_size=n, max_size=n, unique=True)
)
ALL_SIZES = settings(max_examples=25, deadline=None)


# RFC 9162 §2.1, transcribed.


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@st.composite
def subtrees(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    """Entries and an aligned subtree [start, end) of them."""
    entries = draw(unique_entries_st)
    width = draw(st.integers(1, len(entries)))
    align = 1 << (width - 1).bit_length()
    start = align * draw(st.integers(0, (len(entries) - width) // align))
    return entries, start, start + width


# Roots.


@given(st.lists(st.binary(max_size=8), max_size=200))
def test_batch_root_matches_the_rfc_definition(entries: list[bytes]) -> None:
    assert root_hash(entries) == ref_mth(entries)
    assert MerkleTreeStore(leaf_hash(e) for e in entries).root() == ref_mth(entries)


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert root_hash([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert CompactRange().root() == MerkleTreeStore().root() == EMPTY_ROOT


@given(entries_st)
def test_compact_range_roots_equal_the_batch_root_at_every_size(entries: list[bytes]) -> None:
    hashes = [leaf_hash(e) for e in entries]
    store = MerkleTreeStore(hashes)
    compact = CompactRange()
    for size, h in enumerate(hashes, start=1):
        compact.append(h)
        assert compact.root() == root_from_leaf_hashes(hashes[:size]) == store.root(size)
        assert store.compact_range(size) == compact
        assert CompactRange(compact.size, compact.nodes) == compact


@given(entries_st, st.data())
def test_store_built_by_append_equals_store_built_in_batches(
    entries: list[bytes], data: st.DataObject
) -> None:
    hashes = [leaf_hash(e) for e in entries]
    one_by_one = MerkleTreeStore()
    for i, h in enumerate(hashes):
        assert one_by_one.append(h) == i
    cut = data.draw(st.integers(0, len(hashes)))
    batches = MerkleTreeStore(hashes[:cut])
    batches.extend(hashes[cut:])
    packed = MerkleTreeStore.from_packed(b"".join(hashes))
    for store in (batches, packed):
        assert len(store) == len(one_by_one)
        assert [store.root(s) for s in range(len(hashes) + 1)] == [
            one_by_one.root(s) for s in range(len(hashes) + 1)
        ]
        assert [store.leaf_hash(i) for i in range(len(hashes))] == hashes


# Proofs are the RFC's, and they verify.


@settings(deadline=None)
@given(entries_st)
def test_proofs_match_the_rfc_definition(entries: list[bytes]) -> None:
    hashes = [leaf_hash(e) for e in entries]
    store = MerkleTreeStore(hashes)
    n = len(entries)
    for i in range(n):
        assert inclusion_proof(hashes, i) == store.inclusion_proof(i) == ref_path(i, entries)
    for m in range(1, n + 1):
        expected = ref_subproof(m, entries, True)
        assert consistency_proof(hashes, m, n) == store.consistency_proof(m) == expected
        assert subtree_consistency_proof(hashes, 0, m, n) == expected


@ALL_SIZES
@given(entries_st)
def test_every_inclusion_proof_verifies_for_every_index_at_every_size(entries: list[bytes]) -> None:
    store = MerkleTreeStore(leaf_hash(e) for e in entries)
    for size in range(1, len(entries) + 1):
        root = store.root(size)
        for i in range(size):
            verify_inclusion(store.leaf_hash(i), i, size, store.inclusion_proof(i, size), root)


@ALL_SIZES
@given(entries_st)
def test_every_consistency_proof_verifies_for_every_pair_of_sizes(entries: list[bytes]) -> None:
    store = MerkleTreeStore(leaf_hash(e) for e in entries)
    roots = [store.root(s) for s in range(len(entries) + 1)]
    for new in range(1, len(entries) + 1):
        for old in range(1, new + 1):
            proof = store.consistency_proof(old, new)
            verify_consistency(old, new, roots[old], roots[new], proof)
            verify_subtree_consistency(0, old, new, roots[old], roots[new], proof)


def test_all_proofs_of_a_70_leaf_log_verify_at_every_size() -> None:
    """The exhaustive version of the two properties above, so the largest sizes are always covered."""
    hashes = [leaf_hash(i.to_bytes(2, "big")) for i in range(MAX_LEAVES)]
    store = MerkleTreeStore(hashes)
    roots = [root_from_leaf_hashes(hashes[:s]) for s in range(MAX_LEAVES + 1)]
    for size in range(1, MAX_LEAVES + 1):
        assert store.root(size) == roots[size]
        for i in range(size):
            verify_inclusion(hashes[i], i, size, store.inclusion_proof(i, size), roots[size])
        for old in range(1, size + 1):
            verify_consistency(old, size, roots[old], roots[size], store.consistency_proof(old, size))


# Any change to a proof, a root or a leaf is caught.


@given(entries_st, st.data())
def test_flipping_any_bit_of_an_inclusion_proof_fails(entries: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(e) for e in entries]
    index = data.draw(st.integers(0, len(hashes) - 1))
    proof, root, leaf = inclusion_proof(hashes, index), root_from_leaf_hashes(hashes), hashes[index]
    target = data.draw(st.integers(-2, len(proof) - 1))  # -2: the leaf, -1: the root, else a proof hash
    bit = data.draw(st.integers(0, 255))
    if target == -2:
        leaf = _flip(leaf, bit)
    elif target == -1:
        root = _flip(root, bit)
    else:
        proof[target] = _flip(proof[target], bit)
    with pytest.raises(VerificationFailed, match="does not rebuild the root"):
        verify_inclusion(leaf, index, len(hashes), proof, root)


@given(entries_st, st.data())
def test_flipping_any_bit_of_a_consistency_proof_fails(entries: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(e) for e in entries]
    new = len(hashes)
    old = data.draw(st.integers(1, new))
    proof, roots = (
        consistency_proof(hashes, old, new),
        [root_from_leaf_hashes(hashes[:s]) for s in (old, new)],
    )
    target = data.draw(st.integers(-2, len(proof) - 1))  # -2, -1: a root, else a proof hash
    bit = data.draw(st.integers(0, 255))
    if target < 0:
        roots[target + 2] = _flip(roots[target + 2], bit)
    else:
        proof[target] = _flip(proof[target], bit)
    with pytest.raises(VerificationFailed, match=r"does not rebuild|different roots"):
        verify_consistency(old, new, roots[0], roots[1], proof)


@given(unique_entries_st, st.data())
def test_added_dropped_or_misplaced_proof_hashes_fail(entries: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(e) for e in entries]
    n = len(hashes)
    index = data.draw(st.integers(0, n - 1))
    proof, root = inclusion_proof(hashes, index), root_from_leaf_hashes(hashes)
    extra = data.draw(st.sampled_from([root, hashes[index], b"\x00" * 32]))
    for bad in ([*proof, extra], [extra, *proof], proof[:-1]):
        if bad != proof:
            with pytest.raises(VerificationFailed, match="must hold"):
                verify_inclusion(hashes[index], index, n, bad, root)
    other = data.draw(st.integers(0, n - 1))
    if other != index:
        with pytest.raises(VerificationFailed, match="does not rebuild the root"):
            verify_inclusion(hashes[other], index, n, proof, root)
    if n > 1:
        old = data.draw(st.integers(1, n - 1))
        cproof = consistency_proof(hashes, old, n)
        with pytest.raises(VerificationFailed, match="must hold"):
            verify_consistency(old, n, root_from_leaf_hashes(hashes[:old]), root, [*cproof, extra])


# Subtrees (the draft-ietf-plants-merkle-tree-certs generalisation).


@settings(deadline=None)
@given(subtrees(), st.data())
def test_subtree_proofs_verify_and_catch_any_flipped_bit(
    case: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    entries, start, end = case
    hashes = [leaf_hash(e) for e in entries]
    size = data.draw(st.integers(end, len(hashes)))
    sub_root, root = root_from_leaf_hashes(hashes[start:end]), root_from_leaf_hashes(hashes[:size])
    for i in range(start, end):
        verify_subtree_inclusion(
            hashes[i], i, start, end, inclusion_proof(hashes[start:end], i - start), sub_root
        )
    proof = subtree_consistency_proof(hashes, start, end, size)
    verify_subtree_consistency(start, end, size, sub_root, root, proof)
    if not proof:
        return
    target, bit = data.draw(st.integers(0, len(proof) - 1)), data.draw(st.integers(0, 255))
    proof[target] = _flip(proof[target], bit)
    with pytest.raises(VerificationFailed, match="does not rebuild"):
        verify_subtree_consistency(start, end, size, sub_root, root, proof)


@pytest.mark.parametrize(("start", "end"), [(1, 3), (2, 5), (2, 6), (1, 15), (3, 5), (4, 9)])
def test_unaligned_ranges_are_not_subtrees(start: int, end: int) -> None:
    with pytest.raises(VerificationFailed, match="is not a subtree"):
        verify_subtree_consistency(start, end, 16, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(InputError, match="is not a subtree"):
        subtree_consistency_proof([leaf_hash(b"")] * 16, start, end, 16)


# Bad requests and bad claims name what is wrong.


def test_bad_requests_raise_input_errors() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(5)]
    with pytest.raises(InputError, match=r"leaf index must be in \[0, 5\), got 5"):
        inclusion_proof(hashes, 5)
    with pytest.raises(InputError, match="0 < old size <= new size <= 5"):
        consistency_proof(hashes, 0, 3)
    with pytest.raises(InputError, match="0 < old size <= new size <= 5, got 4 and 3"):
        MerkleTreeStore(hashes).consistency_proof(4, 3)
    with pytest.raises(InputError, match="tree size must be between 0 and the log size 5, got 6"):
        MerkleTreeStore(hashes).root(6)
    with pytest.raises(InputError, match="leaf hash 2 must be 32 bytes, got 3 bytes"):
        root_from_leaf_hashes([*hashes[:2], b"raw", *hashes[2:]])
    with pytest.raises(InputError, match="must be a 32-byte SHA-256 hash, got 31 bytes"):
        MerkleTreeStore().append(b"x" * 31)
    with pytest.raises(InputError, match="multiple of 32 bytes"):
        MerkleTreeStore.from_packed(b"x" * 33)
    with pytest.raises(InputError, match="a compact range of size 3 holds 2 hashes, got 1"):
        CompactRange(3, hashes[:1])


def test_bad_claims_raise_verification_failures() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(6)]
    root = root_from_leaf_hashes(hashes)
    with pytest.raises(VerificationFailed, match="leaf index 6 is outside a tree of size 6"):
        verify_inclusion(hashes[0], 6, 6, [], root)
    with pytest.raises(VerificationFailed, match="tree size must be an integer"):
        verify_inclusion(hashes[0], 0, 2**64, [], root)
    with pytest.raises(VerificationFailed, match=r"old size 0.*proves nothing"):
        verify_consistency(0, 6, EMPTY_ROOT, root, [])
    with pytest.raises(VerificationFailed, match="old size 6 is larger than new size 5"):
        verify_consistency(6, 5, root, root, [])
    with pytest.raises(VerificationFailed, match="must be empty, got 1 hashes"):
        verify_consistency(6, 6, root, root, [root])
    with pytest.raises(VerificationFailed, match="two different roots for tree size 6") as caught:
        verify_consistency(6, 6, root, hashes[0], [])
    assert caught.value.hint is not None
    assert "forked" in caught.value.hint
