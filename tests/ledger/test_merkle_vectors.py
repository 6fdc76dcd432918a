"""Conformance of disgorge.ledger.merkle with the transparency-dev/merkle RFC 9162 proof vectors.

Every file under tests/assets/rfc9162/ runs: the verifier must reject exactly the vectors marked
``wantErr``, except the few listed in STRICTER, where Disgorge rejects what upstream accepts. The
happy paths are also regenerated from the RFC 6962 test tree, to check the proof builders byte for byte.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from disgorge.errors import VerificationFailed
from disgorge.ledger.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "rfc9162"
KINDS = ("consistency", "inclusion", "subtreeconsistency", "subtreeinclusion")

# The eight entries of the RFC 6962 / Certificate Transparency test tree the vectors were made from.
CT_ENTRIES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_LEAF_HASHES = [leaf_hash(e) for e in CT_ENTRIES]

_NOT_32_BYTES = "must be a 32-byte SHA-256 hash, got 12 bytes"
_EMPTY_SUBTREE = r"subtree \[\d+, \d+\) is empty"
# Upstream accepts these; Disgorge rejects them on purpose. The value is the error we must raise.
#  - A 12-byte "don't care" root passes upstream when the sizes are equal, because Go never reads it;
#    Disgorge requires every hash to be 32 bytes.
#  - An empty subtree [s, s) is "trivially consistent" upstream; Disgorge rejects it, as RFC 9162
#    (and our verify_consistency) rejects a consistency proof from old size 0: it proves nothing.
STRICTER = {
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": _NOT_32_BYTES,
    "subtreeconsistency/additional/sizes-are-equal-one-and-proof-is-empty.json": _NOT_32_BYTES,
    "subtreeconsistency/additional/subtree-is-empty-sizes-are-equal-one-subtree-root-valid-"
    "proof-is-empty.json": _EMPTY_SUBTREE,
    "subtreeconsistency/additional/subtree-is-empty-sizes-are-equal-one-subtree-root-valid-"
    "tree-root-random-proof-is-empty.json": _NOT_32_BYTES,
    "subtreeconsistency/additional/subtree-is-empty-sizes-are-equal-zero-subtree-root-valid-"
    "proof-is-empty.json": _EMPTY_SUBTREE,
    "subtreeconsistency/additional/subtree-is-empty-sizes-are-equal-zero-subtree-root-valid-"
    "tree-root-random-proof-is-empty.json": _NOT_32_BYTES,
    "subtreeconsistency/additional/subtree-is-empty-subtree-root-valid-proof-is-empty.json": _EMPTY_SUBTREE,
    "subtreeconsistency/additional/subtree-is-empty-subtree-root-valid-tree-root-random-"
    "proof-is-empty.json": _EMPTY_SUBTREE,
}
# Every rejection names what failed; a vector must not be rejected for some unrelated reason (a crash).
_ANY_REJECTION = (
    r"must be|must hold|outside|larger than|proves nothing|is empty|not a subtree|beyond|does not rebuild|"
    r"different roots"
)


def _files() -> list[Path]:
    return sorted(ASSETS.rglob("*.json"))


def _rel(path: Path) -> str:
    return path.relative_to(ASSETS).as_posix()


def _b64(value: str | None) -> bytes:
    return b"" if value is None else base64.b64decode(value)


def _load(path: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return vector


def _verify(kind: str, v: dict[str, Any]) -> None:
    proof = [_b64(p) for p in v["proof"] or []]
    if kind == "inclusion":
        verify_inclusion(_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], proof, _b64(v["root"]))
    elif kind == "consistency":
        verify_consistency(v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), proof)
    elif kind == "subtreeinclusion":
        verify_subtree_inclusion(
            _b64(v["leafHash"]), v["leafIdx"], v["start"], v["end"], proof, _b64(v["root"])
        )
    else:
        verify_subtree_consistency(v["start"], v["end"], v["size"], _b64(v["root1"]), _b64(v["root2"]), proof)


@pytest.mark.parametrize("path", _files(), ids=_rel)
def test_vector(path: Path) -> None:
    rel = _rel(path)
    vector = _load(path)
    kind = rel.split("/", 1)[0]
    if rel in STRICTER:
        assert vector["wantErr"] is False
        with pytest.raises(VerificationFailed, match=STRICTER[rel]):
            _verify(kind, vector)
    elif vector["wantErr"]:
        with pytest.raises(VerificationFailed, match=_ANY_REJECTION):
            _verify(kind, vector)
    else:
        _verify(kind, vector)


def test_every_vector_folder_is_present_and_run() -> None:
    counts = dict.fromkeys(KINDS, 0)
    for path in _files():
        counts[_rel(path).split("/", 1)[0]] += 1
    assert counts == {"consistency": 98, "inclusion": 98, "subtreeconsistency": 118, "subtreeinclusion": 204}
    assert all(rel.startswith(KINDS) for rel in map(_rel, _files()))
    assert set(STRICTER) <= {_rel(p) for p in _files()}
    assert (ASSETS / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License")
    assert "transparency-dev/merkle" in (ASSETS / "README.md").read_text(encoding="utf-8")


def _happy_paths(kind: str) -> list[Path]:
    return [p for p in _files() if _rel(p).startswith(f"{kind}/") and p.stem.startswith("happy-path")]


@pytest.mark.parametrize("path", _happy_paths("inclusion") + _happy_paths("subtreeinclusion"), ids=_rel)
def test_inclusion_proofs_are_generated_byte_for_byte(path: Path) -> None:
    v = _load(path)
    start = v.get("start", 0)
    size = v["end"] - start if "end" in v else v["treeSize"]
    index = v["leafIdx"] - start
    assert leaf_hash(CT_ENTRIES[index]) == _b64(v["leafHash"])
    assert root_hash(CT_ENTRIES[:size]) == _b64(v["root"])
    assert inclusion_proof(CT_LEAF_HASHES[:size], index) == [_b64(p) for p in v["proof"] or []]


@pytest.mark.parametrize("path", _happy_paths("consistency") + _happy_paths("subtreeconsistency"), ids=_rel)
def test_consistency_proofs_are_generated_byte_for_byte(path: Path) -> None:
    v = _load(path)
    old, new = (v["end"], v["size"]) if "end" in v else (v["size1"], v["size2"])
    assert v.get("start", 0) == 0
    assert root_hash(CT_ENTRIES[:old]) == _b64(v["root1"])
    assert root_hash(CT_ENTRIES[:new]) == _b64(v["root2"])
    assert consistency_proof(CT_LEAF_HASHES, old, new) == [_b64(p) for p in v["proof"] or []]
